using System.CommandLine;
using System.Text.Json;
using Reparo.Cli.Cluster;
using Reparo.Data;
using Reparo.Experiments;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment rectification [--quick] [--models ARCH@EPOCHS,…] [--methods M,…] [--resume] [--cluster redis://HOST:PORT]</c>:
/// the benchmarks of Yang et al. (CVPR'26) on Fashion-MNIST (<see cref="RectificationExperimentPlan"/>). Writes the JSON
/// and the Markdown after every run so an interruption loses one run at most; <c>--resume</c> keeps the finished runs of
/// the JSON at <c>--json</c> (and, with <c>--cluster</c>, every run the cluster recorded).
/// </summary>
internal sealed class RectificationExperiment : IClusterExperiment
{
    private readonly ExperimentArguments arguments = new("A small version (BadNets, one pair, two draws, cnn trained 2 epochs): minutes", "docs/results/rectification.md");
    private readonly Option<bool> resume = new("--resume") { Description = "Keep the finished runs of an interrupted run of the same command from the --json file (with --cluster: also those recorded in Redis) and run the rest" };
    private readonly Option<string?> models = new("--models") { Description = "The poisoned models, zoo architecture and training epochs (default cnn@4,resnet@3; quick: cnn@2)", HelpName = "ARCH@EPOCHS,…" };
    private readonly Option<string?> methods = new("--methods") { Description = $"The methods compared (default: all of {string.Join(",", RectificationExperimentPlan.Methods)})", HelpName = "M,…" };

    public string Name => RectificationExperimentPlan.Name;

    public Command Create(CliContext cli)
    {
        var command = new Command(Name, "Rectification benchmarks on Fashion-MNIST: Trojans (5 pair draws), spurious artifact, block leakage; Reparo's defaults vs the paper's static and dynamic modes vs fine-tuning and ClArC") { resume, models, methods, arguments.Cluster };
        arguments.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = arguments.Start(cli, parse);
            RectificationPlanOptions plan = Plan(parse);
            RectificationExperimentPlan.Steps(plan);
            RectificationExperimentReport? earlier = parse.GetValue(resume) ? ExperimentArguments.ReadEarlierRun<RectificationExperimentReport>(run.JsonPath, "a rectification experiment") : null;
            DataSplits clean = arguments.LoadFashionMnist(parse);
            string commandLine = "./reparo experiment rectification" + (plan.Quick ? " --quick" : "") + (parse.GetValue(models) is string m ? $" --models {m}" : "")
                + (parse.GetValue(methods) is string ms ? $" --methods {ms}" : "") + (run.Seed != 0 ? $" --seed {run.Seed}" : "") + $" --threads {run.Threads}";
            string json = Path.GetFileName(run.JsonPath ?? "rectification.json");
            Action<RectificationExperimentReport> partial = arguments.SoFarWriter<RectificationExperimentReport>(run, parse, sofar => RectificationExperimentPlan.ToMarkdown(sofar, json, $"{sofar.Rows.Count} runs"));
            RectificationExperimentReport report = ClusterExperimentSteps.Use(parse.GetValue(arguments.Cluster), cli.Arguments, parse.GetValue(resume), run.Notes,
                runner => RectificationExperimentPlan.Run(clean, arguments.Models(run, parse), plan, run.Seed, commandLine, run.Threads, runner, run.Notes, partial, earlier));
            return arguments.Finish(run, parse, RectificationExperimentPlan.ToMarkdown(report, json), report);
        });
        return command;
    }

    public Func<string, string?, string> StepFunction(ParseResult parse)
    {
        var session = new RectificationExperimentSession(arguments.LoadFashionMnist(parse));
        return (step, model) => JsonSerializer.Serialize(session.Run(JsonSerializer.Deserialize<RectificationStep>(step, ClusterExperimentSteps.Transport)
            ?? throw new ReparoInputException("an empty rectification step"), model!), ClusterExperimentSteps.Transport);
    }

    private RectificationPlanOptions Plan(ParseResult parse) => new(
        parse.GetValue(arguments.Quick),
        parse.GetValue(models) is string m ? [.. m.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(RectificationModel.Parse)] : null,
        parse.GetValue(methods) is string ms ? ms.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : null);
}
