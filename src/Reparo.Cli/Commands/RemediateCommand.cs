using System.CommandLine;
using System.Globalization;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Io;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>Which RNNRepair remediation protocol <c>reparo remediate</c> runs.</summary>
internal enum RemediationLevel
{
    /// <summary>Table 3: one influence-chosen augmented sample per fault.</summary>
    Sample,

    /// <summary>Table 4: the faulty token inserted into the most similar training sequences.</summary>
    Segment,
}

/// <summary>
/// <c>reparo remediate --level sample|segment [--data D] [--classes …] [--arch A] [--epochs E] [--seeds N] [--m 5,15,…]
/// [--random-draws 10] [--markdown PATH] [--json PATH]</c>: RNNRepair's remediation protocols (Xie et al., ICML'21, Tables 3
/// and 4) — trains the original recurrent model, chooses the repairs with its influence model, retrains and compares.
/// </summary>
internal static class RemediateCommand
{
    public static Command Create(CliContext cli)
    {
        var level = new Option<RemediationLevel>("--level") { Description = "sample (Table 3: influence-chosen augmentation) or segment (Table 4: faulty-token insertion)", Required = true };
        var classes = new Option<string?>("--classes") { Description = "sample: two class indices to keep, or 'all' (default 2,4: Pullover vs Coat); segment: the true class whose failures are repaired, or 'all' (default)", HelpName = "A,B|C|all" };
        var arch = new Option<string?>("--arch") { Description = "Recurrent model (default lstm:32 for sample, gru:32 for segment)", HelpName = "SPEC" };
        var epochs = new Option<int?>("--epochs") { Description = "Epochs of every retrained model (default 2: with the default training rows a full run takes 10–15 minutes on 2 cores)", HelpName = "N" };
        var checkpoints = new Option<int>("--checkpoint-epochs") { Description = "sample: epochs of the original model, one checkpoint each; faults are wrong at all of them", DefaultValueFactory = _ => 7 };
        var seeds = new Option<int?>("--seeds") { Description = "Retrained models per training set (default 10 for sample, 1 for segment)", HelpName = "N" };
        var m = new Option<string>("--m") { Description = "segment: training samples modified per failure, one table row each", DefaultValueFactory = _ => "5,15,25,35,45", HelpName = "M,M,…" };
        var draws = new Option<int>("--random-draws") { Description = "segment: random-baseline draws per m", DefaultValueFactory = _ => 10 };
        var maxFaults = new Option<int?>("--max-faults") { Description = "sample: repair at most the first N faults", HelpName = "N" };
        var markdown = new Option<string?>("--markdown") { Description = "Write the results section as Markdown here", HelpName = "PATH" };
        var data = new DataArguments(required: false, preprocessing: false);
        data.TrainLimit.Description = "Use only N training samples (seeded subset; for sample, of the chosen classes); default 3000 for sample, 1000 for segment (sized for 10–15 minutes on 2 cores), 0 for all";
        var command = new Command("remediate", "RNNRepair remediation (Tables 3 and 4): influence-guided augmentation or token insertion, retrained and compared with random") { level, classes, arch, epochs, checkpoints, seeds, m, draws, maxFaults, markdown };
        data.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            RemediationLevel chosen = parse.GetValue(level);
            int[]? classList = ParseClasses(parse.GetValue(classes));
            int? epochCount = parse.GetValue(epochs);
            if (epochCount is < 1) throw new ReparoInputException($"--epochs must be at least 1, got {epochCount}");
            IProgress<string> progress = run.Notes;
            string text;
            object report;
            if (chosen == RemediationLevel.Sample)
            {
                if (classList is { Length: not 2 }) throw new ReparoInputException($"--classes for the sample level takes two class indices or 'all', got {classList.Length}");
                var defaults = new SampleRemediationOptions();
                var options = defaults with
                {
                    Classes = parse.GetValue(classes) is null ? defaults.Classes : classList,
                    Architecture = parse.GetValue(arch) ?? defaults.Architecture,
                    CheckpointEpochs = parse.GetValue(checkpoints),
                    Training = defaults.Training with { Epochs = epochCount ?? defaults.Training.Epochs },
                    Seeds = parse.GetValue(seeds) ?? defaults.Seeds,
                    Seed = run.Seed,
                    MaxFaults = parse.GetValue(maxFaults),
                    TrainRows = (parse.GetValue(data.TrainLimit) ?? 3000) is int n and > 0 ? n : null,
                };
                options.Validate();
                SampleRemediationReport result = SampleRemediationStudy.Run(Load(parse, data, "fashion-mnist", null), options, progress);
                (text, report) = (result.ToMarkdown(), result);
            }
            else
            {
                if (classList is { Length: not 1 }) throw new ReparoInputException($"--classes for the segment level takes one class index or 'all', got {classList.Length}");
                var defaults = new SegmentRemediationOptions();
                var options = defaults with
                {
                    TargetClass = classList?[0],
                    Architecture = parse.GetValue(arch) ?? defaults.Architecture,
                    Training = defaults.Training with { Epochs = epochCount ?? defaults.Training.Epochs },
                    Seeds = parse.GetValue(seeds) ?? defaults.Seeds,
                    M = ParseList(parse.GetValue(m)!, "--m"),
                    RandomDraws = parse.GetValue(draws),
                    Seed = run.Seed,
                };
                options.Validate();
                SegmentRemediationReport result = SegmentRemediationStudy.Run(Load(parse, data, "wordnet:animal,plant", 1000), options, progress);
                (text, report) = (result.ToMarkdown(), result);
            }
            run.Out.WriteLine(text);
            if (parse.GetValue(markdown) is string path) AtomicFile.WriteAllText(path, text);
            run.WriteJson(report);
            return CliApp.Success;
        });
        return command;
    }

    /// <summary>The splits of <c>--data</c>, or of the level's default data, limited (for segment) to the default training rows unless <c>--train-limit</c> says otherwise (0: all).</summary>
    private static DataSplits Load(ParseResult parse, DataArguments data, string defaultData, int? defaultTrainLimit) =>
        DataCatalog.Load(parse.GetValue(data.Data) ?? defaultData, new DataOptions
        {
            DataDir = parse.GetValue(data.DataDir),
            SplitSeed = parse.GetValue(data.SplitSeed) ?? 0,
            TrainLimit = defaultTrainLimit is null ? null : (parse.GetValue(data.TrainLimit) ?? defaultTrainLimit) is int n and > 0 ? n : null,
            TestLimit = parse.GetValue(data.TestLimit),
        });

    /// <summary><c>--classes</c>: null when absent or 'all', else the class indices.</summary>
    private static int[]? ParseClasses(string? value) =>
        value is null || value.Trim().Equals("all", StringComparison.OrdinalIgnoreCase) ? null : ParseList(value, "--classes");

    private static int[] ParseList(string value, string option)
    {
        string[] parts = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new ReparoInputException($"{option} needs comma-separated whole numbers, got '{value}'");
        return parts.Select(p => int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= 0 ? n
            : throw new ReparoInputException($"{option} needs comma-separated whole numbers, got '{value}'")).ToArray();
    }
}
