using System.Text.RegularExpressions;
using Reparo.Data;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Repair.Provable;
using static TorchSharp.torch;

namespace Reparo.Tests.Repair;

/// <summary>
/// Preserved inputs held out of the provable-repair LP until violated (<see cref="EncodingOptions.HoldPreservedInputs"/>),
/// and later neurons kept as expressions whose sign rows wait outside it (<see cref="EncodingOptions.ComposeLaterLayers"/>).
/// </summary>
public class HeldPreservedInputsTests
{
    /// <summary>Six repair points with wrong wanted labels, then <paramref name="preserved"/> correctly classified inputs, encoded at <paramref name="layer"/>.</summary>
    private static EncodedProgram Encode(string arch, string layer, int preserved, bool hold, bool compose = true)
    {
        TestSupport.Init();
        Dataset data = TestSupport.RandomImages(80, size: 8, seed: 3);
        Network network = ModelZoo.Create(arch, data, seed: 1);
        using Network network64 = PlainRepairedModel.ToFloat64(network);
        long[] predicted = network.Predict(data.X);
        int count = 6 + preserved;
        long[] labels = [.. predicted.Take(count).Select((p, i) => i < 6 ? (p + 1) % data.ClassCount : p)];
        var set = new RepairSet([.. Enumerable.Range(0, count).Select(i => new RepairRegion(data.X.narrow(0, i, 1), labels[i], $"v{i}"))], "points");
        (Tensor vertices32, int[] region, long[] vertexLabels) = set.Stacked();
        using Tensor vertices64 = vertices32.to(ScalarType.Float64);
        int k = network64.LayerIndex(layer), end = network64.Layers.Count;
        ActivationPatterns patterns = ActivationPatterns.Compute(network64, set, vertices64, region, k + 1, end);
        return SymbolicEncoder.Encode(network64, k, end, vertices64, vertexLabels, patterns, ProvableRepair.DefaultEncoding(6) with { HoldPreservedInputs = hold, ComposeLaterLayers = compose });
    }

    private static readonly LpSolverOptions Exact = new() { Solver = LpSolverKind.Highs, FeasibilityTolerance = 1e-9, OptimalityTolerance = 1e-9 };

    /// <summary>block-ipm taking on these small programs, though most of their rows are linking rows (it would hand them to HiGHS).</summary>
    private static readonly LpSolverOptions BlockIpmOnAnyProgram = new() { Solver = LpSolverKind.BlockIpm, Threads = 1, Extra = new Dictionary<string, string> { ["max_linking_share"] = "1" } };

    [Theory]
    [InlineData("mlp:16x2", "fc1", true)]
    [InlineData("mlp:16x3", "fc1", true)]
    [InlineData("mlp:16x3", "fc1", false)]
    [InlineData("mlp:16x3", "fc2", true)]
    public void HeldInputsReachTheWholeProgramsOptimum(string arch, string layer, bool compose)
    {
        // The reference: every neuron materialised, every row in the program, solved at once.
        EncodedProgram whole = Encode(arch, layer, 40, hold: false, compose: false), held = Encode(arch, layer, 40, hold: true, compose);
        Assert.Empty(whole.Held);
        Assert.Empty(whole.Pending);
        Assert.Equal(40, held.Held.Count);
        if (!compose) Assert.Equal(whole.Program.Size, held.Full().Size);
        LpSolution direct = LpSolver.Solve(whole.Program, Exact);
        (LpSolution generated, IReadOnlyList<LpSolve> solves, string note) = ProvableRepair.SolveWithGeneration(held, Exact);
        Assert.Equal(LpStatus.Optimal, direct.Status);
        Assert.Equal(LpStatus.Optimal, generated.Status);
        Assert.Equal(whole.Program.ObjectiveValue(direct.Values!), held.Program.ObjectiveValue(generated.Values!), 1e-6);
        // The mechanism did something: some inputs stayed out whole, and the final program is smaller than the whole one.
        Assert.True(solves.Count > 1, note);
        Assert.Equal(held.Program.RowCount, solves[^1].Rows);
        Assert.True(solves.Zip(solves.Skip(1)).All(pair => pair.First.Rows < pair.Second.Rows), note); // each round adds rows
        Assert.Contains(held.Held, input => !input.EnteredWhole);
        Assert.True(held.Program.RowCount < whole.Program.RowCount, note);
    }

    [Fact]
    public void AfterBlockIpmRoundsMetRowsLeaveAgainAndFewViolatedRowsEnterYetTheOptimumIsTheWholeProgramsOne()
    {
        // Later neurons' sign rows wait outside the program; preserved inputs are in it (nothing held, so rows may leave).
        EncodedProgram whole = Encode("mlp:16x3", "fc1", 40, hold: false, compose: false), generated = Encode("mlp:16x3", "fc1", 40, hold: false);
        Assert.Empty(generated.Held);
        Assert.NotEmpty(generated.Pending);
        const int cap = 5;

        (LpSolution solution, IReadOnlyList<LpSolve> solves, string note) = ProvableRepair.SolveWithGeneration(generated, BlockIpmOnAnyProgram, cap);

        Assert.Equal(LpStatus.Optimal, solution.Status);
        Assert.All(solves, solve => Assert.Equal("block-ipm", solve.Solver));
        Match left = Regex.Match(note, @"; (\d+) held rows left the program again because a round's solution met them by more than 0\.01 \(each row at most once\)");
        Match brought = Regex.Match(note, @"brought (\d+) rows in");
        Assert.True(left.Success && brought.Success, note);
        Assert.True(int.Parse(left.Groups[1].Value) > 0, note);
        // At most the cap enter after a round, and the final program is the first round's rows, plus those that entered, less those that left.
        Assert.All(solves.Zip(solves.Skip(1)), pair => Assert.InRange(pair.Second.Rows - pair.First.Rows, -generated.Pending.Count, cap));
        Assert.Equal(solves[0].Rows + int.Parse(brought.Groups[1].Value) - int.Parse(left.Groups[1].Value), solves[^1].Rows);
        Assert.True(generated.Full().Size.Rows > solves[^1].Rows + cap, note);
        LpSolution direct = LpSolver.Solve(whole.Program, Exact);
        Assert.Equal(whole.Program.ObjectiveValue(direct.Values!), generated.Program.ObjectiveValue(solution.Values!), 1e-6);
        // The final solution meets every row of the whole program, the rows that left included.
        Assert.True(generated.Full().MaxViolation(solution.Values!) <= 1e-7, note);
    }

    [Fact]
    public void TheSchurComplementDominatesOnceItsCubeOutgrowsTheRestOfAFactorisation()
    {
        // 1,000 linking rows: 1.67E+08 of the 1E+09 multiply-adds; the rest costs 8.33E+08.
        var shape = new BlockShape(1000, 1e9);
        Assert.False(shape.SchurWouldDominate(0));
        Assert.False(shape.SchurWouldDominate(700)); // 1,700 rows: 8.19E+08
        Assert.True(shape.SchurWouldDominate(800)); // 1,800 rows: 9.72E+08
    }

    [Fact]
    public void AfterHighsRoundsNoRowLeavesAndEveryViolatedRowEnters()
    {
        // A HiGHS round costs about a whole solve whatever its rows: there fewer rounds matter more than fewer rows.
        EncodedProgram whole = Encode("mlp:16x3", "fc1", 40, hold: false, compose: false), generated = Encode("mlp:16x3", "fc1", 40, hold: false);

        (LpSolution solution, IReadOnlyList<LpSolve> solves, string note) = ProvableRepair.SolveWithGeneration(generated, Exact, maxEnteringRows: 1);

        Assert.Equal(LpStatus.Optimal, solution.Status);
        Assert.True(solves.Count > 1, note);
        Assert.DoesNotContain("left the program again", note);
        Assert.Contains(solves.Zip(solves.Skip(1)), pair => pair.Second.Rows - pair.First.Rows > 1);
        Assert.All(solves.Zip(solves.Skip(1)), pair => Assert.True(pair.Second.Rows > pair.First.Rows, note));
        LpSolution direct = LpSolver.Solve(whole.Program, Exact);
        Assert.Equal(whole.Program.ObjectiveValue(direct.Values!), generated.Program.ObjectiveValue(solution.Values!), 1e-6);
    }

    [Fact]
    public void BlockIpmRoundsThatAlreadyViolateWaitingRowsStopEarlyAndTheLastRunsToTheOptimum()
    {
        EncodedProgram whole = Encode("mlp:16x3", "fc1", 40, hold: false, compose: false), held = Encode("mlp:16x3", "fc1", 40, hold: true);
        var blockIpm = BlockIpmOnAnyProgram;

        (LpSolution generated, IReadOnlyList<LpSolve> solves, string note) = ProvableRepair.SolveWithGeneration(held, blockIpm);

        Assert.Equal(LpStatus.Optimal, generated.Status);
        Assert.Equal("block-ipm", generated.Solver);
        Assert.Contains(solves, solve => solve.StoppedEarly);
        Assert.False(solves[^1].StoppedEarly, note);
        LpSolution direct = LpSolver.Solve(whole.Program, Exact);
        Assert.Equal(whole.Program.ObjectiveValue(direct.Values!), held.Program.ObjectiveValue(generated.Values!), 1e-6);
    }

    [Fact]
    public void LaterRoundsStartFromAnIterateOfTheRoundBeforeAndNeedFewerIterations()
    {
        EncodedProgram whole = Encode("mlp:16x3", "fc1", 40, hold: false, compose: false);
        EncodedProgram warm = Encode("mlp:16x3", "fc1", 40, hold: true), cold = Encode("mlp:16x3", "fc1", 40, hold: true);
        var blockIpm = BlockIpmOnAnyProgram;

        (LpSolution warmSolution, IReadOnlyList<LpSolve> warmSolves, string note) = ProvableRepair.SolveWithGeneration(warm, blockIpm);
        (LpSolution coldSolution, IReadOnlyList<LpSolve> coldSolves, _) = ProvableRepair.SolveWithGeneration(cold,
            blockIpm with { Extra = new Dictionary<string, string>(blockIpm.Extra) { ["warm_start"] = "off" } });

        Assert.Equal(LpStatus.Optimal, warmSolution.Status);
        Assert.Equal(LpStatus.Optimal, coldSolution.Status);
        Assert.True(warmSolves.Count > 1, note);
        Assert.False(warmSolves[0].WarmStarted);
        Assert.All(warmSolves.Skip(1), solve => Assert.True(solve.WarmStarted, note));
        Assert.All(coldSolves, solve => Assert.False(solve.WarmStarted));
        Assert.All(warmSolves.Concat(coldSolves), solve => Assert.True(solve.Iterations > 0));
        Assert.True(warmSolves.Sum(solve => solve.Iterations) < coldSolves.Sum(solve => solve.Iterations),
            $"warm {string.Join(",", warmSolves.Select(solve => solve.Iterations))}, cold {string.Join(",", coldSolves.Select(solve => solve.Iterations))}");
        Assert.Contains("started from an iterate of the solve before", note);
        LpSolution direct = LpSolver.Solve(whole.Program, Exact);
        double optimum = whole.Program.ObjectiveValue(direct.Values!);
        Assert.Equal(optimum, warm.Program.ObjectiveValue(warmSolution.Values!), 1e-6);
        Assert.Equal(optimum, cold.Program.ObjectiveValue(coldSolution.Values!), 1e-6);
    }

    [Fact]
    public void WhenBlockIpmWouldNotTakeARoundOnEveryWaitingRowEntersBeforeIt()
    {
        // A factorisation budget of one multiply-add: no structure fits, HiGHS would solve every round, so the first
        // solve is already the whole program's (one solve instead of a HiGHS solve per round).
        EncodedProgram whole = Encode("mlp:16x3", "fc1", 40, hold: false, compose: false), held = Encode("mlp:16x3", "fc1", 40, hold: true);
        var budget = new LpSolverOptions { Solver = LpSolverKind.BlockIpm, Threads = 1, Extra = new Dictionary<string, string> { ["max_multiply_adds"] = "1" } };

        (LpSolution generated, IReadOnlyList<LpSolve> solves, string note) = ProvableRepair.SolveWithGeneration(held, budget);

        Assert.Equal(LpStatus.Optimal, generated.Status);
        Assert.Single(solves);
        Assert.Contains("before solve 1 block-ipm found no structure it takes on", note);
        Assert.StartsWith("highs", generated.Solver);
        Assert.Equal(whole.Program.RowCount, held.Program.RowCount);
        LpSolution direct = LpSolver.Solve(whole.Program, Exact);
        Assert.Equal(whole.Program.ObjectiveValue(direct.Values!), held.Program.ObjectiveValue(generated.Values!), 1e-6);
    }

    [Fact]
    public void WhenEnteringEveryWaitingRowWouldMakeTheProgramManyTimesLargerHighsSolvesTheRoundsAsTheyStand()
    {
        // As above, no structure fits; but here the preserved inputs' rows are more than three times the first round's, and
        // a whole program of many preserved convolutional inputs can keep HiGHS busy for hours (its presolve and
        // starting point do not check the time limit): the rounds go on, each solved by HiGHS.
        EncodedProgram whole = Encode("mlp:16x3", "fc2", 74, hold: false, compose: false), held = Encode("mlp:16x3", "fc2", 74, hold: true);
        int first = held.Program.RowCount, waiting = held.Pending.Count + held.Held.Sum(input => input.RowCount);
        Assert.True(waiting > 3 * first, $"{waiting} waiting rows, {first} in the first round");
        var budget = new LpSolverOptions { Solver = LpSolverKind.BlockIpm, Threads = 1, Extra = new Dictionary<string, string> { ["max_multiply_adds"] = "1" } };

        (LpSolution generated, IReadOnlyList<LpSolve> solves, string note) = ProvableRepair.SolveWithGeneration(held, budget);

        Assert.Equal(LpStatus.Optimal, generated.Status);
        Assert.True(solves.Count > 1, note);
        Assert.Equal(first, solves[0].Rows);
        Assert.All(solves, solve => Assert.StartsWith("highs", solve.Solver));
        Assert.Contains("would have made the program more than 4 times larger", note);
        Assert.Contains("(last before solve 1)", note);
        LpSolution direct = LpSolver.Solve(whole.Program, Exact);
        Assert.Equal(whole.Program.ObjectiveValue(direct.Values!), held.Program.ObjectiveValue(generated.Values!), 1e-6);
    }

    [Fact]
    public void RoundsOfMostlyLinkingRowsGoToHighsWhileTheOtherRowsKeepWaiting()
    {
        // Unlike a program with no affordable structure (above), one declined for its many linking rows is small: that
        // round goes to HiGHS and only violated rows enter, here once the rows that entered made most rows linking.
        EncodedProgram whole = Encode("mlp:16x3", "fc1", 40, hold: false, compose: false), held = Encode("mlp:16x3", "fc1", 40, hold: true);

        (LpSolution generated, IReadOnlyList<LpSolve> solves, string note) = ProvableRepair.SolveWithGeneration(held, new LpSolverOptions { Solver = LpSolverKind.BlockIpm, Threads = 1 });

        Assert.Equal(LpStatus.Optimal, generated.Status);
        Assert.True(solves.Count > 1, note);
        Assert.Equal("block-ipm", solves[0].Solver);
        Assert.Contains(solves, solve => solve.Solver == "highs (after block-ipm)");
        Assert.Contains("mostly linking rows", generated.Detail);
        Assert.DoesNotContain("found no structure it takes on", note);
        Assert.Contains($"(lp_solves, {solves.Sum(solve => solve.Iterations ?? 0)} block-ipm iterations); HiGHS solved {solves.Count(solve => solve.Solver != "block-ipm")} of them", note);
        Assert.True(held.Program.RowCount < whole.Program.RowCount, note);
        LpSolution direct = LpSolver.Solve(whole.Program, Exact);
        Assert.Equal(whole.Program.ObjectiveValue(direct.Values!), held.Program.ObjectiveValue(generated.Values!), 1e-6);
    }

    [Fact]
    public void LaterNeuronsStayExpressionsAndTheirSignRowsWait()
    {
        // mlp:16x3 at fc1: fc2's neurons compose over fc1's auxiliary columns; materialised, each active one is a column and an equality.
        EncodedProgram materialised = Encode("mlp:16x3", "fc1", 0, hold: false, compose: false), composed = Encode("mlp:16x3", "fc1", 0, hold: false);
        Assert.Empty(materialised.Pending);
        Assert.NotEmpty(composed.Pending);
        Assert.True(composed.Program.ColumnCount < materialised.Program.ColumnCount);
        // An active neuron's equality (its column carries the sign) became one sign row: as many rows, one fewer column, and the waiting ones are out.
        Assert.Equal(materialised.Program.RowCount, composed.Full().RowCount);
        Assert.Equal(materialised.Program.RowCount, composed.Program.RowCount + composed.Pending.Count);
        Assert.All(composed.Pending, row => Assert.True(row.Expr.Cols.Length > 1));
    }

    [Fact]
    public void AViolatedSignRowAtTheRepairedLayerEntersAloneAndALaterOneBringsTheOwnColumnsFirst()
    {
        // One input's fragment by hand: program columns 0 (a weight change) and 1; own column 2 = x0 + 1 (the neuron at
        // the repaired layer, kept ≥ 0.5), own column 3 = 2·col2 − x1 (a later neuron, kept ≤ 4); a sign row x0 ≤ 2 and
        // a row over an own column, col2 + x1 ≤ 6 (a later sign).
        var lp = new LinearProgram();
        lp.AddColumn(-10, 10);
        lp.AddColumn(-10, 10);
        lp.AddColumn(0.5, double.PositiveInfinity);
        lp.AddRow(-1, -1, [0, 2], [1, -1]);
        lp.AddColumn(double.NegativeInfinity, 4);
        lp.AddRow(0, 0, [2, 1, 3], [2, -1, -1]);
        lp.AddRow(double.NegativeInfinity, 2, [0], [1]);
        lp.AddRow(double.NegativeInfinity, 6, [2, 1], [1, 1]);
        ProgramFragment input = lp.RemoveTail(0, 2);
        Assert.Equal((0, 2), (lp.RowCount, lp.ColumnCount));
        lp.AddColumn(0, 1); // a program column made after the cut (the objective's): the own columns go to 3 and 4

        // x0 = −0.8: the neuron is 0.2 < 0.5, a sign at the repaired layer: one row x0 ≥ −0.5 enters by itself.
        Assert.Equal(1, input.EnterViolated(lp, [-0.8, 0, 0], [], 1e-9));
        Assert.Equal(1, lp.RowCount);
        Assert.Equal(-0.5, lp.RowBounds(0).Lower, 12);
        Assert.Equal(0, input.EnterViolated(lp, [0, 0, 0], [], 1e-9));

        // x0 = 1, x1 = 5.5: col2 + x1 = 7.5 > 6 uses an own column: the own columns and their two definitions enter, then the row.
        Assert.Equal(3, input.EnterViolated(lp, [1, 5.5, 0], [], 1e-9));
        Assert.True(input.OwnColumnsEntered);
        Assert.False(input.EnteredWhole);
        Assert.Equal((4, 5), (lp.RowCount, lp.ColumnCount));
        Assert.Equal((4.0, double.PositiveInfinity), (lp.ColumnBounds(4).Upper, lp.ColumnBounds(3).Upper));
        Assert.Equal([(3, 1.0), (1, 1.0)], lp.Row(3));
        Assert.Equal(6, lp.RowBounds(3).Upper);

        // x0 = 5 breaks the sign row x0 ≤ 2, which enters alone; nothing is left for the rest.
        Assert.Equal(1, input.EnterViolated(lp, [5, 0, 0, 6, 12], [], 1e-9));
        Assert.Equal(5, lp.RowCount);
        input.EnterRest(lp);
        Assert.True(input.EnteredWhole);
        Assert.Equal(5, lp.RowCount);
        Assert.Equal(0, input.EnterViolated(lp, [5, 5, 0, 0, 0], [], 1e-9));
    }

    [Fact]
    public void ARowOnlyThePredictedNextSolutionViolatesEntersAheadButDoesNotCountAsViolated()
    {
        // Program column 0; own column 1 = x0 + 1 (kept ≥ 0.5); a sign row x0 ≤ 2.
        var lp = new LinearProgram();
        lp.AddColumn(-10, 10);
        lp.AddColumn(0.5, double.PositiveInfinity);
        lp.AddRow(-1, -1, [0, 1], [1, -1]);
        lp.AddRow(double.NegativeInfinity, 2, [0], [1]);
        ProgramFragment input = lp.RemoveTail(0, 1);

        // x0 = 1.5 meets both; a predicted 2.5 breaks x0 ≤ 2 only, −1 breaks only the own column's bound (x0 ≥ −0.5).
        Assert.Equal(0, input.CountViolated([1.5], 1e-9));
        Assert.Equal(0, input.EnterViolated(lp, [1.5], [1.9], 1e-9));
        Assert.Equal(1, input.EnterViolated(lp, [1.5], [2.5], 1e-9));
        Assert.Equal((double.NegativeInfinity, 2.0), lp.RowBounds(0));
        Assert.Equal(1, input.CountViolated([-1], 1e-9));
        Assert.Equal(1, input.EnterViolated(lp, [0], [-1], 1e-9));
        Assert.Equal(-0.5, lp.RowBounds(1).Lower, 12);
        Assert.Equal(0, input.CountViolated([-1], 1e-9));
    }

    [Fact]
    public void RemovingATailThatEarlierRowsUseIsRefused()
    {
        var lp = new LinearProgram();
        lp.AddColumn(0, 1);
        lp.AddColumn(0, 1);
        lp.AddRow(0, 1, [0, 1], [1, 1]);
        Assert.Throws<InvalidOperationException>(() => lp.RemoveTail(1, 1));
    }
}
