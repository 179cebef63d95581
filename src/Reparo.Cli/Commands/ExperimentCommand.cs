using System.CommandLine;
using Reparo.Cli.Cluster;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment …</c>: re-runs of the papers' experiments and Reparo's own; the long ones
/// (<see cref="ClusterExperimentSteps.Experiments"/>) also run their steps on a cluster.
/// </summary>
internal static class ExperimentCommand
{
    public static Command Create(CliContext cli)
    {
        var command = new Command("experiment", "Re-run a paper's experiments (with --quick for a small version)");
        foreach (IClusterExperiment experiment in ClusterExperimentSteps.Experiments()) command.Subcommands.Add(experiment.Create(cli));
        foreach (Command shortOne in new[] { OnnxConformanceExperiment.Create(cli), OnnxFixturesExperiment.Create(cli), StaticEditExperiment.Create(cli), SuspectsExperiment.Create(cli) })
            command.Subcommands.Add(shortOne);
        return command;
    }
}
