using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Repair.Editing;

/// <summary>How a layer's input is cut into the keys a rank-one edit acts on.</summary>
public enum KeyKind
{
    /// <summary>Vector keys for Linear layers, patch keys for convolutions.</summary>
    Auto,

    /// <summary>A Linear layer's input vector (every leading position of a 3-D input is one key).</summary>
    Vector,

    /// <summary>A convolution's im2col patch at each output position (C_in·kh·kw entries, C_in·k for a Conv1d); the edit covers the whole kernel.</summary>
    Patch,

    /// <summary>A convolution's input channel vector under the kernel's centre tap at each output position (C_in entries); the edit covers the centre tap only.</summary>
    Channel,
}

/// <summary>
/// Keys and values of a Linear, Conv1d or Conv2d layer (the rank-one editing view of Bau et al. 2020 and Meng et al. 2022 that
/// Yang et al., CVPR'26, build on): the layer computes v = W k + b for each key k, where W is the layer's weight read as
/// a matrix (<see cref="Matrix"/>). Keys and values are float64 rows, one per sample and output position.
/// </summary>
public static class LayerKeys
{
    /// <summary>
    /// Whether a rank-one edit can act on the layer: every Linear, and a convolution with one channel group (a grouped
    /// or depthwise one maps each key only through its group's block of the weight, which a rank-one change would leave).
    /// </summary>
    public static bool Editable(AffineSite site) => site.AsConvolution is not { } conv || conv.groups == 1;

    /// <summary>Resolves <see cref="KeyKind.Auto"/> and rejects a kind the layer cannot have.</summary>
    public static KeyKind Resolve(AffineSite site, KeyKind kind)
    {
        bool conv = site.AsConvolution is not null;
        KeyKind resolved = kind == KeyKind.Auto ? (conv ? KeyKind.Patch : KeyKind.Vector) : kind;
        if (conv == (resolved == KeyKind.Vector))
            throw new ReparoInputException($"layer {site.Name} is {(conv ? "a convolution: use patch or channel keys" : "linear: use vector keys")}");
        if (!Editable(site)) throw new ReparoInputException($"layer {site.Name}: a grouped convolution cannot take a rank-one edit; choose another layer");
        return resolved;
    }

    /// <summary>Keys (M × d, float64) read from the layer's input batch.</summary>
    public static Tensor Keys(AffineSite site, KeyKind kind, Tensor siteInput)
    {
        kind = Resolve(site, kind);
        using var scope = NewDisposeScope();
        Tensor x = siteInput.detach().to(ScalarType.Float64);
        Tensor keys;
        if (kind == KeyKind.Vector)
        {
            keys = x.reshape(-1, x.shape[^1]);
        }
        else
        {
            TorchSharp.Modules.Convolution conv = site.AsConvolution!;
            // A Conv1d's patches are a Conv2d's over (N, C, 1, L) with kernel (1, k).
            bool oneD = conv.kernel_size.Length == 1;
            if (oneD) x = x.unsqueeze(2);
            Tensor patches = oneD
                ? nn.functional.unfold(x, (1, conv.kernel_size[0]), (1, conv.dilation[0]), (0, conv.padding![0]), (1, conv.stride[0]))
                : nn.functional.unfold(x, (conv.kernel_size[0], conv.kernel_size[1]), (conv.dilation[0], conv.dilation[1]),
                    (conv.padding![0], conv.padding[1]), (conv.stride[0], conv.stride[1])); // (N, C·kh·kw, P)
            keys = patches.transpose(1, 2).reshape(-1, patches.shape[1]);
            if (kind == KeyKind.Channel) keys = keys.index_select(1, CentreTaps(conv));
        }
        return keys.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Values (M × out, float64) read from the layer's output batch, in the same order as <see cref="Keys"/>.</summary>
    public static Tensor Values(AffineSite site, Tensor siteOutput)
    {
        using var scope = NewDisposeScope();
        Tensor v = siteOutput.detach().to(ScalarType.Float64);
        Tensor values = site.AsConvolution is not null ? v.flatten(2).transpose(1, 2).reshape(-1, v.shape[1]) : v.reshape(-1, v.shape[^1]);
        return values.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>The weight as the matrix (out × d, float64) that maps a key to a value (minus the bias).</summary>
    public static Tensor Matrix(AffineSite site, KeyKind kind)
    {
        kind = Resolve(site, kind);
        using var scope = NewDisposeScope();
        Tensor w = site.Weight.detach().to(ScalarType.Float64);
        Tensor matrix = kind switch
        {
            KeyKind.Vector => w,
            KeyKind.Patch => w.reshape(w.shape[0], -1),
            _ => CentreTap(w),
        };
        return matrix.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Adds <paramref name="delta"/> (out × d, as <see cref="Matrix"/>) to the layer's weight in place.</summary>
    public static void AddToWeight(AffineSite site, KeyKind kind, Tensor delta)
    {
        kind = Resolve(site, kind);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor w = site.Weight;
        Tensor d = delta.to(w.dtype);
        switch (kind)
        {
            case KeyKind.Vector: w.add_(d); break;
            case KeyKind.Patch: w.add_(d.reshape(w.shape)); break;
            default: CentreTap(w).add_(d); break;
        }
    }

    /// <summary>The weight's centre tap (out × in), a view: (out, in, kh, kw) at (kh / 2, kw / 2), (out, in, k) at k / 2.</summary>
    private static Tensor CentreTap(Tensor w) =>
        w.dim() == 3 ? w.select(2, w.shape[2] / 2) : w.select(3, w.shape[3] / 2).select(2, w.shape[2] / 2);

    private static Tensor CentreTaps(TorchSharp.Modules.Convolution conv)
    {
        long kh = conv.kernel_size.Length == 1 ? 1 : conv.kernel_size[0], kw = conv.kernel_size[^1];
        long centre = kh / 2 * kw + kw / 2;
        return arange(conv.in_channels, dtype: ScalarType.Int64).mul(kh * kw).add(centre);
    }
}
