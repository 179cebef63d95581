using Reparo.Models;
using Reparo.Models.Onnx;
using Reparo.Repair.Provable;
using static TorchSharp.torch;

namespace Reparo.Repair;

/// <summary>The independent check of one region.</summary>
/// <param name="Id">Region id.</param>
/// <param name="Label">Required class.</param>
/// <param name="Vertices">Number of vertices checked.</param>
/// <param name="MarginFloat32">Smallest (required logit − largest other logit) over the vertices, computed in float32.</param>
/// <param name="MarginFloat64">The same in float64.</param>
/// <param name="LinearOnRegion">For polytopes: whether all vertices share one activation pattern (and max-pool choice) in both precisions, so the network is affine on the polytope; null for points.</param>
/// <param name="Passed">Margins positive in both precisions (and, for polytopes, one shared pattern).</param>
public sealed record RegionCheck(string Id, long Label, int Vertices, double MarginFloat32, double MarginFloat64, bool? LinearOnRegion, bool Passed);

/// <summary>The verifier's record of a repaired model on the whole repair set.</summary>
/// <param name="Regions">Every region's check.</param>
/// <param name="Efficacy">Share of regions that passed.</param>
/// <param name="Verified">Every region passed: the repair is provable on this set.</param>
/// <param name="Note">What was checked, and anything that limits the claim.</param>
public sealed record VerificationReport(IReadOnlyList<RegionCheck> Regions, double Efficacy, bool Verified, string Note)
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
/// are read): the model is run in float32 and in float64 and each region's margin is recorded. A polytope passes
/// only if, in addition, all its vertices share one ReLU pattern and max-pool choice layer by layer; then the network
/// is affine on the polytope and correct vertices imply a correct polytope. Pre-activations within
/// <see cref="Float64ZeroTolerance"/> (float64) or <see cref="Float32ZeroTolerance"/> (float32) of zero match either side.
/// </summary>
public static class RepairVerifier
{
    /// <summary>|z| at or below this counts as zero in the float64 pattern check.</summary>
    public const double Float64ZeroTolerance = 1e-9;

    /// <summary>|z| at or below this counts as zero in the float32 pattern check.</summary>
    public const double Float32ZeroTolerance = 1e-5;

    /// <summary>Verifies <paramref name="model"/> on <paramref name="set"/>.</summary>
    public static VerificationReport Verify(IRepairedModel model, RepairSet set)
    {
        using var scope = NewDisposeScope();
        (Tensor vertices, int[] region, _) = set.Stacked();
        double[] margins32 = Margins(model.Logits(vertices, ScalarType.Float32), region, set);
        double[] margins64 = Margins(model.Logits(vertices, ScalarType.Float64), region, set);
        bool hasPolytopes = !set.IsPointSet;
        Network? plain = model.PlainNetwork;
        bool piecewiseLinear = plain is not null && plain.Layers.All(l => l.Spec is LinearSpec or Conv2dSpec or ReluSpec or MaxPool2dSpec or FlattenSpec
            || (l.Module is OnnxBlockModule block && SymbolicEncoder.NotPiecewiseLinear(block) is null));
        bool[]? linear32 = null, linear64 = null;
        if (hasPolytopes && piecewiseLinear)
        {
            linear32 = SharedPatterns(plain!, vertices, region, set.Regions.Count, ScalarType.Float32, Float32ZeroTolerance);
            using Network double64 = PlainRepairedModel.ToFloat64(plain!);
            linear64 = SharedPatterns(double64, vertices, region, set.Regions.Count, ScalarType.Float64, Float64ZeroTolerance);
        }
        var checks = new RegionCheck[set.Regions.Count];
        for (int r = 0; r < checks.Length; r++)
        {
            RepairRegion reg = set.Regions[r];
            bool? linear = reg.VertexCount == 1 ? null : linear32 is null ? false : linear32[r] && linear64![r];
            bool passed = margins32[r] > 0 && margins64[r] > 0 && linear != false;
            checks[r] = new RegionCheck(reg.Id, reg.Label, reg.VertexCount, margins32[r], margins64[r], linear, passed);
        }
        string note = !hasPolytopes
            ? "every repair point re-run in float32 and float64"
            : piecewiseLinear
                ? "every vertex re-run in float32 and float64, activation patterns compared layer by layer"
                : "vertices checked only: the model is not a plain piecewise-linear network, so correctness between vertices is not proven";
        int passedCount = checks.Count(c => c.Passed);
        return new VerificationReport(checks, (double)passedCount / checks.Length, passedCount == checks.Length, note);
    }

    /// <summary>
    /// Re-runs the repaired model as it will be shipped, an ONNX file's bytes exported from <paramref name="exported"/>,
    /// in ONNX Runtime on every repair point or vertex, and records the smallest margin (runtime's float32 or float64
    /// logits). The file reads preprocessed inputs (an export holds the layers, not the input preprocessing), so it is fed
    /// the repair inputs after <paramref name="exported"/>'s preprocessing.
    /// </summary>
    public static OnnxRuntimeVerdict VerifyInOnnxRuntime(byte[] onnx, Network exported, RepairSet set)
    {
        using var scope = NewDisposeScope();
        (Tensor vertices, int[] region, _) = set.Stacked();
        Tensor logits = Verification.OnnxRuntimeCheck.Run(onnx, exported.Preprocess(vertices));
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

    private static bool[] SharedPatterns(Network network, Tensor vertices, int[] region, int regions, ScalarType dtype, double tolerance)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        network.eval();
        var consistent = Enumerable.Repeat(true, regions).ToArray();
        foreach (Activation activation in Activations.Of(network, vertices.to(dtype), 0, network.Layers.Count))
        {
            if (activation.Windows is null)
            {
                Tensor z = activation.Input.reshape(vertices.shape[0], -1).to(ScalarType.Float64);
                int width = (int)z.shape[1];
                double[] values = z.data<double>().ToArray();
                var seenPositive = new bool[regions, width];
                var seenNegative = new bool[regions, width];
                for (int v = 0; v < region.Length; v++)
                    for (int n = 0; n < width; n++)
                    {
                        double x = values[v * width + n];
                        if (x > tolerance) seenPositive[region[v], n] = true;
                        else if (x < -tolerance) seenNegative[region[v], n] = true;
                    }
                for (int r = 0; r < regions; r++)
                    for (int n = 0; n < width && consistent[r]; n++)
                        if (seenPositive[r, n] && seenNegative[r, n]) consistent[r] = false;
            }
            else
            {
                int[][] choices = MaxPoolChoices(activation.Input.to(ScalarType.Float64), activation.Windows, tolerance);
                var reference = new int[regions][];
                for (int v = 0; v < region.Length; v++)
                {
                    int r = region[v];
                    if (reference[r] is null)
                    {
                        reference[r] = choices[v];
                        continue;
                    }
                    for (int o = 0; o < choices[v].Length && consistent[r]; o++)
                        if (choices[v][o] >= 0 && reference[r][o] >= 0 && choices[v][o] != reference[r][o]) consistent[r] = false;
                }
            }
        }
        return consistent;
    }

    /// <summary>For each sample and pooled output, the flat input index of its window's maximum (-1 when the maximum is tied within <paramref name="tolerance"/>); <paramref name="windows"/> from <see cref="PoolWindows"/>.</summary>
    internal static int[][] MaxPoolChoices(Tensor input, int[][] windows, double tolerance)
    {
        long n = input.shape[0];
        double[] values = input.reshape(n, -1).contiguous().data<double>().ToArray();
        int width = values.Length / (int)n;
        var result = new int[n][];
        for (int s = 0; s < n; s++)
        {
            var choice = new int[windows.Length];
            for (int o = 0; o < windows.Length; o++)
            {
                int best = -1;
                double bestValue = double.NegativeInfinity, second = double.NegativeInfinity;
                foreach (int index in windows[o])
                {
                    double x = values[s * width + index];
                    if (x > bestValue)
                    {
                        second = bestValue;
                        bestValue = x;
                        best = index;
                    }
                    else if (x > second)
                    {
                        second = x;
                    }
                }
                choice[o] = bestValue - second > tolerance ? best : -1;
            }
            result[s] = choice;
        }
        return result;
    }
}
