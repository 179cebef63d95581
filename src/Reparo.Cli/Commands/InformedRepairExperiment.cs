using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Repair;
using Reparo.Repair.Provable;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment informed [--quick]</c>: the informed-repair study over several models and repair sets
/// (fog, rotation and Trojan failures on Fashion-MNIST), written to docs/results/informed-repair.md with its figure.
/// </summary>
internal static class InformedRepairExperiment
{
    public static Command Create(CliContext cli)
    {
        var arguments = new ExperimentArguments("A small version (mlp:100x3 only, sizes 10 and 25): minutes", "docs/results/informed-repair.md");
        var timeLimit = new Option<double>("--time-limit") { Description = "LP solver time limit per repair, seconds", DefaultValueFactory = _ => 120 };
        var maxLp = new Option<long>("--max-lp-nonzeros") { Description = "Skip provable repairs whose predicted LP has more nonzeros than this", DefaultValueFactory = _ => 3_000_000, HelpName = "N" };
        var command = new Command("informed", "Informed repair: layer heuristics against brute force on MLPs, a CNN, a ViT and an LSTM head; fog, rotation and Trojan repair sets") { timeLimit, maxLp };
        arguments.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = arguments.Start(cli, parse);
            bool quick = parse.GetValue(arguments.Quick);
            string commandLine = "./reparo experiment informed" + (quick ? " --quick" : "") + $" --threads {run.Threads} --time-limit {parse.GetValue(timeLimit).ToString(CultureInfo.InvariantCulture)} --max-lp-nonzeros {parse.GetValue(maxLp).ToString(CultureInfo.InvariantCulture)}";
            DataSplits clean = arguments.LoadFashionMnist(parse);
            var clock = Stopwatch.StartNew();
            var settings = new RepairSettings { Solver = new LpSolverOptions { TimeLimitSeconds = parse.GetValue(timeLimit) }, Seed = run.Seed };
            string? png = parse.GetValue(arguments.Markdown) is string md ? Path.ChangeExtension(md, ".png") : null;
            StudyReport report = InformedRepairExperimentPlan.Run(clean, arguments.Models(run, parse), quick, settings, parse.GetValue(maxLp), run.Notes, (sofar, done, total) =>
            {
                if (png is not null) StudyPlot.Write(png, sofar);
                arguments.WriteProgress(parse, done, total, partial => InformedRepairExperimentPlan.ToMarkdown(sofar, commandLine, run.Threads, clock.Elapsed.TotalMinutes, png, partial, parse.GetValue(timeLimit), parse.GetValue(maxLp)));
            });
            return arguments.Finish(run, parse, InformedRepairExperimentPlan.ToMarkdown(report, commandLine, run.Threads, clock.Elapsed.TotalMinutes, png, null, parse.GetValue(timeLimit), parse.GetValue(maxLp)), report);
        });
        return command;
    }
}
