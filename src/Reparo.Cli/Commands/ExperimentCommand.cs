using System.CommandLine;

namespace Reparo.Cli.Commands;

/// <summary><c>reparo experiment …</c>: re-runs of the papers' experiments and Reparo's own.</summary>
internal static class ExperimentCommand
{
    public static Command Create(CliContext cli) =>
        new("experiment", "Re-run a paper's experiments (with --quick for a small version)")
        {
            new ProvableExperiment().Create(cli), new RectificationExperiment().Create(cli), new RnnRepairExperiment().Create(cli), new InformedRepairExperiment().Create(cli),
            OnnxConformanceExperiment.Create(cli), OnnxFixturesExperiment.Create(cli), StaticEditExperiment.Create(cli),
        };
}
