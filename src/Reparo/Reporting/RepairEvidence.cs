using Reparo.Models;
using Reparo.Repair;
using Reparo.Repair.Provable;
using static TorchSharp.torch;

namespace Reparo.Reporting;

/// <summary>The parameter change of one layer.</summary>
/// <param name="Layer">The layer's name.</param>
/// <param name="Parameters">Its parameter count.</param>
/// <param name="Changed">How many of them changed.</param>
/// <param name="Linf">Largest absolute change.</param>
/// <param name="L1">Sum of absolute changes.</param>
public sealed record LayerChange(string Layer, long Parameters, long Changed, double Linf, double L1);

/// <summary>One repair region before and after the repair.</summary>
/// <param name="Id">The region's id, e.g. <c>test#1234</c>.</param>
/// <param name="Label">The class it must get.</param>
/// <param name="Before">The original model's prediction of its first vertex.</param>
/// <param name="After">The repaired model's prediction of its first vertex; null without a model.</param>
/// <param name="Vertices">Its vertex count.</param>
/// <param name="MarginFloat32">The verifier's smallest float32 margin over the region; null without a model.</param>
/// <param name="Passed">Whether the verifier accepted the region; null without a model.</param>
/// <param name="Png">A thumbnail of its first vertex for image inputs, else null.</param>
/// <param name="Text">Its first vertex as text for token or feature inputs, else null.</param>
public sealed record RepairSample(string Id, long Label, long Before, long? After, int Vertices, double? MarginFloat32, bool? Passed, byte[]? Png, string? Text);

/// <summary>
/// What a repair report shows beyond its JSON numbers: confusion matrices on the clean held-out set before and after,
/// the parameter change per layer, and every repair region's prediction before and after with a thumbnail or its text.
/// </summary>
/// <param name="ClassNames">The model's class names.</param>
/// <param name="ConfusionBefore">Counts[true][predicted] of the original model on the clean held-out set.</param>
/// <param name="ConfusionAfter">The same for the repaired model; null without a model.</param>
/// <param name="Layers">Parameter change per layer that has parameters (a decoupled network's value channel; empty for other non-plain models or without a model).</param>
/// <param name="Samples">The repair regions, at most <see cref="MaxSamples"/>.</param>
public sealed record RepairEvidence(IReadOnlyList<string> ClassNames, long[][] ConfusionBefore, long[][]? ConfusionAfter, IReadOnlyList<LayerChange> Layers, IReadOnlyList<RepairSample> Samples)
{
    /// <summary>The most repair regions a report lists.</summary>
    public const int MaxSamples = 200;

    /// <summary>Measures <paramref name="result"/> on <paramref name="problem"/>.</summary>
    public static RepairEvidence Compute(RepairProblem problem, RepairResult result)
    {
        using var scope = NewDisposeScope();
        Network original = problem.Network;
        int classes = original.ClassCount;
        long[] labels = problem.Drawdown.Labels();
        long[][] before = Confusion(labels, original.Predict(problem.Drawdown.X), classes);
        long[][]? after = result.Model is { } model ? Confusion(labels, RepairMetrics.Predict(model, problem.Drawdown.X), classes) : null;
        RepairRegion[] regions = [.. problem.RepairSet.Regions.Take(MaxSamples)];
        Tensor first = cat(regions.Select(r => r.Vertices.narrow(0, 0, 1).to(ScalarType.Float32)).ToArray(), 0);
        long[] predictedBefore = original.Predict(first);
        long[]? predictedAfter = result.Model is { } m ? RepairMetrics.Predict(m, first) : null;
        Dictionary<string, RegionCheck> checks = result.Verification?.Regions.ToDictionary(c => c.Id) ?? [];
        var samples = new RepairSample[regions.Length];
        for (int i = 0; i < regions.Length; i++)
        {
            RegionCheck? check = checks.GetValueOrDefault(regions[i].Id);
            (byte[]? png, string? text) = InputPicture.Of(first[i], original);
            samples[i] = new RepairSample(regions[i].Id, regions[i].Label, predictedBefore[i], predictedAfter?[i], regions[i].VertexCount, check?.MarginFloat32, check?.Passed, png, text);
        }
        Network? changed = result.Model?.PlainNetwork ?? (result.Model as DecoupledNetwork)?.ValueChannel;
        return new RepairEvidence(original.Spec.ClassNames, before, after, changed is null ? [] : LayerChanges(original, changed), samples);
    }

    private static long[][] Confusion(long[] labels, long[] predictions, int classes)
    {
        long[][] counts = [.. Enumerable.Range(0, classes).Select(_ => new long[classes])];
        for (int i = 0; i < labels.Length; i++) counts[labels[i]][predictions[i]]++;
        return counts;
    }

    private static LayerChange[] LayerChanges(Network original, Network changed)
    {
        using var noGrad = no_grad();
        var layers = new List<LayerChange>();
        foreach (((string name, Tensor a), (string _, Tensor b)) in original.named_parameters().Zip(changed.named_parameters()))
        {
            using var scope = NewDisposeScope();
            Tensor d = (b.to(ScalarType.Float64) - a.to(ScalarType.Float64)).abs();
            int dot = name.LastIndexOf('.');
            string layer = dot < 0 ? name : name[..dot];
            var change = new LayerChange(layer, d.numel(), d.gt(0).sum().item<long>(), d.numel() == 0 ? 0 : d.max().item<double>(), d.sum().item<double>());
            int at = layers.FindIndex(l => l.Layer == layer);
            if (at < 0) layers.Add(change);
            else layers[at] = new LayerChange(layer, layers[at].Parameters + change.Parameters, layers[at].Changed + change.Changed, Math.Max(layers[at].Linf, change.Linf), layers[at].L1 + change.L1);
        }
        return [.. layers];
    }
}
