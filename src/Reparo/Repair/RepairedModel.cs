using Reparo.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Reparo.Repair;

/// <summary>
/// What a repair hands back. Most methods return an ordinary network of the original architecture; some baselines
/// (PRDNN's decoupled network, a lookup table) return something else that can still be evaluated.
/// </summary>
public interface IRepairedModel
{
    /// <summary>Logits for a batch, computed in <paramref name="dtype"/> (float32 or float64).</summary>
    Tensor Logits(Tensor x, ScalarType dtype);

    /// <summary>The repaired network if the result is a plain network of the original architecture, else null.</summary>
    Network? PlainNetwork { get; }

    /// <summary>One line saying what kind of object this is.</summary>
    string Kind { get; }
}

/// <summary>A repaired plain network; float64 logits come from a float64 copy of it.</summary>
public sealed class PlainRepairedModel : IRepairedModel
{
    private Network? double64;

    /// <summary>Wraps <paramref name="network"/>.</summary>
    public PlainRepairedModel(Network network) => PlainNetwork = network;

    /// <inheritdoc />
    public Network PlainNetwork { get; }

    Network? IRepairedModel.PlainNetwork => PlainNetwork;

    /// <inheritdoc />
    public string Kind => $"plain network ({PlainNetwork.Spec.Architecture})";

    /// <inheritdoc />
    public Tensor Logits(Tensor x, ScalarType dtype)
    {
        if (dtype == ScalarType.Float32) return PlainNetwork.Logits(x.to(ScalarType.Float32));
        double64 ??= ToFloat64(PlainNetwork);
        return double64.Logits(x.to(ScalarType.Float64));
    }

    /// <summary>A float64 copy of a network (for exact-as-possible checks and LP encoding).</summary>
    public static Network ToFloat64(Network network)
    {
        var copy = new Network(network.Spec) { Provenance = network.Provenance };
        copy.to(ScalarType.Float64);
        copy.CopyWeightsFrom(network);
        copy.eval();
        return copy;
    }
}
