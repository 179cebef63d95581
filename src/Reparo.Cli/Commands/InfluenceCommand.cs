using System.CommandLine;
using Reparo.Data;
using Reparo.Influence;
using Reparo.Models;
using Reparo.Reporting;
using Reparo.UseCases;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo influence build|query|mislabel</c>: RNNRepair's influence model (Xie et al., ICML'21) of a recurrent network —
/// build it over the training split, ask which training samples and transitions influence a test input, and rank training
/// samples to find flipped labels (against Koh &amp; Liang, TracIn, representer points and random).
/// </summary>
internal static class InfluenceCommand
{
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
            var table = new Table().AddColumns("rank", "train index", "label", "distance");
            foreach ((InfluentialSample hit, int rank) in report.Top.Take(10).Select((h, r) => (h, r + 1))) table.AddRow(rank.ToString(), hit.TrainIndex.ToString(), Markup.Escape(hit.Label), hit.Distance.ToString("G4"));
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
