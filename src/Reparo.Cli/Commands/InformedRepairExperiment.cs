using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Localisation;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Repair.Provable;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment informed [--quick]</c>: the informed-repair study over several models and repair sets
/// (fog, rotation and Trojan failures on Fashion-MNIST), written to docs/results/informed-repair.md with its figure.
/// </summary>
internal static class InformedRepairExperiment
{
    private sealed record Step(string Arch, string? Poison, int Epochs, string RepairSet, int[] Sizes, string[] Methods, string Cache = "experiment");

    public static Command Create(CliContext cli)
    {
        var arguments = new ExperimentArguments("A small version (mlp:100x3 only, sizes 10 and 25): minutes", "docs/results/informed-repair.md");
        var timeLimit = new Option<double>("--time-limit") { Description = "LP solver time limit per repair, seconds", DefaultValueFactory = _ => 120 };
        var maxLp = new Option<long>("--max-lp-nonzeros") { Description = "Skip provable repairs whose predicted LP has more nonzeros than this", DefaultValueFactory = _ => 3_000_000, HelpName = "N" };
        var command = new Command("informed", "Informed repair: layer heuristics against brute force on MLPs, a CNN, a ViT and an LSTM head; fog, rotation and Trojan repair sets") { timeLimit, maxLp };
        arguments.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            bool quick = parse.GetValue(arguments.Quick);
            ModelCache models = arguments.Models(run, parse);
            string commandLine = "./reparo experiment informed" + (quick ? " --quick" : "") + $" --threads {run.Threads} --time-limit {parse.GetValue(timeLimit).ToString(CultureInfo.InvariantCulture)} --max-lp-nonzeros {parse.GetValue(maxLp).ToString(CultureInfo.InvariantCulture)}";
            DataSplits clean = arguments.LoadFashionMnist(parse);
            var clock = Stopwatch.StartNew();
            var cases = new List<StudyCase>();
            var analyses = new List<RepairSetProfile>();
            List<Step> steps = [.. Plan(quick)];
            var settings = new RepairSettings { Solver = new LpSolverOptions { TimeLimitSeconds = parse.GetValue(timeLimit) }, Seed = run.Seed };
            string? png = parse.GetValue(arguments.Markdown) is string md ? Path.ChangeExtension(md, ".png") : null;
            for (int i = 0; i < steps.Count; i++)
            {
                Step step = steps[i];
                PoisonSpec? poison = step.Poison is null ? null : PoisonSpec.Parse(step.Poison);
                string name = poison is null ? ModelCache.FileName(step.Cache, step.Arch, step.Epochs, run.Seed)
                    : $"rectify-{step.Arch}-{poison.ToString().Replace(':', '-')}-e{step.Epochs}-s{run.Seed}.reparo";
                Network network = models.LoadOrTrain(name, step.Arch, step.Epochs, clean, "fashion-mnist", run.Seed, poison).Network;
                DataSplits splits = ModelInputs.PrepareSplits(clean, network);
                run.Note($"[{clock.Elapsed.TotalMinutes:F1} min] {step.Arch}{(poison is null ? "" : $" ({poison})")}: {step.RepairSet} at sizes {string.Join(", ", step.Sizes)}, {string.Join(", ", step.Methods)}");
                StudyReport part = InformedRepairStudy.Run(network, splits, new InformedRepairOptions
                {
                    RepairSets = [step.RepairSet],
                    Sizes = step.Sizes,
                    Methods = step.Methods,
                    Heuristics = LayerHeuristics.All,
                    Settings = settings,
                    Seed = run.Seed,
                    MaxLpNonzeros = parse.GetValue(maxLp),
                }, new Progress<string>(run.Note));
                cases.AddRange(part.Cases);
                analyses.AddRange(part.Analyses);
                StudyReport sofar = InformedRepairStudy.Summarise(cases, analyses, part.Tolerance);
                if (png is not null) StudyPlot.Write(png, sofar);
                arguments.WriteProgress(parse, i + 1, steps.Count, partial => Markdown(sofar, commandLine, run.Threads, clock.Elapsed.TotalMinutes, png, partial, parse.GetValue(timeLimit), parse.GetValue(maxLp)));
            }
            StudyReport report = InformedRepairStudy.Summarise(cases, analyses, 0.10);
            return arguments.Finish(run, parse, Markdown(report, commandLine, run.Threads, clock.Elapsed.TotalMinutes, png, null, parse.GetValue(timeLimit), parse.GetValue(maxLp)), report);
        });
        return command;
    }

    private static IEnumerable<Step> Plan(bool quick)
    {
        string[] all = ["provable", "ft", "edit"];
        if (quick)
        {
            yield return new Step("mlp:100x3", null, 10, "fog:3", [10, 25], all);
            yield return new Step("mlp:100x3", "badnets:0.1:0", 10, "trojan", [10], all);
            yield break;
        }
        int[] sizes = [10, 25, 50, 100];
        foreach (string arch in (string[])["mlp:100x3", "mlp:200x9"])
        {
            yield return new Step(arch, null, 10, "fog:3", sizes, all);
            yield return new Step(arch, "badnets:0.1:0", 10, "trojan", sizes, all);
        }
        yield return new Step("mlp:100x3", null, 10, "rotations:-10:10:3", sizes, all);
        yield return new Step("lstm:64", null, 2, "fog:3", sizes, all, "demo");
        yield return new Step("lstm:64", "badnets:0.1:0", 2, "trojan", sizes, all);
        yield return new Step("vit", null, 3, "fog:3", sizes, all);
        yield return new Step("vit", "badnets:0.1:0", 3, "trojan", sizes, all);
        // The CNN's LPs (millions of nonzeros at every convolution and at fc1) run far beyond any time limit here.
        yield return new Step("cnn", null, 10, "fog:3", sizes, ["ft", "edit"]);
        yield return new Step("cnn", "badnets:0.1:0", 4, "trojan", sizes, ["ft", "edit"]);
    }

    private static string Markdown(StudyReport report, string command, int threads, double minutes, string? png, string? partial, double timeLimit, long maxLp)
    {
        StringBuilder text = ExperimentArguments.Heading("Informed repair: which layer to repair (heuristics against brute force)", command, threads, minutes, partial);
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"LP repairs: HiGHS with a {timeLimit} s time limit; layers whose predicted LP exceeds {maxLp:N0} nonzeros are not attempted (status `skipped_lp_too_large`, counted as failed).");
        text.AppendLine();
        text.AppendLine("Every case is a (model, repair set of one size, method): the method repairs at every candidate layer (brute force), and each heuristic's pick is judged against the best of those runs (highest efficacy, then lowest drawdown). \"Within 10 %\": the pick repaired as much as the best and its drawdown is at most max(1.1 × best, best + 0.1 point). Cost: the heuristic's scoring plus the one repair at its pick, over the time of all brute-force repairs.");
        if (png is not null) text.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"![share of cases within 10 % per heuristic and method]({Path.GetFileName(png)})");
        text.AppendLine();
        text.AppendLine("## Summary");
        text.AppendLine();
        text.Append(InformedRepairStudy.ToMarkdown(report));
        text.AppendLine();
        text.AppendLine("## Repair-set analysis (before any repair)");
        foreach (RepairSetProfile profile in report.Analyses) text.AppendLine().Append(profile.ToMarkdown());
        return text.ToString();
    }
}
