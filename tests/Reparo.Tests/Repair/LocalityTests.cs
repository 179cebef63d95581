using System.Text.Json;
using Reparo.Cli;
using Reparo.Data;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Repair.Provable;
using Reparo.Reporting;
using Reparo.Tests.Cli;
using static TorchSharp.torch;

namespace Reparo.Tests.Repair;

/// <summary>The LP objectives (<c>--objective</c>) and preserved inputs (<c>--preserve</c>) of provable repair.</summary>
public class LocalityTests
{
    private static (Network Network, Dataset Data, long[] Wanted) RandomMlp()
    {
        TestSupport.Init();
        Dataset data = TestSupport.RandomImages(60, size: 8, seed: 3);
        Network network = ModelZoo.Create("mlp:16x2", data, seed: 1);
        long[] predicted = network.Predict(data.X);
        return (network, data, [.. predicted.Select(p => (p + 1) % data.ClassCount)]);
    }

    /// <summary>A repair of the first six inputs towards wrong labels, and a pool of the other inputs labelled as the model predicts them (all correctly classified).</summary>
    private static (Network Network, Dataset Pool, RepairProblem Problem) SixPointsAndAPool()
    {
        (Network network, Dataset data, long[] wanted) = RandomMlp();
        RepairSet set = RepairSet.FromPoints(data.WithLabels(tensor(wanted), "wanted"), Enumerable.Range(0, 6).ToArray(), "six");
        Dataset rest = data.Subset([.. Enumerable.Range(6, data.Count - 6)]);
        Dataset pool = rest.WithLabels(tensor(network.Predict(rest.X)), "pool");
        return (network, pool, new RepairProblem(network, set, pool, null));
    }

    private static double[] Values(Tensor t) => t.detach().to(ScalarType.Float64).contiguous().data<double>().ToArray();

    /// <summary>Encodes and solves a repair of fc1 for the first six points with the given objective; returns the LP's objective and the independently computed changes.</summary>
    private static (double LpObjective, double[] ParamChanges, double[] OutputChanges) SolveAtFc1(LpObjective objective)
    {
        (Network network, Dataset data, long[] wanted) = RandomMlp();
        RepairSet set = RepairSet.FromPoints(data.WithLabels(tensor(wanted), "wanted"), Enumerable.Range(0, 6).ToArray(), "six");
        using Network network64 = PlainRepairedModel.ToFloat64(network);
        (Tensor vertices32, int[] region, long[] labels) = set.Stacked();
        using Tensor vertices64 = vertices32.to(ScalarType.Float64);
        int k = network64.LayerIndex("fc1"), end = network64.Layers.Count;
        ActivationPatterns patterns = ActivationPatterns.Compute(network64, set, vertices64, region, k + 1, end);
        EncodedProgram encoded = SymbolicEncoder.Encode(network64, k, end, vertices64, labels, patterns, new EncodingOptions { Objective = objective, Epsilon = 1e-2 });
        LpSolution solution = LpSolver.Solve(encoded.Program, new LpSolverOptions { FeasibilityTolerance = 1e-9, OptimalityTolerance = 1e-9 });
        Assert.Equal(LpStatus.Optimal, solution.Status);
        double[] x = solution.Values!;

        // The changes, measured on the repaired network itself rather than read from the LP's norm columns.
        double[] before = Values(network64.Logits(vertices64));
        using Network repaired = TestSupport.WithChanges(network, encoded.Deltas, x);
        double[] after = Values(repaired.Logits(vertices64));
        return (encoded.Program.ObjectiveValue(x), [.. encoded.Deltas.Select(d => d.ValueIn(x))], [.. after.Select((a, i) => a - before[i])]);
    }

    [Fact]
    public void AprnnObjectiveIsOneLinfPlusNormalisedL1OverOutputAndParameterChanges()
    {
        (double lp, double[] param, double[] output) = SolveAtFc1(LpObjective.Aprnn);
        double[] joint = [.. output, .. param];
        double expected = joint.Max(Math.Abs) + joint.Sum(Math.Abs) / joint.Length;
        Assert.Equal(expected, lp, 1e-6);
        // The output changes are really in it: the parameter norms alone are smaller.
        Assert.True(param.Max(Math.Abs) + param.Sum(Math.Abs) / param.Length < expected - 1e-4);
    }

    [Fact]
    public void ParamObjectiveIsLinfPlusMeanOfTheParameterChangesAlone()
    {
        (double lp, double[] param, _) = SolveAtFc1(LpObjective.Param);
        Assert.Equal(param.Max(Math.Abs) + param.Sum(Math.Abs) / param.Length, lp, 1e-6);
    }

    /// <summary>
    /// The six points of <see cref="SixPointsAndAPool"/> followed by eight preserved inputs of the pool as LP vertices, in
    /// float64, with their labels, activation patterns from fc1 on and the class count.
    /// </summary>
    private static (Network Network, Network Network64, Tensor Vertices64, long[] Labels, ActivationPatterns Patterns, int Classes) SixAndEightPreservedAtFc1()
    {
        (Network network, Dataset pool, RepairProblem problem) = SixPointsAndAPool();
        PreservedInputs anchors = new PreserveRequest(pool, 8, Seed: 2).Select(network);
        Network network64 = PlainRepairedModel.ToFloat64(network);
        (Tensor repair32, int[] repairRegion, long[] repairLabels) = problem.RepairSet.Stacked();
        Tensor vertices64 = cat([repair32, anchors.Inputs], 0).to(ScalarType.Float64);
        var set = new RepairSet([.. problem.RepairSet.Regions, .. anchors.AsRegions()], "six and eight");
        int[] region = [.. repairRegion, .. Enumerable.Range(6, 8)];
        long[] labels = [.. repairLabels, .. anchors.Labels];
        int k = network64.LayerIndex("fc1");
        ActivationPatterns patterns = ActivationPatterns.Compute(network64, set, vertices64, region, k + 1, network64.Layers.Count);
        return (network, network64, vertices64, labels, patterns, (int)pool.ClassCount);
    }

    [Fact]
    public void APenalisedPreservedInputCountsItsOutputChangeInTheObjectiveInsteadOfKeepingAMargin()
    {
        (Network network, Network network64, Tensor vertices64, long[] labels, ActivationPatterns patterns, int classes) = SixAndEightPreservedAtFc1();
        int k = network64.LayerIndex("fc1"), end = network64.Layers.Count;
        const double weight = 1e-3;
        var options = new EncodingOptions { Epsilon = 1e-2, RepairVertices = 6 };
        EncodedProgram hard = SymbolicEncoder.Encode(network64, k, end, vertices64, labels, patterns, options);
        EncodedProgram penalised = SymbolicEncoder.Encode(network64, k, end, vertices64, labels, patterns, options with { PreservedOutputWeight = weight });
        // No margin rows for the eight (one per other class each); their output changes take 3 rows per logit (d above
        // the change, d above minus the change, the L∞ column above d).
        int logits = classes;
        Assert.Equal(hard.Program.RowCount - 8 * (logits - 1) + 8 * logits * 3, penalised.Program.RowCount);

        LpSolution solution = LpSolver.Solve(penalised.Program, new LpSolverOptions { FeasibilityTolerance = 1e-9, OptimalityTolerance = 1e-9 });
        Assert.Equal(LpStatus.Optimal, solution.Status);
        double[] x = solution.Values!;
        using Network repaired = TestSupport.WithChanges(network, penalised.Deltas, x);
        using Tensor kept64 = vertices64.narrow(0, 6, 8);
        double[] before = Values(network64.Logits(kept64)), after = Values(repaired.Logits(kept64));
        double[] outputChange = [.. after.Select((a, i) => a - before[i])];
        double[] param = [.. penalised.Deltas.Select(d => d.ValueIn(x))];
        double expected = param.Max(Math.Abs) + param.Sum(Math.Abs) / param.Length
            + weight * (outputChange.Max(Math.Abs) + outputChange.Sum(Math.Abs) / outputChange.Length);
        Assert.Equal(expected, penalised.Program.ObjectiveValue(x), 1e-6);
        Assert.True(outputChange.Max(Math.Abs) > 1e-4, $"the repair moves the preserved inputs' logits, so the penalty is not vacuous: {outputChange.Max(Math.Abs)}");
    }

    [Fact]
    public void ALayerPenalisedPreservedInputCountsTheChangeOfTheRepairedLayersOutputsInRowsInsideOneNeuron()
    {
        (Network network, Network network64, Tensor vertices64, long[] labels, ActivationPatterns patterns, _) = SixAndEightPreservedAtFc1();
        int k = network64.LayerIndex("fc1"), end = network64.Layers.Count;
        const double weight = 0.05;
        var options = new EncodingOptions { Epsilon = 1e-2, RepairVertices = 6 };
        using Tensor repairOnly = vertices64.narrow(0, 0, 6);
        EncodedProgram alone = SymbolicEncoder.Encode(network64, k, end, repairOnly, labels[..6], patterns, options);
        EncodedProgram penalised = SymbolicEncoder.Encode(network64, k, end, vertices64, labels, patterns, options with { PreservedLayerWeight = weight });
        int outputs = (int)network64.LayerInput(vertices64.narrow(0, 0, 1), k + 1).numel();

        // Nothing after fc1 is walked for the eight: the repair points' program plus one row per (input, fc1 output).
        Assert.Equal(alone.Program.RowCount + 8 * outputs, penalised.Program.RowCount);
        Assert.Empty(penalised.Held);
        // Each of those rows meets the weight and bias columns of one fc1 neuron only, and two columns of its own that
        // cost weight / (8 · outputs) each.
        var neuronOf = new Dictionary<int, long>();
        int inputs = (int)(network64.Layers[k].Module.parameters().First().shape[1]);
        foreach (ParameterDelta d in penalised.Deltas.Where(d => d.Site == "fc1"))
            neuronOf[d.Plus] = neuronOf[d.Plus + 1] = d.IsBias ? d.Index : d.Index / inputs;
        double cost = weight / (8.0 * outputs);
        int changeRows = 0;
        for (int row = 0; row < penalised.Program.RowCount; row++)
        {
            (int Col, double Value)[] entries = [.. penalised.Program.Row(row)];
            (int Col, double Value)[] own = [.. entries.Where(e => !neuronOf.ContainsKey(e.Col))];
            if (own.Length != 2 || !own.All(e => Math.Abs(penalised.Program.Cost(e.Col) - cost) < 1e-15)) continue;
            changeRows++;
            Assert.Single(entries.Where(e => neuronOf.ContainsKey(e.Col)).Select(e => neuronOf[e.Col]).Distinct());
        }
        Assert.Equal(8 * outputs, changeRows);

        // The objective is the parameter norms plus weight · mean |change of fc1's outputs| on the eight, measured on the
        // repaired network.
        LpSolution solution = LpSolver.Solve(penalised.Program, new LpSolverOptions { FeasibilityTolerance = 1e-9, OptimalityTolerance = 1e-9 });
        Assert.Equal(LpStatus.Optimal, solution.Status);
        double[] x = solution.Values!;
        using Network repaired = TestSupport.WithChanges(network, penalised.Deltas, x);
        using Tensor kept64 = vertices64.narrow(0, 6, 8);
        double[] before = Values(network64.LayerInput(kept64, k + 1)), after = Values(repaired.LayerInput(kept64, k + 1));
        double[] layerChange = [.. after.Select((a, i) => a - before[i])];
        double[] param = [.. penalised.Deltas.Select(d => d.ValueIn(x))];
        double expected = param.Max(Math.Abs) + param.Sum(Math.Abs) / param.Length + weight * layerChange.Sum(Math.Abs) / layerChange.Length;
        Assert.Equal(expected, penalised.Program.ObjectiveValue(x), 1e-6);
        Assert.True(layerChange.Max(Math.Abs) > 1e-4, $"the repair moves the preserved inputs' fc1 outputs, so the penalty is not vacuous: {layerChange.Max(Math.Abs)}");
    }

    [Fact]
    public void LayerPenalisedPreservedInputsAreReportedWithTheirWeightAndWhereTheChangeWasMeasured()
    {
        (Network network, Dataset pool, RepairProblem problem) = SixPointsAndAPool();
        var request = new PreserveRequest(pool, 30, Seed: 4, Penalty: 0.5, PenaltyOn: PreservedChange.LayerOutput);
        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = "fc1", Preserve = request }).Repair(problem);
        Assert.True(result.Verified, result.Message);
        int kept = request.Select(network).Kept(result.Model!);
        Assert.Equal(new PreservedOutcome(30, kept, Penalty: 0.5, PenaltyOn: PreservedChange.LayerOutput), result.Preserved);
        Assert.Contains(result.Notes, n => n.StartsWith($"preserved inputs: {kept} of 30", StringComparison.Ordinal) && n.EndsWith("a penalised change of the repaired layer's outputs, weight 0.5)", StringComparison.Ordinal));
    }

    [Fact]
    public void PenalisedPreservedInputsAreReportedWithTheirWeight()
    {
        (Network network, Dataset pool, RepairProblem problem) = SixPointsAndAPool();
        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = "fc1", Preserve = new PreserveRequest(pool, 30, Seed: 4, Penalty: 2) }).Repair(problem);
        Assert.True(result.Verified, result.Message);
        int kept = new PreserveRequest(pool, 30, 4).Select(network).Kept(result.Model!);
        Assert.Equal(new PreservedOutcome(30, kept, Penalty: 2, PenaltyOn: PreservedChange.Logits), result.Preserved);
        Assert.Contains(result.Notes, n => n.StartsWith($"preserved inputs: {kept} of 30", StringComparison.Ordinal) && n.EndsWith("a penalised output change, weight 2)", StringComparison.Ordinal));
    }

    [Fact]
    public void PreservedInputsAreHeldInTheLpAndKept()
    {
        (Network network, Dataset pool, RepairProblem problem) = SixPointsAndAPool();

        RepairResult plain = new ProvableRepair(new ProvableRepairOptions { Layer = "fc1" }).Repair(problem);
        RepairResult kept = new ProvableRepair(new ProvableRepairOptions { Layer = "fc1", Preserve = new PreserveRequest(pool, 30, Seed: 4) }).Repair(problem);

        Assert.True(plain.Verified, plain.Message);
        Assert.True(kept.Verified, kept.Message);
        Assert.Null(plain.Preserved);
        Assert.Equal(new PreservedOutcome(30, 30), kept.Preserved);
        Assert.True(kept.LpSize!.Rows > plain.LpSize!.Rows, $"{kept.LpSize.Rows} rows with preserved inputs, {plain.LpSize.Rows} without");
        Assert.Contains(kept.Notes, n => n.StartsWith("preserved inputs: 30 of 30", StringComparison.Ordinal));
        PreservedInputs anchors = new PreserveRequest(pool, 30, 4).Select(network);
        Assert.Equal(30, anchors.Kept(kept.Model!));
    }

    /// <summary>
    /// The repair of <see cref="SixPointsAndAPool"/>, with a pool of every input labelled as the model predicts it, the
    /// six repair inputs moved by 1E-6 in their first pixel: a preserved input that is one of those near copies
    /// contradicts the repair (no change within the bound moves the logits 2ε over a step of 1E-6), so the LP is
    /// infeasible exactly when one is among the preserved inputs. Returns the pool, the near copies and the problem.
    /// </summary>
    private static (Network Network, Dataset Pool, Tensor NearCopies, RepairProblem Problem) PoolThatContradictsTheRepair()
    {
        (Network network, Dataset data, long[] wanted) = RandomMlp();
        RepairSet set = RepairSet.FromPoints(data.WithLabels(tensor(wanted), "wanted"), Enumerable.Range(0, 6).ToArray(), "six");
        Tensor x = data.X.clone();
        using (no_grad()) x.view(data.Count, -1)[TensorIndex.Slice(0, 6), 0] += 1e-6f;
        var pool = new Dataset("pool", x, tensor(network.Predict(x)), data.ClassNames, data.Kind);
        return (network, pool, x.narrow(0, 0, 6), new RepairProblem(network, set, pool, null));
    }

    /// <summary>Whether any of the first <paramref name="count"/> preserved inputs is one of <paramref name="nearCopies"/>.</summary>
    private static bool Contradicts(Network network, Dataset pool, Tensor nearCopies, int count, int seed)
    {
        Tensor chosen = PreservedInputs.Select(network, pool, count, seed).Inputs;
        return Enumerable.Range(0, count).Any(i => Enumerable.Range(0, 6).Any(r => chosen[i].equal(nearCopies[r]).all().item<bool>()));
    }

    [Fact]
    public void PreservedInputsAreNeverRepairInputs()
    {
        (Network network, Dataset data, long[] wanted) = RandomMlp();
        RepairSet set = RepairSet.FromPoints(data.WithLabels(tensor(wanted), "wanted"), Enumerable.Range(0, 6).ToArray(), "six");
        // Every input, the six repair inputs among them, labelled as the model predicts: all 60 are correctly classified.
        Dataset pool = data.WithLabels(tensor(network.Predict(data.X)), "pool");
        var problem = new RepairProblem(network, set, pool, null);

        PreservedInputs all = PreservedInputs.Select(network, pool, 54, seed: 4, repairInputs: data.X.narrow(0, 0, 6));
        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = "fc1", Preserve = new PreserveRequest(pool, 30, 4) }).Repair(problem);

        Assert.Equal(54, all.Count);
        for (int r = 0; r < 6; r++)
            Assert.DoesNotContain(Enumerable.Range(0, 54), i => all.Inputs[i].equal(data.X[r]).all().item<bool>());
        // Without the repair inputs left out, the first 30 would hold one, asking the LP for its old class and its new one at once.
        Tensor unfiltered = PreservedInputs.Select(network, pool, 30, seed: 4).Inputs;
        Assert.Contains(Enumerable.Range(0, 30), i => Enumerable.Range(0, 6).Any(r => unfiltered[i].equal(data.X[r]).all().item<bool>()));
        Assert.True(result.Verified, result.Message);
        Assert.Equal(new PreservedOutcome(30, 30), result.Preserved);
        var error = Assert.Throws<ReparoInputException>(() => PreservedInputs.Select(network, pool, 55, seed: 4, repairInputs: data.X.narrow(0, 0, 6)));
        Assert.Equal("only 54 of pool's 60 inputs are classified correctly and not in the repair set; ask to preserve at most that many", error.Message);
    }

    [Fact]
    public void TheDefaultHoldsFewerPreservedInputsWhenAllOfThemMakeTheLpInfeasible()
    {
        (Network network, Dataset pool, Tensor nearCopies, RepairProblem problem) = PoolThatContradictsTheRepair();
        const int asked = 30, seed = 4;
        // The halving the repair does: the first count of 30, 15, 7, 3, 1 without a contradicting input.
        int expected = asked / 2;
        while (expected > 0 && Contradicts(network, pool, nearCopies, expected, seed)) expected /= 2;
        Assert.True(Contradicts(network, pool, nearCopies, asked, seed) && expected is > 0 and < asked, $"the seed must put a contradicting input among the 30 and leave some count free of them ({expected})");

        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = "fc1", Preserve = new PreserveRequest(pool, asked, seed, AtMost: true) }).Repair(problem);

        Assert.True(result.Verified, result.Message);
        Assert.Equal(new PreservedOutcome(expected, expected, asked), result.Preserved);
        Assert.Equal($"the LP is infeasible with the {asked} preserved inputs held, but not without them: held the first {expected} of them instead (halving until feasible)", result.Notes[0]);
        RepairReport report = RepairReport.Create(problem, result);
        Assert.Equal(asked, report.PreservedRequested);
        Assert.Equal(expected, report.Preserved);
    }

    [Fact]
    public void AnAskedForNumberOfPreservedInputsIsNotDroppedButNamedAsTheCause()
    {
        (Network network, Dataset pool, Tensor nearCopies, RepairProblem problem) = PoolThatContradictsTheRepair();
        Assert.True(Contradicts(network, pool, nearCopies, 30, 4));

        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = "fc1", Preserve = new PreserveRequest(pool, 30, Seed: 4) }).Repair(problem);

        Assert.Equal(RepairStatus.Infeasible, result.Status);
        Assert.Null(result.Model);
        Assert.Equal(new PreservedOutcome(30, null), result.Preserved);
        Assert.Equal("infeasible with the 30 preserved inputs held, though the repair set alone is feasible at this layer; no model written: ask to preserve fewer (--preserve), or none (--preserve 0)", result.Message);
    }

    [Fact]
    public void ARepairSetInfeasibleOnItsOwnIsSaidToBeSoWhateverIsPreserved()
    {
        (_, Dataset pool, RepairProblem problem) = SixPointsAndAPool();

        // Parameter changes of at most 1E-9 cannot move six inputs to other classes, with or without preserved inputs.
        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = "fc1", Bound = 1e-9, Preserve = new PreserveRequest(pool, 30, 4, AtMost: true) }).Repair(problem);

        Assert.Equal(RepairStatus.Infeasible, result.Status);
        Assert.EndsWith("; without the 30 preserved inputs too, so the repair set itself cannot be met at this layer", result.Message, StringComparison.Ordinal);
        Assert.Equal(30, result.Preserved!.Count);
        Assert.Null(result.Preserved.Requested);
    }

    [Fact]
    public void AProgramAboveTheNonzeroCapIsNotAttemptedAndSaysItsPredictedSize()
    {
        (_, Dataset pool, RepairProblem problem) = SixPointsAndAPool();
        var preserve = new PreserveRequest(pool, 30, Seed: 4);

        const long cap = 1000;
        RepairResult refused = new ProvableRepair(new ProvableRepairOptions { Layer = "fc1", Preserve = preserve, MaxLpNonzeros = cap }).Repair(problem);

        Assert.Equal(RepairStatus.TooLarge, refused.Status);
        Assert.Null(refused.Model);
        Assert.True(refused.LpSize!.Nonzeros > cap, $"{refused.LpSize.Nonzeros} predicted, cap {cap}");
        Assert.StartsWith("not attempted: the LP at fc1 would have", refused.Message, StringComparison.Ordinal);
        Assert.Equal("too_large", RepairReport.StatusName(refused.Status));
        // The predicted size is the whole program's: a cap equal to it lets the repair run.
        RepairResult allowed = new ProvableRepair(new ProvableRepairOptions { Layer = "fc1", Preserve = preserve, MaxLpNonzeros = refused.LpSize.Nonzeros }).Repair(problem);
        Assert.True(allowed.Verified, allowed.Message);
    }

    [Fact]
    public void PreservedInputsAreASeededSampleOfCorrectlyClassifiedInputs()
    {
        (Network network, Dataset data, _) = RandomMlp();
        // Labels: the prediction for two inputs in three, another class for the third, so 40 of the 60 are correct.
        long[] predicted = network.Predict(data.X);
        Dataset pool = data.WithLabels(tensor(predicted.Select((p, i) => i % 3 == 2 ? (p + 1) % data.ClassCount : p).ToArray()), "pool");
        PreservedInputs a = PreservedInputs.Select(network, pool, 5, seed: 7), b = PreservedInputs.Select(network, pool, 5, seed: 7), c = PreservedInputs.Select(network, pool, 5, seed: 8);
        Assert.True(a.Inputs.equal(b.Inputs).all().item<bool>());
        Assert.False(a.Inputs.equal(c.Inputs).all().item<bool>());
        Assert.Equal(a.Labels, network.Predict(a.Inputs));
        Assert.Equal(40, PreservedInputs.Select(network, pool, 40, seed: 7).Count);
        var error = Assert.Throws<ReparoInputException>(() => PreservedInputs.Select(network, pool, 41, seed: 7));
        Assert.Equal("only 40 of pool's 60 inputs are classified correctly; ask to preserve at most that many", error.Message);
    }

    /// <summary>The command line of a provable repair at fc2 of a digits MLP saved in <paramref name="dir"/>.</summary>
    private static string[] RepairOfADigitsMlp(TempFolder dir)
    {
        DataSplits splits = DataCatalog.Load("digits");
        string model = dir.File("digits.reparo");
        ModelFile.Save(ModelZoo.Create("mlp:16x3", splits.Train, seed: 5), model);
        return ["repair", "--method", "provable", "--model", model, "--data", "digits", "--repair-set", "gaussian-noise:3:3", "--layer", "fc2"];
    }

    [Fact]
    public void CliRejectsAnUnknownObjectiveAndANegativePreserveCount()
    {
        using var dir = TestSupport.TempFolder();
        string[] common = RepairOfADigitsMlp(dir);

        (int code, _, string err) = CliRunner.Run([.. common, "--objective", "cheapest"]);
        Assert.Equal(2, code);
        Assert.Equal("reparo: unknown objective 'cheapest'; choose param or aprnn", err.Trim());
        (code, _, err) = CliRunner.Run([.. common, "--preserve", "-3"]);
        Assert.Equal(2, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("--preserve must be 0 or more", err);

        string json = dir.File("r.json");
        (code, _, err) = CliRunner.Run([.. common, "--objective", "aprnn", "--preserve", "20", "--preserve-as", "hard", "--json", json, "--threads", "2"]);
        Assert.True(code == CliApp.Success, err);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal("aprnn", doc.RootElement.GetProperty("objective").GetString());
        Assert.Equal(20, doc.RootElement.GetProperty("preserved").GetInt32());
        Assert.Equal(20, doc.RootElement.GetProperty("preserved_kept").GetInt32());
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("preserved_penalty").ValueKind);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("preserved_penalty_on").ValueKind);
    }

    [Fact]
    public void CliTakesThePreservedInputsFormAndRejectsAWeightForHardConstraints()
    {
        using var dir = TestSupport.TempFolder();
        string[] common = [.. RepairOfADigitsMlp(dir), "--preserve", "20"];

        (int code, _, string err) = CliRunner.Run([.. common, "--preserve-as", "hard", "--preserve-weight", "2"]);
        Assert.Equal(2, code);
        Assert.Equal("reparo: --preserve-weight weighs --preserve-as penalised-layer or penalised; --preserve-as hard has no weight", err.Trim());
        (code, _, err) = CliRunner.Run([.. common, "--preserve-as", "soft"]);
        Assert.Equal(2, code);
        Assert.Equal("reparo: unknown --preserve-as 'soft'; choose penalised-layer, hard or penalised", err.Trim());
        (code, _, err) = CliRunner.Run([.. common, "--preserve-as", "penalised-layer", "--preserve-weight", "-1"]);
        Assert.Equal(2, code);
        Assert.Equal("reparo: --preserve-weight must be a positive number, got -1", err.Trim());
        (code, _, err) = CliRunner.Run([.. common, "--preserve-as", "penalised", "--preserve-weight", "0"]);
        Assert.Equal(2, code);
        Assert.Equal("reparo: --preserve-weight must be a positive number, got 0", err.Trim());

        string json = dir.File("r.json");
        (code, _, err) = CliRunner.Run([.. common, "--preserve-as", "penalised", "--preserve-weight", "0.5", "--json", json, "--threads", "2"]);
        Assert.True(code == CliApp.Success, err);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(0.5, doc.RootElement.GetProperty("preserved_penalty").GetDouble());
        Assert.Equal(20, doc.RootElement.GetProperty("preserved").GetInt32());

        // Without --preserve-weight, the default weight.
        (code, _, err) = CliRunner.Run([.. common, "--preserve-as", "penalised", "--json", json, "--threads", "2"]);
        Assert.True(code == CliApp.Success, err);
        using JsonDocument byDefault = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(PreserveRequest.DefaultPenalty, byDefault.RootElement.GetProperty("preserved_penalty").GetDouble());
        Assert.Equal("logits", byDefault.RootElement.GetProperty("preserved_penalty_on").GetString());

        // Without --preserve-as, the default form: a penalised change of the repaired layer's outputs.
        (code, _, err) = CliRunner.Run([.. common, "--json", json, "--threads", "2"]);
        Assert.True(code == CliApp.Success, err);
        using JsonDocument layer = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(PreserveRequest.DefaultLayerPenalty, layer.RootElement.GetProperty("preserved_penalty").GetDouble());
        Assert.Equal("layer_output", layer.RootElement.GetProperty("preserved_penalty_on").GetString());
        Assert.Equal(20, layer.RootElement.GetProperty("preserved").GetInt32());
    }
}
