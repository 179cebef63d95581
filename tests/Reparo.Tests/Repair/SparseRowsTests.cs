using Reparo.Repair.Provable;

namespace Reparo.Tests.Repair;

public class SparseRowsTests
{
    /// <summary>A product by rows, over several chunks and threads, is the column-wise product to the bit.</summary>
    [Fact]
    public void ProductByRowsIsTheProductByColumnsToTheBit()
    {
        const int rows = 9000, cols = 700;
        var rng = new Random(3);
        var colStart = new int[cols + 1];
        var rowIndex = new List<int>();
        var value = new List<double>();
        for (int j = 0; j < cols; j++)
        {
            foreach (int i in Enumerable.Range(0, 40).Select(_ => rng.Next(rows)).Distinct().Order())
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

        foreach (int threads in new[] { 1, 3 })
        {
            var y = (double[])start.Clone();
            byRows.MultiplyAdd(x, y, threads);
            Assert.Equal(expected.Select(BitConverter.DoubleToInt64Bits), y.Select(BitConverter.DoubleToInt64Bits));
        }
    }
}
