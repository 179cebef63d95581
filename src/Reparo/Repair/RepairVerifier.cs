using Reparo.Models;
using Reparo.Models.Onnx;
using Reparo.Repair.Provable;
using Reparo.Verification;
using static TorchSharp.torch;

namespace Reparo.Repair;

/// <summary>The independent check of one region.</summary>
/// <param name="Id">Region id.</param>
/// <param name="Label">Required class.</param>
/// <param name="Vertices">Number of vertices checked.</param>
/// <param name="MarginFloat32">Smallest (required logit − largest other logit) over the vertices, computed in float32.</param>
/// <param name="MarginFloat64">The same in float64.</param>
/// <param name="LinearOnRegion">For polytopes: whether all vertices are certainly on one shared piece of every ReLU and max-pool, beyond the guard band, in both precisions, so the network is affine on the polytope; null for points.</param>
/// <param name="Passed">Margins beyond the guard band in both precisions (and, for polytopes, one shared pattern).</param>
public sealed record RegionCheck(string Id, long Label, int Vertices, double MarginFloat32, double MarginFloat64, bool? LinearOnRegion, bool Passed);

/// <summary>The verifier's record of a repaired model on the whole repair set.</summary>
/// <param name="Regions">Every region's check.</param>
/// <param name="Efficacy">Share of regions that passed.</param>
/// <param name="Verified">Every region passed: the repair is provable on this set.</param>
/// <param name="Note">What was checked, with the guard bands, and anything that limits the claim.</param>
/// <param name="GuardBandFloat32">The float32 guard band the margins, pre-activation signs and max-pool leads had to clear (<see cref="RepairVerifier.GuardBandFloat32"/>).</param>
/// <param name="GuardBandFloat64">The same in float64 (<see cref="RepairVerifier.GuardBandFloat64"/>).</param>
public sealed record VerificationReport(IReadOnlyList<RegionCheck> Regions, double Efficacy, bool Verified, string Note, double GuardBandFloat32, double GuardBandFloat64)
{
    /// <summary>Smallest float32 margin over all regions.</summary>
    public double MinMarginFloat32 => Regions.Min(r => r.MarginFloat32);

    /// <summary>Smallest float64 margin over all regions.</summary>
    public double MinMarginFloat64 => Regions.Min(r => r.MarginFloat64);
}

/// <summary>The repaired ONNX file re-run in ONNX Runtime.</summary>
/// <param name="Verified">Every repair point or vertex has a positive margin in the runtime.</param>
/// <param name="MinMargin">The smallest margin over all of them.</param>
/// <param name="Points">How many inputs were run.</param>
public sealed record OnnxRuntimeVerdict(bool Verified, double MinMargin, int Points);

/// <summary>
/// Checks a repaired model on every repair point or vertex, independently of whatever produced it (no solver values
/// are read): the model is run in float32 and in float64 and each region's margin is recorded. A region passes only if
/// its margin exceeds the guard band of each precision (<see cref="GuardBandFloat32"/>, <see cref="GuardBandFloat64"/>),
/// so that a margin rounding alone could have produced does not count. A polytope passes only if, in addition, its
/// vertices are certainly on one shared piece of every ReLU and max-pool, layer by layer and in both precisions
/// (<see cref="ActivationPieces"/>): a pre-activation or max-pool lead inside the guard band counts as on neither side
/// unless it is exactly zero. Then the network is affine on the polytope and correct vertices imply a correct polytope.
/// </summary>
public static class RepairVerifier
{
    /// <summary>
    /// The float32 guard band: a float32 margin must exceed it, and a float32 pre-activation or max-pool lead must
    /// exceed it in size (or be exactly zero) to count as on one side.
    /// </summary>
    public const double GuardBandFloat32 = 1e-5;

    /// <summary>The float64 guard band, like <see cref="GuardBandFloat32"/>.</summary>
    public const double GuardBandFloat64 = 1e-9;

    /// <summary>Verifies <paramref name="model"/> on <paramref name="set"/>.</summary>
    public static VerificationReport Verify(IRepairedModel model, RepairSet set)
    {
        using var scope = NewDisposeScope();
        (Tensor vertices, int[] region, _) = set.Stacked();
        double[] margins32 = Margins(model.Logits(vertices, ScalarType.Float32), region, set);
        double[] margins64 = Margins(model.Logits(vertices, ScalarType.Float64), region, set);
        bool hasPolytopes = !set.IsPointSet;
        Network? plain = model.PlainNetwork;
        // Layers after the class scores (a trailing Softmax) keep every margin's sign, so affine scores are what counts.
        bool piecewiseLinear = plain is not null && plain.Layers.Take(plain.ScoreLayerCount).All(l => l.Spec is LinearSpec or Conv1dSpec or Conv2dSpec or ReluSpec or MaxPool2dSpec or FlattenSpec or ImageRowsSpec or ChannelsLastSpec or BinaryScoresSpec
            || (l.Module is OnnxBlockModule block && SymbolicEncoder.NotPiecewiseLinear(block) is null));
        bool[]? linear32 = null, linear64 = null;
        if (hasPolytopes && piecewiseLinear)
        {
            int[][] regionVertices = [.. Enumerable.Range(0, set.Regions.Count).Select(r => Enumerable.Range(0, region.Length).Where(v => region[v] == r).ToArray())];
            linear32 = SharedPatterns(plain!, vertices, regionVertices, ScalarType.Float32, GuardBandFloat32);
            using Network double64 = PlainRepairedModel.ToFloat64(plain!);
            linear64 = SharedPatterns(double64, vertices, regionVertices, ScalarType.Float64, GuardBandFloat64);
        }
        var checks = new RegionCheck[set.Regions.Count];
        for (int r = 0; r < checks.Length; r++)
        {
            RepairRegion reg = set.Regions[r];
            bool? linear = reg.VertexCount == 1 ? null : linear32 is null ? false : linear32[r] && linear64![r];
            bool passed = margins32[r] > GuardBandFloat32 && margins64[r] > GuardBandFloat64 && linear != false;
            checks[r] = new RegionCheck(reg.Id, reg.Label, reg.VertexCount, margins32[r], margins64[r], linear, passed);
        }
        string what = !hasPolytopes
            ? "every repair point re-run in float32 and float64"
            : piecewiseLinear
                ? "every vertex re-run in float32 and float64, activation patterns compared layer by layer"
                : "vertices checked only: the model is not a plain piecewise-linear network, so correctness between vertices is not proven";
        string guarded = hasPolytopes && piecewiseLinear ? "margins, pre-activation signs and max-pool leads" : "margins";
        string note = $"{what}; {guarded} count only beyond the guard band, {GuardBandFloat32:G3} in float32 and {GuardBandFloat64:G3} in float64";
        int passedCount = checks.Count(c => c.Passed);
        return new VerificationReport(checks, (double)passedCount / checks.Length, passedCount == checks.Length, note, GuardBandFloat32, GuardBandFloat64);
    }

    /// <summary>
    /// Re-runs the repaired model as it will be shipped, an ONNX file's bytes exported from <paramref name="exported"/>,
    /// in ONNX Runtime on every repair point or vertex, and records the smallest margin (runtime's float32 or float64
    /// logits; a binary classifier with one output: its distance from the decision threshold), fed what the file reads
    /// (<see cref="Network.GraphInput"/>: an export holds the layers, not the input preprocessing).
    /// </summary>
    public static OnnxRuntimeVerdict VerifyInOnnxRuntime(byte[] onnx, Network exported, RepairSet set)
    {
        using var scope = NewDisposeScope();
        (Tensor vertices, int[] region, _) = set.Stacked();
        Tensor logits = OnnxRuntimeCheck.Run(onnx, exported.GraphInput(vertices), exported.OnnxOrigin?.Output);
        if (exported.BinaryScoresLayer >= 0 && logits.shape is [_, 1])
        {
            // One output: class 1 above the threshold the graph gives a zero score (0, or ½ after a Sigmoid).
            using var noGrad = no_grad();
            Tensor threshold = exported.InEvalMode(() => exported.Forward(zeros(1, 1), exported.BinaryScoresLayer + 1, exported.Layers.Count));
            logits = cat([threshold.to(logits.dtype).expand_as(logits), logits], 1);
        }
        double[] margins = Margins(logits, region, set);
        return new OnnxRuntimeVerdict(margins.All(m => m > 0), margins.Min(), set.VertexCount);
    }

    /// <summary>Per region, the smallest (required logit − largest other logit) over its vertices.</summary>
    internal static double[] Margins(Tensor logits, int[] region, RepairSet set)
    {
        double[] values = logits.to(ScalarType.Float64).data<double>().ToArray();
        int classes = (int)logits.shape[1];
        var margins = Enumerable.Repeat(double.PositiveInfinity, set.Regions.Count).ToArray();
        for (int v = 0; v < region.Length; v++)
        {
            long label = set.Regions[region[v]].Label;
            double best = double.NegativeInfinity;
            for (int c = 0; c < classes; c++)
                if (c != label) best = Math.Max(best, values[v * classes + c]);
            margins[region[v]] = Math.Min(margins[region[v]], values[v * classes + label] - best);
        }
        return margins;
    }

    /// <summary>Per region, whether its vertices (<paramref name="regionVertices"/>) are certainly on one shared piece of every ReLU and max-pool of <paramref name="network"/> run in <paramref name="dtype"/>.</summary>
    private static bool[] SharedPatterns(Network network, Tensor vertices, int[][] regionVertices, ScalarType dtype, double band)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        network.eval();
        var shared = Enumerable.Repeat(true, regionVertices.Length).ToArray();
        foreach (Activation activation in Activations.Of(network, vertices.to(dtype), 0, network.Layers.Count))
        {
            var pieces = new ActivationPieces(activation, (int)vertices.shape[0]);
            for (int r = 0; r < shared.Length; r++)
                shared[r] = shared[r] && (regionVertices[r].Length == 1 || pieces.Shared(regionVertices[r], band));
        }
        return shared;
    }
}
