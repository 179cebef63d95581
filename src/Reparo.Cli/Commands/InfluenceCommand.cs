using System.CommandLine;
using Reparo.Data;
using Reparo.Influence;
using Reparo.Models;
using Reparo.Reporting;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo influence build|query|mislabel</c>: RNNRepair's influence model (Xie et al., ICML'21) of a recurrent network —
/// build it over the training split, ask which training samples and transitions influence a test input, and rank training
/// samples to find flipped labels (against Koh &amp; Liang, TracIn, representer points and random).
/// </summary>
internal static class InfluenceCommand
{
    private sealed record BuildResult(string Model, string Data, string Out, int K, int Pca, double MeanStability, double Bic, long States, int Samples,
        int Transitions, bool ReachedThreshold, string Selection, IReadOnlyList<CandidateState> Candidates, InfluenceTimings Time, double TimeS);

    private sealed record TopEntry(int TrainIndex, int SourceIndex, string Label, double Distance);

    private sealed record SegmentEntry(int Step, int Symbol, string Token, int State, string StepLabel, int Support);

    private sealed record QueryResult(string Index, string Data, int TestIndex, string Label, string Prediction, bool Failing, int? FaultStep, string? FaultToken,
        int PreFlipState, IReadOnlyList<SegmentEntry> Segments, IReadOnlyList<TopEntry> Top, double TimeMs, double TotalMs);

    public static Command Create(CliContext cli) => new("influence", "RNNRepair influence model of a recurrent network: build, query, find mislabelled training samples")
    {
        Build(cli), Query(cli), MislabelCommand.Create(cli),
    };

    private static Command Build(CliContext cli)
    {
        var model = new Option<string>("--model") { Description = "The recurrent model file (lstm:H or gru:H)", Required = true, HelpName = "PATH" };
        var output = new Option<string>("--out") { Description = "Write the influence model here", Required = true, HelpName = "PATH" };
        var pca = new Option<int>("--pca") { Description = "PCA components of the hidden states", DefaultValueFactory = _ => 10 };
        var k = new Option<string>("--k") { Description = "Candidate numbers of abstract states, swept in order (comma-separated), or one K", DefaultValueFactory = _ => "5,10,15,20,25,30,35,40", HelpName = "K[,K…]" };
        var theta = new Option<double>("--theta") { Description = "θ: the first K whose mean state stability reaches this is chosen", DefaultValueFactory = _ => 0.72 };
        var data = new DataArguments();
        var command = new Command("build", "Profile the training split, abstract the hidden states (PCA + GMM, K by stability) and index the transitions") { model, output, pca, k, theta };
        data.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string modelPath = parse.GetValue(model)!, outPath = parse.GetValue(output)!;
            if (Path.GetFullPath(outPath) == Path.GetFullPath(modelPath)) throw new ReparoInputException("--out must not overwrite the model");
            Network network = ModelFile.Load(modelPath);
            DataSplits splits = data.Load(parse, network);
            var options = new InfluenceOptions
            {
                Abstraction = new AbstractionOptions
                {
                    PcaComponents = parse.GetValue(pca),
                    Candidates = ParseCandidates(parse.GetValue(k)!),
                    StabilityThreshold = parse.GetValue(theta),
                    StopAtFirstStable = true,
                    Mixture = new GaussianMixtureOptions(Seed: run.Seed),
                },
            };
            using InfluenceModel built = InfluenceModel.Build(network, splits.Train, options, new Progress<string>(run.Note));
            built.Save(outPath);
            InfluenceBuildReport r = built.Report;
            var table = new Table().AddColumns("K", "BIC", "mean stability", "iterations", "seconds");
            foreach (CandidateState c in r.Candidates) table.AddRow(c.K.ToString(), c.Bic.ToString("G6"), c.MeanStability.ToString("F3"), c.Iterations.ToString(), c.Seconds.ToString("F2"));
            run.Out.Write(table);
            run.Out.WriteLine($"K = {r.K} ({r.Selection}); {r.States} hidden states of {r.Samples} samples, {r.Transitions} transitions; "
                + $"profile {r.Time.ProfileSeconds:F2} s, PCA {r.Time.PcaSeconds:F2} s, mixtures {r.Time.MixtureSeconds:F2} s, index {r.Time.IndexSeconds:F2} s, total {r.Time.TotalSeconds:F2} s");
            run.Out.WriteLine($"influence model written to {outPath}");
            run.WriteJson(new BuildResult(modelPath, splits.Train.Name, outPath, r.K, r.Pca, r.MeanStability, r.Bic, r.States, r.Samples, r.Transitions,
                r.ReachedThreshold, r.Selection, r.Candidates, r.Time, r.Time.TotalSeconds));
            return CliApp.Success;
        });
        return command;
    }

    private static Command Query(CliContext cli)
    {
        var index = new Option<string>("--index") { Description = "The influence model (from reparo influence build)", Required = true, HelpName = "PATH" };
        var testIndex = new Option<int>("--index-of-test") { Description = "Which test-split input to explain (0-based)", Required = true, HelpName = "I" };
        var top = new Option<int>("--top") { Description = "How many influential training samples to list", DefaultValueFactory = _ => 100 };
        var data = new DataArguments();
        var reportFile = new ReportArgument();
        var command = new Command("query", "Which training samples (sample level) and which input steps (segment level) influence one test input") { index, testIndex, top };
        data.AddTo(command);
        reportFile.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string? reportPath = reportFile.Read(parse);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using InfluenceModel influence = InfluenceModel.Load(parse.GetValue(index)!);
            DataSplits splits = data.Load(parse, influence.Network);
            int n = parse.GetValue(top);
            if (n < 1) throw new ReparoInputException($"--top must be at least 1, got {n}");
            int i = parse.GetValue(testIndex);
            var queryClock = System.Diagnostics.Stopwatch.StartNew();
            SampleQuery answer = influence.Query(splits.Test, i, n);
            SegmentAnalysis segments = influence.Segments(answer.Trace);
            double totalMs = queryClock.Elapsed.TotalMilliseconds;
            IReadOnlyList<string> names = influence.Network.Spec.ClassNames;
            string Token(int symbol) => influence.Network.Vocabulary is { } v && symbol >= 0 && symbol < v.Size ? v.Tokens[symbol] : "row";
            AbstractTrace t = answer.Trace;
            var segmentRows = Enumerable.Range(1, t.Length).Select(s => new SegmentEntry(s, t.Symbols[s - 1], Token(t.Symbols[s - 1]), t.States[s - 1], names[t.StepLabels[s - 1]], segments.Supports[s - 1])).ToArray();
            int? fault = segments.FaultStep;
            string? faultToken = fault is int f && f < t.Length ? Token(t.Symbols[f]) : null;
            run.Out.MarkupLine(Markup.Escape($"test input {i}: label {names[(int)t.Label]}, predicted {names[(int)t.Prediction]}" + (t.Failing
                ? $"; fault step {fault?.ToString() ?? "none"} (pre-flip state {segments.PreFlipState}{(faultToken is null ? "" : $", next token '{faultToken}'")})" : "")));
            var table = new Table().AddColumns("rank", "train index", "label", "distance");
            foreach ((InfluenceHit hit, int rank) in answer.Top.Take(10).Select((h, r) => (h, r + 1))) table.AddRow(rank.ToString(), hit.TrainIndex.ToString(), Markup.Escape(names[(int)hit.Label]), hit.Distance.ToString("G4"));
            run.Out.Write(table);
            run.Out.WriteLine($"top {answer.Top.Count} by temporal-feature distance in {answer.SearchMilliseconds:F2} ms (with profiling the input: {totalMs:F1} ms; load {clock.Elapsed.TotalSeconds - totalMs / 1000:F2} s)");
            run.WriteJson(new QueryResult(parse.GetValue(index)!, splits.Test.Name, i, names[(int)t.Label], names[(int)t.Prediction], t.Failing, fault, faultToken, segments.PreFlipState,
                segmentRows, answer.Top.Select(h => new TopEntry(h.TrainIndex, splits.Train.SourceIndices[h.TrainIndex], names[(int)h.Label], h.Distance)).ToArray(),
                answer.SearchMilliseconds, totalMs));
            if (reportPath is not null) run.WriteReport(reportPath, InfluenceExplanation.Create(influence, splits.Test, i, answer, splits.Train).ToDocument());
            return CliApp.Success;
        });
        return command;
    }

    internal static IReadOnlyList<int> ParseCandidates(string text)
    {
        var values = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, out int value) || value < 1) throw new ReparoInputException($"--k: '{part}' is not a positive number of states");
            values.Add(value);
        }
        if (values.Count == 0) throw new ReparoInputException("--k: give at least one number of states");
        return values;
    }
}
