using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Influence;
using Reparo.Localisation;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Repair.Editing;
using Reparo.Reporting;
using Reparo.Training;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo demo</c>: end to end on Fashion-MNIST — trains (or reuses a cached) small model, evaluates it on the clean and
/// the fog-corrupted test sets, lists the failures, repairs the first of them with the provable LP repair, verified independently,
/// removes a BadNets Trojan from a poisoned CNN with one cleansed pair (attribution-guided rectification), and explains an
/// LSTM's failure by its most influential training samples (RNNRepair).
/// </summary>
internal static class DemoCommand
{
    private sealed record Failure(int TestIndex, string Label, string FogPrediction, string CleanPrediction);

    private sealed record DemoResult(string Model, bool ReusedCachedModel, string Arch, double CleanAccuracy, double FogAccuracy, int Severity,
        int FogFailures, int CorruptionInducedFailures, IReadOnlyDictionary<string, int> FailuresByClass, IReadOnlyList<Failure> Targets, RepairReport? Repair, RectificationReport? Trojan, InfluenceStep? Influence, double TimeS);

    private sealed record InfluenceStep(string Model, int K, double BuildSeconds, int TestIndex, string Label, string Prediction, int? FaultStep,
        IReadOnlyList<InfluenceNeighbour> Top, double QueryMs);

    private sealed record InfluenceNeighbour(int TrainIndex, string Label, double Distance);

    public static Command Create(CliContext cli)
    {
        var arch = new Option<string>("--arch") { Description = "Architecture of the demo model", DefaultValueFactory = _ => "mlp:100x3" };
        var epochs = new Option<int>("--epochs") { Description = "Training epochs if no cached model exists", DefaultValueFactory = _ => 8 };
        var severity = new Option<int>("--severity") { Description = "Fog severity 1–5", DefaultValueFactory = _ => 3 };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Where the demo model is cached (default ~/.cache/reparo/models)", HelpName = "DIR" };
        var retrain = new Option<bool>("--retrain") { Description = "Train even if a cached model exists" };
        var png = new Option<string?>("--png") { Description = "Write the first failures (fog images) as a PNG grid", HelpName = "PATH" };
        var dataDir = new Option<string?>("--data-dir") { Description = "Folder searched first for dataset files", HelpName = "DIR" };
        var repairPoints = new Option<int>("--repair-points") { Description = "How many fog failures the provable repair fixes (0: skip the repair)", DefaultValueFactory = _ => 25 };
        var repairLayer = new Option<string>("--repair-layer") { Description = "Layer the provable repair edits, or auto (the informed-repair rule chooses)", DefaultValueFactory = _ => "auto" };
        var trojanPairs = new Option<int>("--trojan-pairs") { Description = "Cleansed pairs for the Trojan rectification step (0: skip it)", DefaultValueFactory = _ => 1 };
        var influenceTop = new Option<int>("--influence-top") { Description = "Training samples listed by the RNNRepair influence step (0: skip it)", DefaultValueFactory = _ => 5 };
        var reportFile = new ReportArgument();
        var command = new Command("demo", "End to end on Fashion-MNIST: train or reuse a model, evaluate clean and fog-corrupted, list the failures, repair them with a verified LP, remove a Trojan from one cleansed pair, explain an LSTM failure by its influential training samples")
        {
            arch, epochs, severity, cacheDir, retrain, png, dataDir, repairPoints, repairLayer, trojanPairs, influenceTop,
        };
        reportFile.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string? reportPath = reportFile.Read(parse);
            var summary = new List<string>();
            var sections = new List<ReportSection>();
            var clock = Stopwatch.StartNew();
            int level = parse.GetValue(severity);
            DataSplits splits = DataCatalog.Load("fashion-mnist", new DataOptions { DataDir = parse.GetValue(dataDir) });
            string architecture = parse.GetValue(arch)!;
            int epochCount = parse.GetValue(epochs);
            ModelCache models = run.Models(parse.GetValue(cacheDir) ?? ModelCache.DefaultFolder);
            bool retrainModels = parse.GetValue(retrain);
            (Network network, string modelPath, bool reused) = models.LoadOrTrain(ModelCache.FileName("demo", architecture, epochCount, run.Seed), architecture, epochCount, splits, "fashion-mnist", run.Seed, retrain: retrainModels);

            run.Out.MarkupLine($"[bold]1. Model[/] {Markup.Escape(architecture)} ({(reused ? "cached" : "trained now")}): {Markup.Escape(modelPath)}");
            EvaluationReport clean = Evaluator.Evaluate(network, splits.Test);
            Dataset fogged = Corruptions.Apply(splits.Test, Corruption.Fog, level, run.Seed);
            EvaluationReport fog = Evaluator.Evaluate(network, fogged);
            run.Out.MarkupLine($"[bold]2. Evaluate[/] clean test accuracy {clean.Accuracy:P2}, fog (severity {level}) accuracy {fog.Accuracy:P2} on {fog.N} images");
            sections.Add(new ReportSection("1. Model", [new ReportKeyValues([new("architecture", architecture), new("file", modelPath), new("origin", reused ? "cached" : "trained now")])]));
            sections.Add(new ReportSection("2. Evaluate", [new ReportTable(["test set", "images", "accuracy"],
                [["clean", Invariant(clean.N), Percent(clean.Accuracy)], [$"fog, severity {level}", Invariant(fog.N), Percent(fog.Accuracy)]])]));

            long[] labels = splits.Test.Labels();
            int[] fogFailures = fog.Failures(fogged);
            int[] induced = fogFailures.Where(i => clean.Predictions[i] == labels[i]).ToArray();
            string Name(long c) => network.Spec.ClassNames[(int)c];
            var byClass = induced.GroupBy(i => Name(labels[i])).OrderByDescending(g => g.Count()).ToDictionary(g => g.Key, g => g.Count());
            Failure[] targets = induced.Take(10).Select(i => new Failure(splits.Test.SourceIndices[i], Name(labels[i]), Name(fog.Predictions[i]), Name(clean.Predictions[i]))).ToArray();
            run.Out.MarkupLine($"[bold]3. Failures[/] {fogFailures.Length} fog images misclassified; {induced.Length} of them are right when clean (what a repair targets)");
            var table = new Table().AddColumns("test index", "label", "fog prediction", "clean prediction");
            foreach (Failure f in targets) table.AddRow(f.TestIndex.ToString(), Markup.Escape(f.Label), Markup.Escape(f.FogPrediction), Markup.Escape(f.CleanPrediction));
            run.Out.Write(table);
            run.Out.WriteLine("by class: " + string.Join(", ", byClass.Select(kv => $"{kv.Key} {kv.Value}")));
            summary.Add($"Model and failures: {architecture} gets {Percent(clean.Accuracy)} of the clean test images right and {Percent(fog.Accuracy)} in fog (severity {level}); "
                + $"{Invariant(fogFailures.Length)} fog images are misclassified, {Invariant(induced.Length)} of them right when clean (what the repair targets).");
            sections.Add(new ReportSection("3. Failures",
            [
                new ReportParagraph($"{Invariant(fogFailures.Length)} fog images misclassified; {Invariant(induced.Length)} of them are right when clean. By class: " + string.Join(", ", byClass.Select(kv => $"{kv.Key} {kv.Value}")) + "."),
                new ReportGallery([.. induced.Take(10).Select((i, k) => new ReportThumbnail($"test {targets[k].TestIndex} · true: {targets[k].Label} · fog: {targets[k].FogPrediction} · clean: {targets[k].CleanPrediction}",
                    ImageGrid.Encode(fogged.X.narrow(0, i, 1), columns: 1, scale: 2)))], "The first fog failures that are right when clean"),
            ]));
            if (parse.GetValue(png) is string pngPath && induced.Length > 0)
            {
                using var chosen = TorchSharp.torch.tensor(induced.Take(40).Select(i => (long)i).ToArray());
                using var images = fogged.X.index_select(0, chosen);
                ImageGrid.Write(pngPath, images);
                run.Out.WriteLine($"failure images written to {pngPath}");
            }
            RepairReport? repaired = null;
            int points = Math.Min(parse.GetValue(repairPoints), fogFailures.Length);
            if (points > 0)
            {
                RepairProblem problem = RepairSetSpec.Build($"fog:{level}:{points}", network, splits, run.Seed);
                string layer = parse.GetValue(repairLayer)!;
                string why = "";
                if (layer == "auto")
                {
                    LayerChoice choice = LayerHeuristics.ChooseAuto("provable", new LayerChoiceContext(network, problem.RepairSet, LayerHeuristics.Candidates(network, "provable")));
                    layer = choice.Layer;
                    why = $" (chosen by the {choice.Heuristic} rule: {choice.Reason})";
                }
                run.Out.MarkupLine($"[bold]4. Repair[/] provable (APRNN-style LP) at {Markup.Escape(layer + why)} on the first {points} fog failures, keeping {PreserveRequest.DefaultCount} correctly classified training images close at that layer (locality: the change of its outputs on them is penalised in the LP); held out: the clean test set and the other fog images");
                PreserveRequest preserve = PreserveRequest.ProvableDefault(splits.Train, run.Seed);
                RepairResult result = RepairMethods.Create("provable", new RepairSettings { Layer = layer, Seed = run.Seed, Preserve = preserve }).Repair(problem);
                repaired = RepairReport.Create(problem, result);
                RepairCommand.Print(run.Out, repaired);
                if (reportPath is not null)
                {
                    summary.Add($"Repair: {(repaired.Verified ? "verified" : "NOT verified")} ({repaired.Status}) on the first {points} fog failures at {repaired.Layer}; clean accuracy "
                        + $"{Percent(repaired.Metrics.AccuracyBefore)} → {Percent(repaired.Metrics.AccuracyAfter)}, the other fog images {Percent(repaired.Metrics.GeneralizationBefore)} → {Percent(repaired.Metrics.GeneralizationAfter)}.");
                    sections.AddRange((repaired with { Evidence = RepairEvidence.Compute(problem, result) }).ToDocument().AsPart("4. Repair"));
                }
            }
            RectificationReport? rectified = null;
            int pairs = parse.GetValue(trojanPairs);
            if (pairs > 0)
            {
                var poison = PoisonSpec.Parse("badnets:0.1:0");
                (Network trojan, _, bool trojanReused) = models.LoadOrTrain(ModelCache.FileName("demo-trojan", "cnn", 2, run.Seed), "cnn", 2, splits, "fashion-mnist", run.Seed, poison, retrainModels);
                run.Out.MarkupLine($"[bold]5. Trojan[/] cnn trained on BadNets-poisoned data ({poison}: 3×3 white patch → class 0; {(trojanReused ? "cached" : "trained now")}), "
                    + $"rectified from {pairs} cleansed pair(s) by attribution-guided rank-one editing with Reparo's defaults (the paper's dynamic loop; the clean twin and the trigger moved elsewhere held, pairs transplanted onto 20 held-out images and 200 more held back to check the edits, next layer after a rollback, gap 0.01)");
                RectificationRun result = RectificationRun.Execute(trojan, poison, splits, pairs, RectifyOptions.Recommended(seed: run.Seed), 4000, run.Seed, "default");
                RectifyCommand.Print(run.Out, result);
                rectified = result.Report();
                if (reportPath is not null)
                {
                    summary.Add($"Trojan: attack success rate {Percent(result.Before.Asr ?? double.NaN)} → {Percent(result.After.Asr ?? double.NaN)}, clean accuracy {Percent(result.Before.Accuracy)} → {Percent(result.After.Accuracy)}, from {pairs} cleansed pair(s).");
                    sections.AddRange(result.ToDocument().AsPart("5. Trojan"));
                }
            }
            (InfluenceStep Step, InfluenceExplanation Explanation)? explained = parse.GetValue(influenceTop) is int top and > 0 ? ExplainFailure(run, models, retrainModels, splits, top) : null;
            InfluenceStep? influence = explained?.Step;
            if (explained is { } e)
            {
                summary.Add($"Influence: the LSTM predicts {e.Step.Prediction} for test image {e.Step.TestIndex} ({e.Step.Label}); its closest training samples are labelled {string.Join(", ", e.Step.Top.Select(t => t.Label))}.");
                sections.AddRange(e.Explanation.ToDocument().AsPart("6. Influence"));
            }
            run.WriteJson(new DemoResult(modelPath, reused, architecture, clean.Accuracy, fog.Accuracy, level, fogFailures.Length, induced.Length,
                byClass, targets, repaired, rectified, influence, clock.Elapsed.TotalSeconds));
            run.WriteReport(reportPath, new ReportDocument("Reparo demo: find, explain and repair on Fashion-MNIST", summary, sections));
            return CliApp.Success;
        });
        return command;
    }

    /// <summary>
    /// Step 6: RNNRepair (Xie et al., ICML'21) — builds the influence model of a small LSTM over the first 10 000 training images and
    /// explains its first test failure: the fault step and the most influential training samples.
    /// </summary>
    private static (InfluenceStep, InfluenceExplanation) ExplainFailure(CommandRun run, ModelCache models, bool retrain, DataSplits splits, int top)
    {
        (Network lstm, string path, bool cached) = models.LoadOrTrain(ModelCache.FileName("demo", "lstm:64", 2, run.Seed), "lstm:64", 2, splits, "fashion-mnist", run.Seed, retrain: retrain);
        var options = new InfluenceOptions { Abstraction = new AbstractionOptions { Candidates = [10, 20, 30], StopAtFirstStable = true, Mixture = new GaussianMixtureOptions(Seed: run.Seed) } };
        Dataset train = splits.Train.Subset(Enumerable.Range(0, Math.Min(10000, splits.Train.Count)).ToArray(), "train (first 10 000)");
        using InfluenceModel model = InfluenceModel.Build(lstm, train, options);
        long[] predictions = lstm.Predict(splits.Test.X);
        long[] labels = splits.Test.Labels();
        int failure = Enumerable.Range(0, labels.Length).FirstOrDefault(i => predictions[i] != labels[i], -1);
        if (failure < 0) throw new ReparoInputException("the demo LSTM makes no test error to explain");
        SampleQuery answer = model.Query(splits.Test, failure, top);
        IReadOnlyList<string> names = lstm.Spec.ClassNames;
        int? fault = answer.Trace.FaultStep();
        run.Out.MarkupLine($"[bold]6. Influence[/] lstm:64 over image rows ({(cached ? "cached" : "trained now")}); RNNRepair influence model over {train.Count} training images: K = {model.Report.K} abstract states, "
            + $"{model.Report.Transitions} transitions, built in {model.Report.Time.TotalSeconds:F1} s");
        run.Out.WriteLine($"test image {splits.Test.SourceIndices[failure]} ({names[(int)labels[failure]]}) is predicted {names[(int)predictions[failure]]}; "
            + (fault is int f and > 0 ? $"the rows keep the true label until step {f} of {answer.Trace.Length}" : "no row step ever predicts the true label"));
        var table = new Table().AddColumns("rank", "training image", "label", "distance");
        foreach ((InfluenceHit hit, int rank) in answer.Top.Select((h, r) => (h, r + 1)))
            table.AddRow(rank.ToString(), train.SourceIndices[hit.TrainIndex].ToString(), Markup.Escape(names[(int)hit.Label]), hit.Distance.ToString("G4"));
        run.Out.Write(table);
        run.Out.WriteLine($"query answered in {answer.SearchMilliseconds:F2} ms");
        var step = new InfluenceStep(path, model.Report.K, model.Report.Time.TotalSeconds, splits.Test.SourceIndices[failure], names[(int)labels[failure]],
            names[(int)predictions[failure]], fault, answer.Top.Select(h => new InfluenceNeighbour(train.SourceIndices[h.TrainIndex], names[(int)h.Label], h.Distance)).ToArray(),
            answer.SearchMilliseconds);
        return (step, InfluenceExplanation.Create(model, splits.Test, failure, answer, train));
    }

    private static string Percent(double share) => double.IsNaN(share) ? "n/a" : share.ToString("P2", CultureInfo.InvariantCulture);

    private static string Invariant(int n) => n.ToString("N0", CultureInfo.InvariantCulture);
}
