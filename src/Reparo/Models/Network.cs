using Reparo.Data;
using Reparo.Runtime;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reparo.Models;

/// <summary>
/// A network's architecture as data: the zoo spec it came from, the input it reads, its classes, and its layers. For
/// text models it also carries the vocabulary, so a saved model encodes new text exactly as it was trained.
/// </summary>
/// <param name="Architecture">The zoo specification, such as <c>mlp:100x3</c>.</param>
/// <param name="InputShape">Shape of one input sample (without the batch dimension).</param>
/// <param name="InputKind">How inputs are laid out.</param>
/// <param name="ClassNames">Output classes, indexed by logit.</param>
/// <param name="Layers">The layers in order.</param>
/// <param name="VocabularyTokens">For token models, the vocabulary's tokens (index = id).</param>
public sealed record NetworkSpec(
    string Architecture,
    long[] InputShape,
    InputKind InputKind,
    IReadOnlyList<string> ClassNames,
    IReadOnlyList<LayerSpec> Layers,
    IReadOnlyList<string>? VocabularyTokens = null)
{
    /// <summary>
    /// For a network imported from ONNX: per Reparo layer or nested module name (<c>fc1</c>, <c>block1.conv3</c>), the ONNX
    /// node names and initializer names it came from, so either name can address it. Null for zoo networks.
    /// </summary>
    public IReadOnlyDictionary<string, string[]>? SourceNames { get; init; }

    /// <summary>The Reparo name that <paramref name="name"/> stands for: itself, or the layer an ONNX node or initializer name belongs to.</summary>
    public string ResolveName(string name)
    {
        if (SourceNames is null) return name;
        foreach ((string reparo, string[] onnx) in SourceNames)
        {
            if (onnx.Contains(name, StringComparer.Ordinal)) return reparo;
        }
        return name;
    }
}

/// <summary>One layer of a built network: its description and the module that computes it.</summary>
/// <param name="Index">Position in the network (0-based).</param>
/// <param name="Spec">What the layer is.</param>
/// <param name="Module">The TorchSharp module holding its parameters.</param>
public sealed record NetworkLayer(int Index, LayerSpec Spec, nn.Module<Tensor, Tensor> Module)
{
    /// <summary>The layer's stable name (<c>fc2</c>, <c>conv1</c>, <c>relu3</c>, <c>lstm</c>, <c>head</c>, …).</summary>
    public string Name => Spec.Name;

    /// <summary>The Linear module, if this is an affine layer.</summary>
    public Linear? AsLinear => Module as Linear;

    /// <summary>The Conv2d module, if this is a convolution.</summary>
    public Conv2d? AsConv2d => Module as Conv2d;
}

/// <summary>Every layer's input and output for one batch: <c>Activations[i]</c> is the input of layer i, <c>Activations[i + 1]</c> its output.</summary>
/// <param name="Activations">L + 1 tensors for a network of L layers.</param>
public sealed record LayerTrace(IReadOnlyList<Tensor> Activations)
{
    /// <summary>The input of layer <paramref name="layer"/>.</summary>
    public Tensor InputOf(int layer) => Activations[layer];

    /// <summary>The output of layer <paramref name="layer"/>.</summary>
    public Tensor OutputOf(int layer) => Activations[layer + 1];
}

/// <summary>Per-time-step view of a recurrent network.</summary>
/// <param name="RecurrentLayer">Index of the recurrent layer.</param>
/// <param name="HiddenStates">Hidden state after every step, (N, T, H).</param>
/// <param name="StepLogits">The layers after the recurrent one (the head) applied at every step, (N, T, C).</param>
public sealed record RecurrentSteps(int RecurrentLayer, Tensor HiddenStates, Tensor StepLogits);

/// <summary>
/// An ordered list of named layers over TorchSharp modules: the one model abstraction every Reparo method works on.
/// Any slice can be run (<see cref="Forward(Tensor, int, int)"/>), every layer's input and output can be tapped
/// (<see cref="Trace"/>), and recurrent networks expose per-step hidden states and predictions (<see cref="Steps"/>).
/// Parameters are named <c>layer.parameter</c>, e.g. <c>fc2.weight</c>.
/// <para>
/// The network reads raw inputs, as the data readers produce them. Its input preprocessing (the one its provenance
/// records, <see cref="ModelProvenance.Preprocessing"/>) is part of its function, applied by <see cref="Preprocess"/>
/// before layer 0 in <see cref="forward"/>, <see cref="LayerInput"/>, <see cref="Trace"/> and <see cref="Steps"/>;
/// it is not a layer, so layer indices, names, parameters and the ONNX graph are those of the layers alone.
/// </para>
/// </summary>
public sealed class Network : nn.Module<Tensor, Tensor>
{
    private readonly NetworkLayer[] layers;

    /// <summary>Builds a network from its spec with freshly initialised weights (from torch's global generator).</summary>
    public Network(NetworkSpec spec) : base("network")
    {
        Spec = spec;
        var names = new HashSet<string>(StringComparer.Ordinal);
        layers = new NetworkLayer[spec.Layers.Count];
        for (int i = 0; i < layers.Length; i++)
        {
            LayerSpec layer = spec.Layers[i];
            if (!names.Add(layer.Name)) throw new ReparoInputException($"layer name '{layer.Name}' appears twice");
            var module = layer.CreateModule();
            register_module(layer.Name, module);
            layers[i] = new NetworkLayer(i, layer, module);
        }
        BinaryScoresLayer = Array.FindIndex(layers, l => l.Spec is BinaryScoresSpec);
        ScoreLayerCount = CountScoreLayers(spec.Layers);
        if (spec.InputKind == InputKind.Tokens && (spec.VocabularyTokens is not null || spec.SourceNames is null))
        {
            if (spec.VocabularyTokens is null) throw new ReparoInputException("a token model needs its vocabulary");
            Vocabulary = new Vocabulary(spec.VocabularyTokens, (int)spec.InputShape[0]);
        }
    }

    /// <summary>The architecture this network was built from.</summary>
    public NetworkSpec Spec { get; }

    /// <summary>The layers in order.</summary>
    public IReadOnlyList<NetworkLayer> Layers => layers;

    /// <summary>
    /// How many of the layers compute the class scores: the layers after them only pass each sample's scores through a
    /// strictly order-keeping map (a trailing Softmax, LogSoftmax or Sigmoid, as exports for deployment add), so
    /// the predicted class and the sign of every margin between two classes are the scores'. LP repairs put their margins
    /// on the scores and leave these layers as they are.
    /// </summary>
    public int ScoreLayerCount { get; }

    /// <summary><see cref="ScoreLayerCount"/> of a list of layers: all but the trailing ONNX blocks that keep the classes' order (at least one).</summary>
    internal static int CountScoreLayers(IReadOnlyList<LayerSpec> layers)
    {
        int count = layers.Count;
        while (count > 1 && layers[count - 1] is Onnx.OnnxBlockSpec { KeepsClassOrder: true }) count--;
        return count;
    }

    /// <summary>
    /// The class scores for raw inputs <paramref name="x"/>: the output of the first <see cref="ScoreLayerCount"/> layers,
    /// what a loss over the classes (cross-entropy) is taken on; the network's output itself unless it ends in a Softmax
    /// or the like. Layer hooks fire.
    /// </summary>
    public Tensor Scores(Tensor x) => LayerInput(x, ScoreLayerCount);

    /// <summary>
    /// The layer that computes the class scores (a binary classifier's single score): the last of the
    /// <see cref="ScoreLayerCount"/> layers, or the one before <see cref="BinaryScoresLayer"/>.
    /// </summary>
    public int ClassifierLayer => BinaryScoresLayer == ScoreLayerCount - 1 ? ScoreLayerCount - 2 : ScoreLayerCount - 1;

    /// <summary>The layer Reparo added to a binary classifier with one output (<see cref="BinaryScoresSpec"/>), or −1.</summary>
    public int BinaryScoresLayer { get; }

    /// <summary>
    /// What the model's own graph computes for raw inputs <paramref name="x"/> (an imported file, as ONNX Runtime runs
    /// it), in evaluation mode, detached: the network's output, except that a binary classifier with one output gives
    /// that output (N, 1), without the two class scores Reparo derives from it. Autograd stays on while it runs
    /// (libtorch's no-grad LSTM path differs from its autograd path and from ONNX Runtime).
    /// </summary>
    public Tensor GraphOutput(Tensor x) => InEvalMode(() =>
    {
        using var scope = NewDisposeScope();
        Tensor output = BinaryScoresLayer < 0 ? forward(x) : Forward(LayerInput(x, BinaryScoresLayer), BinaryScoresLayer + 1, layers.Length);
        return output.detach().MoveToOuterDisposeScope();
    });

    /// <summary>Where the model came from and what was done to it; saved with the model.</summary>
    public ModelProvenance Provenance { get; set; } = new();

    /// <summary>For a network imported from ONNX, the file it came from and where each parameter lives in it; null otherwise.</summary>
    public Onnx.OnnxOrigin? OnnxOrigin { get; set; }

    /// <summary>For token models, the vocabulary inputs must be encoded with (null for an imported token model given none).</summary>
    public Vocabulary? Vocabulary { get; }

    /// <summary>Number of output classes.</summary>
    public int ClassCount => Spec.ClassNames.Count;

    /// <summary>Total number of trainable scalars.</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>
    /// The index of a layer given by name (<c>fc2</c>) or by 0-based position (<c>3</c>); an unknown name is a
    /// <see cref="ReparoInputException"/> that lists the layers.
    /// </summary>
    public int LayerIndex(string nameOrIndex)
    {
        nameOrIndex = Spec.ResolveName(nameOrIndex);
        for (int i = 0; i < layers.Length; i++)
        {
            if (string.Equals(layers[i].Name, nameOrIndex, StringComparison.OrdinalIgnoreCase)) return i;
        }
        if (int.TryParse(nameOrIndex, out int index) && index >= 0 && index < layers.Length) return index;
        throw new ReparoInputException($"no layer '{nameOrIndex}'; layers are {string.Join(", ", layers.Select(l => l.Name))} (or an index 0–{layers.Length - 1})");
    }

    /// <summary>
    /// The input of layer 0 for raw inputs <paramref name="x"/>: <paramref name="x"/> after the model's input
    /// preprocessing (a new tensor, float64 for float64 inputs), or an alias of <paramref name="x"/> when it has none
    /// (or reads token ids).
    /// </summary>
    public Tensor Preprocess(Tensor x) =>
        Provenance.Preprocessing is { IsIdentity: false } preprocessing && Spec.InputKind != InputKind.Tokens ? preprocessing.Apply(x) : x.alias();

    /// <summary>
    /// What the model's own graph reads for raw inputs <paramref name="x"/> (an imported file, as ONNX Runtime runs it):
    /// <see cref="Preprocess"/>, then, for an imported model, the layout layer the import put in front (images read
    /// as rows, or channels last); an export of a zoo model holds those layers itself.
    /// </summary>
    public Tensor GraphInput(Tensor x)
    {
        Tensor input = Preprocess(x);
        if (OnnxOrigin is null || layers.Length == 0 || layers[0].Spec is not (ImageRowsSpec or ChannelsLastSpec)) return input;
        using (input) return InEvalMode(() => Forward(input, 0, 1));
    }

    /// <summary>The input of layer <paramref name="layer"/> for raw inputs <paramref name="x"/>: the preprocessing, then layers [0, <paramref name="layer"/>).</summary>
    public Tensor LayerInput(Tensor x, int layer)
    {
        using var scope = NewDisposeScope();
        return Forward(Preprocess(x), 0, layer).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Runs layers <paramref name="from"/> (inclusive) to <paramref name="to"/> (exclusive) on <paramref name="x"/>, the
    /// input of layer <paramref name="from"/> (for raw inputs use <see cref="LayerInput"/>, which preprocesses them first).
    /// </summary>
    public Tensor Forward(Tensor x, int from, int to)
    {
        if (from < 0 || to > layers.Length || from > to) throw new ArgumentOutOfRangeException(nameof(from), $"slice [{from}, {to}) of a {layers.Length}-layer network");
        if (from == to) return x.alias();
        using var scope = NewDisposeScope();
        Tensor h = x;
        for (int i = from; i < to; i++) h = layers[i].Module.call(h);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>The logits for raw inputs <paramref name="x"/>: the preprocessing, then every layer.</summary>
    public override Tensor forward(Tensor x) => LayerInput(x, layers.Length);

    /// <summary>One input of the model's shape: zeros, or token id 1 everywhere for a token model (id 0 is padding).</summary>
    private Tensor ProbeInput() => Spec.InputKind == InputKind.Tokens
        ? ones([1, .. Spec.InputShape], ScalarType.Int64)
        : zeros([1, .. Spec.InputShape]);

    /// <summary>The size of the last output dimension for one <see cref="ProbeInput"/> (in evaluation mode; the mode is restored).</summary>
    internal long ProbeOutputWidth()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        bool wasTraining = training;
        eval();
        try
        {
            return forward(ProbeInput()).shape[^1];
        }
        finally
        {
            train(wasTraining);
        }
    }

    /// <summary>Every layer's input and output for a batch of raw inputs, the input of layer 0 preprocessed (gradients flow through if enabled).</summary>
    public LayerTrace Trace(Tensor x)
    {
        Tensor h = Preprocess(x);
        var activations = new List<Tensor>(layers.Length + 1) { h };
        foreach (NetworkLayer layer in layers)
        {
            h = layer.Module.call(h);
            activations.Add(h);
        }
        return new LayerTrace(activations);
    }

    /// <summary>Index of the recurrent layer, or -1 for non-recurrent networks.</summary>
    public int RecurrentLayerIndex => Array.FindIndex(layers, l => l.Spec is RecurrentSpec);

    /// <summary>
    /// For a recurrent network: hidden states after every step and the prediction at every step (the layers after the
    /// recurrent one applied to each step's state). The last step's logits equal the network's output.
    /// </summary>
    public RecurrentSteps Steps(Tensor x)
    {
        int r = RecurrentLayerIndex;
        if (r < 0) throw new ReparoInputException($"'{Spec.Architecture}' has no recurrent layer");
        using var scope = NewDisposeScope();
        Tensor sequence = LayerInput(x, r);
        Tensor states = ((RecurrentModule)layers[r].Module).Sequence(sequence);
        long n = states.shape[0], t = states.shape[1];
        Tensor logits = Forward(states.reshape(n * t, states.shape[2]), r + 1, layers.Length).reshape(n, t, -1);
        return new RecurrentSteps(r, states.MoveToOuterDisposeScope(), logits.MoveToOuterDisposeScope());
    }

    /// <summary>Runs <paramref name="work"/> with the network in evaluation mode, restoring its previous mode afterwards.</summary>
    public T InEvalMode<T>(Func<T> work)
    {
        bool wasTraining = training;
        eval();
        try
        {
            return work();
        }
        finally
        {
            train(wasTraining);
        }
    }

    /// <summary>Logits for many inputs, in evaluation mode without gradients, <paramref name="batchSize"/> at a time.</summary>
    public Tensor Logits(Tensor x, int batchSize = 1000) => LayerInputs(x, layers.Length, batchSize);

    /// <summary>The input of layer <paramref name="layer"/> (see <see cref="LayerInput"/>) for many inputs, in evaluation mode without gradients, <paramref name="batchSize"/> at a time.</summary>
    public Tensor LayerInputs(Tensor x, int layer, int batchSize = 1000)
    {
        bool wasTraining = training;
        eval();
        try
        {
            using var noGrad = no_grad();
            var parts = new List<Tensor>();
            using ProgressScope shown = WorkProgress.Begin($"forward {x.shape[0]} inputs", (x.shape[0] + batchSize - 1) / batchSize);
            for (long start = 0; start < x.shape[0]; start += batchSize)
            {
                using Tensor batch = x.narrow(0, start, Math.Min(batchSize, x.shape[0] - start));
                parts.Add(LayerInput(batch, layer));
                shown.Advance();
            }
            Tensor all = parts.Count == 1 ? parts[0] : cat(parts, 0);
            if (parts.Count > 1) parts.ForEach(p => p.Dispose());
            return all;
        }
        finally
        {
            train(wasTraining);
        }
    }

    /// <summary>Predicted class for every input.</summary>
    public long[] Predict(Tensor x, int batchSize = 1000)
    {
        using Tensor logits = Logits(x, batchSize);
        using Tensor predictions = logits.argmax(1);
        return predictions.data<long>().ToArray();
    }

    /// <summary>An independent copy with the same weights.</summary>
    public Network Clone()
    {
        var copy = new Network(Spec) { Provenance = Provenance, OnnxOrigin = OnnxOrigin };
        copy.CopyWeightsFrom(this);
        return copy;
    }

    /// <summary>Overwrites this network's parameters and buffers with <paramref name="source"/>'s (same architecture).</summary>
    public void CopyWeightsFrom(Network source)
    {
        using var noGrad = no_grad();
        Dictionary<string, Tensor> from = source.state_dict();
        foreach ((string name, Tensor value) in state_dict())
        {
            if (!from.TryGetValue(name, out Tensor? other) || !other.shape.SequenceEqual(value.shape))
                throw new ArgumentException($"cannot copy '{name}': architectures differ");
            value.copy_(other);
        }
    }

    /// <summary>
    /// Lists the layers with names, output shapes (for one sample) and parameter counts; the Linear and Conv2d modules
    /// inside an imported block follow their block as <c>BLOCK.NAME</c> rows.
    /// </summary>
    public IReadOnlyList<LayerSummary> Summarize()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        bool wasTraining = training;
        eval();
        Tensor probe = ProbeInput();
        LayerTrace trace = Trace(probe);
        var rows = new List<LayerSummary>();
        foreach (NetworkLayer l in layers)
        {
            rows.Add(new LayerSummary(l.Index, l.Name, l.Spec.Describe(), trace.OutputOf(l.Index).shape[1..],
                l.Module.parameters().Sum(p => p.numel()), Spec.SourceNames?.GetValueOrDefault(l.Name) ?? []));
            if (l.Spec is not Onnx.OnnxBlockSpec block) continue;
            foreach (Onnx.OnnxAffineSpec unit in block.Affine)
            {
                AffineSite site = AffineSites.Find(this, $"{l.Name}.{unit.Name}");
                (_, _, Tensor output) = AffineSites.Capture(this, site, probe);
                rows.Add(new LayerSummary(l.Index, site.Name, unit.Describe(), output.shape[1..], site.Module.parameters().Sum(p => p.numel()),
                    Spec.SourceNames?.GetValueOrDefault(site.Name) ?? []));
            }
        }
        train(wasTraining);
        return rows;
    }
}

/// <summary>One line of <see cref="Network.Summarize"/>.</summary>
/// <param name="Index">Position in the network.</param>
/// <param name="Name">Stable layer name.</param>
/// <param name="Description">What the layer computes.</param>
/// <param name="OutputShape">Output shape for one sample.</param>
/// <param name="Parameters">Number of trainable scalars.</param>
/// <param name="OnnxNames">For an imported model, the ONNX node and initializer names of the layer (empty otherwise).</param>
public sealed record LayerSummary(int Index, string Name, string Description, long[] OutputShape, long Parameters, IReadOnlyList<string> OnnxNames);
