using System.CommandLine;
using Reparo.Data;
using Reparo.Experiments;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment suspects [--quick] [--seeds 0,1,2,3,4]</c>: how well <c>reparo influence suspects</c> finds wrong
/// labels (<see cref="SuspectsStudy"/>): Fashion-MNIST with symmetric label noise, a model per seed, every method and random.
/// </summary>
internal static class SuspectsExperiment
{
    public static Command Create(CliContext cli)
    {
        var arguments = new ExperimentArguments("One seed, 3000 images, 3 epochs: under a minute", "docs/results/suspects.md");
        var seeds = new Option<string>("--seeds") { Description = "Seeds of the runs (subset, noise, training), comma-separated", DefaultValueFactory = _ => "0,1,2,3,4", HelpName = "LIST" };
        var arch = new Option<string>("--arch") { Description = "The zoo architecture trained on the noisy labels", DefaultValueFactory = _ => "mlp:100x2" };
        var trainRows = new Option<int>("--train-rows") { Description = "Training images drawn per seed (10 % then held out for validation)", DefaultValueFactory = _ => 12000 };
        var noise = new Option<double>("--noise") { Description = "Share of training and validation labels given a random other class", DefaultValueFactory = _ => 0.1 };
        var epochs = new Option<int>("--epochs") { Description = "Training epochs", DefaultValueFactory = _ => 10 };
        var command = new Command("suspects", "How well influence suspects finds wrong labels: Fashion-MNIST with symmetric label noise, each method against random, over seeds")
        {
            seeds, arch, trainRows, noise, epochs,
        };
        arguments.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = arguments.Start(cli, parse);
            bool quick = parse.GetValue(arguments.Quick);
            int[] seedList = quick ? [0] : ParseSeeds(parse.GetValue(seeds)!);
            int rows = quick ? 3000 : parse.GetValue(trainRows), epochCount = quick ? 3 : parse.GetValue(epochs);
            if (epochCount < 1) throw new ReparoInputException($"--epochs must be at least 1, got {epochCount}");
            DataSplits clean = arguments.LoadFashionMnist(parse);
            string commandLine = "./reparo experiment suspects" + (quick ? " --quick" : "") + $" --threads {run.Threads}";
            string json = Path.GetFileName(run.JsonPath ?? "suspects.json");
            SuspectsStudyReport report = SuspectsStudy.Run(clean, seedList, parse.GetValue(arch)!, epochCount, rows, parse.GetValue(noise), commandLine, run.Threads, run.Notes);
            return arguments.Finish(run, parse, SuspectsStudy.ToMarkdown(report, json), report);
        });
        return command;
    }

    private static int[] ParseSeeds(string text)
    {
        var seeds = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            seeds.Add(int.TryParse(part, out int seed) && seed >= 0 ? seed : throw new ReparoInputException($"--seeds: '{part}' is not a non-negative whole number"));
        return seeds.Count > 0 ? [.. seeds] : throw new ReparoInputException("--seeds: give at least one seed");
    }
}
