using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reparo.Models;

/// <summary>(N, C, H, W) → (N, H, C·W): image rows as a sequence.</summary>
internal sealed class ImageRowsModule : nn.Module<Tensor, Tensor>
{
    public ImageRowsModule(string name) : base(name) { }

    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4) throw new ReparoInputException($"{GetName()}: expects images (N, C, H, W), got [{string.Join(",", x.shape)}]");
        return x.permute(0, 2, 1, 3).reshape(x.shape[0], x.shape[2], x.shape[1] * x.shape[3]);
    }
}

/// <summary>(N, C, H, W) → (N, H, W, C): images for a graph that reads channels last.</summary>
internal sealed class ChannelsLastModule : nn.Module<Tensor, Tensor>
{
    public ChannelsLastModule(string name) : base(name) { }

    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4) throw new ReparoInputException($"{GetName()}: expects images (N, C, H, W), got [{string.Join(",", x.shape)}]");
        return x.permute(0, 2, 3, 1).contiguous();
    }
}

/// <summary>A binary classifier's single score z (N, 1) as two class scores [−z/2, z/2] (see <see cref="BinaryScoresSpec"/>).</summary>
internal sealed class BinaryScoresModule : nn.Module<Tensor, Tensor>
{
    public BinaryScoresModule(string name) : base(name) { }

    public override Tensor forward(Tensor z)
    {
        if (z.dim() != 2 || z.shape[1] != 1) throw new ReparoInputException($"{GetName()}: expects one score per sample (N, 1), got [{string.Join(",", z.shape)}]");
        Tensor half = z.mul(0.5);
        return cat([half.neg(), half], 1);
    }
}

/// <summary>A one-layer LSTM or GRU over batch-first sequences; <see cref="forward"/> returns the last step's hidden state.</summary>
internal sealed class RecurrentModule : nn.Module<Tensor, Tensor>
{
    private readonly LSTM? lstm;
    private readonly GRU? gru;

    public RecurrentModule(string name, RecurrentCell cell, int input, int hidden) : base(name)
    {
        if (cell == RecurrentCell.Lstm) lstm = nn.LSTM(input, hidden, batchFirst: true);
        else gru = nn.GRU(input, hidden, batchFirst: true);
        RegisterComponents();
    }

    /// <summary>Hidden states at every step, (N, T, H).</summary>
    public Tensor Sequence(Tensor x)
    {
        if (x.dim() != 3) throw new ReparoInputException($"{GetName()}: expects sequences (N, T, F), got [{string.Join(",", x.shape)}]");
        if (lstm is not null)
        {
            (Tensor output, Tensor h, Tensor c) = lstm.call(x, null);
            h.Dispose();
            c.Dispose();
            return output;
        }
        (Tensor outputs, Tensor last) = gru!.call(x, null);
        last.Dispose();
        return outputs;
    }

    public override Tensor forward(Tensor x)
    {
        using Tensor steps = Sequence(x);
        return steps.select(1, -1).clone();
    }
}

/// <summary>Mean of the non-padding token embeddings: (N, T) ids → (N, D).</summary>
internal sealed class MeanEmbeddingModule : nn.Module<Tensor, Tensor>
{
    private readonly Embedding embedding;

    public MeanEmbeddingModule(string name, int vocabulary, int dim) : base(name)
    {
        embedding = nn.Embedding(vocabulary, dim, padding_idx: 0);
        RegisterComponents();
    }

    public override Tensor forward(Tensor ids)
    {
        using var scope = NewDisposeScope();
        Tensor mask = ids.ne(0).unsqueeze(-1).to(embedding.weight!.dtype);
        Tensor summed = embedding.call(ids).mul(mask).sum(1);
        return summed.div(mask.sum(1).clamp_min(1)).MoveToOuterDisposeScope();
    }
}

/// <summary>Patch projection (a strided convolution), a learned class token and learned position embeddings.</summary>
internal sealed class PatchEmbeddingModule : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d projection;
    private readonly Parameter classToken;
    private readonly Parameter positions;

    public PatchEmbeddingModule(string name, PatchEmbeddingSpec spec) : base(name)
    {
        if (spec.Height % spec.Patch != 0 || spec.Width % spec.Patch != 0)
            throw new ReparoInputException($"{name}: patch size {spec.Patch} does not divide the {spec.Height}×{spec.Width} image");
        long patches = (long)spec.Height / spec.Patch * (spec.Width / spec.Patch);
        projection = nn.Conv2d(spec.Channels, spec.Dim, spec.Patch, stride: spec.Patch);
        classToken = nn.Parameter(randn(1, 1, spec.Dim).mul_(0.02));
        positions = nn.Parameter(randn(1, patches + 1, spec.Dim).mul_(0.02));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor tokens = projection.call(x).flatten(2).transpose(1, 2);
        Tensor cls = classToken.expand(x.shape[0], 1, classToken.shape[2]);
        return cat([cls, tokens], 1).add(positions).MoveToOuterDisposeScope();
    }
}

/// <summary>Pre-norm transformer encoder block with multi-head self-attention and a ReLU MLP.</summary>
internal sealed class TransformerBlockModule : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm norm1, norm2;
    private readonly Linear qkv, proj, fc1, fc2;
    private readonly int heads;

    public TransformerBlockModule(string name, int dim, int heads, int mlpDim) : base(name)
    {
        if (dim % heads != 0) throw new ReparoInputException($"{name}: {heads} heads do not divide dimension {dim}");
        this.heads = heads;
        norm1 = nn.LayerNorm(dim);
        qkv = nn.Linear(dim, 3 * dim);
        proj = nn.Linear(dim, dim);
        norm2 = nn.LayerNorm(dim);
        fc1 = nn.Linear(dim, mlpDim);
        fc2 = nn.Linear(mlpDim, dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0], t = x.shape[1], d = x.shape[2], dh = d / heads;
        Tensor parts = qkv.call(norm1.call(x)).reshape(n, t, 3, heads, dh).permute(2, 0, 3, 1, 4);
        Tensor q = parts[0], k = parts[1], v = parts[2];
        Tensor attention = q.matmul(k.transpose(-2, -1)).div(Math.Sqrt(dh)).softmax(-1);
        Tensor mixed = attention.matmul(v).transpose(1, 2).reshape(n, t, d);
        Tensor h = x.add(proj.call(mixed));
        Tensor mlp = fc2.call(nn.functional.relu(fc1.call(norm2.call(h))));
        return h.add(mlp).MoveToOuterDisposeScope();
    }
}

/// <summary>(N, T, D) → (N, D): the token at position 0.</summary>
internal sealed class ClassTokenModule : nn.Module<Tensor, Tensor>
{
    public ClassTokenModule(string name) : base(name) { }

    public override Tensor forward(Tensor x) => x.select(1, 0);
}

/// <summary>relu(x + conv2(relu(conv1(x)))): a basic residual block with an identity skip.</summary>
internal sealed class ResidualBlockModule : nn.Module<Tensor, Tensor>
{
    // Field names are the submodule names: block1.conv1, block1.conv2.
    private readonly Conv2d conv1, conv2;

    public ResidualBlockModule(string name, int channels) : base(name)
    {
        conv1 = nn.Conv2d(channels, channels, 3, padding: 1);
        conv2 = nn.Conv2d(channels, channels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor h = conv2.call(nn.functional.relu(conv1.call(x)));
        return nn.functional.relu(h.add(x)).MoveToOuterDisposeScope();
    }
}
