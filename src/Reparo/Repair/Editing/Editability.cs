using Reparo.Attribution;
using Reparo.Models;
using Reparo.Runtime;
using static TorchSharp.torch;

namespace Reparo.Repair.Editing;

/// <summary>Which editability score picks the layer.</summary>
public enum EditabilityScore
{
    /// <summary>‖E‖_F: the attribution the edit would carry at that layer.</summary>
    Raw,

    /// <summary>‖E‖_F divided by the number of edited weights: attribution per parameter.</summary>
    PerParameter,
}

/// <summary>One candidate layer's editability.</summary>
/// <param name="Layer">The layer's dotted name.</param>
/// <param name="Raw">‖E‖_F.</param>
/// <param name="PerParameter">‖E‖_F / (out · d).</param>
/// <param name="AttributionSum">Σ of the layer-IG attribution (≈ the logit gap it explains, by completeness).</param>
/// <param name="Seconds">Time to score this layer.</param>
/// <param name="NotEditable">Why no rank-one edit exists at this layer for these pairs (its scores are then 0 and it is never picked); null when it was scored.</param>
public sealed record LayerEditability(string Layer, double Raw, double PerParameter, double AttributionSum, double Seconds, string? NotEditable = null);

/// <summary>
/// Attribution-guided layer localisation of Yang et al. (CVPR'26, Sec. 3.3). For each candidate layer, layer integrated
/// gradients (path from the corrupted input's activations to the clean twin's, target = the true class) give the
/// path-averaged output gradient ḡ at every output position; projected on the layer's rank-one edit direction ΔW they
/// give the weight attribution E = ΔW ⊙ Σ_p ḡ_p k*_pᵀ — the parameter-space integrated gradients of moving W to W + ΔW,
/// which sums (over the key dimension) to the layer-IG attribution because the edit moves the corrupted activations
/// along exactly that path. The layer whose E has the largest Frobenius norm (raw, or per parameter) is the most
/// editable.
/// </summary>
public static class Editability
{
    /// <summary>Scores every candidate layer for the given pairs.</summary>
    /// <param name="network">The model.</param>
    /// <param name="candidates">Layers to score.</param>
    /// <param name="corrupted">Corrupted inputs.</param>
    /// <param name="clean">Their clean twins (same order).</param>
    /// <param name="labels">True classes.</param>
    /// <param name="statistics">Key second moments (estimated on first use per layer).</param>
    /// <param name="edit">Edit options (key kind, solver).</param>
    /// <param name="steps">Integration steps of layer IG.</param>
    public static IReadOnlyList<LayerEditability> Score(Network network, IReadOnlyList<AffineSite> candidates, Tensor corrupted, Tensor clean, long[] labels,
        KeyStatistics statistics, EditOptions edit, int steps = 16)
    {
        var scores = new List<LayerEditability>();
        using ProgressScope shown = WorkProgress.Begin("editability", candidates.Count);
        foreach (AffineSite site in candidates)
        {
            shown.Describe(site.Name);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using var scope = NewDisposeScope();
            KeyKind kind = LayerKeys.Resolve(site, edit.Keys);
            Tensor c = statistics.SecondMoment(site, kind);
            LayerEdit proposed;
            try
            {
                proposed = RankOneEdit.Compute(network, site, corrupted, clean, labels, c, edit with { Solver = edit.Solver == EditSolver.Iterative ? EditSolver.Auto : edit.Solver });
            }
            catch (ReparoInputException failure)
            {
                // The pair does not differ at this layer (or no exact edit exists there): nothing to attribute, and the reason is kept.
                scores.Add(new LayerEditability(site.Name, 0, 0, 0, clock.Elapsed.TotalSeconds, failure.Message));
                shown.Advance();
                continue;
            }
            (Tensor e, double attributionSum) = WeightAttribution(network, site, kind, proposed.Delta, corrupted, clean, labels, steps);
            double raw = e.norm().item<double>();
            scores.Add(new LayerEditability(site.Name, raw, raw / e.numel(), attributionSum, clock.Elapsed.TotalSeconds));
            shown.Advance();
        }
        return scores;
    }

    /// <summary>
    /// E = ΔW ⊙ Σ_p ḡ_p k*_pᵀ (out × d, float64) for an edit <paramref name="delta"/> of <paramref name="site"/>, with ḡ the
    /// layer-IG path-averaged gradient (baseline: the corrupted inputs; input: the clean twins; target: the labels), and
    /// the sum of the layer-IG attribution.
    /// </summary>
    public static (Tensor WeightAttribution, double AttributionSum) WeightAttribution(Network network, AffineSite site, KeyKind kind, Tensor delta,
        Tensor corrupted, Tensor clean, long[] labels, int steps)
    {
        using var scope = NewDisposeScope();
        using AttributionResult ig = new LayerIntegratedGradients(site.Name).Attribute(network, clean, labels,
            new AttributionOptions { Baseline = AttributionBaseline.Of(corrupted), Steps = steps });
        Tensor keys;
        using (no_grad())
        {
            (_, Tensor input, Tensor output) = AffineSites.Capture(network, site, corrupted);
            keys = LayerKeys.Keys(site, kind, input);
            input.Dispose();
            output.Dispose();
        }
        Tensor gradients = LayerKeys.Values(site, ig.MeanGradient!); // M × out, rows in the keys' order
        Tensor e = delta.mul(gradients.t().matmul(keys));
        return (e.MoveToOuterDisposeScope(), ig.Values.to(ScalarType.Float64).sum().item<double>());
    }

    /// <summary>The best-scoring editable layer under <paramref name="score"/>; when no layer is editable, an input error that gives each layer's reason.</summary>
    public static LayerEditability Pick(IReadOnlyList<LayerEditability> scores, EditabilityScore score)
    {
        if (scores.Count == 0) throw new ReparoInputException("no candidate layers to choose from");
        return scores.Where(s => s.NotEditable is null).MaxBy(s => score == EditabilityScore.Raw ? s.Raw : s.PerParameter)
            ?? throw new ReparoInputException($"no candidate layer can be edited for these pairs: {string.Join("; ", scores.Select(s => $"{s.Layer}: {s.NotEditable}"))}");
    }
}
