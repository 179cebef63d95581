using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;
using Reparo.Data;
using Reparo.Localisation;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Reporting;
using Reparo.Runtime;

namespace Reparo.Experiments;

/// <summary>Settings of <see cref="InformedRepairStudy"/>.</summary>
public sealed record InformedRepairOptions
{
    /// <summary>Repair-set templates without their size: <c>fog:3</c>, <c>rotations:-10:10:3</c>, <c>trojan</c> (the size N is filled in).</summary>
    public required IReadOnlyList<string> RepairSets { get; init; }

    /// <summary>Repair-set sizes N.</summary>
    public required IReadOnlyList<int> Sizes { get; init; }

    /// <summary>Repair methods (<c>provable</c>, <c>prdnn</c>, <c>ft</c>, <c>mft</c>, <c>edit</c>).</summary>
    public required IReadOnlyList<string> Methods { get; init; }

    /// <summary>The heuristics to judge.</summary>
    public required IReadOnlyList<ILayerHeuristic> Heuristics { get; init; }

    /// <summary>Settings of every repair (the layer is set per run).</summary>
    public RepairSettings Settings { get; init; } = new();

    /// <summary>Relative tolerance of "within X % of the brute-force best drawdown" (0.10 = 10 %).</summary>
    public double Tolerance { get; init; } = 0.10;

    /// <summary>Absolute floor of that tolerance (a fraction of accuracy; 0.001 = 0.1 point), so near-zero best drawdowns do not demand exact ties.</summary>
    public double ToleranceFloor { get; init; } = 0.001;

    /// <summary>Seed of the corruptions.</summary>
    public int Seed { get; init; }

    /// <summary>
    /// Provable and PRDNN repairs whose LP the analysis predicts to exceed this many nonzeros are not attempted (status
    /// <c>skipped_lp_too_large</c>, efficacy 0): encoding such an LP alone takes minutes and gigabytes before any solver
    /// time limit applies. Null: attempt every layer.
    /// </summary>
    public long? MaxLpNonzeros { get; init; } = 10_000_000;
}

/// <summary>One brute-force repair: a method at one layer.</summary>
/// <param name="Layer">The layer repaired.</param>
/// <param name="Status">How it ended (<c>repaired</c>, <c>not_verified</c>, <c>infeasible</c>, <c>time_limit</c>, …).</param>
/// <param name="Efficacy">Verified share of the repair set.</param>
/// <param name="Drawdown">Clean held-out accuracy lost (a fraction; NaN without a model).</param>
/// <param name="Generalization">Accuracy gained on held-out inputs like the failures (NaN without a model or set).</param>
/// <param name="ChangedPredictions">Share of clean held-out predictions that changed (locality).</param>
/// <param name="ParamDeltaLinf">Largest parameter change (locality).</param>
/// <param name="Seconds">Wall-clock time of the repair, end to end.</param>
public sealed record LayerRun(string Layer, string Status, double Efficacy, double Drawdown, double Generalization, double ChangedPredictions, double ParamDeltaLinf, double Seconds);

/// <summary>How one heuristic fared on one case.</summary>
/// <param name="Heuristic">Its name.</param>
/// <param name="Pick">The layer it picked.</param>
/// <param name="Scores">Its score for every candidate.</param>
/// <param name="Seconds">Time it took to score.</param>
/// <param name="DrawdownRegret">Drawdown at its pick − the best drawdown (fractions; NaN when its pick repaired less than the best).</param>
/// <param name="GeneralizationRegret">Best generalisation among the layers of best efficacy − generalisation at its pick.</param>
/// <param name="RankCorrelation">Spearman correlation between its scores and the layers' outcome ranks (NaN when undefined).</param>
/// <param name="CostRatio">Its scoring time plus the repair at its pick, over brute force's time.</param>
/// <param name="WithinTolerance">Its pick repaired as much as the best and its drawdown is within the tolerance of the best.</param>
public sealed record HeuristicOutcome(string Heuristic, string Pick, IReadOnlyList<LayerScore> Scores, double Seconds, double DrawdownRegret,
    double GeneralizationRegret, double RankCorrelation, double CostRatio, bool WithinTolerance);

/// <summary>One case of the study: a model, a repair set of one size, a method; brute force over every candidate layer and every heuristic's pick.</summary>
/// <param name="Model">The model's architecture.</param>
/// <param name="RepairSet">The repair-set specification.</param>
/// <param name="Size">Its size N.</param>
/// <param name="Method">The repair method.</param>
/// <param name="Layers">The brute-force runs, one per candidate layer.</param>
/// <param name="BestLayer">The brute-force best: the highest efficacy, then the lowest drawdown, then the highest generalisation.</param>
/// <param name="BruteForceSeconds">Time of all brute-force repairs.</param>
/// <param name="Heuristics">Every heuristic's outcome.</param>
/// <param name="AutoHeuristic">The heuristic <c>--layer auto</c> uses for this method.</param>
/// <param name="AutoPick">Its pick.</param>
/// <param name="AutoWithin10Pct">Whether that pick is within the tolerance of the best drawdown.</param>
/// <param name="AutoCostRatio">Its scoring plus one repair, over brute force's time.</param>
public sealed record StudyCase(string Model, string RepairSet, int Size, string Method, IReadOnlyList<LayerRun> Layers, string BestLayer, double BruteForceSeconds,
    IReadOnlyList<HeuristicOutcome> Heuristics, string AutoHeuristic, string AutoPick,
    [property: JsonPropertyName("auto_within_10pct")] bool AutoWithin10Pct, double AutoCostRatio);

/// <summary>One case of the study to run: a repair-set template (without its size), a size, a method.</summary>
/// <param name="RepairSet">The template, as given (<c>fog:3</c>).</param>
/// <param name="Size">The size N filled in.</param>
/// <param name="Method">The repair method.</param>
public sealed record StudyCaseKey(string RepairSet, int Size, string Method);

/// <summary>What one case gives: the case and the analysis of its repair set.</summary>
/// <param name="Case">The case.</param>
/// <param name="Analysis">Its repair set's analysis (the same for every method of that set and size).</param>
public sealed record StudyCaseResult(StudyCase Case, RepairSetProfile Analysis);

/// <summary>A heuristic's record over every case.</summary>
/// <param name="Heuristic">Its name.</param>
/// <param name="Method">The method, or <c>all</c>.</param>
/// <param name="Cases">Cases judged.</param>
/// <param name="WithinShare">Share of cases within the tolerance of the best drawdown.</param>
/// <param name="MeanDrawdownRegret">Mean drawdown regret over the cases where it repaired as much as the best (points of accuracy as a fraction).</param>
/// <param name="MeanGeneralizationRegret">Mean generalisation regret.</param>
/// <param name="MeanRankCorrelation">Mean Spearman correlation over the cases where it is defined.</param>
/// <param name="MeanCostRatio">Mean cost over brute force.</param>
public sealed record HeuristicSummary(string Heuristic, string Method, int Cases, double WithinShare, double MeanDrawdownRegret, double MeanGeneralizationRegret,
    double MeanRankCorrelation, double MeanCostRatio);

/// <summary>The study's result (the JSON of <c>reparo study</c>).</summary>
/// <param name="Cases">Every case.</param>
/// <param name="Summary">Per heuristic and method, and per heuristic over all methods.</param>
/// <param name="Analyses">The repair-set analysis of every (repair set, size), reported before any repair.</param>
/// <param name="AutoWithin10PctShare">Share of cases where the automatic choice is within 10 % of the best drawdown.</param>
/// <param name="AutoCostRatio">The automatic choice's total time over brute force's total time.</param>
/// <param name="Tolerance">The relative tolerance used.</param>
public sealed partial record StudyReport(IReadOnlyList<StudyCase> Cases, IReadOnlyList<HeuristicSummary> Summary, IReadOnlyList<RepairSetProfile> Analyses,
    [property: JsonPropertyName("auto_within_10pct_share")] double AutoWithin10PctShare, double AutoCostRatio, double Tolerance);

/// <summary>
/// The informed-repair study: for each repair set and size, the repair-set analysis; for each method, a repair at every
/// candidate layer (brute force) and every heuristic's pick, judged by its regret against the brute-force best (drawdown
/// and generalisation), the rank correlation of its scores with the outcomes, and its cost relative to brute force.
/// </summary>
public static class InformedRepairStudy
{
    /// <summary>Runs the study on one model, case after case in <see cref="Plan"/> order.</summary>
    /// <param name="network">The model (never modified).</param>
    /// <param name="splits">Its data (the test split supplies the failures and held-out sets; the training split the key statistics).</param>
    /// <param name="options">What to run.</param>
    /// <param name="progress">Progress lines.</param>
    public static StudyReport Run(Network network, DataSplits splits, InformedRepairOptions options, IProgress<string>? progress = null)
    {
        IReadOnlyList<StudyCaseKey> plan = Plan(network, options);
        var session = new InformedRepairSession(network, splits, options);
        long repairs = plan.Sum(key => (long)LayerHeuristics.Candidates(network, key.Method).Count);
        using ProgressScope shown = WorkProgress.Begin("informed repair study", repairs);
        return Combine([.. plan.Select(key => session.Run(key, progress, shown))], options.Tolerance);
    }

    /// <summary>
    /// The study's cases in order: every repair set, then every size, then every method. Each case runs on its own
    /// (<see cref="InformedRepairSession.Run(StudyCaseKey, IProgress{string}?)"/>), so a cluster can spread them over
    /// machines; <see cref="Combine"/> puts the results together as <see cref="Run"/> does.
    /// </summary>
    public static IReadOnlyList<StudyCaseKey> Plan(Network network, InformedRepairOptions options)
    {
        foreach (string method in options.Methods) LayerHeuristics.Candidates(network, RepairMethods.Require(method));
        if (options.Sizes.Count == 0 || options.Sizes.Any(n => n < 1)) throw new ReparoInputException("sizes must be positive integers");
        return [.. from template in options.RepairSets from size in options.Sizes from method in options.Methods select new StudyCaseKey(template, size, method)];
    }

    /// <summary>
    /// Puts cases together into the study's report: the cases in the given order, each repair set's analysis once (from
    /// its first case), the summary over all of them.
    /// </summary>
    public static StudyReport Combine(IReadOnlyList<StudyCaseResult> results, double tolerance)
    {
        var analyses = new List<RepairSetProfile>();
        var seen = new HashSet<string>();
        foreach (StudyCaseResult result in results)
            if (seen.Add(result.Case.RepairSet)) analyses.Add(result.Analysis);
        return Summarise([.. results.Select(r => r.Case)], analyses, tolerance);
    }

    /// <summary>Puts the size into a template: after the vertex count for <c>rotations:MIN:MAX:K</c>, at the end otherwise.</summary>
    public static string WithSize(string template, int size)
    {
        string[] parts = template.Split(':');
        if (parts[0] == "rotations")
        {
            if (parts.Length is not (4 or 6)) throw new ReparoInputException($"'{template}' should be rotations:MIN:MAX:K[:CORRUPTION:SEVERITY] (the study fills in N)");
            return string.Join(':', parts.Take(4).Append(size.ToString(CultureInfo.InvariantCulture)).Concat(parts.Skip(4)));
        }
        return $"{template}:{size.ToString(CultureInfo.InvariantCulture)}";
    }

    internal static StudyCase Judge(string model, string spec, int size, string method, IReadOnlyList<LayerRun> layers, LayerChoiceContext context,
        Func<ILayerHeuristic, LayerChoice> choose, InformedRepairOptions options)
    {
        double bruteSeconds = layers.Sum(l => l.Seconds);
        // The layers from best to worst: highest efficacy, then lowest drawdown, then highest generalisation.
        LayerRun[] ordered = [.. layers.OrderByDescending(l => l.Efficacy).ThenBy(l => double.IsNaN(l.Drawdown) ? double.MaxValue : l.Drawdown)
            .ThenByDescending(l => double.IsNaN(l.Generalization) ? double.MinValue : l.Generalization)];
        LayerRun best = ordered[0];
        double bestGeneralization = layers.Where(l => l.Efficacy >= best.Efficacy - 1e-12).Select(l => l.Generalization).Where(g => !double.IsNaN(g)).DefaultIfEmpty(double.NaN).Max();
        double[] goodness = [.. layers.Select(l => -(double)Array.IndexOf(ordered, l))];
        HeuristicOutcome Outcome(LayerChoice choice)
        {
            LayerRun at = layers.Single(l => l.Layer == choice.Layer);
            bool asGood = at.Efficacy >= best.Efficacy - 1e-12;
            double regret = asGood ? at.Drawdown - best.Drawdown : double.NaN;
            bool within = asGood && at.Drawdown <= best.Drawdown + Math.Max(options.Tolerance * Math.Abs(best.Drawdown), options.ToleranceFloor);
            double correlation = RankCorrelation.Spearman([.. choice.Scores.Select(s => s.Score)], goodness);
            return new HeuristicOutcome(choice.Heuristic, choice.Layer, choice.Scores, choice.Seconds, regret, bestGeneralization - at.Generalization, correlation,
                bruteSeconds > 0 ? (choice.Seconds + at.Seconds) / bruteSeconds : double.NaN, within);
        }
        var outcomes = new List<HeuristicOutcome>();
        foreach (ILayerHeuristic heuristic in options.Heuristics)
            if (heuristic.AppliesTo(context) || context.Candidates.Count < 2) outcomes.Add(Outcome(choose(heuristic)));
        ILayerHeuristic auto = LayerHeuristics.AutoFor(method);
        // What --layer auto does (its rule, or the fallback when the rule cannot read this repair set), judged even when --heuristics leaves the rule out.
        HeuristicOutcome autoOutcome = outcomes.FirstOrDefault(o => o.Heuristic == auto.Name) ?? Outcome(LayerHeuristics.ChooseAuto(method, context));
        return new StudyCase(model, spec, size, method, layers, best.Layer, bruteSeconds, outcomes, auto.Name, autoOutcome.Pick, autoOutcome.WithinTolerance, autoOutcome.CostRatio);
    }

    /// <summary>Aggregates cases (also across several models' studies).</summary>
    public static StudyReport Summarise(IReadOnlyList<StudyCase> cases, IReadOnlyList<RepairSetProfile> analyses, double tolerance)
    {
        var summary = new List<HeuristicSummary>();
        IEnumerable<string> heuristics = cases.SelectMany(c => c.Heuristics.Select(h => h.Heuristic)).Distinct();
        foreach (string heuristic in heuristics)
        {
            foreach (string method in cases.Select(c => c.Method).Distinct().Append("all"))
            {
                HeuristicOutcome[] o = [.. cases.Where(c => method == "all" || c.Method == method).SelectMany(c => c.Heuristics).Where(h => h.Heuristic == heuristic)];
                if (o.Length == 0) continue;
                summary.Add(new HeuristicSummary(heuristic, method, o.Length, o.Count(h => h.WithinTolerance) / (double)o.Length, Mean(o.Select(h => h.DrawdownRegret)),
                    Mean(o.Select(h => h.GeneralizationRegret)), Mean(o.Select(h => h.RankCorrelation)), Mean(o.Select(h => h.CostRatio))));
            }
        }
        double autoSeconds = cases.Sum(c => c.AutoCostRatio * c.BruteForceSeconds), bruteSeconds = cases.Sum(c => c.BruteForceSeconds);
        return new StudyReport(cases, summary, analyses, cases.Count == 0 ? double.NaN : cases.Count(c => c.AutoWithin10Pct) / (double)cases.Count,
            bruteSeconds > 0 ? autoSeconds / bruteSeconds : double.NaN, tolerance);
    }

    private static double Mean(IEnumerable<double> values)
    {
        double[] finite = [.. values.Where(double.IsFinite)];
        return finite.Length == 0 ? double.NaN : finite.Average();
    }

    /// <summary>The study as Markdown: the per-heuristic summary, then every case's brute-force table and picks.</summary>
    public static string ToMarkdown(StudyReport report)
    {
        string P(double v) => double.IsNaN(v) ? "–" : v.ToString("0.00%", CultureInfo.InvariantCulture);
        string F(double v, string f = "F2") => double.IsNaN(v) ? "–" : v.ToString(f, CultureInfo.InvariantCulture);
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Automatic choice within {report.Tolerance:P0} of the brute-force best drawdown in **{P(report.AutoWithin10PctShare)}** of {report.Cases.Count} cases, at **{F(report.AutoCostRatio, "F3")}×** brute force's time.");
        text.AppendLine();
        text.AppendLine("| heuristic | method | cases | within 10 % of best drawdown | mean drawdown regret | mean generalisation regret | mean Spearman (scores vs outcome) | mean cost / brute force |");
        text.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (HeuristicSummary s in report.Summary.OrderBy(s => s.Method == "all" ? 1 : 0).ThenBy(s => s.Method).ThenByDescending(s => s.WithinShare))
            text.AppendLine($"| {s.Heuristic} | {s.Method} | {s.Cases} | {P(s.WithinShare)} | {P(s.MeanDrawdownRegret)} | {P(s.MeanGeneralizationRegret)} | {F(s.MeanRankCorrelation)} | {F(s.MeanCostRatio, "F3")} |");
        foreach (StudyCase c in report.Cases)
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"#### {c.Model}, {c.RepairSet}, {c.Method}");
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"Best layer {c.BestLayer}; auto ({c.AutoHeuristic}) picks {c.AutoPick}{(c.AutoWithin10Pct ? " (within 10 %)" : " (not within 10 %)")} at {F(c.AutoCostRatio, "F3")}× brute force's {F(c.BruteForceSeconds, "F1")} s.");
            text.AppendLine();
            text.AppendLine("| layer | status | efficacy | drawdown | generalisation | changed preds | Δ L∞ | s | picked by |");
            text.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---|");
            foreach (LayerRun l in c.Layers)
            {
                string by = string.Join(", ", c.Heuristics.Where(h => h.Pick == l.Layer).Select(h => h.Heuristic));
                text.AppendLine($"| {l.Layer}{(l.Layer == c.BestLayer ? " (best)" : "")} | {l.Status} | {P(l.Efficacy)} | {P(l.Drawdown)} | {P(l.Generalization)} | {P(l.ChangedPredictions)} | {F(l.ParamDeltaLinf, "G3")} | {F(l.Seconds, "F1")} | {by} |");
            }
        }
        return text.ToString();
    }
}

/// <summary>
/// One study's model, data and settings, ready to run its cases one at a time in any order (a worker of a cluster runs
/// the cases it is given). What the cases share is computed once and kept: the key statistics and, per repair set and
/// size, the repair problem, its analysis and the heuristics' verdicts. A case's result does not depend on which cases
/// ran before it in the session.
/// </summary>
public sealed class InformedRepairSession(Network network, DataSplits splits, InformedRepairOptions options)
{
    private readonly TorchSharp.torch.Tensor statistics = RepairMethods.StatisticsInputs(splits.Train);
    private readonly Dictionary<string, (RepairProblem Problem, RepairSetProfile Analysis)> repairSets = [];

    // Methods with the same candidate layers (provable, ft and edit on an MLP) share each heuristic's verdict.
    private readonly Dictionary<(string Spec, string Heuristic, string Candidates), LayerChoice> choices = [];

    /// <summary>Runs one case (one of <see cref="InformedRepairStudy.Plan"/>): the repair set's analysis, a repair at every candidate layer, every heuristic's pick.</summary>
    public StudyCaseResult Run(StudyCaseKey key, IProgress<string>? progress = null)
    {
        using ProgressScope shown = WorkProgress.Begin($"study case {key.RepairSet}:{key.Size} {key.Method}", LayerHeuristics.Candidates(network, key.Method).Count);
        return Run(key, progress, shown);
    }

    internal StudyCaseResult Run(StudyCaseKey key, IProgress<string>? progress, ProgressScope shown)
    {
        string method = RepairMethods.Require(key.Method);
        string spec = InformedRepairStudy.WithSize(key.RepairSet, key.Size);
        if (!repairSets.TryGetValue(spec, out var set))
        {
            RepairProblem built = RepairSetSpec.Build(spec, network, splits, options.Seed);
            repairSets[spec] = set = (built, RepairSetAnalysis.Analyse(network, built.RepairSet));
        }
        (RepairProblem problem, RepairSetProfile analysis) = set;
        IReadOnlyList<string> candidates = LayerHeuristics.Candidates(network, method);
        var context = new LayerChoiceContext(network, problem.RepairSet, candidates, statistics);
        var layers = new List<LayerRun>();
        foreach (string layer in candidates)
        {
            progress?.Report($"{network.Spec.Architecture} {spec} {method} at {layer}");
            shown.Describe($"{spec} {method} at {layer}");
            if (method is "provable" or "prdnn" && options.MaxLpNonzeros is long cap
                && analysis.Lp.FirstOrDefault(p => p.Layer == layer) is { } predicted && predicted.Nonzeros > cap)
            {
                layers.Add(new LayerRun(layer, "skipped_lp_too_large", 0, double.NaN, double.NaN, double.NaN, 0, predicted.Seconds));
                shown.Advance();
                progress?.Report($"    skipped: the LP would have {predicted.Nonzeros:N0} nonzeros (cap {cap:N0})");
                continue;
            }
            RepairResult result = RepairMethods.Create(method, options.Settings with { Layer = layer, StatisticsInputs = statistics, Seed = options.Seed }).Repair(problem);
            RepairMetrics m = RepairMetrics.Compute(problem, result);
            result.Model?.PlainNetwork?.Dispose();
            layers.Add(new LayerRun(layer, RepairReport.StatusName(result.Status), m.Efficacy, m.Drawdown, m.Generalization, m.ChangedPredictions, m.ParamDeltaLinf, result.Time.Total));
            progress?.Report($"    {layers[^1].Status}, efficacy {m.Efficacy:P1}, drawdown {m.Drawdown:P2}, {result.Time.Total:F1} s");
            shown.Advance();
        }
        LayerChoice Choose(ILayerHeuristic heuristic)
        {
            var cacheKey = (spec, heuristic.Name, string.Join(",", candidates));
            if (!choices.TryGetValue(cacheKey, out LayerChoice? choice)) choices[cacheKey] = choice = LayerHeuristics.Choose(heuristic, context);
            return choice;
        }
        return new StudyCaseResult(InformedRepairStudy.Judge(network.Spec.Architecture, spec, key.Size, method, layers, context, Choose, options), analysis);
    }
}

