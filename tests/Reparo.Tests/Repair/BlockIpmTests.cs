using Reparo.Data;
using Reparo.Experiments;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Repair.Provable;
using static TorchSharp.torch;

namespace Reparo.Tests.Repair;

public class BlockIpmTests
{
    // ---------------------------------------------------------------- helpers

    /// <summary>
    /// A feasible, bounded LP in bordered block-diagonal form: <paramref name="blocks"/> blocks of rows that share
    /// columns only among themselves, and <paramref name="linking"/> rows over columns of every block. Rows are
    /// equalities, one-sided and ranged rows around the activity of a point inside the column bounds; columns are boxed,
    /// lower-bounded with a positive cost, upper-bounded with a negative cost or free with no cost.
    /// </summary>
    private static LinearProgram BlockAngular(int seed, int blocks = 6, int rowsPerBlock = 7, int columnsPerBlock = 12, int linking = 4)
    {
        var rng = new Random(seed);
        var lp = new LinearProgram { ObjectiveOffset = rng.NextDouble() };
        var point = new List<double>();
        var blockColumns = new List<int>[blocks];
        for (int k = 0; k < blocks; k++)
        {
            blockColumns[k] = [];
            for (int c = 0; c < columnsPerBlock; c++)
            {
                double value = rng.NextDouble() * 4 - 2;
                int col = rng.Next(4) switch
                {
                    0 => lp.AddColumn(value - rng.NextDouble() * 3, value + rng.NextDouble() * 3, rng.NextDouble() * 2 - 1),
                    1 => lp.AddColumn(value - rng.NextDouble() * 3, double.PositiveInfinity, rng.NextDouble() + 0.1),
                    2 => lp.AddColumn(double.NegativeInfinity, value + rng.NextDouble() * 3, -rng.NextDouble() - 0.1),
                    _ => lp.AddColumn(double.NegativeInfinity, double.PositiveInfinity, 0),
                };
                blockColumns[k].Add(col);
                point.Add(value);
            }
        }
        void Row(IReadOnlyList<int> candidates, int count)
        {
            int[] cols = [.. candidates.OrderBy(_ => rng.Next()).Take(count)];
            double[] values = [.. cols.Select(_ => Math.Round(rng.NextDouble() * 4 - 2, 3))];
            double activity = cols.Select((c, i) => values[i] * point[c]).Sum();
            (double lo, double hi) = rng.Next(4) switch
            {
                0 => (activity, activity),
                1 => (activity - rng.NextDouble(), double.PositiveInfinity),
                2 => (double.NegativeInfinity, activity + rng.NextDouble()),
                _ => (activity - rng.NextDouble(), activity + rng.NextDouble()),
            };
            lp.AddRow(lo, hi, cols, values);
        }
        for (int k = 0; k < blocks; k++)
            for (int r = 0; r < rowsPerBlock; r++) Row(blockColumns[k], 1 + rng.Next(columnsPerBlock / 2));
        List<int> all = [.. blockColumns.SelectMany(c => c)];
        for (int r = 0; r < linking; r++) Row(all, 3 * blocks);
        return lp;
    }

    /// <summary>
    /// The APRNN program of repairing fc2 of an mlp:16x3 (64-16-16-10) on random 8×8 images for 12 points whose
    /// required class is the one after the predicted one: per neuron of fc2 a block of rows, linked by the specification.
    /// </summary>
    private static EncodedProgram RepairProgram()
    {
        (Network network, RepairSet set) = RepairCase();
        using Network network64 = PlainRepairedModel.ToFloat64(network);
        (Tensor vertices32, int[] region, long[] labels) = set.Stacked();
        using Tensor vertices64 = vertices32.to(ScalarType.Float64);
        int k = network64.LayerIndex("fc2"), end = network64.Layers.Count;
        ActivationPatterns patterns = ActivationPatterns.Compute(network64, set, vertices64, region, k + 1, end);
        return SymbolicEncoder.Encode(network64, k, end, vertices64, labels, patterns, new EncodingOptions { SignMargin = 1e-6 });
    }

    private static (Network Network, RepairSet Set) RepairCase()
    {
        Dataset data = TestSupport.RandomImages(40, size: 8, seed: 3);
        Network network = ModelZoo.Create("mlp:16x3", data, seed: 1);
        long[] wanted = [.. network.Predict(data.X).Select(p => (p + 1) % data.ClassCount)];
        return (network, RepairSet.FromPoints(data.WithLabels(tensor(wanted), "wanted"), [.. Enumerable.Range(0, 12)], "twelve"));
    }

    /// <summary>The reference: HiGHS's interior point with crossover (a vertex; without crossover HiGHS leaves some of these LPs imprecise).</summary>
    private static LpSolution Highs(LinearProgram lp) =>
        LpSolver.Solve(lp, new LpSolverOptions { Solver = LpSolverKind.Highs, Threads = 1, Extra = new Dictionary<string, string> { ["run_crossover"] = "on" } });

    /// <summary>block-ipm itself on <paramref name="lp"/>: the test programs are small and many are mostly linking rows, which it would otherwise decline.</summary>
    private static BlockIpmResult Ipm(LinearProgram lp, int threads = 1) => BlockIpm.Solve(lp, new BlockIpmOptions(threads, MaxLinkingShare: 1));

    /// <summary>LpSolver's block-ipm, taking on programs that are mostly linking rows.</summary>
    private static readonly Dictionary<string, string> AnyLinkingShare = new() { ["max_linking_share"] = "1" };

    private static void AssertSameOptimum(LinearProgram lp, BlockIpmResult ipm)
    {
        LpSolution reference = Highs(lp);
        Assert.True(reference.Status == LpStatus.Optimal, $"HiGHS: {reference.Detail}; block-ipm: {ipm.Detail}");
        Assert.True(ipm.Status == LpStatus.Optimal, ipm.Detail);
        double difference = Math.Abs(ipm.Objective - reference.Objective) / (1 + Math.Abs(reference.Objective));
        Assert.True(difference <= 1e-6, $"objective {ipm.Objective:R} vs HiGHS {reference.Objective:R} ({ipm.Detail})");
        Assert.True(lp.MaxViolation(ipm.Values!) <= 1e-7, $"violation {lp.MaxViolation(ipm.Values!):G3}");
    }

    // ---------------------------------------------------------------- the optimum of HiGHS

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void BlockAngularProgramsReachTheOptimumOfHighs(int seed)
    {
        LinearProgram lp = BlockAngular(seed);

        BlockIpmResult result = Ipm(lp);

        AssertSameOptimum(lp, result);
    }

    [Fact]
    public void ProgramWithWidelyCoupledBlocksReachesTheOptimumOfHighs()
    {
        LinearProgram lp = WideCoupling();

        BlockIpmResult result = Ipm(lp);

        Assert.StartsWith("4 blocks", result.Structure);
        AssertSameOptimum(lp, result);
    }

    [Fact]
    public void ProgramWithoutBlocksIsSolvedAsOneDenseBlock()
    {
        // Every row meets column 0, so no row can leave the one block.
        var rng = new Random(7);
        var lp = new LinearProgram();
        for (int j = 0; j < 30; j++) lp.AddColumn(0, 1 + rng.NextDouble(), rng.NextDouble() - 0.7);
        for (int i = 0; i < 20; i++)
        {
            int[] cols = [0, .. Enumerable.Range(1, 29).Where(_ => rng.Next(3) == 0)];
            lp.AddRow(double.NegativeInfinity, 2 + rng.NextDouble(), cols, [.. cols.Select(_ => rng.NextDouble())]);
        }

        BlockIpmResult result = Ipm(lp);

        Assert.StartsWith("1 blocks", result.Structure);
        AssertSameOptimum(lp, result);
    }

    [Fact]
    public void RepairProgramOfATinyMlpReachesTheOptimumOfHighsOnItsNeuronBlocks()
    {
        EncodedProgram encoded = RepairProgram();
        LinearProgram lp = encoded.Program;

        BlockIpmResult result = Ipm(lp);

        AssertSameOptimum(lp, result);
        // One block per neuron of fc2 (16) and one for fc3's biases, linked by the specification and objective rows.
        StandardForm form = StandardForm.Build(lp);
        BlockStructure structure = BlockStructure.Detect(form.A);
        Assert.True(structure.BlockRows.Length >= 16, structure.Describe());
        Assert.True(structure.LinkingRows.Length < form.A.Rows / 4, structure.Describe());
    }

    [Fact]
    public void ProvableRepairWithBlockIpmIsVerified()
    {
        (Network network, RepairSet set) = RepairCase();
        (Tensor x, _, long[] labels) = set.Stacked();
        var problem = new RepairProblem(network, set, new Dataset("held-out", x, tensor(labels), network.Spec.ClassNames, network.Spec.InputKind), null);
        var options = new ProvableRepairOptions { Layer = "fc2", Solver = new LpSolverOptions { Solver = LpSolverKind.BlockIpm, Threads = 1 } };

        RepairResult result = new ProvableRepair(options).Repair(problem);

        Assert.True(result.Verified, result.Message);
        Assert.Equal("block-ipm", result.Solver);
        Assert.StartsWith("optimal", result.SolverStatus);
        Assert.Equal("block-ipm", Assert.Single(result.LpSolves!).Solver);
        Assert.Equal(result.LpSize!.Rows, result.LpSolves![0].Rows);
        // Where block-ipm's time went: its phases add up to no more than the solve's wall time.
        BlockIpmTiming phases = result.LpSolves[0].PhaseSeconds!;
        Assert.True(phases.Setup >= 0 && phases.Factor > 0 && phases.Solve >= 0 && phases.Setup + phases.Factor + phases.Solve <= result.LpSolves[0].Seconds + 1e-3, phases.ToString());

        // A solve that runs out of time still says which solves ran.
        var hurried = options with { Solver = options.Solver with { TimeLimitSeconds = 1e-6 } };
        RepairResult late = new ProvableRepair(hurried).Repair(problem);
        Assert.Equal(RepairStatus.TimeLimit, late.Status);
        Assert.NotEmpty(late.LpSolves!);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(5)]
    public void StandardFormMapsAPointAndItsDualsThereAndBack(int seed)
    {
        // Every kind of column and row (BlockAngular), plus a fixed column and a row that only it meets (presolve drops both).
        LinearProgram lp = BlockAngular(seed);
        int fixedColumn = lp.AddColumn(0.25, 0.25, 1);
        lp.AddRow(0, 1, [fixedColumn], [2]);
        // A point that meets every row (equalities included): HiGHS's optimum.
        double[] values = LpSolver.Solve(lp, new LpSolverOptions { Solver = LpSolverKind.Highs, FeasibilityTolerance = 1e-10 }).Values!;
        var rng = new Random(seed);
        double[] duals = [.. Enumerable.Range(0, lp.RowCount).Select(_ => rng.NextDouble() * 2 - 1)];
        duals[^1] = 0;
        StandardForm form = StandardForm.Build(lp);

        (double[] x, double[] y) = form.ToInternal(values, duals);

        // Columns that meet no row are set to their best bound by presolve; every other column comes back.
        double[] back = form.Recover(x);
        var inRows = new HashSet<int>(lp.EntryColumns.ToArray());
        Assert.True(inRows.Count > values.Length / 2);
        foreach (int j in inRows) Assert.Equal(values[j], back[j], 1e-12);
        double[] dualsBack = form.RowDuals(y);
        for (int i = 0; i < duals.Length; i++) Assert.Equal(duals[i], dualsBack[i], 1e-12);
        // Each slack takes the value that meets its row: A·x = b in the scaled standard form, up to HiGHS's tolerance.
        var ax = new double[form.A.Rows];
        form.A.MultiplyAdd(x, ax);
        for (int r = 0; r < ax.Length; r++) Assert.Equal(form.B[r], ax[r], 1e-7);
    }

    [Fact]
    public void AWarmStartThatLeadsNowhereIsRetriedFromMehrotrasPointBeforeHighs()
    {
        LinearProgram lp = BlockAngular(3);
        var start = new IpmStart([.. Enumerable.Repeat(double.NaN, lp.ColumnCount)], new double[lp.RowCount], 1e-6);
        var options = new LpSolverOptions { Solver = LpSolverKind.BlockIpm, Threads = 1 };
        IpmStart? kept = null;

        LpSolution solution = LpSolver.Solve(lp, options, null, null, start, offered => kept = offered);

        Assert.Equal(LpStatus.Optimal, solution.Status);
        Assert.Equal("block-ipm", solution.Solver);
        Assert.False(solution.WarmStarted);
        Assert.Contains("after the warm start failed", solution.Detail);
        // What the retry kept, not the failed start's iterate.
        Assert.NotNull(kept);
        Assert.All(kept.Values, v => Assert.True(double.IsFinite(v)));
        LpSolution highs = LpSolver.Solve(lp, new LpSolverOptions { Solver = LpSolverKind.Highs });
        Assert.Equal(highs.Objective, solution.Objective, 1e-6);
    }

    [Fact]
    public void AWarmStartsFloorShrinksWithTheRowsThatEnteredAndStaysWithinItsRange()
    {
        Assert.Equal(BlockIpm.WarmFloor, BlockIpm.WarmFloorAfter(1000));
        Assert.Equal(BlockIpm.WarmFloor, BlockIpm.WarmFloorAfter(50_000));
        Assert.Equal(0.05, BlockIpm.WarmFloorAfter(250), 12);
        Assert.Equal(0.01, BlockIpm.WarmFloorAfter(1), 12);
        Assert.Equal(0.01, BlockIpm.WarmFloorAfter(0), 12);
        Assert.True(BlockIpm.WarmFloorAfter(10) < BlockIpm.WarmFloorAfter(100));
        Assert.Equal(BlockIpm.WarmFloor, new IpmStart([], [], 1).Floor);
    }

    [Fact]
    public void ADirectionsRightHandSideUpdatedOverChangedColumnsEqualsTheWholeProduct()
    {
        // A random sparse 30 × 80 matrix, Θ and r; the right-hand side r + A·Θ·reduced for one reduced-cost vector, then
        // for one that differs in a few columns: updated over those columns, it equals the whole product computed anew.
        var random = new Random(11);
        const int rows = 30, cols = 80;
        var start = new int[cols + 1];
        var rowIndex = new List<int>();
        var value = new List<double>();
        for (int j = 0; j < cols; j++)
        {
            foreach (int i in Enumerable.Range(0, rows).Where(_ => random.NextDouble() < 0.2))
            {
                rowIndex.Add(i);
                value.Add(random.NextDouble() * 2 - 1);
            }
            start[j + 1] = rowIndex.Count;
        }
        var a = new SparseColumns(rows, cols, start, [.. rowIndex], [.. value]);
        double[] theta = [.. Enumerable.Range(0, cols).Select(_ => Math.Exp(random.NextDouble() * 10 - 5))];
        double[] r = [.. Enumerable.Range(0, rows).Select(_ => random.NextDouble())];
        double[] Whole(double[] reduced)
        {
            var y = (double[])r.Clone();
            a.MultiplyAdd([.. reduced.Select((v, j) => theta[j] * v)], y);
            return y;
        }
        double[] first = [.. Enumerable.Range(0, cols).Select(_ => random.NextDouble() - 0.5)];
        double[] lastReduced = (double[])first.Clone(), rightHandSide = Whole(first);
        var scratch = new int[cols];
        double[] second = (double[])first.Clone();
        foreach (int j in new[] { 3, 41, 79 }) second[j] += 10 * (random.NextDouble() - 0.5);
        Assert.True(BlockIpm.TryUpdateRightHandSide(a, theta, second, lastReduced, rightHandSide, scratch));
        double[] expected = Whole(second);
        for (int i = 0; i < rows; i++) Assert.Equal(expected[i], rightHandSide[i], 12);
        Assert.Equal(second, lastReduced);
        // Unchanged reduced costs leave it as it is; more changed columns than one in eight leave it to a whole product.
        Assert.True(BlockIpm.TryUpdateRightHandSide(a, theta, second, lastReduced, rightHandSide, scratch));
        for (int i = 0; i < rows; i++) Assert.Equal(expected[i], rightHandSide[i], 12);
        double[] many = [.. second.Select((v, j) => j < cols / 8 + 1 ? v + 1 : v)];
        double[] before = (double[])rightHandSide.Clone();
        Assert.False(BlockIpm.TryUpdateRightHandSide(a, theta, many, lastReduced, rightHandSide, scratch));
        Assert.Equal(before, rightHandSide);
        Assert.Equal(second, lastReduced);
    }

    [Theory]
    [InlineData(4, 0.01)]
    [InlineData(4, 0.1)]
    [InlineData(7, 0.01)]
    public void AWarmStartWithAnyFloorEndsAtTheColdOptimum(int seed, double floor)
    {
        LinearProgram lp = BlockAngular(seed);
        var options = new LpSolverOptions { Solver = LpSolverKind.BlockIpm, Threads = 1, Extra = AnyLinkingShare };
        IpmStart? kept = null;
        LpSolution cold = LpSolver.Solve(lp, options, null, null, null, offered => kept = offered);
        Assert.Equal(LpStatus.Optimal, cold.Status);
        Assert.True(kept is not null, cold.Detail);

        LpSolution warm = LpSolver.Solve(lp, options, null, null, kept with { Floor = floor });

        Assert.Equal(LpStatus.Optimal, warm.Status);
        Assert.True(warm.WarmStarted, warm.Detail);
        LpSolution highs = LpSolver.Solve(lp, new LpSolverOptions { Solver = LpSolverKind.Highs });
        Assert.Equal(highs.Objective, warm.Objective, 1e-6);
    }

    // ---------------------------------------------------------------- structure

    /// <summary>Five blocks of four rows (0–19) over their own three columns (each row meets all three).</summary>
    private static LinearProgram PlantedBlocks()
    {
        var lp = new LinearProgram();
        for (int j = 0; j < 15; j++) lp.AddColumn(0, 1, 1);
        for (int k = 0; k < 5; k++)
            for (int r = 0; r < 4; r++) lp.AddRow(0.5, 2, [3 * k, 3 * k + 1, 3 * k + 2], [1, r + 1, 1]);
        return lp;
    }

    [Fact]
    public void DetectionFindsPlantedBlocksAndLinkingRows()
    {
        // Two rows over a column of every block.
        LinearProgram lp = PlantedBlocks();
        lp.AddRow(1, double.PositiveInfinity, [0, 3, 6, 9, 12], [1, 1, 1, 1, 1]);
        lp.AddRow(1, double.PositiveInfinity, [1, 4, 7, 10, 13], [1, 2, 1, 2, 1]);
        SparseColumns a = StandardForm.Build(lp).A;

        BlockStructure structure = BlockStructure.Detect(a);

        Assert.Equal([20, 21], structure.LinkingRows);
        Assert.Equal(5, structure.BlockRows.Length);
        for (int k = 0; k < 5; k++) Assert.Equal(Enumerable.Range(4 * k, 4), structure.BlockRows[k].Order());
    }

    /// <summary>
    /// Constraint generation's rounds enter as batches: the program records them (copies keep them, removing the tail
    /// drops them), the standard form maps them onto its rows (a free row it drops included), and detection keeps the
    /// blocks of the first batch, making each later row that meets two of them a linking row.
    /// </summary>
    [Fact]
    public void RowsOfALaterBatchLinkTheBlocksTheFirstBatchFormed()
    {
        LinearProgram lp = PlantedBlocks();
        lp.AddRow(double.NegativeInfinity, double.PositiveInfinity, [0, 1], [1, 1]);
        Assert.False(lp.HasBatches);
        lp.StartBatch();
        lp.StartBatch();
        for (int k = 0; k < 4; k++) lp.AddRow(0.2, double.PositiveInfinity, [3 * k, 3 * k + 1, 3 * k + 3, 3 * k + 4], [1, 1, 1, 1]);
        lp.StartBatch();
        lp.AddRow(0.2, double.PositiveInfinity, [2, 14], [1, 1]);

        StandardForm form = StandardForm.Build(lp);
        BlockStructure structure = BlockStructure.Detect(form.A, new SparseRows(form.A), 1, form.RowBatch);

        Assert.True(lp.HasBatches);
        Assert.Equal([0, 1, 1, 2], [lp.BatchOf(20), lp.BatchOf(21), lp.BatchOf(24), lp.BatchOf(25)]);
        Assert.Equal([.. Enumerable.Repeat(0, 20), 1, 1, 1, 1, 2], form.RowBatch!);
        Assert.Equal(5, structure.BlockRows.Length);
        Assert.Equal([20, 21, 22, 23, 24], structure.LinkingRows);
        Assert.Equal(2, lp.Copy().BatchOf(25));
        lp.RemoveTail(21, 15);
        Assert.False(lp.HasBatches);
    }

    [Fact]
    public void DetectionLinksTheRowsThatTieEveryBlockToOneHub()
    {
        const int blocks = 14, changes = 13, vertices = 4, specification = 2;
        LinearProgram lp = MiniatureRepair();
        SparseColumns matrix = StandardForm.Build(lp).A;
        BlockStructure structure = BlockStructure.Detect(matrix);

        // Blocks of a neuron's definitions and bounds; linking: the specification and the rows t ≥ g_k.
        Assert.True(structure.LinkingRows.Length <= blocks + vertices * specification, structure.Describe());
        Assert.Equal(blocks, structure.BlockRows.Count(b => b.Length >= vertices + changes));
        AssertSameOptimum(lp, Ipm(lp));
        // Its blocks' rows g_k ≥ Δ⁺ + Δ⁻ are eliminated in closed form by default; factoring the blocks whole reaches the same optimum.
        AssertSameOptimum(lp, BlockIpm.Solve(lp, new BlockIpmOptions(HubRows: false, MaxLinkingShare: 1)));
        // Rows whose split pair no definition uses (only the hub and columns of their own) are eliminated too.
        LinearProgram dead = MiniatureRepair(deadChanges: 4, sharedBound: false);
        AssertSameOptimum(dead, Ipm(dead));
        // The candidates are built in parallel and compared in a fixed order: the same structure on any thread count.
        BlockStructure parallel = BlockStructure.Detect(matrix, new SparseRows(matrix), 3);
        Assert.Equal(structure.BlockOfRow, parallel.BlockOfRow);
        Assert.Equal(structure.LocalIndex, parallel.LocalIndex);
    }

    /// <summary>
    /// A repair LP in miniature, rows in the encoder's order: per vertex p and block (neuron) k, an auxiliary column
    /// z_kp = e + a·(Δ⁺ − Δ⁻) over block k's own split changes; per vertex, specification rows over every z_kp and
    /// the shared bias changes (longer rows than the definitions); then the objective: per block t ≥ g_k (t the one
    /// L∞ column), then per change g_k ≥ Δ⁺ + Δ⁻, where t and every g_k meet as many rows. Taken by length alone,
    /// or by longest column with ties by position, the specification rows or the rows t ≥ g_k glue the blocks
    /// together or turn the block rows into linking rows.
    /// </summary>
    /// <param name="deadChanges">How many of each block's changes no definition uses (a weight whose input is 0 at every
    /// point): their split columns meet only their row g_k ≥ Δ⁺ + Δ⁻.</param>
    /// <param name="sharedBound">Whether the g_k are bounded by one L∞ column t (else each g_k costs in the objective itself).</param>
    /// <param name="sameInputs">Whether every block sees the same inputs a at a vertex, as a layer's neurons do (else each its own).</param>
    private static LinearProgram MiniatureRepair(int deadChanges = 0, bool sharedBound = true, bool sameInputs = false)
    {
        const int blocks = 14, changes = 13, biases = 8, vertices = 4, specification = 2;
        var random = new Random(7);
        var lp = new LinearProgram();
        int[] SplitChanges(int count) => [.. Enumerable.Range(0, count).Select(_ =>
        {
            int plus = lp.AddColumn(0, 3, 0.1);
            lp.AddColumn(0, 3, 0.1);
            return plus;
        })];
        int[][] change = [.. Enumerable.Range(0, blocks).Select(_ => SplitChanges(changes))];
        int[] bias = SplitChanges(biases);
        for (int p = 0; p < vertices; p++)
        {
            // z at a feasible point (Δ⁺ = 0.5, Δ⁻ = 0), from which the specification's bounds are set.
            var atFeasible = new double[blocks];
            var z = new int[blocks];
            double[] Inputs() => [.. Enumerable.Range(0, changes).Select(i => (random.NextDouble() - 0.5) * (i < deadChanges ? 0 : 1))];
            double[] shared = sameInputs ? Inputs() : [];
            for (int k = 0; k < blocks; k++)
            {
                double[] a = sameInputs ? shared : Inputs();
                double e = random.NextDouble() - 0.5;
                atFeasible[k] = e + 0.5 * a.Sum();
                z[k] = lp.AddColumn(-10, 10);
                lp.AddRow(e, e, [z[k], .. change[k].SelectMany(c => new[] { c, c + 1 })], [1, .. a.SelectMany(v => new[] { -v, v })]);
            }
            for (int s = 0; s < specification; s++)
            {
                double[] w = [.. Enumerable.Range(0, blocks).Select(_ => random.NextDouble() - 0.5)];
                lp.AddRow(w.Zip(atFeasible, (x, y) => x * y).Sum() - 0.1, double.PositiveInfinity, [.. z, .. bias.SelectMany(c => new[] { c, c + 1 })],
                    [.. w, .. bias.SelectMany(_ => new[] { 0.3, -0.3 })]);
            }
        }
        int t = sharedBound ? lp.AddColumn(0, double.PositiveInfinity, 1) : -1;
        int[] g = [.. Enumerable.Range(0, blocks).Select(_ => lp.AddColumn(0, double.PositiveInfinity, sharedBound ? 0 : 1))];
        for (int k = 0; k < blocks && sharedBound; k++) lp.AddRow(0, double.PositiveInfinity, [t, g[k]], [1, -1]);
        for (int k = 0; k < blocks; k++)
            foreach (int c in change[k]) lp.AddRow(0, double.PositiveInfinity, [g[k], c, c + 1], [1, -1, -1]);

        return lp;
    }

    /// <summary>
    /// Four blocks of 40 rows over their own four columns, and 60 linking rows: each meets the first column of every
    /// block (so those columns meet more than 32 linking rows), and every tenth one also a block's second column.
    /// </summary>
    private static LinearProgram WideCoupling()
    {
        var lp = new LinearProgram();
        for (int j = 0; j < 16; j++) lp.AddColumn(0, 2, 1);
        for (int k = 0; k < 4; k++)
            for (int r = 0; r < 40; r++) lp.AddRow(0.5, 20, [4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3], [1, 1 + r % 3, 2, 0.5 + r % 5]);
        for (int r = 0; r < 60; r++)
        {
            int[] cols = r % 10 == 0 ? [0, 1, 4, 8, 12] : [0, 4, 8, 12];
            lp.AddRow(1, double.PositiveInfinity, cols, [.. cols.Select(c => 1.0 + (c + r) % 4)]);
        }
        return lp;
    }

    /// <summary>
    /// A repair program's shape in small: four neuron blocks (their weight columns, a column y per repair point and per
    /// preserved input, one definition row each), five repair points with 40 specification rows each over the points'
    /// y of every neuron (so each y meets more than 32 linking rows, a wide column), the later biases (a block of their
    /// own whose columns meet every specification row and so chain the points together) and a block of 60 rows whose one
    /// coupling column meets 33 specification rows spread over the points. Feasible at 0, every column boxed.
    /// </summary>
    private static LinearProgram PointBlocks()
    {
        const int points = 5, neurons = 4, perPoint = 40, inputs = 3, preserved = 20, biases = 3, chainRows = 60, chainColumns = 10;
        var random = new Random(11);
        double Next() => random.NextDouble() - 0.5;
        var lp = new LinearProgram();
        int Column() => lp.AddColumn(-2, 2, Next() * 0.6);
        int[][] weight = [.. Enumerable.Range(0, neurons).Select(_ => Enumerable.Range(0, inputs).Select(_ => Column()).ToArray())];
        var y = new int[points, neurons];
        for (int k = 0; k < neurons; k++)
        {
            for (int p = 0; p < points + preserved; p++)
            {
                int own = Column();
                if (p < points) y[p, k] = own;
                lp.AddRow(0, 0, [own, .. weight[k]], [1, .. Enumerable.Range(0, inputs).Select(_ => Next())]);
            }
        }
        int[] bias = [.. Enumerable.Range(0, biases).Select(_ => Column())];
        lp.AddRow(double.NegativeInfinity, 1, [bias[0], bias[1]], [1, 1]);
        lp.AddRow(double.NegativeInfinity, 1, [bias[1], bias[2]], [1, 1]);
        lp.AddRow(-1, double.PositiveInfinity, [bias[0], bias[2]], [1, -1]);
        int[] chain = [.. Enumerable.Range(0, chainColumns).Select(_ => Column())];
        for (int r = 0; r < chainRows; r++)
        {
            int[] cols = [chain[r % chainColumns], chain[(r + 3) % chainColumns], chain[(r * 7 + 1) % chainColumns]];
            if (cols.Distinct().Count() < 3) cols = [chain[0], chain[1], chain[2 + r % 8]];
            lp.AddRow(-1, 1, cols, [1 + Next(), Next(), 0.5 + Next()]);
        }
        for (int p = 0; p < points; p++)
            for (int s = 0; s < perPoint; s++)
            {
                int[] cols = [.. Enumerable.Range(0, neurons).Select(k => y[p, k]), .. bias, .. (p * perPoint + s) % 6 == 0 ? [chain[0]] : Array.Empty<int>()];
                lp.AddRow(-0.2, double.PositiveInfinity, cols, [.. cols.Select(_ => Next())]);
            }
        return lp;
    }

    [Fact]
    public void ProgramOfRepairPointsReachesTheOptimumOfHighsSummingItsBlocksEachItsOwnWay()
    {
        LinearProgram lp = PointBlocks();

        BlockIpmResult result = Ipm(lp);

        Assert.Contains("200 linking rows", result.Structure);
        Assert.Contains("2 blocks' updates of the Schur complement not summed by groups of linking rows: 1 through their own rows, 1 row by row", result.Structure);
        AssertSameOptimum(lp, result);
    }

    [Theory]
    [InlineData("block-angular")]
    [InlineData("point blocks")]
    [InlineData("one block")]
    [InlineData("wide coupling")]
    [InlineData("hub rows")]
    [InlineData("hub rows, extreme weights")]
    [InlineData("hub rows, dead changes")]
    public void BlockNormalEquationsSolveTheRegularisedNormalSystem(string program)
    {
        LinearProgram lp = program switch
        {
            "wide coupling" => WideCoupling(),
            "point blocks" => PointBlocks(),
            "hub rows" or "hub rows, extreme weights" => MiniatureRepair(),
            "hub rows, dead changes" => MiniatureRepair(deadChanges: 4, sharedBound: false),
            _ => BlockAngular(1),
        };
        SparseColumns a = StandardForm.Build(lp).A;
        // The program with dead changes as one block: its first hub's rows (dead ones among them) are eliminated.
        BlockStructure structure = program is "one block" or "hub rows, dead changes" ? BlockStructure.SingleBlock(a) : BlockStructure.Detect(a);
        var rng = new Random(5);
        // Extreme weights: θ from 1E-12 to 1E+12, as near an interior point's optimum (the hub rows' closed forms must not cancel).
        bool extreme = program == "hub rows, extreme weights";
        double[] theta = [.. Enumerable.Range(0, a.Cols).Select(_ => extreme ? Math.Pow(10, rng.NextDouble() * 24 - 12) : Math.Exp(rng.NextDouble() * 8 - 4))];
        double[] expected = [.. Enumerable.Range(0, a.Rows).Select(_ => rng.NextDouble() - 0.5)];
        // r = (A·Θ·Aᵀ + δ·I)·expected
        const double delta = 1e-6;
        var weighted = new double[a.Cols];
        for (int j = 0; j < a.Cols; j++) weighted[j] = theta[j] * a.ColumnDot(j, expected);
        double[] r = [.. expected.Select(v => delta * v)];
        a.MultiplyAdd(weighted, r);
        var normal = new BlockNormalEquations(a, structure, threadCount: 2);
        var plain = new BlockNormalEquations(a, structure, threadCount: 2, hubRows: false);
        double[] viaPlain = [.. r];

        normal.Factor(theta, delta);
        normal.Solve(r);
        plain.Factor(theta, delta);
        plain.Solve(viaPlain);
        // ‖(A·Θ·Aᵀ + δ·I)·y − rhs‖∞ relative to the sizes of its terms (the backward error a factorisation is held to).
        double Residual(double[] y)
        {
            var w = new double[a.Cols];
            var terms = new double[a.Cols];
            for (int j = 0; j < a.Cols; j++) w[j] = theta[j] * a.ColumnDot(j, y);
            double[] product = [.. y.Select(v => delta * v)];
            a.MultiplyAdd(w, product);
            double scale = 0;
            for (int j = 0; j < a.Cols; j++)
                for (int e = a.ColStart[j]; e < a.ColStart[j + 1]; e++) scale = Math.Max(scale, Math.Abs(a.Value[e] * w[j]));
            double[] rhs = [.. expected.Select(v => delta * v)];
            a.MultiplyAdd([.. Enumerable.Range(0, a.Cols).Select(j => theta[j] * a.ColumnDot(j, expected))], rhs);
            return Enumerable.Range(0, a.Rows).Max(i => Math.Abs(product[i] - rhs[i])) / Math.Max(scale, rhs.Max(Math.Abs));
        }

        (int blocks, int linking) = program switch { "one block" or "hub rows, dead changes" => (1, 0), "wide coupling" => (4, 60), _ => (structure.BlockRows.Length, structure.LinkingRows.Length) };
        Assert.True(structure.BlockRows.Length == blocks && structure.LinkingRows.Length == linking && (blocks == 1 || linking > 0), structure.Describe());
        // Every block of the miniature repair but the first, which also took t ≥ g_0 (a row of another pattern through its hub) and is factored whole.
        int eliminated = program switch { "hub rows" or "hub rows, extreme weights" => structure.BlockRows.Length - 1, "hub rows, dead changes" => 1, _ => 0 };
        Assert.Equal(eliminated, normal.BlocksWithHubRows);
        // The neuron blocks' wide columns are summed by groups of linking rows (one per point); the biases through their
        // own rows; the block whose column meets rows of every point, row by row. Elsewhere every block is grouped.
        Assert.Equal(program == "point blocks" ? (1, 1) : (0, 0), normal.BlocksSummedAlone);
        if (extreme)
        {
            // So ill-conditioned that no factorisation recovers y itself: hold both to their backward error instead.
            Assert.True(Residual(r) <= 1e-13 && Residual(viaPlain) <= 1e-13, $"{Residual(r):G3}, {Residual(viaPlain):G3}");
            return;
        }
        for (int i = 0; i < a.Rows; i++)
        {
            Assert.Equal(expected[i], r[i], 1e-8);
            Assert.Equal(expected[i], viaPlain[i], 1e-8);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DensePairColumnsSolveToTheBitAsSparseOnes(bool sameInputs)
    {
        // With the same inputs for every neuron, as in a repair, the neuron blocks' pair columns are equal and share one dense copy.
        SparseColumns a = StandardForm.Build(MiniatureRepair(sameInputs: sameInputs)).A;
        BlockStructure structure = BlockStructure.Detect(a);
        var dense = new BlockNormalEquations(a, structure, threadCount: 2);
        var sparse = new BlockNormalEquations(a, structure, threadCount: 2, densePairColumns: false);
        Assert.True(dense.BlocksWithHubRows > 1);
        Assert.Equal(dense.BlocksWithHubRows, dense.BlocksWithDensePairs);
        Assert.Equal(sameInputs ? 1 : dense.BlocksWithDensePairs, dense.DensePairCopies);
        Assert.Equal((dense.BlocksWithHubRows, 0, 0), (sparse.BlocksWithHubRows, sparse.BlocksWithDensePairs, sparse.DensePairCopies));
        var rng = new Random(11);
        for (int factorisation = 0; factorisation < 2; factorisation++)
        {
            double[] theta = [.. Enumerable.Range(0, a.Cols).Select(_ => Math.Exp(rng.NextDouble() * 8 - 4))];
            double[] viaDense = [.. Enumerable.Range(0, a.Rows).Select(_ => rng.NextDouble() - 0.5)];
            double[] viaSparse = [.. viaDense];
            dense.Factor(theta, 1e-8);
            sparse.Factor(theta, 1e-8);
            dense.Solve(viaDense);
            sparse.Solve(viaSparse);
            Assert.Equal(viaSparse.Select(BitConverter.DoubleToInt64Bits), viaDense.Select(BitConverter.DoubleToInt64Bits));
        }
    }

    // ---------------------------------------------------------------- infeasible, unbounded

    [Fact]
    public void InfeasibleProgramIsReportedAsInfeasible()
    {
        // x + y ≥ 3 and x − y = 0 with x, y ∈ [0, 1], beside a feasible block.
        var lp = new LinearProgram();
        int x = lp.AddColumn(0, 1, 1), y = lp.AddColumn(0, 1, 1), z = lp.AddColumn(0, 5, -1);
        lp.AddRow(3, double.PositiveInfinity, [x, y], [1, 1]);
        lp.AddRow(0, 0, [x, y], [1, -1]);
        lp.AddRow(double.NegativeInfinity, 4, [z], [1]);

        BlockIpmResult result = Ipm(lp);
        LpSolution viaLpSolver = LpSolver.Solve(lp, new LpSolverOptions { Solver = LpSolverKind.BlockIpm });

        Assert.True(result.Status == LpStatus.Infeasible, result.Detail);
        Assert.Equal(LpStatus.Infeasible, viaLpSolver.Status);
        Assert.Equal("block-ipm", viaLpSolver.Solver);
    }

    [Fact]
    public void ConstantRowOutsideItsBoundsIsInfeasibleBeforeAnyIteration()
    {
        var lp = new LinearProgram();
        int fixedColumn = lp.AddColumn(2, 2), free = lp.AddColumn(0, 1, 1);
        lp.AddRow(5, 6, [fixedColumn], [1]);
        lp.AddRow(0, 1, [free], [1]);

        BlockIpmResult result = Ipm(lp);

        Assert.Equal(LpStatus.Infeasible, result.Status);
        Assert.Equal(0, result.Iterations);
        Assert.Contains("row 0", result.Detail);
    }

    [Fact]
    public void UnboundedProgramIsReportedAsUnbounded()
    {
        // minimise −x − y subject to −1 ≤ x − y ≤ 1, x + 2y ≥ 1, x, y ≥ 0: the ray (1, 1) keeps every row and lowers the objective.
        var lp = new LinearProgram();
        int x = lp.AddColumn(0, double.PositiveInfinity, -1), y = lp.AddColumn(0, double.PositiveInfinity, -1);
        lp.AddRow(-1, 1, [x, y], [1, -1]);
        lp.AddRow(1, double.PositiveInfinity, [x, y], [1, 2]);

        BlockIpmResult result = Ipm(lp);

        Assert.True(result.Status == LpStatus.Unbounded, result.Detail);
        Assert.Equal(LpStatus.Unbounded, Highs(lp).Status);
    }

    // ---------------------------------------------------------------- determinism, fallback

    [Fact]
    public void SolutionsAreBitIdenticalAcrossRunsAndThreadCounts()
    {
        LinearProgram lp = RepairProgram().Program;

        BlockIpmResult first = Ipm(lp, threads: 1), second = Ipm(lp, threads: 1), parallel = Ipm(lp, threads: 2);

        Assert.Equal(LpStatus.Optimal, first.Status);
        byte[] Bytes(BlockIpmResult r) => [.. r.Values!.SelectMany(BitConverter.GetBytes)];
        Assert.Equal(Bytes(first), Bytes(second));
        Assert.Equal(Bytes(first), Bytes(parallel));
        Assert.Equal(first.Iterations, parallel.Iterations);
    }

    [Fact]
    public void IterationLimitFallsBackToHighsAndSaysSo()
    {
        LinearProgram lp = BlockAngular(3);
        var options = new LpSolverOptions { Solver = LpSolverKind.BlockIpm, Extra = new Dictionary<string, string> { ["max_iterations"] = "1" } };

        LpSolution solution = LpSolver.Solve(lp, options);

        Assert.Equal(LpStatus.Optimal, solution.Status);
        Assert.Equal("highs (after block-ipm)", solution.Solver);
        Assert.Contains("block-ipm fell back to highs (iteration limit 1", solution.Detail);
        Assert.Equal(Highs(lp).Objective, solution.Objective, 1e-9);
    }

    [Fact]
    public void ProgramOfMostlyLinkingRowsGoesToHighsAndSaysSo()
    {
        LinearProgram lp = BlockAngular(4);
        var options = new LpSolverOptions { Solver = LpSolverKind.BlockIpm, Threads = 1 };

        BlockIpmResult declined = BlockIpm.Solve(lp, new BlockIpmOptions());
        LpSolution solution = LpSolver.Solve(lp, options);
        LpSolution forced = LpSolver.Solve(lp, options with { Extra = AnyLinkingShare });

        Assert.True(declined.Declined && declined.MostlyLinking, declined.Detail);
        Assert.Equal(0, declined.Iterations);
        Assert.Matches(@"^mostly linking rows \([\d,]+ of [\d,]+, above the share 0.25 it takes on: \d+ blocks", declined.Detail);
        Assert.Equal(LpStatus.Optimal, solution.Status);
        Assert.Equal("highs (after block-ipm)", solution.Solver);
        Assert.Contains("block-ipm fell back to highs (mostly linking rows", solution.Detail);
        Assert.Equal(Highs(lp).Objective, solution.Objective, 1e-9);
        Assert.Equal("block-ipm", forced.Solver);
        Assert.Equal(solution.Objective, forced.Objective, 1e-6);
        // The share itself: block-ipm's structure of the same program has more linking rows than a quarter of its rows.
        StandardForm form = StandardForm.Build(lp);
        Assert.True(BlockStructure.Detect(form.A, new SparseRows(form.A), 1).LinkingShare > BlockStructure.MaxLinkingShare);
    }

    [Fact]
    public void UnknownBlockIpmOptionIsAnInputError()
    {
        var options = new LpSolverOptions { Solver = LpSolverKind.BlockIpm, Extra = new Dictionary<string, string> { ["presolve"] = "off" } };

        var error = Assert.Throws<ReparoInputException>(() => LpSolver.Solve(BlockAngular(1), options));

        Assert.Contains("no option 'presolve'", error.Message);
        var negative = options with { Extra = new Dictionary<string, string> { ["max_multiply_adds"] = "-5" } };
        Assert.Contains("max_multiply_adds must be a positive number", Assert.Throws<ReparoInputException>(() => LpSolver.Solve(BlockAngular(1), negative)).Message);
        var maybe = options with { Extra = new Dictionary<string, string> { ["warm_start"] = "maybe" } };
        Assert.Contains("warm_start must be on or off", Assert.Throws<ReparoInputException>(() => LpSolver.Solve(BlockAngular(1), maybe)).Message);
        var fractional = options with { Extra = new Dictionary<string, string> { ["max_correctors"] = "1.5" } };
        Assert.Contains("max_correctors must be a non-negative integer", Assert.Throws<ReparoInputException>(() => LpSolver.Solve(BlockAngular(1), fractional)).Message);
        var yes = options with { Extra = new Dictionary<string, string> { ["hub_rows"] = "yes" } };
        Assert.Contains("hub_rows must be on or off", Assert.Throws<ReparoInputException>(() => LpSolver.Solve(BlockAngular(1), yes)).Message);
        foreach (string share in new[] { "0", "1.5", "-0.1", "NaN", "a quarter" })
        {
            var outside = options with { Extra = new Dictionary<string, string> { ["max_linking_share"] = share } };
            Assert.Contains("max_linking_share must be a number in (0, 1]", Assert.Throws<ReparoInputException>(() => LpSolver.Solve(BlockAngular(1), outside)).Message);
        }
        Assert.Equal(LpSolverKind.BlockIpm, LpSolverOptions.ParseSolver("block-ipm"));
        Assert.Equal("block-ipm", LpSolverOptions.Name(LpSolverKind.BlockIpm));
    }

    // ---------------------------------------------------------------- MPS and the benchmark

    [Fact]
    public void MpsRoundTripKeepsTheProgram()
    {
        LinearProgram lp = BlockAngular(2);
        lp.AddRow(double.NegativeInfinity, double.PositiveInfinity, [0, 1], [1, 1]);
        var text = new StringWriter();
        lp.WriteMps(text);

        LinearProgram read = LinearProgram.ReadMps(new StringReader(text.ToString()));

        Assert.Equal(lp.Size, read.Size);
        Assert.Equal(lp.ObjectiveOffset, read.ObjectiveOffset);
        for (int j = 0; j < lp.ColumnCount; j++)
        {
            Assert.Equal(lp.ColumnBounds(j), read.ColumnBounds(j));
            Assert.Equal(lp.Cost(j), read.Cost(j));
        }
        for (int i = 0; i < lp.RowCount; i++)
        {
            Assert.Equal(lp.RowBounds(i), read.RowBounds(i));
            Assert.Equal(lp.Row(i).OrderBy(e => e.Col), read.Row(i).OrderBy(e => e.Col));
        }
    }

    [Fact]
    public void BenchmarkRunsEverySolverOnTheSameProgram()
    {
        LinearProgram lp = BlockAngular(4);

        var own = new Dictionary<LpSolverKind, IReadOnlyDictionary<string, string>> { [LpSolverKind.BlockIpm] = AnyLinkingShare };

        var report = Reparo.Experiments.LpSolverBenchmark.Run(lp, "block-angular", [LpSolverKind.Highs, LpSolverKind.BlockIpm], new LpSolverOptions { Threads = 1 }, own);

        Assert.Equal(["highs", "block-ipm (max_linking_share=1)"], report.Runs.Select(r => r.Solver));
        Assert.All(report.Runs, r => Assert.Equal(LpStatus.Optimal, r.Status));
        Assert.True(report.Runs[1].ObjectiveDifference <= 1e-6, report.Runs[1].Detail);
        Assert.NotNull(report.Runs[1].Iterations);
        Assert.NotNull(report.Runs[1].Structure);
    }

    [Fact]
    public void ASolversOwnOptionReachesThatSolverAloneAndNamesItsRun()
    {
        LinearProgram lp = BlockAngular(4);
        var own = new Dictionary<LpSolverKind, IReadOnlyDictionary<string, string>> { [LpSolverKind.BlockIpm] = new Dictionary<string, string> { ["max_multiply_adds"] = "1" } };

        var report = Reparo.Experiments.LpSolverBenchmark.Run(lp, "block-angular", [LpSolverKind.Highs, LpSolverKind.BlockIpm], new LpSolverOptions { Threads = 1 }, own);

        Assert.Equal(["highs", "block-ipm (max_multiply_adds=1)"], report.Runs.Select(r => r.Solver));
        Assert.Equal(LpStatus.Optimal, report.Runs[0].Status);
        Assert.Equal(LpStatus.NumericalTrouble, report.Runs[1].Status);
        Assert.Contains("no affordable block structure", report.Runs[1].Detail);
        Assert.Throws<Reparo.ReparoInputException>(() => Reparo.Experiments.LpSolverBenchmark.Run(lp, "block-angular", [LpSolverKind.Highs], new LpSolverOptions(), own));
    }

    [Fact]
    public void ASolveThatFailedGivesNoTimeRatio()
    {
        LpSolverRun highs = new("highs", LpStatus.Optimal, 177.2, 0.074, 1e-14, 0, null, null, null, "OPTIMAL");
        LpSolverRun failed = new("block-ipm", LpStatus.NumericalTrouble, 0.81, double.NaN, double.NaN, double.NaN, 0, null, "101 blocks (largest 502 rows), 3700 linking rows", "no affordable block structure");
        Assert.Null(LpSolverBenchmark.Ratio(highs, failed));
        Assert.Equal(177.2 / 4.0, LpSolverBenchmark.Ratio(highs, failed with { Status = LpStatus.Optimal, Seconds = 4.0 }));
        string text = LpSolverBenchmark.ToMarkdown(new LpSolverBenchmarkReport("p.mps", new LpSize(10, 10, 100), 2, [highs, failed], 0.2), "./reparo bench lp --mps p.mps", "p.json");
        Assert.Contains("- no time ratio for block-ipm: it ended NumericalTrouble (no affordable block structure); structure: 101 blocks (largest 502 rows), 3700 linking rows.", text);
        Assert.DoesNotContain("time / block-ipm time", text);
    }

    [Fact]
    public void BenchLpCommandPrintsBothSolversAndWritesJson()
    {
        using TempFolder folder = TestSupport.TempFolder();
        string mps = folder.File("lp.mps"), json = folder.File("bench.json");
        using (var writer = new StreamWriter(mps)) BlockAngular(5).WriteMps(writer);

        string markdown = folder.File("lp-solvers.md");
        File.WriteAllText(markdown, "# LP solvers side by side\n\n## other.mps\n\nkept\n");
        (int code, string output, string error) = Tests.Cli.CliRunner.Run("bench", "lp", "--mps", mps, "--solver-threads", "1", "--solver-option", "block-ipm:max_linking_share=1",
            "--json", json, "--markdown", markdown);

        Assert.True(code == 0, error);
        Assert.Contains("block-ipm", output);
        Assert.Contains("highs / block-ipm (max_linking_share=1) time", output);
        string text = File.ReadAllText(json);
        Assert.Contains("\"runs\"", text);
        Assert.Contains("\"iterations\"", text);
        Assert.Contains("\"load_before\"", text);
        // The program's own section is added beside the others, with the ratio measured in this run.
        string results = File.ReadAllText(markdown);
        Assert.Contains("## other.mps\n\nkept", results.ReplaceLineEndings("\n"));
        Assert.Contains("## lp.mps", results);
        Assert.Matches(@"- highs time / block-ipm \(max_linking_share=1\) time: \*\*\d+\.\d\d×\*\*", results);
        Assert.Contains("| block-ipm (max_linking_share=1) | Optimal |", results);
    }

    [Theory]
    [InlineData("max_multiply_adds=1e11")]
    [InlineData("block-ipm:max_multiply_adds")]
    [InlineData("simplex:max_multiply_adds=1e11")]
    [InlineData("clp:max_multiply_adds=1e11")]
    [InlineData("block-ipm:max_linking_share=2")]
    [InlineData("block-ipm:hub_rows=yes")]
    [InlineData("highs:no_such_option=1")]
    public void BenchLpRefusesAMalformedOrMisplacedSolverOptionWithOneLine(string item)
    {
        using TempFolder folder = TestSupport.TempFolder();
        string mps = folder.File("lp.mps"), json = folder.File("bench.json");
        using (var writer = new StreamWriter(mps)) BlockAngular(2).WriteMps(writer);

        (int code, string output, string error) = Tests.Cli.CliRunner.Run("bench", "lp", "--mps", mps, "--solvers", "highs,block-ipm", "--solver-option", item, "--json", json);

        Assert.Equal(2, code);
        Assert.Single(error.Trim().Split('\n'));
        Assert.False(File.Exists(json));
        // Refused before any solver ran on the program (HiGHS comes first here).
        Assert.DoesNotContain("solving with", output + error);
    }
}
