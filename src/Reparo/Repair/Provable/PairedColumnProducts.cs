namespace Reparo.Repair.Provable;

/// <summary>
/// The products A·x and Aᵀ·y of an interior-point iteration with every column that is a multiple of the column before
/// it, but for a few rows, read once for both. A split variable's two parts are such a pair (Δ⁻'s entries are −1 times
/// Δ⁺'s except in the row of the objective's |Δ| ≤ bound); in a repair program they hold nearly all of A's entries, so
/// each product reads about half of them.
/// </summary>
internal sealed class PairedColumnProducts
{
    /// <summary>Columns per parallel task in Aᵀ·y.</summary>
    private const int ColumnsPerTask = 2048;

    /// <summary>At most one entry in this many of a pair may deviate from the ratio.</summary>
    private const int DeviationShare = 8;

    private readonly SparseColumns a, firsts;
    private readonly SparseRows firstsByRows;
    private readonly int[] column, second, deviationStart, deviationRow;
    private readonly double[] ratio, deviationValue, combined;

    /// <summary>
    /// Finds the pairs of <paramref name="a"/> (column j follows column j − 1 when j − 1 follows no column itself) and
    /// copies the first columns, the others and each pair's first, into a matrix of their own: read in place, every
    /// other column of A takes longer than all of A, as the reads no longer run in one stream.
    /// </summary>
    public PairedColumnProducts(SparseColumns a)
    {
        this.a = a;
        var columns = new List<int>();
        var seconds = new List<int>();
        var ratios = new List<double>();
        var starts = new List<int> { 0 };
        var rows = new List<int>();
        var values = new List<double>();
        for (int j = 0; j < a.Cols; j++)
        {
            columns.Add(j);
            if (j + 1 < a.Cols && Ratio(j, j + 1, rows, values) is double r)
            {
                seconds.Add(j + 1);
                ratios.Add(r);
                j++;
            }
            else
            {
                seconds.Add(-1);
                ratios.Add(0);
            }
            starts.Add(rows.Count);
        }
        column = [.. columns];
        second = [.. seconds];
        ratio = [.. ratios];
        deviationStart = [.. starts];
        deviationRow = [.. rows];
        deviationValue = [.. values];
        var colStart = new int[column.Length + 1];
        for (int t = 0; t < column.Length; t++) colStart[t + 1] = colStart[t] + a.ColStart[column[t] + 1] - a.ColStart[column[t]];
        var rowIndex = new int[colStart[^1]];
        var value = new double[colStart[^1]];
        for (int t = 0; t < column.Length; t++)
        {
            Array.Copy(a.RowIndex, a.ColStart[column[t]], rowIndex, colStart[t], colStart[t + 1] - colStart[t]);
            Array.Copy(a.Value, a.ColStart[column[t]], value, colStart[t], colStart[t + 1] - colStart[t]);
        }
        firsts = new SparseColumns(a.Rows, column.Length, colStart, rowIndex, value);
        firstsByRows = new SparseRows(firsts);
        combined = new double[column.Length];
    }

    /// <summary>Columns read through the column before them.</summary>
    public int Pairs => a.Cols - column.Length;

    /// <summary>
    /// The ratio a_q / a_p that all but at most one in <see cref="DeviationShare"/> of column q's entries share with
    /// column p's (same rows), taken from one of the first entries, with the deviations a_q − ratio·a_p added to
    /// <paramref name="rows"/> and <paramref name="values"/>; or null.
    /// </summary>
    private double? Ratio(int p, int q, List<int> rows, List<double> values)
    {
        int length = a.ColStart[p + 1] - a.ColStart[p], first = a.ColStart[p], second = a.ColStart[q];
        if (length == 0 || length != a.ColStart[q + 1] - second) return null;
        for (int e = 0; e < length; e++)
            if (a.RowIndex[first + e] != a.RowIndex[second + e]) return null;
        int allowed = length / DeviationShare;
        for (int candidate = 0; candidate <= Math.Min(allowed, length - 1); candidate++)
        {
            if (a.Value[first + candidate] == 0) continue;
            double r = a.Value[second + candidate] / a.Value[first + candidate];
            if (r == 0 || !double.IsFinite(r)) continue;
            int deviations = 0;
            for (int e = 0; e < length && deviations <= allowed; e++)
                if (a.Value[second + e] != r * a.Value[first + e]) deviations++;
            if (deviations > allowed) continue;
            for (int e = 0; e < length; e++)
            {
                double d = a.Value[second + e] - r * a.Value[first + e];
                if (d == 0) continue;
                rows.Add(a.RowIndex[second + e]);
                values.Add(d);
            }
            return r;
        }
        return null;
    }

    /// <summary>
    /// y += A·x with <paramref name="threads"/> threads: each pair's first column once, times x_p + ratio·x_q, then the
    /// deviations. The same result for any thread count.
    /// </summary>
    public void MultiplyAdd(double[] x, double[] y, int threads)
    {
        for (int t = 0; t < column.Length; t++) combined[t] = second[t] < 0 ? x[column[t]] : x[column[t]] + ratio[t] * x[second[t]];
        firstsByRows.MultiplyAdd(combined, y, threads);
        for (int t = 0; t < column.Length; t++)
        {
            if (second[t] < 0 || x[second[t]] == 0) continue;
            double xq = x[second[t]];
            for (int e = deviationStart[t]; e < deviationStart[t + 1]; e++) y[deviationRow[e]] += deviationValue[e] * xq;
        }
    }

    /// <summary>
    /// result = Aᵀ·y with <paramref name="threads"/> threads: a pair's second entry is ratio times the first's plus its
    /// deviations. The same result for any thread count.
    /// </summary>
    public void TransposeMultiply(double[] y, double[] result, int threads) => DenseKernels.ForBands(column.Length, ColumnsPerTask, threads, (first, count) =>
    {
        for (int t = first; t < first + count; t++)
        {
            double dot = firsts.ColumnDot(t, y);
            result[column[t]] = dot;
            if (second[t] < 0) continue;
            double sum = ratio[t] * dot;
            for (int e = deviationStart[t]; e < deviationStart[t + 1]; e++) sum += deviationValue[e] * y[deviationRow[e]];
            result[second[t]] = sum;
        }
    });
}
