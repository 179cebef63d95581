using System.CommandLine;
using System.Globalization;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Io;
using Reparo.UseCases;
using Spectre.Console;

namespace Reparo.Cli.Commands;

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
        var epochs = new Option<int?>("--epochs") { Description = "segment: epochs of every retrained model (the sample level retrains for --checkpoint-epochs, as the original was trained)", HelpName = "N" };
        var checkpoints = new Option<int>("--checkpoint-epochs") { Description = "sample: epochs of the original model and of every retrained one; one checkpoint per epoch, faults are wrong at all of them, each adds one sample per fault", DefaultValueFactory = _ => 7 };
        var seeds = new Option<int?>("--seeds") { Description = "Retrained models per training set (default 20 for sample, 1 for segment)", HelpName = "N" };
        var m = new Option<string>("--m") { Description = "segment: training samples modified per failure, one table row each", DefaultValueFactory = _ => "5,15,25,35,45", HelpName = "M,M,…" };
        var draws = new Option<int>("--random-draws") { Description = "segment: random-baseline draws per m", DefaultValueFactory = _ => 10 };
        var maxFaults = new Option<int?>("--max-faults") { Description = "sample: repair at most the first N faults", HelpName = "N" };
        var markdown = new Option<string?>("--markdown") { Description = "Write the results section as Markdown here", HelpName = "PATH" };
        var data = new DataArguments(required: false, preprocessing: false);
        data.TrainLimit.Description = "Use only N training samples (seeded subset; for sample, of the chosen classes); default 3000 for sample, 1000 for segment (sized for 10–15 minutes on 2 cores), 0 for all";
        var command = new Command("remediate", "RNNRepair remediation (Tables 3 and 4): influence-guided augmentation or token insertion, retrained and compared with random") { level, classes, arch, epochs, checkpoints, seeds, m, draws, maxFaults, markdown };
        data.AddTo(command);
        var reportFile = new ReportArgument();
        reportFile.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string? reportPath = reportFile.Read(parse);
            RemediationLevel chosen = parse.GetValue(level);
            int[]? classList = ParseClasses(parse.GetValue(classes));
            int? epochCount = parse.GetValue(epochs);
            if (epochCount is < 1) throw new ReparoInputException($"--epochs must be at least 1, got {epochCount}");
            var request = new RemediateRequest(chosen, parse.GetValue(data.Data), new DataOptions
            {
                DataDir = parse.GetValue(data.DataDir),
                SplitSeed = parse.GetValue(data.SplitSeed) ?? 0,
                TestLimit = parse.GetValue(data.TestLimit),
                VocabularyPath = parse.GetValue(data.Vocab),
                ImageResizing = ImageResizing.Parse(parse.GetValue(data.Resize), parse.GetValue(data.CenterCrop)),
            }, parse.GetValue(data.TrainLimit));
            if (chosen == RemediationLevel.Sample)
            {
                if (classList is { Length: not 2 }) throw new ReparoInputException($"--classes for the sample level takes two class indices or 'all', got {classList.Length}");
                if (epochCount is not null) throw new ReparoInputException("--epochs is for the segment level: the sample level retrains for --checkpoint-epochs, as the original was trained");
                SampleRemediationOptions defaults = request.Sample;
                request = request with
                {
                    Sample = defaults with
                    {
                        Classes = parse.GetValue(classes) is null ? defaults.Classes : classList,
                        Architecture = parse.GetValue(arch) ?? defaults.Architecture,
                        CheckpointEpochs = parse.GetValue(checkpoints),
                        Seeds = parse.GetValue(seeds) ?? defaults.Seeds,
                        Seed = run.Seed,
                        MaxFaults = parse.GetValue(maxFaults),
                    },
                };
            }
            else
            {
                if (classList is { Length: not 1 }) throw new ReparoInputException($"--classes for the segment level takes one class index or 'all', got {classList.Length}");
                SegmentRemediationOptions defaults = request.Segment;
                request = request with
                {
                    Segment = defaults with
                    {
                        TargetClass = classList?[0],
                        Architecture = parse.GetValue(arch) ?? defaults.Architecture,
                        Training = defaults.Training with { Epochs = epochCount ?? defaults.Training.Epochs },
                        Seeds = parse.GetValue(seeds) ?? defaults.Seeds,
                        M = ParseList(parse.GetValue(m)!, "--m"),
                        RandomDraws = parse.GetValue(draws),
                        Seed = run.Seed,
                    },
                };
            }
            IRemediationReport report = RemediateUseCase.Run(request, run.Notes);
            string text = report.ToMarkdown();
            run.Out.WriteLine(text);
            if (parse.GetValue(markdown) is string path) AtomicFile.WriteAllText(path, text);
            run.WriteJson<object>(report);
            run.WriteReport(reportPath, report.ToDocument());
            return CliApp.Success;
        });
        return command;
    }

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
