using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Reparo.Cli.Cluster;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Repair;
using Reparo.Repair.Provable;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment informed [--quick] [--cluster redis://HOST:PORT [--resume]]</c>: the informed-repair study over
/// several models and repair sets (fog, rotation and Trojan failures on Fashion-MNIST), written to
/// docs/results/informed-repair.md with its figure.
/// </summary>
internal sealed class InformedRepairExperiment : IClusterExperiment
{
    private readonly ExperimentArguments arguments = new("A small version (mlp:100x3 only, sizes 10 and 25): minutes", "docs/results/informed-repair.md");
    private readonly Option<double> timeLimit = new("--time-limit") { Description = "LP solver time limit per repair, seconds", DefaultValueFactory = _ => 120 };
    private readonly Option<long> maxLp = new("--max-lp-nonzeros") { Description = "Skip provable repairs whose predicted LP has more nonzeros than this", DefaultValueFactory = _ => 3_000_000, HelpName = "N" };
    private readonly Option<bool> resume = new("--resume") { Description = "With --cluster: continue the last run of this experiment from the steps recorded in Redis" };

    public string Name => InformedRepairExperimentPlan.Name;

    public Command Create(CliContext cli)
    {
        var command = new Command(Name, "Informed repair: layer heuristics against brute force on MLPs, a CNN, a ViT and an LSTM head; fog, rotation and Trojan repair sets") { timeLimit, maxLp, arguments.Cluster, resume };
        arguments.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = arguments.Start(cli, parse);
            if (parse.GetValue(resume) && parse.GetValue(arguments.Cluster) is null) throw new ReparoInputException("--resume continues a cluster run: give --cluster too");
            bool quick = parse.GetValue(arguments.Quick);
            string commandLine = "./reparo experiment informed" + (quick ? " --quick" : "") + $" --threads {run.Threads} --time-limit {parse.GetValue(timeLimit).ToString(CultureInfo.InvariantCulture)} --max-lp-nonzeros {parse.GetValue(maxLp).ToString(CultureInfo.InvariantCulture)}";
            DataSplits clean = arguments.LoadFashionMnist(parse);
            var clock = Stopwatch.StartNew();
            string? png = parse.GetValue(arguments.Markdown) is string md ? Path.ChangeExtension(md, ".png") : null;
            StudyReport report = ClusterExperimentSteps.Use(parse.GetValue(arguments.Cluster), cli.Arguments, parse.GetValue(resume), run.Notes,
                runner => InformedRepairExperimentPlan.Run(clean, arguments.Models(run, parse), quick, Settings(parse, run.Seed), parse.GetValue(maxLp), runner, run.Notes, (sofar, done, total) =>
                {
                    if (png is not null) StudyPlot.Write(png, sofar);
                    arguments.WriteProgress(parse, done, total, partial => InformedRepairExperimentPlan.ToMarkdown(sofar, commandLine, run.Threads, clock.Elapsed.TotalMinutes, png, partial, parse.GetValue(timeLimit), parse.GetValue(maxLp)));
                }));
            return arguments.Finish(run, parse, InformedRepairExperimentPlan.ToMarkdown(report, commandLine, run.Threads, clock.Elapsed.TotalMinutes, png, null, parse.GetValue(timeLimit), parse.GetValue(maxLp)), report);
        });
        return command;
    }

    public Func<string, string?, string> StepFunction(ParseResult parse)
    {
        var session = new InformedRepairExperimentSession(arguments.LoadFashionMnist(parse), Settings(parse, parse.GetValue<int>("--seed")), parse.GetValue(maxLp));
        return (step, model) => JsonSerializer.Serialize(session.Run(JsonSerializer.Deserialize<InformedRepairStep>(step, ClusterExperimentSteps.Transport)
            ?? throw new ReparoInputException("an empty informed-repair step"), model!), ClusterExperimentSteps.Transport);
    }

    private RepairSettings Settings(ParseResult parse, int seed) => new() { Solver = new LpSolverOptions { TimeLimitSeconds = parse.GetValue(timeLimit) }, Seed = seed };
}
