using Reparo.Repair.Provable;

namespace Reparo.Tests.Repair;

public class SparseRowsTests
{
    /// <summary>
    /// A product by rows, over several chunks and threads, is the column-wise product within rounding, and the same to
    /// the bit for any thread count; so are the column dot products Aᵀ·y. Rows and columns are long enough (about 30
    /// and 120 entries) that the four partial sums of <see cref="SparseColumns.Dot"/> all take terms, and their lengths
    /// vary so that every remainder after the groups of four occurs.
    /// </summary>
    [Fact]
    public void ProductsByRowsAndColumnDotsAreTheProductsWithinRoundingForAnyThreadCount()
    {
        const int rows = 3000, cols = 700;
        var rng = new Random(3);
        var colStart = new int[cols + 1];
        var rowIndex = new List<int>();
        var value = new List<double>();
        for (int j = 0; j < cols; j++)
        {
            foreach (int i in Enumerable.Range(0, 120 + j % 4).Select(_ => rng.Next(rows)).Distinct().Order())
            {
                rowIndex.Add(i);
                value.Add(rng.NextDouble() - 0.5);
            }
            colStart[j + 1] = rowIndex.Count;
        }
        var a = new SparseColumns(rows, cols, colStart, [.. rowIndex], [.. value]);
        double[] x = [.. Enumerable.Range(0, cols).Select(j => j % 7 == 0 ? 0 : rng.NextDouble() - 0.5)];
        double[] start = [.. Enumerable.Range(0, rows).Select(_ => rng.NextDouble())];
        var expected = (double[])start.Clone();
        a.MultiplyAdd(x, expected);
        var byRows = new SparseRows(a);

        double[] r = [.. Enumerable.Range(0, rows).Select(_ => rng.NextDouble() - 0.5)];

        long[]? firstBits = null;
        foreach (int threads in new[] { 1, 3 })
        {
            var y = (double[])start.Clone();
            byRows.MultiplyAdd(x, y, threads);
            for (int i = 0; i < rows; i++) Assert.Equal(expected[i], y[i], 1e-12);
            long[] bits = [.. y.Select(BitConverter.DoubleToInt64Bits)];
            firstBits ??= bits;
            Assert.Equal(firstBits, bits);
        }
        for (int j = 0; j < cols; j++)
        {
            double naive = 0;
            for (int e = colStart[j]; e < colStart[j + 1]; e++) naive += value[e] * r[rowIndex[e]];
            Assert.Equal(naive, a.ColumnDot(j, r), 1e-12);
        }
    }
}
