using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Influence;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment rnnrepair [--quick]</c>: the evaluation of RNNRepair (Xie et al., ICML'21) — influence-model build
/// time and query latency on Fashion-MNIST (Sec. 4.1) with Reparo's EM beside scikit-learn's, the fidelity of the abstract
/// model's features (Table 1), mislabel finding against Koh &amp; Liang, TracIn, representer points and random (Sec. 4.2), and
/// sample- and segment-level remediation (Tables 3 and 4).
/// </summary>
internal static class RnnRepairExperiment
{
    public static Command Create(CliContext cli)
    {
        var arguments = new ExperimentArguments("A small version (subsets, one pair, few seeds): minutes", "docs/results/rnnrepair.md");
        var command = new Command("rnnrepair", "RNNRepair on Fashion-MNIST and WordNet: influence-model speed, fidelity, mislabel finding, sample- and segment-level remediation");
        arguments.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            bool quick = parse.GetValue(arguments.Quick);
            ModelCache models = arguments.Models(run, parse);
            string commandLine = "./reparo experiment rnnrepair" + (quick ? " --quick" : "") + $" --threads {run.Threads}";
            var clock = Stopwatch.StartNew();
            DataSplits fashion = arguments.LoadFashionMnist(parse);
            RnnRepairResults results = RnnRepairExperimentPlan.Run(fashion, parse.GetValue(arguments.DataDir), models, quick, run.Seed, run.Notes);
            return arguments.Finish(run, parse, Markdown(results, commandLine, run.Threads, clock.Elapsed.TotalMinutes), results);
        });
        return command;
    }

    private static string Markdown(RnnRepairResults r, string command, int threads, double minutes)
    {
        StringBuilder text = ExperimentArguments.Heading("RNNRepair (Xie et al., ICML'21): influence, mislabel finding and remediation", command, threads, minutes, null);
        string F(double v, string format = "F2") => v.ToString(format, CultureInfo.InvariantCulture);
        InfluenceBenchmarkReport s = r.Speed;
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
        if (s.Fits.Count == 2) text.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"Speed-up over scikit-learn: {F(s.Fits[1].Seconds / s.Fits[0].Seconds, "F1")}×; BIC difference (Reparo − scikit-learn): {F(s.Fits[0].Bic - s.Fits[1].Bic, "G4")} (lower is better).");
        if (s.SklearnNote is not null) text.AppendLine().AppendLine(s.SklearnNote);
        text.AppendLine().AppendLine("Reproduce the scikit-learn side: `./reparo bench influence --export-vectors steps.npy` writes the vectors, then `python3 scripts/sklearn_gmm.py steps.npy K 0`.");

        text.AppendLine();
        text.AppendLine("## Fidelity of the abstract model's features (paper Table 1)");
        text.AppendLine();
        text.AppendLine("A softmax-regression classifier on each sample's temporal features (padded), trained on the training samples the network gets right, scored on the test split; agreement = share of test inputs where it predicts what the network predicts. Target: all features within 1 point of the network.");
        text.AppendLine();
        text.AppendLine("| model | data | K | network acc. | features | classifier acc. | agreement with network |");
        text.AppendLine("|---|---|---|---|---|---|---|");
        foreach (FidelitySection f in r.Fidelity)
            foreach (FidelityRow row in f.Report.Rows)
                text.AppendLine($"| {f.Model} | {f.Data} | {f.K} | {F(100 * f.Report.NetworkAccuracy)}% | {row.Variant} | {F(100 * row.TestAccuracy)}% | {F(100 * row.Agreement)}% |");
        foreach (MislabelReport m in r.Mislabel) text.AppendLine().Append(m.ToMarkdown());
        if (r.Sample is not null) text.AppendLine().Append(r.Sample.ToMarkdown());
        if (r.Segment is not null) text.AppendLine().Append(r.Segment.ToMarkdown());
        return text.ToString();
    }
}
