using System.Text.Json.Serialization;
using static TorchSharp.torch;

namespace Reparo.Models;

/// <summary>
/// One layer of a <see cref="Network"/> as data: its kind, stable name and hyper-parameters. A network's architecture is
/// the list of these; it is saved as JSON and rebuilt from it, so a model file holds no code.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(LinearSpec), "linear")]
[JsonDerivedType(typeof(Conv1dSpec), "conv1d")]
[JsonDerivedType(typeof(Conv2dSpec), "conv2d")]
[JsonDerivedType(typeof(ReluSpec), "relu")]
[JsonDerivedType(typeof(MaxPool2dSpec), "maxpool2d")]
[JsonDerivedType(typeof(FlattenSpec), "flatten")]
[JsonDerivedType(typeof(ImageRowsSpec), "image_rows")]
[JsonDerivedType(typeof(BinaryScoresSpec), "binary_scores")]
[JsonDerivedType(typeof(ChannelsLastSpec), "channels_last")]
[JsonDerivedType(typeof(RecurrentSpec), "recurrent")]
[JsonDerivedType(typeof(EmbeddingSpec), "embedding")]
[JsonDerivedType(typeof(MeanEmbeddingSpec), "mean_embedding")]
[JsonDerivedType(typeof(PatchEmbeddingSpec), "patch_embedding")]
[JsonDerivedType(typeof(TransformerBlockSpec), "transformer_block")]
[JsonDerivedType(typeof(LayerNormSpec), "layer_norm")]
[JsonDerivedType(typeof(ClassTokenSpec), "class_token")]
[JsonDerivedType(typeof(ResidualBlockSpec), "residual_block")]
[JsonDerivedType(typeof(Onnx.OnnxBlockSpec), "onnx_block")]
public abstract record LayerSpec(string Name)
{
    /// <summary>Creates the TorchSharp module that computes this layer (weights freshly initialised from torch's generator).</summary>
    internal abstract nn.Module<Tensor, Tensor> CreateModule();

    /// <summary>A one-line description for listings, such as <c>Linear(784 → 100)</c>.</summary>
    public abstract string Describe();

    /// <summary>
    /// Checks the hyper-parameters (sizes at least 1, strides and windows that can be built) and returns a lower bound
    /// on the elements of the layer's parameters and buffers, with checked arithmetic: a file reader compares it with the
    /// bytes present before <see cref="CreateModule"/> allocates anything. A bad value is a <see cref="ReparoInputException"/>.
    /// </summary>
    internal abstract long StateElementsAtLeast();

    /// <summary>
    /// <see cref="StateElementsAtLeast"/> of a convolution with a square (or 1-D) kernel over <paramref name="dimensions"/>
    /// spatial axes: its sizes checked, its channels split into <paramref name="groups"/>, its weight and bias counted.
    /// </summary>
    private protected long ConvolutionElements(int inChannels, int outChannels, int kernel, int stride, int padding, int groups, int dimensions)
    {
        Positive(("in", inChannels), ("out", outChannels), ("kernel", kernel), ("stride", stride), ("padding + 1", padding + 1L), ("groups", groups));
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new ReparoInputException($"layer '{Name}': {inChannels} input and {outChannels} output channels do not split into {groups} groups");
        long taps = dimensions == 1 ? kernel : checked((long)kernel * kernel);
        return checked((long)outChannels * (inChannels / groups) * taps + outChannels);
    }

    /// <summary>Throws unless every one of <paramref name="sizes"/> is at least 1.</summary>
    private protected void Positive(params (string Name, long Value)[] sizes)
    {
        foreach ((string name, long value) in sizes)
        {
            if (value < 1) throw new ReparoInputException($"layer '{Name}': {name} is {value}, it must be at least 1");
        }
    }
}

/// <summary>Affine map y = W x + b.</summary>
public sealed record LinearSpec(string Name, int In, int Out) : LayerSpec(Name)
{
    internal override long StateElementsAtLeast()
    {
        Positive(("in", In), ("out", Out));
        return checked((long)In * Out + Out);
    }

    internal override nn.Module<Tensor, Tensor> CreateModule() => nn.Linear(In, Out);

    /// <inheritdoc />
    public override string Describe() => $"Linear({In} → {Out})";
}

/// <summary>
/// 2-D convolution with square kernel, stride and zero padding. With <paramref name="Groups"/> &gt; 1 the input channels
/// fall into that many groups, each feeding its own share of the output channels (a depthwise convolution has as many
/// groups as input channels); the weight is (out, in / groups, kernel, kernel).
/// </summary>
public sealed record Conv2dSpec(string Name, int In, int Out, int Kernel, int Stride = 1, int Padding = 0, int Groups = 1) : LayerSpec(Name)
{
    internal override long StateElementsAtLeast() => ConvolutionElements(In, Out, Kernel, Stride, Padding, Groups, dimensions: 2);

    internal override nn.Module<Tensor, Tensor> CreateModule() => nn.Conv2d(In, Out, Kernel, stride: Stride, padding: Padding, groups: Groups);

    /// <inheritdoc />
    public override string Describe() => $"Conv2d({In} → {Out}, k{Kernel}, s{Stride}, p{Padding}{(Groups == 1 ? "" : $", groups {Groups}")})";
}

/// <summary>
/// 1-D convolution over (N, C, L) sequences (signals, or text after an embedding) with zero padding and channel groups,
/// as <see cref="Conv2dSpec"/> is over images; the weight is (out, in / groups, kernel).
/// </summary>
public sealed record Conv1dSpec(string Name, int In, int Out, int Kernel, int Stride = 1, int Padding = 0, int Groups = 1) : LayerSpec(Name)
{
    internal override long StateElementsAtLeast() => ConvolutionElements(In, Out, Kernel, Stride, Padding, Groups, dimensions: 1);

    internal override nn.Module<Tensor, Tensor> CreateModule() => nn.Conv1d(In, Out, Kernel, stride: Stride, padding: Padding, groups: Groups);

    /// <inheritdoc />
    public override string Describe() => $"Conv1d({In} → {Out}, k{Kernel}, s{Stride}, p{Padding}{(Groups == 1 ? "" : $", groups {Groups}")})";
}

/// <summary>Element-wise max(0, x).</summary>
public sealed record ReluSpec(string Name) : LayerSpec(Name)
{
    internal override long StateElementsAtLeast() => 0;

    internal override nn.Module<Tensor, Tensor> CreateModule() => nn.ReLU();

    /// <inheritdoc />
    public override string Describe() => "ReLU";
}

/// <summary>2-D max pooling with square window (stride = window).</summary>
public sealed record MaxPool2dSpec(string Name, int Kernel) : LayerSpec(Name)
{
    internal override long StateElementsAtLeast()
    {
        Positive(("kernel", Kernel));
        return 0;
    }

    internal override nn.Module<Tensor, Tensor> CreateModule() => nn.MaxPool2d(Kernel, Kernel);

    /// <inheritdoc />
    public override string Describe() => $"MaxPool2d({Kernel})";
}

/// <summary>Flattens everything after the batch dimension.</summary>
public sealed record FlattenSpec(string Name) : LayerSpec(Name)
{
    internal override long StateElementsAtLeast() => 0;

    internal override nn.Module<Tensor, Tensor> CreateModule() => nn.Flatten();

    /// <inheritdoc />
    public override string Describe() => "Flatten";
}

/// <summary>Reads an image (N, C, H, W) as a sequence of H rows of C·W features, for recurrent models over image rows.</summary>
public sealed record ImageRowsSpec(string Name) : LayerSpec(Name)
{
    internal override long StateElementsAtLeast() => 0;

    internal override nn.Module<Tensor, Tensor> CreateModule() => new ImageRowsModule(Name);

    /// <inheritdoc />
    public override string Describe() => "ImageRows (N,C,H,W → N,H,C·W)";
}

/// <summary>
/// Reads an image (N, C, H, W) as (N, H, W, C), for an imported graph that reads channels last (a Keras model through
/// tf2onnx): Reparo's images stay channels first, so data, corruptions and attributions see images.
/// </summary>
public sealed record ChannelsLastSpec(string Name) : LayerSpec(Name)
{
    internal override long StateElementsAtLeast() => 0;

    internal override nn.Module<Tensor, Tensor> CreateModule() => new ChannelsLastModule(Name);

    /// <inheritdoc />
    public override string Describe() => "ChannelsLast (N,C,H,W → N,H,W,C)";
}

/// <summary>
/// Turns a binary classifier's single score z (N, 1), class 1 when z &gt; 0, into two class scores (N, 2) = [−z/2, z/2]:
/// the predicted class is the same, each class's margin is ±z, softmax gives [1 − σ(z), σ(z)] (so cross-entropy on them
/// is binary cross-entropy on z), and each class's score moves with z. Reparo adds it when it imports a model with one
/// output; it is not part of the user's graph and is never written back.
/// </summary>
public sealed record BinaryScoresSpec(string Name) : LayerSpec(Name)
{
    internal override long StateElementsAtLeast() => 0;

    internal override nn.Module<Tensor, Tensor> CreateModule() => new BinaryScoresModule(Name);

    /// <inheritdoc />
    public override string Describe() => "BinaryScores (N,1 → N,2: [−z/2, z/2])";
}

/// <summary>The recurrent cell kinds.</summary>
public enum RecurrentCell
{
    /// <summary>Long short-term memory.</summary>
    Lstm,

    /// <summary>Gated recurrent unit.</summary>
    Gru,
}

/// <summary>A one-layer LSTM or GRU over (N, T, F) sequences; the layer's output is the last step's hidden state.</summary>
public sealed record RecurrentSpec(string Name, RecurrentCell Cell, int In, int Hidden) : LayerSpec(Name)
{
    internal override long StateElementsAtLeast()
    {
        Positive(("in", In), ("hidden", Hidden));
        return checked((Cell == RecurrentCell.Lstm ? 4L : 3L) * Hidden * (In + (long)Hidden));
    }

    internal override nn.Module<Tensor, Tensor> CreateModule() => new RecurrentModule(Name, Cell, In, Hidden);

    /// <inheritdoc />
    public override string Describe() => $"{Cell.ToString().ToUpperInvariant()}({In} → {Hidden}), last step";
}

/// <summary>Token ids (N, T) to vectors (N, T, D); id 0 (padding) maps to the zero vector.</summary>
public sealed record EmbeddingSpec(string Name, int Vocabulary, int Dim) : LayerSpec(Name)
{
    internal override long StateElementsAtLeast()
    {
        Positive(("vocabulary", Vocabulary), ("dim", Dim));
        return checked((long)Vocabulary * Dim);
    }

    internal override nn.Module<Tensor, Tensor> CreateModule() => nn.Embedding(Vocabulary, Dim, padding_idx: 0);

    /// <inheritdoc />
    public override string Describe() => $"Embedding({Vocabulary} → {Dim})";
}

/// <summary>Token ids (N, T) to the mean of their non-padding embeddings (N, D): a bag-of-embeddings text encoder.</summary>
public sealed record MeanEmbeddingSpec(string Name, int Vocabulary, int Dim) : LayerSpec(Name)
{
    internal override long StateElementsAtLeast()
    {
        Positive(("vocabulary", Vocabulary), ("dim", Dim));
        return checked((long)Vocabulary * Dim);
    }

    internal override nn.Module<Tensor, Tensor> CreateModule() => new MeanEmbeddingModule(Name, Vocabulary, Dim);

    /// <inheritdoc />
    public override string Describe() => $"MeanEmbedding({Vocabulary} → {Dim})";
}

/// <summary>Splits an image into square patches, projects each to D dimensions, prepends a class token and adds learned positions.</summary>
public sealed record PatchEmbeddingSpec(string Name, int Channels, int Height, int Width, int Patch, int Dim) : LayerSpec(Name)
{
    internal override long StateElementsAtLeast()
    {
        Positive(("channels", Channels), ("height", Height), ("width", Width), ("patch", Patch), ("dim", Dim));
        if (Patch > Height || Patch > Width) throw new ReparoInputException($"layer '{Name}': patch {Patch} is larger than the {Height}×{Width} image");
        return checked((long)Dim * Channels * Patch * Patch + ((long)(Height / Patch) * (Width / Patch) + 1) * Dim);
    }

    internal override nn.Module<Tensor, Tensor> CreateModule() => new PatchEmbeddingModule(Name, this);

    /// <inheritdoc />
    public override string Describe() => $"PatchEmbedding({Channels}×{Height}×{Width}, patch {Patch} → {Dim}, +class token)";
}

/// <summary>A pre-norm transformer encoder block: x + Attention(LN(x)), then x + MLP(LN(x)) with a ReLU MLP.</summary>
public sealed record TransformerBlockSpec(string Name, int Dim, int Heads, int MlpDim) : LayerSpec(Name)
{
    internal override long StateElementsAtLeast()
    {
        Positive(("dim", Dim), ("heads", Heads), ("mlp dim", MlpDim));
        if (Dim % Heads != 0) throw new ReparoInputException($"layer '{Name}': dim {Dim} is not a multiple of its {Heads} heads");
        return checked(4L * Dim * Dim + 2L * Dim * MlpDim);
    }

    internal override nn.Module<Tensor, Tensor> CreateModule() => new TransformerBlockModule(Name, Dim, Heads, MlpDim);

    /// <inheritdoc />
    public override string Describe() => $"TransformerBlock(dim {Dim}, {Heads} heads, MLP {MlpDim})";
}

/// <summary>Layer normalisation over the last dimension.</summary>
public sealed record LayerNormSpec(string Name, int Dim) : LayerSpec(Name)
{
    internal override long StateElementsAtLeast()
    {
        Positive(("dim", Dim));
        return 2L * Dim;
    }

    internal override nn.Module<Tensor, Tensor> CreateModule() => nn.LayerNorm(Dim);

    /// <inheritdoc />
    public override string Describe() => $"LayerNorm({Dim})";
}

/// <summary>Takes the class token (position 0) of a token sequence (N, T, D) → (N, D).</summary>
public sealed record ClassTokenSpec(string Name) : LayerSpec(Name)
{
    internal override long StateElementsAtLeast() => 0;

    internal override nn.Module<Tensor, Tensor> CreateModule() => new ClassTokenModule(Name);

    /// <inheritdoc />
    public override string Describe() => "ClassToken (N,T,D → N,D)";
}

/// <summary>
/// A residual block: relu(x + conv2(relu(conv1(x)))) with two 3×3 convolutions (padding 1) of <see cref="Channels"/>
/// channels. Its convolutions are addressable as <c>NAME.conv1</c> and <c>NAME.conv2</c> (see <see cref="AffineSites"/>).
/// </summary>
public sealed record ResidualBlockSpec(string Name, int Channels) : LayerSpec(Name)
{
    internal override long StateElementsAtLeast()
    {
        Positive(("channels", Channels));
        return checked(18L * Channels * Channels);
    }

    internal override nn.Module<Tensor, Tensor> CreateModule() => new ResidualBlockModule(Name, Channels);

    /// <inheritdoc />
    public override string Describe() => $"ResidualBlock({Channels}, 2× Conv2d k3 p1, identity skip)";
}
