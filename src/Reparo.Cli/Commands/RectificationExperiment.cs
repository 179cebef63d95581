using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Reporting;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment rectification [--quick]</c>: the benchmarks of Yang et al. (CVPR'26) on Fashion-MNIST — BadNets
/// and blended Trojans (with trigger-location generalisation), a spurious artifact and BlockFashionMNIST feature leakage —
/// on <c>cnn</c> and <c>resnet</c>, each rectified from n = 1 and n = 20 cleansed pairs (static and dynamic) beside
/// fine-tuning and the ClArC baselines (P-ClArC, A-ClArC) with the same pairs.
/// </summary>
internal static class RectificationExperiment
{
    public static Command Create(CliContext cli)
    {
        var arguments = new ExperimentArguments("A small version (cnn, BadNets, one pair, short training): minutes", "docs/results/rectification.md");
        var command = new Command("rectification", "Rectification benchmarks on Fashion-MNIST: Trojans, spurious artifact, block leakage; static vs dynamic vs fine-tuning and ClArC");
        arguments.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = arguments.Start(cli, parse);
            bool small = parse.GetValue(arguments.Quick);
            DataSplits clean = arguments.LoadFashionMnist(parse);
            string command = "./reparo experiment rectification" + (small ? " --quick" : "") + $" --threads {run.Threads}";
            var clock = Stopwatch.StartNew();
            IReadOnlyList<RectificationExperimentRow> rows = RectificationExperimentPlan.Run(clean, arguments.Models(run, parse), small, run.Seed, run.Notes, (sofar, total) =>
            {
                RectificationReport report = sofar[^1].Report;
                run.Note($"    {Summary(report)}; layers {string.Join(", ", report.Layers)}; localise+edit {report.Time.LocaliseAndEdit:F2} s");
                arguments.WriteProgress(parse, sofar.Count, total, partial => RectificationExperimentPlan.ToMarkdown(sofar, command, run.Threads, clock.Elapsed.TotalMinutes, partial));
            });
            return arguments.Finish(run, parse, RectificationExperimentPlan.ToMarkdown(rows, command, run.Threads, clock.Elapsed.TotalMinutes), rows);
        });
        return command;
    }

    private static string Summary(RectificationReport r)
    {
        string P(double? v) => v is double x && double.IsFinite(x) ? x.ToString("0.00%", CultureInfo.InvariantCulture) : "–";
        string metric = r.Before.Asr is not null ? $"ASR {P(r.AsrBefore)} → {P(r.AsrAfter)}"
            : r.Before.SpuriousDeviation is not null ? $"spurious deviation {P(r.Before.SpuriousDeviation)} → {P(r.After.SpuriousDeviation)}"
            : $"leakage {P(r.Before.Leakage)} → {P(r.After.Leakage)}";
        return $"OA {P(r.AccuracyBefore)} → {P(r.AccuracyAfter)}, {metric}";
    }
}
