using Reparo.Cli.Cluster;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Io;
using Reparo.Localisation;
using Reparo.Models;
using Reparo.Repair;

namespace Reparo.Tests.Experiments;

/// <summary>The informed-repair experiment's steps (one size each, the unit a worker runs) against one study over every size.</summary>
public sealed class InformedRepairExperimentTests
{
    [Fact]
    public void StepsSizeBySizeGiveTheStudyOverAllSizes()
    {
        TestSupport.Init();
        using var dir = TestSupport.TempFolder();
        DataSplits digits = DataCatalog.Load("digits");
        Network network = ModelZoo.Create("mlp:16x3", digits.Train, seed: 5);
        string path = dir.File("digits.reparo");
        ModelFile.Save(network, path);
        var settings = new RepairSettings { Seed = 3 };
        string[] methods = ["ft", "edit"];
        StudyReport whole = InformedRepairStudy.Run(ModelFile.Load(path), ModelInputs.PrepareSplits(digits, network), new InformedRepairOptions
        {
            RepairSets = ["gaussian-noise:3"],
            Sizes = [4, 8],
            Methods = methods,
            Heuristics = LayerHeuristics.All,
            Settings = settings,
            Seed = settings.Seed,
            MaxLpNonzeros = 1_000_000,
        });
        var session = new InformedRepairExperimentSession(digits, settings, 1_000_000);
        StudyCaseResult[] steps = [.. new[] { 4, 8 }.SelectMany(size => session.Run(new InformedRepairStep("mlp:16x3", null, 1, "gaussian-noise:3", size, methods), path))];
        Assert.Equal(4, steps.Length);
        Assert.Equal(ResultJson.WithoutTimings(ReparoJson.Serialize(whole.Cases)), ResultJson.WithoutTimings(ReparoJson.Serialize(steps.Select(s => s.Case))));
        Assert.Equal(ResultJson.WithoutTimings(ReparoJson.Serialize(whole)), ResultJson.WithoutTimings(ReparoJson.Serialize(InformedRepairStudy.Combine(steps, whole.Tolerance))));
    }
}
