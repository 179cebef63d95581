using System.Globalization;
using System.Text;
using Reparo.Influence;
using Reparo.Remediation;

namespace Reparo.Experiments;

public static partial class RnnRepairExperimentPlan
{
    /// <summary>
    /// The results file of <c>reparo experiment rnnrepair</c>: speed, fidelity, mislabel finding and remediation, each
    /// part that has run (a partial run lists the parts still to run).
    /// </summary>
    /// <param name="r">The results.</param>
    /// <param name="command">The command line, shown.</param>
    /// <param name="threads">Torch threads.</param>
    /// <param name="jsonName">The name of the JSON file under data/ that holds every figure.</param>
    public static string ToMarkdown(RnnRepairResults r, string command, int threads, string jsonName)
    {
        IReadOnlyList<RnnRepairPart> all = Parts(r.Quick);
        string[] missing = [.. all.Where(p => Recorded(r, p) is null).Select(p => p.Label)];
        StringBuilder text = ResultsMarkdown.Heading("RNNRepair (Xie et al., ICML'21): influence, mislabel finding and remediation", command, threads, r.Minutes,
            missing.Length == 0 ? null : $"{all.Count - missing.Length} of {all.Count} parts");
        if (missing.Length > 0) text.AppendLine().AppendLine($"Parts not yet run: {string.Join(", ", missing)}. `--resume --json data/{jsonName}` runs them and keeps the rest.");
        text.AppendLine();
        ResultsMarkdown.SourceAndLoad(text, jsonName, (r.Runs ?? []).Select(run => run.LoadAtStart), threads);
        if (r.Runs is { Count: > 0 } runs)
            text.AppendLine().AppendLine("Parts as they ran (minutes, load at start): " + string.Join("; ", runs.Select(run =>
                $"{run.Part} {run.Minutes.ToString("F1", CultureInfo.InvariantCulture)} min, {run.LoadAtStart.ToString("F2", CultureInfo.InvariantCulture)}")) + ".");
        if (r.Speed is not null) AppendSpeed(text, r.Speed);
        AppendFidelity(text, r.Fidelity);
        foreach (MislabelReport m in r.Mislabel) text.AppendLine().Append(m.ToMarkdown());
        if (r.Sample is not null) text.AppendLine().Append(r.Sample.ToMarkdown());
        if (r.Segment is not null) text.AppendLine().Append(r.Segment.ToMarkdown());
        AppendStatus(text, r);
        return text.ToString();
    }

    /// <summary>The goals of the paper's figures and of the issues, each with what this run measured (a part not yet run says so).</summary>
    private static void AppendStatus(StringBuilder text, RnnRepairResults r)
    {
        const string NotRun = "not yet run";
        var rows = new List<(string Goal, string Result, string Met)>();
        string YesNo(bool met) => met ? "yes" : "no";
        if (r.Speed is { } s)
        {
            rows.Add(($"influence model over {s.Samples} sequences ({s.Steps} steps) ≤ 20 s end to end, the K sweep included",
                $"{F(s.Sweep.Time.TotalSeconds)} s (profiling {F(s.Sweep.Time.ProfileSeconds)}, PCA {F(s.Sweep.Time.PcaSeconds)}, mixtures {F(s.Sweep.Time.MixtureSeconds)}, index {F(s.Sweep.Time.IndexSeconds)}); chosen K = {s.FixedK.K} alone {F(s.FixedK.Time.TotalSeconds)} s",
                YesNo(s.Sweep.Time.TotalSeconds <= 20)));
            rows.Add(("a sample-level query ≤ 10 ms", $"mean {F(s.Latency.SearchMean)} ms, max {F(s.Latency.SearchMax)} ms; {F(s.Latency.WithProfilingMean)} ms with profiling the input",
                YesNo(s.Latency.SearchMean <= 10)));
            var pairs = InfluenceBenchmark.Pairs(s.Fits).ToList();
            rows.Add(("EM ≥ 5× faster than scikit-learn at equal or better BIC, the same number of starts",
                pairs.Count == 0 ? "no like-for-like pair (" + (s.SklearnNote ?? "scikit-learn not run") + ")"
                    : string.Join("; ", pairs.Select(p => $"{p.Ours.Implementation}: {F(p.Ours.Seconds)} s vs {F(p.Theirs.Seconds)} s ({F(p.Theirs.Seconds / p.Ours.Seconds)}×), BIC {(p.Ours.Bic - p.Theirs.Bic) / Math.Abs(p.Theirs.Bic):+0.00%;-0.00%}")),
                pairs.Count == 0 ? "no" : string.Join("; ", pairs.Select(p => $"speed {YesNo(p.Theirs.Seconds / p.Ours.Seconds >= 5)}, BIC {YesNo(p.Ours.Bic <= p.Theirs.Bic)}"))));
        }
        else rows.Add(("influence model ≤ 20 s end to end; query ≤ 10 ms; EM ≥ 5× scikit-learn at equal BIC", NotRun, "–"));
        if (r.Mislabel.Count > 0)
        {
            string Auc(MislabelReport m, string method) => m.Methods.FirstOrDefault(x => x.Method == method) is { } found ? F(found.Flips.Area, "F3") : "–";
            bool Beats(MislabelReport m) => m.Methods.FirstOrDefault(x => x.Method == "rnnrepair") is { } ours && m.Methods.FirstOrDefault(x => x.Method == "random") is { } random && ours.Flips.Area > random.Flips.Area;
            rows.Add(("mislabel finding: RNNRepair finds more flips than random over inspection budgets 5–50 % (area under the curve), every class pair",
                string.Join("; ", r.Mislabel.Select(m => $"{m.Task}: {Auc(m, "rnnrepair")} vs random {Auc(m, "random")} (best: {m.Methods.MaxBy(x => x.Flips.Area)?.Method} {F(m.Methods.Max(x => x.Flips.Area), "F3")})")),
                $"{r.Mislabel.Count(Beats)} of {r.Mislabel.Count} pairs"));
        }
        else rows.Add(("mislabel finding: RNNRepair above random (AUC), every class pair", NotRun, "–"));
        if (r.Fidelity.Count > 0)
        {
            double Gap(FidelitySection f) => f.Report.Rows.FirstOrDefault(x => x.Variant == FeatureVariant.All) is { } all ? 100 * (f.Report.NetworkAccuracy - all.TestAccuracy) : double.NaN;
            rows.Add(("fidelity: the all-features classifier within 1 point of the network",
                string.Join("; ", r.Fidelity.Select(f => $"{f.Model}: {F(Gap(f))} points below")), $"{r.Fidelity.Count(f => Gap(f) <= 1)} of {r.Fidelity.Count} models"));
        }
        else rows.Add(("fidelity within 1 point of the network", NotRun, "–"));
        if (r.Sample is { } sample)
        {
            RetrainComparisonResult? Of(string condition) => sample.Conditions.FirstOrDefault(c => c.Condition == condition)?.Result;
            RetrainComparisonResult? ours = Of("influence"), original = Of("original");
            string Against(string condition, string name) => Of(condition) is { } other && ours is not null
                ? $"{name} {F(other.FaultsFixed.Mean, "F1")} ± {F(other.FaultsFixed.Std, "F1")} ({(other.FaultsFixed.Mean > 0 ? F(ours.FaultsFixed.Mean / other.FaultsFixed.Mean) + "×" : "none fixed")}, accuracy {100 * (other.TestAccuracy.Mean - (original?.TestAccuracy.Mean ?? double.NaN)):+0.00;-0.00} points)"
                : $"{name}: none";
            bool twice = ours is not null && Of("random") is { } authors && ours.FaultsFixed.Mean >= 2 * authors.FaultsFixed.Mean;
            rows.Add(($"sample-level repair fixes ≥ 2× the faults of the authors' random baseline, at matched test accuracy ({ours?.Runs.Count ?? 0} models per training set)",
                ours is null ? "no influence-chosen condition" : $"RNNRepair {F(ours.FaultsFixed.Mean, "F1")} ± {F(ours.FaultsFixed.Std, "F1")} of {sample.Faults} (accuracy {100 * (ours.TestAccuracy.Mean - (original?.TestAccuracy.Mean ?? double.NaN)):+0.00;-0.00} points against the original data's); " +
                    string.Join("; ", Against("random", "the authors' random"), Against("pool-random", "a random candidate of the pool"), Against("neighbour", "the bare neighbour"), Against("original", "no added rows")),
                YesNo(twice)));
        }
        else rows.Add(("sample-level repair ≥ 2× random", NotRun, "–"));
        if (r.Segment is { } segment && segment.Rows.Count > 0)
        {
            int ours = segment.Rows.Count(x => x.GuidedFixed.Mean > x.RandomFixed.Mean), authors = segment.Rows.Count(x => x.GuidedFixed.Mean > x.MatchedRandomFixed.Mean);
            rows.Add(("segment-level repair above random at every m",
                string.Join("; ", segment.Rows.Select(x => $"m = {x.M}: {F(100 * x.GuidedFixed.Mean, "F1")} % vs {F(100 * x.RandomFixed.Mean, "F1")} % (random positions), {F(100 * x.MatchedRandomFixed.Mean, "F1")} % (authors' random)")),
                $"above random positions at {ours} of {segment.Rows.Count} m, above the authors' random at {authors} of {segment.Rows.Count}"));
        }
        else rows.Add(("segment-level repair above random at every m", NotRun, "–"));
        text.AppendLine().AppendLine("## Status: what this run shows against the figures to reach").AppendLine();
        text.AppendLine("| figure to reach | result | met? |").AppendLine("|---|---|---|");
        foreach ((string goal, string result, string met) in rows) text.AppendLine($"| {goal} | {result.Replace("|", "\\|", StringComparison.Ordinal)} | {met} |");
    }

    private static string F(double v, string format = "F2") => v.ToString(format, CultureInfo.InvariantCulture);

    private static void AppendSpeed(StringBuilder text, InfluenceBenchmarkReport s)
    {
        text.AppendLine();
        text.AppendLine("## Influence model speed (paper Sec. 4.1)");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"`lstm:100` over Fashion-MNIST image rows, {s.Samples} training sequences, {s.Steps} hidden states, PCA {s.FixedK.Pca}. Paper: 76.37 s to build, 1.16 s per query (Koh & Liang 70.13 s). Targets: build ≤ 20 s, query ≤ 10 ms.");
        text.AppendLine();
        text.AppendLine("| build | K | profile s | PCA s | mixtures s | index s | total s |");
        text.AppendLine("|---|---|---|---|---|---|---|");
        foreach ((string name, InfluenceBuildReport b) in new[] { ("K sweep (first K with mean stability ≥ 0.72)", s.Sweep), ("chosen K alone", s.FixedK) })
            text.AppendLine($"| {name} | {b.K} | {F(b.Time.ProfileSeconds)} | {F(b.Time.PcaSeconds)} | {F(b.Time.MixtureSeconds)} | {F(b.Time.IndexSeconds)} | {F(b.Time.TotalSeconds)} |");
        text.AppendLine();
        text.AppendLine("K sweep: " + string.Join("; ", s.Sweep.Candidates.Select(c => $"K {c.K}: BIC {c.Bic.ToString("G6", CultureInfo.InvariantCulture)}, stability {F(c.MeanStability, "F3")}, {F(c.Seconds)} s")) + $". {s.Sweep.Selection}");
        text.AppendLine();
        QueryLatency q = s.Latency;
        text.AppendLine(CultureInfo.InvariantCulture, $"Sample-level query (top 100 of {s.Samples}) over {q.Count} test inputs: search mean {F(q.SearchMean)} ms, median {F(q.SearchMedian)} ms, max {F(q.SearchMax)} ms; including profiling and abstracting the input {F(q.WithProfilingMean)} ms.");
        text.AppendLine();
        text.AppendLine("| EM on the same reduced step vectors | K | seconds | iterations | converged | BIC |");
        text.AppendLine("|---|---|---|---|---|---|");
        foreach (MixtureFit f in s.Fits) text.AppendLine($"| {f.Implementation} | {f.K} | {F(f.Seconds)} | {f.Iterations} | {(f.Converged ? "yes" : "no")} | {f.Bic.ToString("G8", CultureInfo.InvariantCulture)} |");
        string[] likeForLike = [.. InfluenceBenchmark.LikeForLike(s.Fits)];
        if (likeForLike.Length > 0) text.AppendLine();
        foreach (string line in likeForLike) text.AppendLine($"- {line}");
        if (s.SklearnNote is not null) text.AppendLine().AppendLine(s.SklearnNote);
        text.AppendLine().AppendLine("Reproduce the scikit-learn side: `./reparo bench influence --export-vectors steps.npy` writes the vectors, then `python3 scripts/sklearn_gmm.py steps.npy K 0`.");
    }

    private static void AppendFidelity(StringBuilder text, IReadOnlyList<FidelitySection> fidelity)
    {
        if (fidelity.Count == 0) return;
        text.AppendLine();
        text.AppendLine("## Fidelity of the abstract model's features (paper Table 1)");
        text.AppendLine();
        text.AppendLine("A softmax-regression classifier on each sample's temporal features (padded), trained on the training samples the network gets right, scored on the test split; agreement = share of test inputs where it predicts what the network predicts. Target: all features within 1 point of the network.");
        text.AppendLine();
        text.AppendLine("| model | data | K | network acc. | features | classifier acc. | agreement with network |");
        text.AppendLine("|---|---|---|---|---|---|---|");
        foreach (FidelitySection f in fidelity)
            foreach (FidelityRow row in f.Report.Rows)
                text.AppendLine($"| {f.Model} | {f.Data} | {f.K} | {F(100 * f.Report.NetworkAccuracy)}% | {row.Variant} | {F(100 * row.TestAccuracy)}% | {F(100 * row.Agreement)}% |");
    }
}
