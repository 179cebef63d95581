using System.CommandLine;
using System.Diagnostics;
using Reparo.Data;
using Reparo.Experiments;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment rnnrepair [--quick]</c>: the evaluation of RNNRepair (Xie et al., ICML'21) — influence-model build
/// time and query latency on Fashion-MNIST (Sec. 4.1) with Reparo's EM beside scikit-learn's, the fidelity of the abstract
/// model's features (Table 1), mislabel finding against Koh &amp; Liang, TracIn, representer points and random (Sec. 4.2), and
/// sample- and segment-level remediation (Tables 3 and 4).
/// </summary>
internal static class RnnRepairExperiment
{
    public static Command Create(CliContext cli)
    {
        var arguments = new ExperimentArguments("A small version (subsets, one pair, few seeds): minutes", "docs/results/rnnrepair.md");
        var command = new Command("rnnrepair", "RNNRepair on Fashion-MNIST and WordNet: influence-model speed, fidelity, mislabel finding, sample- and segment-level remediation");
        arguments.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = arguments.Start(cli, parse);
            bool quick = parse.GetValue(arguments.Quick);
            ModelCache models = arguments.Models(run, parse);
            string commandLine = "./reparo experiment rnnrepair" + (quick ? " --quick" : "") + $" --threads {run.Threads}";
            var clock = Stopwatch.StartNew();
            DataSplits fashion = arguments.LoadFashionMnist(parse);
            RnnRepairResults results = RnnRepairExperimentPlan.Run(fashion, parse.GetValue(arguments.DataDir), models, quick, run.Seed, run.Notes);
            return arguments.Finish(run, parse, RnnRepairExperimentPlan.ToMarkdown(results, commandLine, run.Threads, clock.Elapsed.TotalMinutes), results);
        });
        return command;
    }
}
