using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Influence;
using Reparo.Models;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment rnnrepair [--quick]</c>: the evaluation of RNNRepair (Xie et al., ICML'21) — influence-model build
/// time and query latency on Fashion-MNIST (Sec. 4.1) with Reparo's EM beside scikit-learn's, the fidelity of the abstract
/// model's features (Table 1), mislabel finding against Koh &amp; Liang, TracIn, representer points and random (Sec. 4.2), and
/// sample- and segment-level remediation (Tables 3 and 4).
/// </summary>
internal static class RnnRepairExperiment
{
    private sealed record FidelitySection(string Model, string Data, int K, FidelityReport Report);

    private sealed record Results(InfluenceBenchmarkReport Speed, IReadOnlyList<FidelitySection> Fidelity, IReadOnlyList<MislabelReport> Mislabel,
        SampleRemediationReport? Sample, SegmentRemediationReport? Segment);

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
            var progress = new Progress<string>(run.Note);
            DataSplits fashion = arguments.LoadFashionMnist(parse);

            // 1. Speed: the influence model over all 60 000 training images (quick: 5 000), queries, EM vs scikit-learn.
            run.Note($"[{clock.Elapsed.TotalMinutes:F1} min] influence model speed");
            int epochs = quick ? 1 : 3;
            Network lstm = models.LoadOrTrain(ModelCache.FileName("rnnrepair", "lstm:100", epochs, run.Seed), "lstm:100", epochs, fashion, "fashion-mnist", run.Seed).Network;
            Dataset all = Repair.Remediation.RetrainComparison.Append(fashion.Train, fashion.Validation);
            if (quick) all = all.Subset(Enumerable.Range(0, 5000).ToArray(), "train+validation (5000)");
            string vectors = Path.Combine(Path.GetTempPath(), $"reparo-rnnrepair-steps-{Environment.ProcessId}.npy");
            InfluenceBenchmarkReport speed;
            try
            {
                speed = InfluenceBenchmark.Run(lstm, all, fashion.Test, new InfluenceBenchmarkOptions(quick ? [10, 20] : [5, 10, 15, 20, 25, 30, 35, 40], 100, 100, vectors,
                    InfluenceBenchmark.FindSklearnPython(), run.Seed), progress);
            }
            finally
            {
                File.Delete(vectors);
            }

            // 2. Fidelity (Table 1): linear classifiers on the abstract model's features vs the network.
            run.Note($"[{clock.Elapsed.TotalMinutes:F1} min] fidelity");
            var fidelity = new List<FidelitySection>();
            var abstraction = new InfluenceOptions { Abstraction = new AbstractionOptions { Candidates = quick ? [10, 20] : [5, 10, 15, 20, 25, 30, 35, 40], StopAtFirstStable = true, Mixture = new GaussianMixtureOptions(Seed: run.Seed) } };
            Dataset fidelityTrain = quick ? fashion.Train.Subset(Enumerable.Range(0, 5000).ToArray(), "train (5000)") : fashion.Train;
            using (InfluenceModel model = InfluenceModel.Build(lstm, fidelityTrain, abstraction, progress))
                fidelity.Add(new FidelitySection("lstm:100", "fashion-mnist", model.Report.K, FidelityCheck.Run(model, model.Abstract(fashion.Test))));
            DataSplits text = DataCatalog.Load("wordnet:animal,plant", new DataOptions { DataDir = parse.GetValue(arguments.DataDir) });
            Network gru = models.LoadOrTrain($"rnnrepair-gru-64-wordnet-e{(quick ? 3 : 8)}-s{run.Seed}.reparo", "gru:64", quick ? 3 : 8, text, "wordnet:animal,plant", run.Seed).Network;
            text = DataCatalog.Load("wordnet:animal,plant", new DataOptions { DataDir = parse.GetValue(arguments.DataDir), Vocabulary = gru.Vocabulary });
            using (InfluenceModel model = InfluenceModel.Build(gru, text.Train, abstraction, progress))
                fidelity.Add(new FidelitySection("gru:64", "wordnet:animal,plant", model.Report.K, FidelityCheck.Run(model, model.Abstract(text.Test))));

            // 3. Mislabel finding (Sec. 4.2): Trouser vs Dress and Pullover vs Coat, 30 % of one class flipped.
            var mislabel = new List<MislabelReport>();
            DataSplits mislabelData = quick ? DataCatalog.Load("fashion-mnist", new DataOptions { DataDir = parse.GetValue(arguments.DataDir), TrainLimit = 3000 }) : fashion;
            foreach (int[] pair in quick ? new[] { new[] { 1, 3 } } : [[1, 3], [2, 4]])
            {
                run.Note($"[{clock.Elapsed.TotalMinutes:F1} min] mislabel finding, classes {pair[0]} vs {pair[1]}");
                mislabel.Add(MislabelStudy.Run(mislabelData, new MislabelOptions { Classes = pair, FlipClass = pair[0], Epochs = quick ? 3 : 5, Seed = run.Seed, RestorePercents = quick ? [10] : [10, 20] }, progress));
            }

            // 4–5. Remediation (Tables 3 and 4).
            run.Note($"[{clock.Elapsed.TotalMinutes:F1} min] sample-level remediation");
            SampleRemediationReport sample = SampleRemediationStudy.Run(fashion, new SampleRemediationOptions { Seed = run.Seed, Seeds = quick ? 2 : 10, TrainRows = quick ? 2000 : null, MaxFaults = quick ? 20 : null }, progress);
            run.Note($"[{clock.Elapsed.TotalMinutes:F1} min] segment-level remediation");
            SegmentRemediationReport segment = SegmentRemediationStudy.Run(text, new SegmentRemediationOptions { Seed = run.Seed, RandomDraws = quick ? 2 : 10, M = quick ? [5, 25] : [5, 15, 25, 35, 45], Seeds = quick ? 1 : 3 }, progress);
            var results = new Results(speed, fidelity, mislabel, sample, segment);
            return arguments.Finish(run, parse, Markdown(results, commandLine, run.Threads, clock.Elapsed.TotalMinutes), results);
        });
        return command;
    }

    private static string Markdown(Results r, string command, int threads, double minutes)
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
