using Reparo.Repair.Provable;

namespace Reparo.Tests.Repair;

public class PairedColumnProductsTests
{
    /// <summary>
    /// A matrix whose columns come as the parts of split variables (the second −1, 2 or −0.5 times the first but in one
    /// row, or in as many rows as the pair may deviate in), mixed with columns that pair with nothing (another row
    /// pattern, too many deviations, a column after a pair's second): exactly the intended pairs are found, and both products equal the
    /// column-wise ones within rounding, to the bit for any thread count.
    /// </summary>
    [Fact]
    public void PairsAreFoundAndTheProductsAreTheMatrixProducts()
    {
        const int rows = 6000, pairsMade = 900;
        var rng = new Random(5);
        var columns = new List<(int Row, double Value)[]>();
        int expectedPairs = 0;
        (int, double)[] Column() =>
            [.. Enumerable.Range(0, 48).Select(_ => rng.Next(rows)).Distinct().Order().Select(i => (i, rng.NextDouble() - 0.5))];
        for (int p = 0; p < pairsMade; p++)
        {
            (int Row, double Value)[] first = Column();
            columns.Add(first);
            double ratio = new[] { -1.0, 2.0, -0.5 }[p % 3];
            int allowed = first.Length / 8;
            switch (p % 5)
            {
                case 0: // one deviating row, as Δ⁺ and Δ⁻ in the row of |Δ| ≤ bound
                    columns.Add([.. first.Select((e, k) => (e.Row, k == first.Length - 1 ? -1.0 : ratio * e.Value))]);
                    expectedPairs++;
                    break;
                case 1: // as many deviations as allowed
                    columns.Add([.. first.Select((e, k) => (e.Row, k >= 1 && k <= allowed ? e.Value + 1 : ratio * e.Value))]);
                    expectedPairs++;
                    break;
                case 2: // one deviation too many: a column of its own
                    columns.Add([.. first.Select((e, k) => (e.Row, k >= 1 && k <= allowed + 1 ? e.Value + 1 : ratio * e.Value))]);
                    break;
                case 3: // another row pattern
                    columns.Add(Column());
                    break;
                default: // exactly proportional; the next column must not follow it
                    columns.Add([.. first.Select(e => (e.Row, ratio * e.Value))]);
                    columns.Add([.. first.Select(e => (e.Row, 3 * e.Value))]);
                    expectedPairs++;
                    break;
            }
        }
        var colStart = new int[columns.Count + 1];
        for (int j = 0; j < columns.Count; j++) colStart[j + 1] = colStart[j] + columns[j].Length;
        var a = new SparseColumns(rows, columns.Count, colStart, [.. columns.SelectMany(c => c.Select(e => e.Row))], [.. columns.SelectMany(c => c.Select(e => e.Value))]);
        double[] x = [.. Enumerable.Range(0, a.Cols).Select(j => j % 7 == 0 ? 0 : rng.NextDouble() - 0.5)];
        double[] y = [.. Enumerable.Range(0, rows).Select(_ => rng.NextDouble() - 0.5)];
        double[] start = [.. Enumerable.Range(0, rows).Select(_ => rng.NextDouble())];
        var expectedAx = (double[])start.Clone();
        a.MultiplyAdd(x, expectedAx);
        double[] expectedAty = [.. Enumerable.Range(0, a.Cols).Select(j => a.ColumnDot(j, y))];

        var products = new PairedColumnProducts(a);

        Assert.Equal(expectedPairs, products.Pairs);
        long[]? firstAx = null, firstAty = null;
        foreach (int threads in new[] { 1, 3 })
        {
            var ax = (double[])start.Clone();
            products.MultiplyAdd(x, ax, threads);
            var aty = new double[a.Cols];
            products.TransposeMultiply(y, aty, threads);
            for (int i = 0; i < rows; i++) Assert.Equal(expectedAx[i], ax[i], 1e-12);
            for (int j = 0; j < a.Cols; j++) Assert.Equal(expectedAty[j], aty[j], 1e-12);
            long[] axBits = [.. ax.Select(BitConverter.DoubleToInt64Bits)], atyBits = [.. aty.Select(BitConverter.DoubleToInt64Bits)];
            firstAx ??= axBits;
            firstAty ??= atyBits;
            Assert.Equal(firstAx, axBits);
            Assert.Equal(firstAty, atyBits);
        }
    }
}
