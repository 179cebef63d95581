using System.CommandLine;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Io;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment rectification [--quick] [--resume]</c>: the benchmarks of Yang et al. (CVPR'26) on Fashion-MNIST
/// (<see cref="RectificationExperimentPlan"/>). Writes the JSON and the Markdown after every run so an interruption loses
/// one run at most; <c>--resume</c> keeps the finished runs of the JSON at <c>--json</c>.
/// </summary>
internal static class RectificationExperiment
{
    public static Command Create(CliContext cli)
    {
        var arguments = new ExperimentArguments("A small version (cnn, BadNets, one pair, two draws, short training): minutes", "docs/results/rectification.md");
        var resume = new Option<bool>("--resume") { Description = "Keep the finished runs of an interrupted run of the same command from the --json file and run the rest" };
        var command = new Command("rectification", "Rectification benchmarks on Fashion-MNIST: Trojans (5 pair draws), spurious artifact, block leakage; Reparo's defaults vs the paper's static and dynamic modes vs fine-tuning and ClArC") { resume };
        arguments.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = arguments.Start(cli, parse);
            bool small = parse.GetValue(arguments.Quick);
            RectificationExperimentReport? earlier = parse.GetValue(resume) ? ExperimentArguments.ReadEarlierRun<RectificationExperimentReport>(run.JsonPath, "a rectification experiment") : null;
            DataSplits clean = arguments.LoadFashionMnist(parse);
            string commandLine = "./reparo experiment rectification" + (small ? " --quick" : "") + (run.Seed != 0 ? $" --seed {run.Seed}" : "") + $" --threads {run.Threads}";
            string json = Path.GetFileName(run.JsonPath ?? "rectification.json");
            string? markdown = parse.GetValue(arguments.Markdown);
            void Partial(RectificationExperimentReport sofar)
            {
                if (markdown is not null) AtomicFile.WriteAllText(markdown, RectificationExperimentPlan.ToMarkdown(sofar, json, $"{sofar.Rows.Count} runs"));
                run.WriteJson(sofar);
            }
            RectificationExperimentReport report = RectificationExperimentPlan.Run(clean, arguments.Models(run, parse), small, run.Seed, commandLine, run.Threads,
                new Progress<string>(run.Note), Partial, earlier);
            return arguments.Finish(run, parse, RectificationExperimentPlan.ToMarkdown(report, json), report);
        });
        return command;
    }
}
