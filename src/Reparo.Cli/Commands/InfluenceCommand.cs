using System.CommandLine;
using Reparo.Data;
using Reparo.Influence;
using Reparo.Influence.Baselines;
using Reparo.Models;
using Reparo.Reporting;
using Reparo.UseCases;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo influence build|query|mislabel|suspects</c>: RNNRepair's influence model (Xie et al., ICML'21) of a recurrent
/// network — build it over the training split, ask which training samples and transitions influence a test input, and
/// rank training samples to find flipped labels (against Koh &amp; Liang, TracIn, representer points and random) — and,
/// for any model and the user's own data, the training samples whose labels to look at first.
/// </summary>
internal static class InfluenceCommand
{
    public static Command Create(CliContext cli) => new("influence", "RNNRepair influence model of a recurrent network: build, query, find mislabelled training samples; suspects: any model's training samples most likely mislabelled")
    {
        Build(cli), Query(cli), MislabelCommand.Create(cli), Suspects(cli),
    };

    private static Command Suspects(CliContext cli)
    {
        var model = new Option<string>("--model") { Description = "The trained model (any Reparo or ONNX classifier); --data is the data it was trained on", Required = true, HelpName = "PATH" };
        var method = new Option<string>("--method")
        {
            Description = "Self-influence at the model's final weights: representer (representer points), tracin-self (TracIn's ‖∇ℓ‖² of the last layer; a model file has no training checkpoints), kl-last (Koh & Liang with the exact last-layer Hessian), or loss (the cross-entropy of the sample's label)",
            DefaultValueFactory = _ => LabelSuspicion.DefaultMethod,
        };
        method.AcceptOnlyFromAmong([.. LabelSuspicion.Methods]);
        var top = new Option<int>("--top") { Description = "How many training samples to list", DefaultValueFactory = _ => 20 };
        var data = new DataArguments();
        var reportFile = new ReportArgument();
        var command = new Command("suspects", "The training samples of your model most likely to carry a wrong label (self-influence), named by file or line") { model, method, top };
        data.AddTo(command);
        reportFile.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string? reportPath = reportFile.Read(parse);
            string modelPath = parse.GetValue(model)!;
            Network network = run.LoadModel(modelPath);
            DataSplits splits = data.Load(parse, network);
            SuspectsReport report = SuspectsUseCase.Run(new SuspectsRequest(network, modelPath, splits, parse.GetValue(method)!, parse.GetValue(top)));
            var table = new Table().AddColumns("rank", "training sample", "label", "prediction", "p(label)", "score");
            foreach (Suspect s in report.Suspects)
                table.AddRow(s.Rank.ToString(), Markup.Escape(s.Source), Markup.Escape(s.Label), Markup.Escape(s.Prediction), s.LabelProbability.ToString("P1"), s.Score.ToString("G4"));
            run.Out.Write(table);
            run.Out.WriteLine($"{report.Suspects.Count} of {report.TrainCount} training samples of {report.Data} by {report.Method} self-influence ({report.Seconds:F1} s); "
                + $"the model predicts another class than the label for {report.Disagreements}");
            run.WriteJson(report);
            run.WriteReport(reportPath, report.ToDocument());
            return CliApp.Success;
        });
        return command;
    }

    private static Command Build(CliContext cli)
    {
        var model = new Option<string>("--model") { Description = "The recurrent model file (lstm:H or gru:H)", Required = true, HelpName = "PATH" };
        var output = new Option<string>("--out") { Description = "Write the influence model here", Required = true, HelpName = "PATH" };
        var pca = new Option<int>("--pca") { Description = "PCA components of the hidden states", DefaultValueFactory = _ => 10 };
        var k = new Option<string>("--k") { Description = "Candidate numbers of abstract states, swept in order (comma-separated), or one K", DefaultValueFactory = _ => "5,10,15,20,25,30,35,40", HelpName = "K[,K…]" };
        var theta = new Option<double>("--theta") { Description = "θ: the first K whose mean state stability reaches this is chosen", DefaultValueFactory = _ => 0.72 };
        var maxMemory = new Option<string?>("--max-memory")
        {
            Description = "Refuse, before profiling, a build whose profile, PCA projection and largest state table exceed SIZE (e.g. 8G; default: half of this machine's memory)",
            HelpName = "SIZE",
        };
        var data = new DataArguments();
        var command = new Command("build", "Profile the training split, abstract the hidden states (PCA + GMM, K by stability) and index the transitions") { model, output, pca, k, theta, maxMemory };
        data.AddTo(command);
        var reportFile = new ReportArgument();
        reportFile.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string? reportPath = reportFile.Read(parse);
            string modelPath = parse.GetValue(model)!;
            Network network = run.LoadModel(modelPath);
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
                MaxMemoryBytes = MemorySize.Parse(parse.GetValue(maxMemory), "--max-memory") ?? MemorySize.HalfOfMachine(),
            };
            InfluenceModelReport report = InfluenceBuildUseCase.Run(new InfluenceBuildRequest(network, modelPath, splits.Train, parse.GetValue(output)!, options), run.Notes);
            ReportDocument document = report.ToDocument();
            CliDocumentRenderer.Render(run.Out, document);
            run.WriteJson(report);
            run.WriteReport(reportPath, document);
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
            string indexPath = parse.GetValue(index)!;
            using InfluenceModel influence = InfluenceModel.Load(indexPath);
            DataSplits splits = data.Load(parse, influence.Network);
            double loadSeconds = clock.Elapsed.TotalSeconds;
            InfluenceQueryReport report = InfluenceQueryUseCase.Run(new InfluenceQueryRequest(influence, indexPath, splits, parse.GetValue(testIndex), parse.GetValue(top)));
            run.Out.WriteLine($"test input {report.TestIndex}: label {report.Label}, predicted {report.Prediction}" + (report.Failing
                ? $"; fault step {report.FaultStep?.ToString() ?? "none"} (pre-flip state {report.PreFlipState}{(report.FaultToken is null ? "" : $", next token '{report.FaultToken}'")})" : ""));
            var table = new Table().AddColumns("rank", "training sample", "label", "distance");
            foreach ((InfluentialSample hit, int rank) in report.Top.Take(10).Select((h, r) => (h, r + 1))) table.AddRow(rank.ToString(), Markup.Escape(hit.Source), Markup.Escape(hit.Label), hit.Distance.ToString("G4"));
            run.Out.Write(table);
            run.Out.WriteLine($"top {report.Top.Count} by temporal-feature distance in {report.TimeMs:F2} ms (with profiling the input: {report.TotalMs:F1} ms; load {loadSeconds:F2} s)");
            run.WriteJson(report);
            run.WriteReport(reportPath, report.ToDocument());
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
