using Reparo.Attribution;
using Reparo.Data;
using Reparo.Models;
using Reparo.Training;
using static TorchSharp.torch;

namespace Reparo.Evaluation;

/// <summary>
/// What the rectification benchmarks measure on a model (Yang et al., CVPR'26, Sec. 4): clean test accuracy (OA) and,
/// by poisoning: attack success rate (ASR) with the trigger at each corner (trojans), accuracy with and without the
/// artifact (spurious correlation), feature leakage (block data).
/// </summary>
/// <param name="Accuracy">Test accuracy on clean inputs (block data: on block inputs).</param>
/// <param name="Asr">Trojans: share of triggered test images of other classes predicted as the target (trigger where it was trained).</param>
/// <param name="AsrByCorner">Trojans: the same with the trigger at every corner (location generalisation), keyed by corner name.</param>
/// <param name="OthersAccuracy">Spurious: accuracy on the other classes' test images without the artifact.</param>
/// <param name="ArtifactAccuracy">Spurious: the same images with the artifact.</param>
/// <param name="SpuriousDeviation">Spurious: <see cref="OthersAccuracy"/> − <see cref="ArtifactAccuracy"/>.</param>
/// <param name="Leakage">Block: mean share of |IG attribution| on the null block.</param>
public sealed record RectificationMeasures(double Accuracy, double? Asr, IReadOnlyDictionary<string, double>? AsrByCorner,
    double? OthersAccuracy, double? ArtifactAccuracy, double? SpuriousDeviation, double? Leakage);

/// <summary>Measures <see cref="RectificationMeasures"/>.</summary>
public static class RectificationMetrics
{
    /// <summary>Measures a model on test data prepared for it (block models: block test data).</summary>
    /// <param name="network">The model.</param>
    /// <param name="spec">The poisoning the model was trained with.</param>
    /// <param name="test">Test data (already block-transformed for block models).</param>
    /// <param name="leakageSamples">Test images the leakage IG runs on.</param>
    /// <param name="igSteps">IG steps for the leakage.</param>
    public static RectificationMeasures Measure(Network network, PoisonSpec spec, Dataset test, int leakageSamples = 200, int igSteps = 32)
    {
        double accuracy = Evaluator.Accuracy(network, test);
        switch (spec.Kind)
        {
            case PoisonKind.BadNets or PoisonKind.Blend:
                {
                    if (spec.Kind == PoisonKind.Blend)
                        return new RectificationMeasures(accuracy, Poisoning.AttackSuccessRate(network, Poisoning.TriggeredTest(test, spec), spec.Class), null, null, null, null, null);
                    var corners = new Dictionary<string, double>();
                    foreach (Corner corner in Enum.GetValues<Corner>())
                        corners[CornerName(corner)] = Poisoning.AttackSuccessRate(network, Poisoning.TriggeredTest(test, spec, corner), spec.Class);
                    return new RectificationMeasures(accuracy, corners[CornerName(spec.DefaultCorner)], corners, null, null, null, null);
                }
            case PoisonKind.Spurious:
                {
                    SpuriousReport report = Poisoning.SpuriousDeviation(network, test, spec);
                    return new RectificationMeasures(accuracy, null, null, report.CleanAccuracy, report.ArtifactAccuracy, report.Deviation, null);
                }
            default:
                return new RectificationMeasures(accuracy, null, null, null, null, null, Leakage(network, spec, test, leakageSamples, igSteps));
        }
    }

    /// <summary>The command-line name of a corner (<c>bottom-right</c>, …).</summary>
    public static string CornerName(Corner corner) => corner switch
    {
        Corner.BottomRight => "bottom-right",
        Corner.BottomLeft => "bottom-left",
        Corner.TopLeft => "top-left",
        _ => "top-right",
    };

    /// <summary>Mean share of |integrated gradients| (zero baseline, true class) that falls on the null block.</summary>
    private static double Leakage(Network network, PoisonSpec spec, Dataset test, int samples, int steps)
    {
        using var scope = NewDisposeScope();
        Dataset subset = test.Subset([.. Enumerable.Range(0, Math.Min(samples, test.Count))]);
        AttributionResult ig = new IntegratedGradients().Attribute(network, subset.X, subset.Labels(), new AttributionOptions { Steps = steps });
        double[] shares = Poisoning.Leakage(ig.Values, Poisoning.NullBlockMask(subset, spec));
        double[] finite = [.. shares.Where(double.IsFinite)];
        return finite.Length == 0 ? double.NaN : finite.Average();
    }
}
