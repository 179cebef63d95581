using System.Security.Cryptography;
using System.Text.Json;
using Reparo.Cli.Cluster;
using Reparo.Cluster;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Io;
using Reparo.Repair.Provable;

namespace Reparo.Tests.Cluster;

/// <summary>
/// Each experiment's step as a worker runs it (the experiment's command line read with its own command, the step and the
/// result sent as JSON) against the experiment's step function called here.
/// </summary>
public sealed class ClusterExperimentStepsTests
{
    private static string OnAWorker(string experiment, string[] args, string step, string model)
    {
        string sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(model)));
        WorkItem item = ClusterExperimentSteps.Item(experiment, args, step, sha);
        return ResultJson.WithoutTimings(ClusterExperimentSteps.OpenSession(item).Run(item, new Dictionary<string, string> { [sha] = model }));
    }

    private static string Here<T>(T result) => ResultJson.WithoutTimings(JsonSerializer.Serialize(result, ClusterExperimentSteps.Transport));

    [Fact]
    public void AWorkerRunsEachExperimentsStepAsTheExperimentDoes()
    {
        TestSupport.Init();
        using var dir = TestSupport.TempFolder();
        DataSplits fashion = DataCatalog.Load("fashion-mnist");
        string model = new ModelCache(dir.Path, 2).LoadOrTrain("m.reparo", "mlp:16x3", 1, DataCatalog.Load("fashion-mnist", new DataOptions { TrainLimit = 3000 }), "fashion-mnist", 0).Path;

        // Provable: a row range (a tuple) and a solver budget of the step's own travel with it.
        var provable = new ProvableStep("Exp. 1 (fog point repair), side by side", "mlp:16x3", 1, 0, "fc2", "gaussian-noise:3:5", new ProvableVariant("provable (default)", "provable", Preserve: 20), (0, 8), 60);
        Assert.Equal(provable, JsonSerializer.Deserialize<ProvableStep>(JsonSerializer.Serialize(provable, ClusterExperimentSteps.Transport), ClusterExperimentSteps.Transport));
        string[] provableArgs = ["experiment", "provable", "--quick", "--solver", "highs", "--threads", "2", "--json", "ignored.json"];
        Assert.Equal(Here(new ProvableExperimentSession(fashion, new LpSolverOptions { Solver = LpSolverKind.Highs, TimeLimitSeconds = 1800 }).Run(provable, model)),
            OnAWorker(ProvableStudy.Name, provableArgs, JsonSerializer.Serialize(provable, ClusterExperimentSteps.Transport), model));

        var rectification = new RectificationStep("mlp:16x3", "badnets:0.1:0", 1, 1, "static", 0);
        Assert.Equal(Here(new RectificationExperimentSession(fashion).Run(rectification, model)),
            OnAWorker(RectificationExperimentPlan.Name, ["experiment", "rectification", "--threads", "2"], JsonSerializer.Serialize(rectification, ClusterExperimentSteps.Transport), model));

        var informed = new InformedRepairStep("mlp:16x3", null, 1, "gaussian-noise:3", 4, ["ft"]);
        Assert.Equal(Here(new InformedRepairExperimentSession(fashion, new global::Reparo.Repair.RepairSettings { Solver = new LpSolverOptions { TimeLimitSeconds = 120 } }, 3_000_000).Run(informed, model)),
            OnAWorker(InformedRepairExperimentPlan.Name, ["experiment", "informed", "--threads", "2"], JsonSerializer.Serialize(informed, ClusterExperimentSteps.Transport), model));

        // A command line that is not the named experiment's is refused in one line.
        WorkItem wrong = ClusterExperimentSteps.Item(ProvableStudy.Name, ["experiment", "rectification", "--threads", "2"], "{}", "0");
        Assert.StartsWith("not a command line of the provable experiment", Assert.Throws<ReparoInputException>(() => ClusterExperimentSteps.OpenSession(wrong)).Message);
    }

    [Fact]
    public void AnRnnRepairPartsResultTravelsWhole()
    {
        // Every kind of part result, from a quick run (Fixtures/rnnrepair-quick.json, written by `reparo experiment rnnrepair
        // --quick --threads 1 --json …`), as a worker sends it and the client reads it back.
        RnnRepairResults run = JsonSerializer.Deserialize<RnnRepairResults>(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "rnnrepair-quick.json")), ReparoJson.Options)!;
        RnnRepairPartResult[] parts =
        [
            new(Speed: run.Speed), .. run.Fidelity.Select(f => new RnnRepairPartResult(Fidelity: f)), .. run.Mislabel.Select(m => new RnnRepairPartResult(Mislabel: m)),
            new(Sample: run.Sample), new(Segment: run.Segment),
        ];
        Assert.All(parts, part => Assert.Equal(ReparoJson.Serialize(part),
            ReparoJson.Serialize(JsonSerializer.Deserialize<RnnRepairPartResult>(JsonSerializer.Serialize(part, ClusterExperimentSteps.Transport), ClusterExperimentSteps.Transport))));
        Assert.Equal(RnnRepairExperimentPlan.Parts(quick: true).Count, parts.Length);
    }
}
