using Reparo.Repair.Provable;

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
                int kind = rng.Next(4);
                int col = kind switch
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

    private static LpSolution Highs(LinearProgram lp) => LpSolver.Solve(lp, new LpSolverOptions { Threads = 1 });

    private static BlockIpmResult Ipm(LinearProgram lp, int threads = 1) => BlockIpm.Solve(lp, new BlockIpmOptions(threads));

    private static void AssertSameOptimum(LinearProgram lp, BlockIpmResult ipm)
    {
        LpSolution reference = Highs(lp);
        Assert.Equal(LpStatus.Optimal, reference.Status);
        Assert.True(ipm.Status == LpStatus.Optimal, ipm.Detail);
        double difference = Math.Abs(ipm.Objective - reference.Objective) / (1 + Math.Abs(reference.Objective));
        Assert.True(difference <= 1e-6, $"objective {ipm.Objective:R} vs HiGHS {reference.Objective:R} ({ipm.Detail})");
        Assert.True(lp.MaxViolation(ipm.Values!) <= 1e-7, $"violation {lp.MaxViolation(ipm.Values!):G3}");
    }

    // ---------------------------------------------------------------- optimum as HiGHS

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void BlockAngularProgramsReachTheOptimumOfHighs(int seed)
    {
        LinearProgram lp = BlockAngular(seed);

        BlockIpmResult result = Ipm(lp);

        AssertSameOptimum(lp, result);
    }
}

public class BlockIpmScratch(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void KernelSpeed()
    {
        output.WriteLine($"Vector<double>.Count {System.Numerics.Vector<double>.Count}, V512 {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}");
        foreach (int n in new[] { 202, 1000 })
        {
            var rng = new Random(1);
            var g = new double[n * n];
            for (int i = 0; i < g.Length; i++) g[i] = rng.NextDouble() - 0.5;
            var a = new double[n * n];
            DenseKernels.SubtractProduct(a, n, g, n, Transpose(g, n), n, n, n, n);
            for (int i = 0; i < n; i++) a[i * n + i] = -a[i * n + i] + n;
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) a[i * n + j] = -a[i * n + j];
            int reps = n < 500 ? 100 : 5;
            var copy = new double[n * n];
            for (int r = 0; r < 3; r++) { a.CopyTo(copy, 0); DenseKernels.Cholesky(copy, n, 1e-13, 1); }
            var sw = new CpuClock();
            for (int r = 0; r < reps; r++) { a.CopyTo(copy, 0); DenseKernels.Cholesky(copy, n, 1e-13, 1); }
            double s = sw.Elapsed.TotalSeconds / reps;
            output.WriteLine($"cholesky n={n}: {s * 1e3:F2} ms, {n * (double)n * n / 6 / s / 1e9:F2} GFMA/s");
            var b = new double[n * 51];
            sw = new CpuClock();
            for (int r = 0; r < reps; r++) { Array.Fill(b, 1.0); DenseKernels.SolveLowerInPlace(copy, n, b, 51); }
            s = sw.Elapsed.TotalSeconds / reps;
            output.WriteLine($"trsm n={n} q=51: {s * 1e3:F2} ms, {n * (double)n * 51 / 2 / s / 1e9:F2} GFMA/s");
            var c = new double[n * n];
            for (int r = 0; r < 3; r++) DenseKernels.SubtractProduct(c, n, g, n, g, n, n, n, 48);
            sw = new CpuClock();
            for (int r = 0; r < reps * 10; r++) DenseKernels.SubtractProduct(c, n, g, n, g, n, n, n, 48);
            s = sw.Elapsed.TotalSeconds / reps / 10;
            output.WriteLine($"gemm n={n} depth 48: {s * 1e3:F2} ms, {n * (double)n * 48 / s / 1e9:F2} GFMA/s");
        }
    }

    private sealed class CpuClock
    {
        private readonly TimeSpan start = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;

        public TimeSpan Elapsed => System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - start;
    }

    private static double[] Transpose(double[] g, int n)
    {
        var t = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) t[j * n + i] = g[i * n + j];
        return t;
    }

    [Fact]
    public void NormalSolveIsExact()
    {
        var lpMethod = typeof(BlockIpmTests).GetMethod("BlockAngular", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        var lp = (LinearProgram)lpMethod.Invoke(null, [1, 6, 7, 12, 4])!;
        var form = StandardForm.Build(lp);
        foreach (var structure in new[] { BlockStructure.Detect(form.A), BlockStructure.SingleBlock(form.A) })
        {
            var normal = new BlockNormalEquations(form.A, structure, 1);
            var rng = new Random(5);
            double[] theta = [.. Enumerable.Range(0, form.A.Cols).Select(_ => Math.Exp(rng.NextDouble() * 4 - 2))];
            normal.Factor(theta, 1e-10);
            double[] v = [.. Enumerable.Range(0, form.A.Rows).Select(_ => rng.NextDouble())];
            double[] rhs = normal.Multiply(v);
            normal.Solve(rhs);
            double err = v.Zip(rhs, (p, q) => Math.Abs(p - q)).Max();
            Assert.True(err < 1e-8, $"{structure.Describe()}: error {err}");
        }
    }
}
