using System.Diagnostics;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Repair.Editing;
using static TorchSharp.torch;

namespace Reparo.Localisation;

/// <summary>What a layer heuristic looks at.</summary>
/// <param name="Network">The model to repair (never modified).</param>
/// <param name="RepairSet">The failures (every vertex counts; counterparts are needed by <c>change</c> and <c>editability</c>).</param>
/// <param name="Candidates">The layers to choose from (dotted Linear/Conv2d names, forward order).</param>
/// <param name="StatisticsInputs">Clean inputs for the key statistics of <c>editability</c>.</param>
public sealed record LayerChoiceContext(Network Network, RepairSet RepairSet, IReadOnlyList<string> Candidates, Tensor? StatisticsInputs = null);

/// <summary>A candidate layer's score under one heuristic (higher: more worth repairing).</summary>
/// <param name="Layer">The layer.</param>
/// <param name="Score">Its score.</param>
public sealed record LayerScore(string Layer, double Score);

/// <summary>A heuristic's verdict.</summary>
/// <param name="Heuristic">Its name.</param>
/// <param name="Layer">The layer it picks (the highest score; the earliest on ties).</param>
/// <param name="Reason">One line saying why, for the user.</param>
/// <param name="Scores">Every candidate's score, in candidate order.</param>
/// <param name="Seconds">Time to score.</param>
public sealed record LayerChoice(string Heuristic, string Layer, string Reason, IReadOnlyList<LayerScore> Scores, double Seconds);

/// <summary>A rule that scores every candidate layer for a repair set without repairing anything.</summary>
public interface ILayerHeuristic
{
    /// <summary>Name as on the command line.</summary>
    string Name { get; }

    /// <summary>What a high score means, in a few words.</summary>
    string Rule { get; }

    /// <summary>Whether the heuristic can score this context (some need clean counterparts or statistics inputs).</summary>
    bool AppliesTo(LayerChoiceContext context);

    /// <summary>Scores every candidate and picks one.</summary>
    LayerChoice Choose(LayerChoiceContext context);
}

/// <summary>
/// The layer-selection heuristics of the informed-repair study ("Informed Repair of Deep Neural Networks"): statistics of
/// the repair set's activations, gradients and representations at each candidate layer, position rules, and the
/// attribution-guided editability of Yang et al. (CVPR'26). Brute force (repair at every layer) is the reference they
/// are judged against, in <c>Experiments/InformedRepairStudy</c>.
/// </summary>
public static class LayerHeuristics
{
    /// <summary>Every heuristic, in the order reports list them.</summary>
    public static readonly IReadOnlyList<ILayerHeuristic> All =
    [
        new ActivationMagnitude(), new ActivationVariance(), new GradientNorm(), new ActivationChange(), new FeatureSimilarity(),
        new FirstLinearAfterConvolutions(), new Penultimate(), new EditabilityHeuristic(), new LpBudget(), new StepTradeOff(),
    ];

    /// <summary>
    /// The heuristic <c>--layer auto</c> uses for a repair method: the one the study in docs/results/informed-repair.md
    /// found most often within 10 % of the brute-force best drawdown for that method on its 92 multi-layer cases
    /// (provable: lp-budget, 15 of 20; fine-tuning: change, 17 of 36; edit: first-linear, 23 of 36).
    /// </summary>
    public static ILayerHeuristic AutoFor(string method) => Find(method switch
    {
        "provable" or "prdnn" => "lp-budget",
        "edit" => "first-linear",
        _ => "change",
    });

    /// <summary>
    /// What <c>--layer auto</c> does: <see cref="AutoFor"/>'s rule, or the penultimate layer when that rule cannot read
    /// this repair set (no clean counterparts), saying so in the reason.
    /// </summary>
    public static LayerChoice ChooseAuto(string method, LayerChoiceContext context)
    {
        ILayerHeuristic rule = AutoFor(method);
        if (context.Candidates.Count < 2 || rule.AppliesTo(context)) return Choose(rule, context);
        LayerChoice fallback = Choose(Find("penultimate"), context);
        return fallback with { Reason = $"{fallback.Reason}; the {rule.Name} rule needs clean counterparts, which this repair set lacks" };
    }

    /// <summary>The heuristic called <paramref name="name"/>.</summary>
    public static ILayerHeuristic Find(string name) => All.FirstOrDefault(h => h.Name == name)
        ?? throw new ReparoInputException($"unknown layer heuristic '{name}'; choose {string.Join(", ", All.Select(h => h.Name))} or all");

    /// <summary>Parses <c>all</c> or a comma-separated list of heuristic names.</summary>
    public static IReadOnlyList<ILayerHeuristic> Parse(string list) =>
        list.Trim() == "all" ? All : [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Find)];

    /// <summary>
    /// The layers a method can repair: for the LP methods the top-level Linear/Conv2d layers after which the LP encoder
    /// handles every layer; for <c>ft</c> and <c>mft</c> every Linear/Conv2d, nested ones included; for <c>edit</c> those
    /// a rank-one edit can act on (<see cref="LayerKeys.Editable"/>: no grouped convolution).
    /// </summary>
    public static IReadOnlyList<string> Candidates(Network network, string method) => method switch
    {
        "provable" or "prdnn" => [.. RepairSetAnalysis.LpCandidateLayers(network).Select(i => network.Layers[i].Name)],
        "ft" or "mft" => [.. AffineSites.Of(network).Select(s => s.Name)],
        "edit" => [.. AffineSites.Of(network).Where(LayerKeys.Editable).Select(s => s.Name)],
        _ => throw new ReparoInputException($"the method '{method}' has no layer to choose; layer heuristics serve provable, prdnn, ft, mft and edit"),
    };

    /// <summary>Runs <paramref name="heuristic"/> (or, with a single candidate, takes it without scoring).</summary>
    public static LayerChoice Choose(ILayerHeuristic heuristic, LayerChoiceContext context)
    {
        if (context.Candidates.Count == 0) throw new ReparoInputException("there are no candidate layers to choose from");
        if (context.Candidates.Count == 1)
            return new LayerChoice(heuristic.Name, context.Candidates[0], $"{context.Candidates[0]} is the only candidate layer", [new LayerScore(context.Candidates[0], 1)], 0);
        if (!heuristic.AppliesTo(context)) throw new ReparoInputException($"the heuristic '{heuristic.Name}' needs clean counterparts of the failures (and clean inputs for statistics), which this repair set lacks");
        return heuristic.Choose(context);
    }

    /// <summary>Builds a choice from per-candidate scores: the highest wins, the earliest on ties.</summary>
    internal static LayerChoice Pick(ILayerHeuristic heuristic, IReadOnlyList<string> candidates, double[] scores, Stopwatch clock)
    {
        int best = 0;
        for (int i = 1; i < scores.Length; i++)
            if (scores[i] > scores[best] || double.IsNaN(scores[best])) best = i;
        string others = string.Join(", ", candidates.Select((c, i) => $"{c} {scores[i]:G3}"));
        return new LayerChoice(heuristic.Name, candidates[best], $"{heuristic.Rule}: {candidates[best]} ({others})",
            [.. candidates.Select((c, i) => new LayerScore(c, scores[i]))], clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// The repair set's cross-entropy (in evaluation mode) and, per candidate in order, its parameters (weight, then bias
    /// if any) with the gradients of that loss; the tensors belong to the caller's dispose scope.
    /// </summary>
    internal static (double Loss, (Tensor[] Parameters, Tensor[] Gradients)[] Layers) RepairLossGradients(LayerChoiceContext context)
    {
        Network network = context.Network;
        (Tensor x, _, long[] labels) = context.RepairSet.Stacked();
        Tensor[][] groups = [.. context.Candidates.Select(name => AffineSites.Find(network, name)).Select(s => s.Bias is null ? new[] { s.Weight } : [s.Weight, s.Bias])];
        return network.InEvalMode(() =>
        {
            Tensor loss = nn.functional.cross_entropy(network.Scores(x), tensor(labels));
            Tensor[] gradients = [.. autograd.grad([loss], [.. groups.SelectMany(g => g)])];
            int at = 0;
            return (loss.item<float>(), groups.Select(g => (g, gradients[at..(at += g.Length)])).ToArray());
        });
    }

    /// <summary>Each candidate's output on the repair vertices (and, if asked, on their counterparts), flattened to (V, features), float64.</summary>
    internal static double[] PerLayer(LayerChoiceContext context, bool counterparts, Func<Tensor, Tensor?, double> score)
    {
        Network network = context.Network;
        using var scope = NewDisposeScope();
        (Tensor x, _, _) = context.RepairSet.Stacked();
        Tensor? clean = counterparts ? context.RepairSet.StackedCounterparts() : null;
        return network.InEvalMode(() =>
        {
            using var noGrad = no_grad();
            return context.Candidates.Select(name =>
            {
                using var inner = NewDisposeScope();
                AffineSite site = AffineSites.Find(network, name);
                Tensor Output(Tensor input)
                {
                    (Tensor output, Tensor siteInput, Tensor siteOutput) = AffineSites.Capture(network, site, input);
                    output.Dispose();
                    siteInput.Dispose();
                    return siteOutput.reshape(siteOutput.shape[0], -1).to(ScalarType.Float64);
                }
                return score(Output(x), clean is null ? null : Output(clean));
            }).ToArray();
        });
    }
}

/// <summary>Activation magnitude: the layer whose outputs on the repair set are largest (mean |a|) is repaired.</summary>
internal sealed class ActivationMagnitude : ILayerHeuristic
{
    public string Name => "activation";

    public string Rule => "largest mean |activation| on the repair set";

    public bool AppliesTo(LayerChoiceContext context) => true;

    public LayerChoice Choose(LayerChoiceContext context)
    {
        var clock = Stopwatch.StartNew();
        return LayerHeuristics.Pick(this, context.Candidates, LayerHeuristics.PerLayer(context, false, (a, _) => a.abs().mean().item<double>()), clock);
    }
}

/// <summary>Activation variance: the layer whose units vary most across the repair set (mean per-unit variance) is repaired.</summary>
internal sealed class ActivationVariance : ILayerHeuristic
{
    public string Name => "variance";

    public string Rule => "largest mean per-unit activation variance over the repair set";

    public bool AppliesTo(LayerChoiceContext context) => true;

    public LayerChoice Choose(LayerChoiceContext context)
    {
        var clock = Stopwatch.StartNew();
        return LayerHeuristics.Pick(this, context.Candidates,
            LayerHeuristics.PerLayer(context, false, (a, _) => a.shape[0] < 2 ? 0 : a.var(0, unbiased: false).mean().item<double>()), clock);
    }
}

/// <summary>
/// Gradient norm: the layer whose parameters (weight and bias) get the largest root-mean-square gradient of the repair
/// set's cross-entropy loss, i.e. where the loss is most sensitive per parameter.
/// </summary>
internal sealed class GradientNorm : ILayerHeuristic
{
    public string Name => "gradient";

    public string Rule => "largest RMS parameter gradient of the repair-set loss";

    public bool AppliesTo(LayerChoiceContext context) => true;

    public LayerChoice Choose(LayerChoiceContext context)
    {
        var clock = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        double[] scores = [.. LayerHeuristics.RepairLossGradients(context).Layers.Select(layer =>
            Math.Sqrt(layer.Gradients.Sum(g => g.to(ScalarType.Float64).square().sum().item<double>()) / layer.Gradients.Sum(g => g.numel())))];
        return LayerHeuristics.Pick(this, context.Candidates, scores, clock);
    }
}

/// <summary>
/// Change-based: the layer whose outputs move most, relative to their size, between each failure and its clean or original
/// counterpart (mean ‖a(x) − a(x̄)‖ / ‖a(x̄)‖): where the corruption shows most.
/// </summary>
internal sealed class ActivationChange : ILayerHeuristic
{
    public string Name => "change";

    public string Rule => "largest relative activation change between failures and their clean counterparts";

    public bool AppliesTo(LayerChoiceContext context) => context.RepairSet.HasCounterparts;

    public LayerChoice Choose(LayerChoiceContext context)
    {
        var clock = Stopwatch.StartNew();
        return LayerHeuristics.Pick(this, context.Candidates, LayerHeuristics.PerLayer(context, true,
            (a, clean) => (a - clean!).norm(1).div(clean!.norm(1).clamp_min(1e-12)).mean().item<double>()), clock);
    }
}

/// <summary>
/// Feature similarity: the layer where the repair set's representations are most alike (mean pairwise cosine
/// similarity), so that one change there serves every failure.
/// </summary>
internal sealed class FeatureSimilarity : ILayerHeuristic
{
    public string Name => "similarity";

    public string Rule => "highest mean pairwise cosine similarity of the repair set's representations";

    public bool AppliesTo(LayerChoiceContext context) => true;

    public LayerChoice Choose(LayerChoiceContext context)
    {
        var clock = Stopwatch.StartNew();
        return LayerHeuristics.Pick(this, context.Candidates, LayerHeuristics.PerLayer(context, false, (a, _) =>
        {
            long n = a.shape[0];
            if (n < 2) return 1;
            Tensor unit = a.div(a.norm(1, keepdim: true).clamp_min(1e-12));
            Tensor cosine = unit.matmul(unit.t());
            return (cosine.sum().item<double>() - cosine.diagonal().sum().item<double>()) / (n * (n - 1));
        }), clock);
    }
}

/// <summary>Position rule: the first Linear layer after the last convolution (for a network without convolutions, its first Linear layer).</summary>
internal sealed class FirstLinearAfterConvolutions : ILayerHeuristic
{
    public string Name => "first-linear";

    public string Rule => "the first Linear layer after the convolutions";

    public bool AppliesTo(LayerChoiceContext context) => true;

    public LayerChoice Choose(LayerChoiceContext context)
    {
        var clock = Stopwatch.StartNew();
        IReadOnlyList<string> candidates = context.Candidates;
        int lastConv = -1;
        for (int i = 0; i < candidates.Count; i++)
            if (AffineSites.Find(context.Network, candidates[i]).AsConvolution is not null) lastConv = i;
        int pick = Enumerable.Range(lastConv + 1, candidates.Count - lastConv - 1).FirstOrDefault(i => AffineSites.Find(context.Network, candidates[i]).AsLinear is not null, candidates.Count - 1);
        return LayerHeuristics.Pick(this, candidates, [.. candidates.Select((_, i) => i == pick ? 1.0 : 0.0)], clock);
    }
}

/// <summary>Position rule: the penultimate candidate layer, the last one before the output layer.</summary>
internal sealed class Penultimate : ILayerHeuristic
{
    public string Name => "penultimate";

    public string Rule => "the layer before the output layer";

    public bool AppliesTo(LayerChoiceContext context) => true;

    public LayerChoice Choose(LayerChoiceContext context)
    {
        var clock = Stopwatch.StartNew();
        int pick = Math.Max(0, context.Candidates.Count - 2);
        return LayerHeuristics.Pick(this, context.Candidates, [.. context.Candidates.Select((_, i) => i == pick ? 1.0 : 0.0)], clock);
    }
}

/// <summary>
/// Attribution-guided editability (Yang et al., CVPR'26, Sec. 3.3; <see cref="Editability"/>): the layer whose rank-one
/// edit towards the clean counterparts carries the most integrated-gradients attribution.
/// </summary>
internal sealed class EditabilityHeuristic : ILayerHeuristic
{
    public string Name => "editability";

    public string Rule => "largest attribution carried by the rank-one edit (layer integrated gradients)";

    public bool AppliesTo(LayerChoiceContext context) => context.RepairSet.HasCounterparts && context.StatisticsInputs is not null;

    public LayerChoice Choose(LayerChoiceContext context)
    {
        var clock = Stopwatch.StartNew();
        Network network = context.Network;
        using var scope = NewDisposeScope();
        (Tensor x, _, long[] labels) = context.RepairSet.Stacked();
        Tensor clean = context.RepairSet.StackedCounterparts();
        using var statistics = new KeyStatistics(network, context.StatisticsInputs!);
        IReadOnlyList<LayerEditability> scores = network.InEvalMode(() => Editability.Score(network, [.. context.Candidates.Select(c => AffineSites.Find(network, c))],
            x, clean, labels, statistics, new EditOptions()));
        return LayerHeuristics.Pick(this, context.Candidates, [.. scores.Select(s => s.Raw)], clock);
    }
}

/// <summary>
/// Cost-aware position rule (Reparo's): the earliest candidate whose provable LP, as predicted by
/// <see cref="RepairSetAnalysis.PredictLp"/> without building it, has at most <see cref="Budget"/> nonzeros. Earlier layers
/// give the LP more freedom (lower drawdown in the APRNN experiments) but their LPs grow with the fan-in; this takes the
/// earliest one that stays affordable. Layers the LP cannot repair (nested ones) count as over budget; when every layer
/// is, the last candidate is taken.
/// </summary>
internal sealed class LpBudget : ILayerHeuristic
{
    /// <summary>
    /// The most LP nonzeros allowed. Calibrated on the earlier APRNN runs (docs/results/provable.md, 2 cores): LPs up to
    /// 1.13 M nonzeros solved in 33–46 s, those from 1.85 M up took 200 s or more, so 1.5 M keeps a repair within a
    /// two-minute solver limit.
    /// </summary>
    public const long Budget = 1_500_000;

    public string Name => "lp-budget";

    public string Rule => $"the earliest layer whose predicted LP has at most {Budget:N0} nonzeros";

    public bool AppliesTo(LayerChoiceContext context) => true;

    public LayerChoice Choose(LayerChoiceContext context)
    {
        var clock = Stopwatch.StartNew();
        Network network = context.Network;
        IReadOnlyList<int> lp = RepairSetAnalysis.LpCandidateLayers(network);
        double[] nonzeros = [.. context.Candidates.Select(name =>
        {
            int index = name.Contains('.', StringComparison.Ordinal) ? -1 : network.LayerIndex(name);
            return lp.Contains(index) ? RepairSetAnalysis.PredictLp(network, context.RepairSet, index).Nonzeros : double.PositiveInfinity;
        })];
        int pick = Array.FindIndex(nonzeros, n => n <= Budget);
        if (pick < 0) pick = nonzeros.Length - 1;
        // Score: the pick 1; the others by how far they are from it, so earlier affordable layers rank above later ones.
        double[] scores = [.. nonzeros.Select((n, i) => i == pick ? 1.0 : n <= Budget ? 1.0 / (2 + i) : 0.0)];
        string sizes = string.Join(", ", context.Candidates.Select((c, i) => $"{c} {(double.IsInfinity(nonzeros[i]) ? "no LP" : $"{nonzeros[i]:N0}")}"));
        return LayerHeuristics.Pick(this, context.Candidates, scores, clock) with { Reason = $"{Rule}: {context.Candidates[pick]} (predicted LP nonzeros: {sizes})" };
    }
}

/// <summary>
/// Step trade-off (Reparo's): simulates fine-tuning's first Adam step at each candidate, every weight and bias moving by
/// <see cref="Step"/> against the sign of the repair-set loss gradient, and measures (not linearises) two things: the
/// decrease of the repair-set cross-entropy, ΔR, and the change of the output distribution on clean inputs, the mean
/// KL divergence D from the original outputs. The score ΔR² / D does not depend on the step size to leading order
/// (ΔR grows with it, D with its square): the layer where one unit of change on clean inputs buys the most repair.
/// The network is restored bit for bit after each trial.
/// </summary>
internal sealed class StepTradeOff : ILayerHeuristic
{
    /// <summary>The trial step: ten times fine-tuning's default Adam learning rate, so that D is well above float32 noise.</summary>
    public const double Step = 1e-2;

    /// <summary>Clean inputs the change is measured on (the first rows of the statistics inputs).</summary>
    public const int CleanInputs = 1000;

    public string Name => "trade-off";

    public string Rule => "most repair-loss decrease per unit of clean-output change in one fine-tuning step";

    public bool AppliesTo(LayerChoiceContext context) => context.StatisticsInputs is not null;

    public LayerChoice Choose(LayerChoiceContext context)
    {
        var clock = Stopwatch.StartNew();
        Network network = context.Network;
        using var scope = NewDisposeScope();
        (Tensor x, _, long[] labels) = context.RepairSet.Stacked();
        Tensor targets = tensor(labels);
        Tensor clean = context.StatisticsInputs!.narrow(0, 0, Math.Min(CleanInputs, context.StatisticsInputs!.shape[0]));
        (double before, (Tensor[] Parameters, Tensor[] Gradients)[] layers) = LayerHeuristics.RepairLossGradients(context);
        double[] scores = network.InEvalMode(() =>
        {
            using var noGrad = no_grad();
            Tensor original = nn.functional.log_softmax(network.Scores(clean).to(ScalarType.Float64), 1);
            return layers.Select(layer =>
            {
                using var trial = NewDisposeScope();
                Tensor[] saved = [.. layer.Parameters.Select(p => p.detach().clone())];
                for (int i = 0; i < saved.Length; i++) layer.Parameters[i].sub_(layer.Gradients[i].sign().mul(Step));
                double gain = before - nn.functional.cross_entropy(network.Scores(x), targets).item<float>();
                Tensor moved = nn.functional.log_softmax(network.Scores(clean).to(ScalarType.Float64), 1);
                double divergence = original.exp().mul(original - moved).sum(1).mean().item<double>();
                for (int i = 0; i < saved.Length; i++) layer.Parameters[i].copy_(saved[i]);
                return Math.Sign(gain) * gain * gain / (Math.Max(divergence, 0) + 1e-12);
            }).ToArray();
        });
        return LayerHeuristics.Pick(this, context.Candidates, scores, clock);
    }
}
