using Reparo.Repair.Provable;

namespace Reparo.Tests.Repair;

public class DenseKernelsTests
{
    private static double[] RandomSpd(int n, int seed, int rank)
    {
        var rng = new Random(seed);
        var g = new double[n * rank];
        for (int i = 0; i < g.Length; i++) g[i] = rng.NextDouble() - 0.5;
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double sum = 0;
                for (int k = 0; k < rank; k++) sum += g[i * rank + k] * g[j * rank + k];
                a[i * n + j] = sum;
            }
        return a;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(33)]
    [InlineData(130)]
    public void CholeskyFactorReproducesTheMatrix(int n)
    {
        double[] a = RandomSpd(n, seed: n, rank: n + 3);
        var factor = (double[])a.Clone();

        int dropped = DenseKernels.Cholesky(factor, n, 1e-13, threads: 2);

        Assert.Equal(0, dropped);
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double sum = 0;
                for (int k = 0; k <= j; k++) sum += factor[i * n + k] * factor[j * n + k];
                Assert.Equal(a[i * n + j], sum, 1e-10);
            }
    }

    /// <summary>
    /// A factorisation large enough for several bands of rows, blocks of columns and levels of recursion is the same to
    /// the bit on one thread and on three, and reproduces the matrix.
    /// </summary>
    [Fact]
    public void LargeCholeskyIsTheSameOnAnyThreadCount()
    {
        const int n = 611;
        double[] a = RandomSpd(n, seed: 11, rank: 40);
        for (int i = 0; i < n; i++) a[i * n + i] += 1;
        var one = (double[])a.Clone();
        var three = (double[])a.Clone();

        DenseKernels.Cholesky(one, n, 1e-13, threads: 1);
        DenseKernels.Cholesky(three, n, 1e-13, threads: 3);

        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++) Assert.Equal(BitConverter.DoubleToInt64Bits(one[i * n + j]), BitConverter.DoubleToInt64Bits(three[i * n + j]));
        for (int i = 0; i < n; i += 7)
            for (int j = 0; j <= i; j += 3)
            {
                double sum = 0;
                for (int k = 0; k <= j; k++) sum += one[i * n + k] * one[j * n + k];
                Assert.Equal(a[i * n + j], sum, 1e-9);
            }
    }

    [Fact]
    public void DependentRowsGetDroppedPivotsAndSolvesStayFinite()
    {
        const int n = 40;
        double[] a = RandomSpd(n, seed: 3, rank: 25);

        int dropped = DenseKernels.Cholesky(a, n, 1e-13, threads: 1);
        double[] b = [.. Enumerable.Repeat(1.0, n)];
        DenseKernels.ForwardSolve(a, n, b);
        DenseKernels.BackwardSolve(a, n, b);

        Assert.Equal(n - 25, dropped);
        Assert.All(b, v => Assert.True(double.IsFinite(v)));
    }

    [Fact]
    public void SolveWithManyRightHandSidesSkipsLeadingZeros()
    {
        const int n = 70, q = 11;
        double[] l = RandomSpd(n, seed: 5, rank: n);
        DenseKernels.Cholesky(l, n, 1e-13, threads: 1);
        var rng = new Random(9);
        int[] first = [.. Enumerable.Range(0, q).Select(t => 5 * t + 3)];
        var b = new double[n * q];
        for (int t = 0; t < q; t++)
            for (int i = first[t]; i < n; i++) b[i * q + t] = rng.NextDouble();
        var dense = (double[])b.Clone();

        DenseKernels.SolveLowerInPlace(l, n, b, q, first);
        DenseKernels.SolveLowerInPlace(l, n, dense, q);

        for (int i = 0; i < b.Length; i++) Assert.Equal(dense[i], b[i], 1e-12);
        var column = new double[n];
        for (int i = 0; i < n; i++) column[i] = b[i * q + 4];
        double[] product = new double[n];
        for (int i = 0; i < n; i++)
            for (int k = 0; k <= i; k++) product[i] += l[i * n + k] * column[k];
        for (int i = 0; i < first[4]; i++) Assert.Equal(0.0, product[i], 1e-12);
        Assert.Equal(1.0, product[first[4]] / (b[first[4] * q + 4] * l[first[4] * n + first[4]]), 1e-12);
    }

    [Theory]
    [InlineData(9, 13, 5, null)]
    [InlineData(17, 17, 130, 0)]
    [InlineData(3, 2, 1, null)]
    public void ProductUpdateMatchesTheDefinition(int rows, int cols, int depth, int? diagonal)
    {
        var rng = new Random(rows * 31 + cols);
        double[] a = [.. Enumerable.Range(0, rows * depth).Select(_ => rng.NextDouble())];
        double[] b = [.. Enumerable.Range(0, depth * cols).Select(_ => rng.NextDouble())];
        double[] c = [.. Enumerable.Range(0, rows * cols).Select(_ => rng.NextDouble())];
        var expected = (double[])c.Clone();
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                for (int k = 0; k < depth; k++) expected[i * cols + j] -= a[i * depth + k] * b[k * cols + j];

        DenseKernels.SubtractProduct(c, cols, a, depth, b, cols, rows, cols, depth, diagonal);

        for (int i = 0; i < rows; i++)
            for (int j = 0; j <= (diagonal is int d ? Math.Min(cols - 1, i + d) : cols - 1); j++)
                Assert.Equal(expected[i * cols + j], c[i * cols + j], 1e-10);
    }

    /// <summary>
    /// Whatever tile covers an entry (the 8 × 16 one in 512-bit registers where the hardware has them, the narrower ones
    /// at the edges and elsewhere), its sum runs over k in the same order, slice by slice of 128: the result is the
    /// same to the bit, so solves do not depend on the machine's vector width.
    /// </summary>
    [Theory]
    [InlineData(8, 16, 3, null)]
    [InlineData(21, 37, 200, null)]
    [InlineData(40, 40, 130, 0)]
    [InlineData(35, 70, 257, 6)]
    [InlineData(64, 48, 129, null)]
    [InlineData(24, 530, 140, null)]
    [InlineData(300, 300, 40, 0)]
    public void ProductUpdateSumsInTheSameOrderOnEveryTile(int rows, int cols, int depth, int? diagonal)
    {
        var rng = new Random(rows * 131 + cols * 7 + depth);
        double[] a = [.. Enumerable.Range(0, rows * depth).Select(_ => rng.NextDouble() - 0.5)];
        double[] b = [.. Enumerable.Range(0, depth * cols).Select(_ => rng.NextDouble() - 0.5)];
        double[] c = [.. Enumerable.Range(0, rows * cols).Select(_ => rng.NextDouble())];
        var expected = (double[])c.Clone();
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                for (int k0 = 0; k0 < depth; k0 += 128)
                {
                    double sum = 0;
                    for (int k = k0; k < Math.Min(depth, k0 + 128); k++) sum = Math.FusedMultiplyAdd(a[i * depth + k], b[k * cols + j], sum);
                    expected[i * cols + j] -= sum;
                }

        DenseKernels.SubtractProduct(c, cols, a, depth, b, cols, rows, cols, depth, diagonal);

        for (int i = 0; i < rows; i++)
            for (int j = 0; j <= (diagonal is int d ? Math.Min(cols - 1, i + d) : cols - 1); j++)
                Assert.Equal(BitConverter.DoubleToInt64Bits(expected[i * cols + j]), BitConverter.DoubleToInt64Bits(c[i * cols + j]));
    }
}
