using Reparo.Attribution;
using Reparo.Data;
using Reparo.Models;
using Reparo.Training;
using static TorchSharp.torch;

namespace Reparo.Repair.Editing;

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

/// <summary>How a spurious artifact moves a model's predictions on images of the other classes.</summary>
/// <param name="CleanAccuracy">Accuracy on those images without the artifact.</param>
/// <param name="ArtifactAccuracy">Accuracy on the same images with the artifact.</param>
/// <param name="FlippedToClass">Share of the images predicted as the artifact's class with the artifact but not without.</param>
/// <param name="N">Number of images.</param>
public sealed record SpuriousReport(double CleanAccuracy, double ArtifactAccuracy, double FlippedToClass, int N)
{
    /// <summary>Clean accuracy minus artifact accuracy: how much the artifact alone costs.</summary>
    public double Deviation => CleanAccuracy - ArtifactAccuracy;
}

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
                        return new RectificationMeasures(accuracy, AttackSuccessRate(network, Poisoning.TriggeredTest(test, spec), spec.Class), null, null, null, null, null);
                    var corners = new Dictionary<string, double>();
                    foreach (Corner corner in Enum.GetValues<Corner>())
                        corners[CornerName(corner)] = AttackSuccessRate(network, Poisoning.TriggeredTest(test, spec, corner), spec.Class);
                    return new RectificationMeasures(accuracy, corners[CornerName(spec.DefaultCorner)], corners, null, null, null, null);
                }
            case PoisonKind.Spurious:
                {
                    SpuriousReport report = SpuriousDeviation(network, test, spec);
                    return new RectificationMeasures(accuracy, null, null, report.CleanAccuracy, report.ArtifactAccuracy, report.Deviation, null);
                }
            default:
                return new RectificationMeasures(accuracy, null, null, null, null, null, Leakage(network, spec, test, leakageSamples, igSteps));
        }
    }

    /// <summary>Share of <paramref name="triggered"/> that <paramref name="network"/> predicts as <paramref name="target"/> (NaN if empty).</summary>
    public static double AttackSuccessRate(Network network, Dataset triggered, int target)
    {
        if (triggered.Count == 0) return double.NaN;
        return network.Predict(triggered.X).Count(p => p == target) / (double)triggered.Count;
    }

    /// <summary>
    /// The spurious artifact's effect: on the test images not of the artifact's class, accuracy without and with the
    /// artifact, and the share the artifact flips to that class.
    /// </summary>
    public static SpuriousReport SpuriousDeviation(Network network, Dataset test, PoisonSpec spec, Corner? corner = null)
    {
        if (spec.Kind != PoisonKind.Spurious) throw new ReparoInputException($"poison '{spec}' is not a spurious artifact");
        Dataset clean = Poisoning.OtherClasses(test, spec);
        Dataset artifact = Poisoning.TriggeredTest(test, spec, corner);
        if (clean.Count == 0) return new SpuriousReport(double.NaN, double.NaN, double.NaN, 0);
        long[] labels = clean.Labels(), before = network.Predict(clean.X), after = network.Predict(artifact.X);
        int n = labels.Length;
        return new SpuriousReport(
            Enumerable.Range(0, n).Count(i => before[i] == labels[i]) / (double)n,
            Enumerable.Range(0, n).Count(i => after[i] == labels[i]) / (double)n,
            Enumerable.Range(0, n).Count(i => after[i] == spec.Class && before[i] != spec.Class) / (double)n,
            n);
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
