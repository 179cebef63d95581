using System.Globalization;
using System.Text;
using Reparo.Influence;

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
        return text.ToString();
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
