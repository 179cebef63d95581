using Reparo.Data;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Repair.Provable;
using static TorchSharp.torch;

namespace Reparo.Tests.Repair;

/// <summary>Preserved inputs held out of the provable-repair LP until violated (<see cref="EncodingOptions.HoldPreservedInputs"/>).</summary>
public class HeldPreservedInputsTests
{
    /// <summary>Six repair points with wrong wanted labels, then <paramref name="preserved"/> correctly classified inputs, encoded at <paramref name="layer"/>.</summary>
    private static EncodedProgram Encode(string arch, string layer, int preserved, bool hold)
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
        return SymbolicEncoder.Encode(network64, k, end, vertices64, vertexLabels, patterns, ProvableRepair.DefaultEncoding(6) with { HoldPreservedInputs = hold });
    }

    private static readonly LpSolverOptions Exact = new() { Solver = LpSolverKind.Highs, FeasibilityTolerance = 1e-9, OptimalityTolerance = 1e-9 };

    [Theory]
    [InlineData("mlp:16x2", "fc1")]
    [InlineData("mlp:16x3", "fc1")]
    [InlineData("mlp:16x3", "fc2")]
    public void HeldInputsReachTheWholeProgramsOptimum(string arch, string layer)
    {
        EncodedProgram whole = Encode(arch, layer, 40, hold: false), held = Encode(arch, layer, 40, hold: true);
        Assert.Empty(whole.Held);
        Assert.Equal(40, held.Held.Count);
        Assert.Equal(whole.Program.Size, held.Full().Size);
        LpSolution direct = LpSolver.Solve(whole.Program, Exact);
        (LpSolution generated, int rounds, string note) = ProvableRepair.SolveWithGeneration(held, Exact);
        Assert.Equal(LpStatus.Optimal, direct.Status);
        Assert.Equal(LpStatus.Optimal, generated.Status);
        Assert.Equal(whole.Program.ObjectiveValue(direct.Values!), held.Program.ObjectiveValue(generated.Values!), 1e-6);
        // The mechanism did something: some inputs stayed out whole, and the final program is smaller than the whole one.
        Assert.True(rounds > 1, note);
        Assert.Contains(held.Held, input => !input.EnteredWhole);
        Assert.True(held.Program.RowCount < whole.Program.RowCount, note);
    }

    [Fact]
    public void AViolatedSignRowAtTheRepairedLayerEntersAloneAndALaterOneBringsTheWholeInput()
    {
        // One input's fragment by hand: program columns 0 (a weight change) and 1; own column 2 = x0 + 1 (the neuron at
        // the repaired layer, kept ≥ 0.5), own column 3 = 2·col2 − x1 (a later neuron, kept ≤ 4); a sign row x0 ≤ 2.
        var lp = new LinearProgram();
        lp.AddColumn(-10, 10);
        lp.AddColumn(-10, 10);
        lp.AddColumn(0.5, double.PositiveInfinity);
        lp.AddRow(-1, -1, [0, 2], [1, -1]);
        lp.AddColumn(double.NegativeInfinity, 4);
        lp.AddRow(0, 0, [2, 1, 3], [2, -1, -1]);
        lp.AddRow(double.NegativeInfinity, 2, [0], [1]);
        ProgramFragment input = lp.RemoveTail(0, 2);
        Assert.Equal((0, 2), (lp.RowCount, lp.ColumnCount));

        // x0 = −0.8: the neuron is 0.2 < 0.5, a sign at the repaired layer: one row x0 ≥ −0.5 enters by itself.
        Assert.Equal(1, input.EnterViolated(lp, [-0.8, 0], 1e-9));
        Assert.False(input.EnteredWhole);
        Assert.Equal(1, lp.RowCount);
        Assert.Equal(-0.5, lp.RowBounds(0).Lower, 12);
        Assert.Equal(0, input.EnterViolated(lp, [0, 0], 1e-9));

        // x0 = 1.5, x1 = 0: the later neuron is 2·2.5 − 0 = 5 > 4, which uses own columns: the whole input enters.
        Assert.Equal(3, input.EnterViolated(lp, [1.5, 0], 1e-9));
        Assert.True(input.EnteredWhole);
        Assert.Equal(4, lp.ColumnCount);
        Assert.Equal(4, lp.RowCount); // the bound row, then the fragment's three rows
        Assert.Equal(0, input.EnterViolated(lp, [5, 5, 0, 0], 1e-9));
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
