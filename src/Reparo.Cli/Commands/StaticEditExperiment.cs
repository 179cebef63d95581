using System.CommandLine;
using Reparo.Data;
using Reparo.Experiments;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment static-edit [--quick]</c>: why the paper's static rank-one edit leaves part of a BadNets Trojan on
/// the rectification experiment's <c>cnn</c> (<see cref="StaticEditAblation"/>): the pair drawn, the key statistics, the
/// layer and key definition and the number of pairs varied one at a time.
/// </summary>
internal static class StaticEditExperiment
{
    public static Command Create(CliContext cli)
    {
        var arguments = new ExperimentArguments("Two pair draws, three settings, a 2-epoch model: minutes", "docs/results/rectification-static.md");
        var command = new Command("static-edit", "Why the paper's static edit leaves part of a Trojan: pair draw, key statistics, layer and key kind, number of pairs, one at a time");
        arguments.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = arguments.Start(cli, parse);
            bool quick = parse.GetValue(arguments.Quick);
            DataSplits clean = arguments.LoadFashionMnist(parse);
            string commandLine = "./reparo experiment static-edit" + (quick ? " --quick" : "") + (run.Seed != 0 ? $" --seed {run.Seed}" : "") + $" --threads {run.Threads}";
            string json = Path.GetFileName(run.JsonPath ?? "rectification-static.json");
            StaticEditAblationReport report = StaticEditAblation.Run(clean, arguments.Models(run, parse), quick, run.Seed, commandLine, run.Threads, run.Notes,
                arguments.SoFarWriter<StaticEditAblationReport>(run, parse, sofar => StaticEditAblation.ToMarkdown(sofar, json, $"{sofar.Runs.Count} runs")));
            return arguments.Finish(run, parse, StaticEditAblation.ToMarkdown(report, json), report);
        });
        return command;
    }
}
