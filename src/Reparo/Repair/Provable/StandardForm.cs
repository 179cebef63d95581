namespace Reparo.Repair.Provable;

/// <summary>
/// A <see cref="LinearProgram"/> in the form an interior-point method works on: minimise cᵀx + offset subject to
/// A·x = b, x ≥ 0 where a column has a lower bound (else it is free) and x ≤ u where it has an upper bound too.
/// Fixed columns are substituted, free and empty rows dropped (an empty row whose bounds exclude its constant makes
/// the program infeasible), a column that meets no row is set to its best bound. Every other row that is not an
/// equality gets a slack column −s with the row's bounds. Rows and columns are scaled by powers of two (so scaling
/// itself rounds nothing) until their largest entries are close to 1, and each column is shifted to its lower bound,
/// or mirrored at its upper bound when it has only that.
/// </summary>
internal sealed class StandardForm
{
    private const int ScalingPasses = 10;

    private readonly LinearProgram source;
    private readonly int[] internalColumn, internalRow, slackOfRow;
    private readonly double[] fixedValue, columnScale, rowScale, shift, sign, scaledLower, scaledUpper;

    private StandardForm(LinearProgram lp, SparseColumns matrix, double[] b, double[] cost, double[] upper, bool[] hasLower, double offset,
        int[] internalColumn, int[] internalRow, int[] slackOfRow, double[] fixedValue, double[] columnScale, double[] rowScale, double[] shift, double[] sign,
        double[] scaledLower, double[] scaledUpper, string? conflict, bool hasRay)
    {
        this.internalRow = internalRow;
        this.slackOfRow = slackOfRow;
        this.rowScale = rowScale;
        source = lp;
        A = matrix;
        B = b;
        Cost = cost;
        Upper = upper;
        HasLower = hasLower;
        Offset = offset;
        this.internalColumn = internalColumn;
        this.fixedValue = fixedValue;
        this.columnScale = columnScale;
        this.shift = shift;
        this.sign = sign;
        this.scaledLower = scaledLower;
        this.scaledUpper = scaledUpper;
        Conflict = conflict;
        HasRay = hasRay;
    }

    /// <summary>The scaled constraint matrix.</summary>
    public SparseColumns A { get; }

    /// <summary>Right-hand side.</summary>
    public double[] B { get; }

    /// <summary>Objective.</summary>
    public double[] Cost { get; }

    /// <summary>Upper bound per column (+∞ where there is none).</summary>
    public double[] Upper { get; }

    /// <summary>Whether the column is bounded below by 0 (else it is free).</summary>
    public bool[] HasLower { get; }

    /// <summary>Objective constant.</summary>
    public double Offset { get; }

    /// <summary>Why the program is infeasible before any solve (an empty row whose bounds exclude its constant), or null.</summary>
    public string? Conflict { get; }

    /// <summary>Each internal row's batch (<see cref="LinearProgram.StartBatch"/>), or null when the program's rows came in one batch.</summary>
    public int[]? RowBatch { get; private init; }

    /// <summary>A column that meets no row improves the objective without bound (the program is unbounded if feasible).</summary>
    public bool HasRay { get; }

    /// <summary>Converts <paramref name="lp"/>.</summary>
    public static StandardForm Build(LinearProgram lp)
    {
        int m0 = lp.RowCount, n0 = lp.ColumnCount;
        ReadOnlySpan<int> starts = lp.RowStarts, cols = lp.EntryColumns;
        ReadOnlySpan<double> values = lp.EntryValues;
        var lower = new double[n0];
        var upper = new double[n0];
        var isFixed = new bool[n0];
        var fixedValue = new double[n0];
        for (int j = 0; j < n0; j++)
        {
            (lower[j], upper[j]) = lp.ColumnBounds(j);
            isFixed[j] = lower[j] == upper[j];
            if (isFixed[j]) fixedValue[j] = lower[j];
        }

        // Rows: the constant of fixed columns moves into the bounds; free rows and rows left without entries go.
        string? conflict = null;
        var keepRow = new bool[m0];
        var rowLower = new double[m0];
        var rowUpper = new double[m0];
        var columnCount = new int[n0];
        for (int i = 0; i < m0; i++)
        {
            double constant = 0;
            int kept = 0;
            for (int e = starts[i]; e < starts[i + 1]; e++)
            {
                if (isFixed[cols[e]]) constant += values[e] * fixedValue[cols[e]];
                else kept++;
            }
            (double l, double u) = lp.RowBounds(i);
            rowLower[i] = l - constant;
            rowUpper[i] = u - constant;
            if (double.IsNegativeInfinity(l) && double.IsPositiveInfinity(u)) continue;
            if (kept == 0)
            {
                double tolerance = 1e-9 * (1 + Math.Abs(constant));
                if (rowLower[i] > tolerance || rowUpper[i] < -tolerance) conflict ??= $"row {i} has no free variable and its constant {constant:G6} is outside [{l:G6}, {u:G6}]";
                continue;
            }
            keepRow[i] = true;
            for (int e = starts[i]; e < starts[i + 1]; e++)
                if (!isFixed[cols[e]]) columnCount[cols[e]]++;
        }

        // Columns that meet no kept row take their best bound.
        bool hasRay = false;
        var keepColumn = new bool[n0];
        for (int j = 0; j < n0; j++)
        {
            if (isFixed[j]) continue;
            if (columnCount[j] > 0)
            {
                keepColumn[j] = true;
                continue;
            }
            double c = lp.Cost(j);
            double best = c > 0 ? lower[j] : c < 0 ? upper[j] : Math.Clamp(0, lower[j], upper[j]);
            if (double.IsInfinity(best))
            {
                hasRay = true;
                best = double.IsInfinity(lower[j]) ? (double.IsInfinity(upper[j]) ? 0 : upper[j]) : lower[j];
            }
            isFixed[j] = true;
            fixedValue[j] = best;
        }

        (double[] rowScale, double[] columnScale) = Scale(lp, keepRow, keepColumn);

        // Internal columns: kept structural columns, then one slack per kept inequality row; internal rows: kept rows.
        var internalRow = new int[m0];
        int m = 0;
        for (int i = 0; i < m0; i++) internalRow[i] = keepRow[i] ? m++ : -1;
        var internalColumn = new int[n0];
        int n = 0;
        for (int j = 0; j < n0; j++) internalColumn[j] = keepColumn[j] ? n++ : -1;
        int structural = n;
        for (int i = 0; i < m0; i++)
            if (keepRow[i] && rowLower[i] != rowUpper[i]) n++;

        // Entries by internal column: count, then fill row by row (so each column's rows ascend).
        var slackOfRow = new int[m];
        for (int i = 0, slack = structural; i < m0; i++)
            if (keepRow[i]) slackOfRow[internalRow[i]] = rowLower[i] != rowUpper[i] ? slack++ : -1;
        var colStart = new int[n + 1];
        for (int i = 0, slack = structural; i < m0; i++)
        {
            if (!keepRow[i]) continue;
            for (int e = starts[i]; e < starts[i + 1]; e++)
                if (keepColumn[cols[e]]) colStart[internalColumn[cols[e]] + 1]++;
            if (rowLower[i] != rowUpper[i]) colStart[++slack]++;
        }
        for (int k = 0; k < n; k++) colStart[k + 1] += colStart[k];
        var next = (int[])colStart.Clone();
        var rowIndex = new int[colStart[n]];
        var value = new double[colStart[n]];
        var b = new double[m];
        var colLower = new double[n];
        var colUpper = new double[n];
        var cost = new double[n];
        for (int j = 0; j < n0; j++)
        {
            if (!keepColumn[j]) continue;
            int k = internalColumn[j];
            colLower[k] = lower[j] / columnScale[j];
            colUpper[k] = upper[j] / columnScale[j];
            cost[k] = lp.Cost(j) * columnScale[j];
        }
        for (int i = 0, slack = structural; i < m0; i++)
        {
            if (!keepRow[i]) continue;
            int r = internalRow[i];
            for (int e = starts[i]; e < starts[i + 1]; e++)
            {
                int j = cols[e];
                if (!keepColumn[j]) continue;
                int p = next[internalColumn[j]]++;
                rowIndex[p] = r;
                value[p] = values[e] * rowScale[i] * columnScale[j];
            }
            if (rowLower[i] == rowUpper[i])
            {
                b[r] = rowLower[i] * rowScale[i];
                continue;
            }
            rowIndex[next[slack]] = r;
            value[next[slack]++] = -1;
            colLower[slack] = rowLower[i] * rowScale[i];
            colUpper[slack] = rowUpper[i] * rowScale[i];
            slack++;
        }

        // Shift each column to its lower bound (or mirror it at its only upper bound).
        var shift = new double[n];
        var sign = new double[n];
        var upperOut = new double[n];
        var hasLower = new bool[n];
        double offset = lp.ObjectiveOffset;
        for (int j = 0; j < n0; j++)
            if (isFixed[j]) offset += lp.Cost(j) * fixedValue[j];
        for (int k = 0; k < n; k++)
        {
            double lo = colLower[k], hi = colUpper[k];
            hasLower[k] = !double.IsInfinity(lo) || !double.IsInfinity(hi);
            (shift[k], sign[k]) = !double.IsInfinity(lo) ? (lo, 1.0) : !double.IsInfinity(hi) ? (hi, -1.0) : (0.0, 1.0);
            upperOut[k] = !double.IsInfinity(lo) && !double.IsInfinity(hi) ? hi - lo : double.PositiveInfinity;
            offset += cost[k] * shift[k];
            cost[k] *= sign[k];
            for (int p = colStart[k]; p < colStart[k + 1]; p++)
            {
                b[rowIndex[p]] -= value[p] * shift[k];
                value[p] *= sign[k];
            }
        }
        var matrix = new SparseColumns(m, n, colStart, rowIndex, value);
        int[]? rowBatch = null;
        if (lp.HasBatches)
        {
            rowBatch = new int[m];
            for (int i = 0; i < m0; i++)
                if (keepRow[i]) rowBatch[internalRow[i]] = lp.BatchOf(i);
        }
        return new StandardForm(lp, matrix, b, cost, upperOut, hasLower, offset, internalColumn, internalRow, slackOfRow, fixedValue, columnScale, rowScale,
            shift, sign, colLower, colUpper, conflict, hasRay)
        { RowBatch = rowBatch };
    }

    /// <summary>Row and column scale factors (powers of two) that bring every row's and column's largest entry near 1 (Ruiz's equilibration).</summary>
    private static (double[] Rows, double[] Columns) Scale(LinearProgram lp, bool[] keepRow, bool[] keepColumn)
    {
        int m0 = lp.RowCount, n0 = lp.ColumnCount;
        ReadOnlySpan<int> starts = lp.RowStarts, cols = lp.EntryColumns;
        ReadOnlySpan<double> values = lp.EntryValues;
        var rowScale = new double[m0];
        var columnScale = new double[n0];
        Array.Fill(rowScale, 1.0);
        Array.Fill(columnScale, 1.0);
        var columnMax = new double[n0];
        for (int pass = 0; pass < ScalingPasses; pass++)
        {
            bool changed = false;
            Array.Clear(columnMax);
            for (int i = 0; i < m0; i++)
            {
                if (!keepRow[i]) continue;
                double rowMax = 0;
                for (int e = starts[i]; e < starts[i + 1]; e++)
                    if (keepColumn[cols[e]]) rowMax = Math.Max(rowMax, Math.Abs(values[e]) * columnScale[cols[e]]);
                double factor = PowerOfTwo(1 / Math.Sqrt(rowMax * rowScale[i]));
                changed |= factor != 1;
                rowScale[i] *= factor;
                for (int e = starts[i]; e < starts[i + 1]; e++)
                    if (keepColumn[cols[e]]) columnMax[cols[e]] = Math.Max(columnMax[cols[e]], Math.Abs(values[e]) * rowScale[i]);
            }
            for (int j = 0; j < n0; j++)
            {
                if (!keepColumn[j] || columnMax[j] == 0) continue;
                double factor = PowerOfTwo(1 / Math.Sqrt(columnMax[j] * columnScale[j]));
                changed |= factor != 1;
                columnScale[j] *= factor;
            }
            if (!changed) break;
        }
        return (rowScale, columnScale);
    }

    private static double PowerOfTwo(double x) => double.IsFinite(x) && x > 0 ? Math.ScaleB(1.0, (int)Math.Round(Math.Log2(x))) : 1.0;

    /// <summary>The original program's variables for internal values <paramref name="x"/>, within their bounds.</summary>
    public double[] Recover(ReadOnlySpan<double> x)
    {
        var result = new double[source.ColumnCount];
        for (int j = 0; j < result.Length; j++)
        {
            int k = internalColumn[j];
            if (k < 0)
            {
                result[j] = fixedValue[j];
                continue;
            }
            double scaled = Math.Clamp(shift[k] + sign[k] * x[k], scaledLower[k], scaledUpper[k]);
            result[j] = scaled * columnScale[j];
        }
        return result;
    }

    /// <summary>The original program's row duals for internal duals <paramref name="y"/> (0 for rows presolve dropped).</summary>
    public double[] RowDuals(ReadOnlySpan<double> y)
    {
        var result = new double[source.RowCount];
        for (int i = 0; i < result.Length; i++)
            if (internalRow[i] >= 0) result[i] = y[internalRow[i]] * rowScale[i];
        return result;
    }

    /// <summary>
    /// Internal variables and row duals for the original program's <paramref name="values"/> and <paramref name="rowDuals"/>,
    /// which may cover only its first columns and rows (the rest: 0 within the column's bounds, dual 0). Each slack takes
    /// the value that satisfies its row; nothing is moved into the interior.
    /// </summary>
    public (double[] X, double[] Y) ToInternal(ReadOnlySpan<double> values, ReadOnlySpan<double> rowDuals)
    {
        int n = A.Cols, m = A.Rows;
        var x = new double[n];
        for (int j = 0; j < source.ColumnCount; j++)
        {
            int k = internalColumn[j];
            if (k < 0) continue;
            (double lower, double upper) = source.ColumnBounds(j);
            double value = j < values.Length ? values[j] : Math.Clamp(0, lower, upper);
            x[k] = sign[k] * (value / columnScale[j] - shift[k]);
        }
        var ax = new double[m];
        A.MultiplyAdd(x, ax);
        for (int r = 0; r < m; r++)
        {
            int k = slackOfRow[r];
            if (k < 0) continue;
            // The slack column's one entry is −sign[k], in row r.
            x[k] = (ax[r] - B[r]) * sign[k];
        }
        var y = new double[m];
        for (int i = 0; i < Math.Min(rowDuals.Length, source.RowCount); i++)
            if (internalRow[i] >= 0) y[internalRow[i]] = rowDuals[i] / rowScale[i];
        return (x, y);
    }

    /// <summary>
    /// The largest row or column bound violation of the original program at <paramref name="x"/>, each relative to
    /// 1 + the magnitude of the bound it violates.
    /// </summary>
    public double RelativeViolation(ReadOnlySpan<double> x)
    {
        double worst = 0;
        for (int j = 0; j < source.ColumnCount; j++)
        {
            (double l, double u) = source.ColumnBounds(j);
            if (x[j] < l) worst = Math.Max(worst, (l - x[j]) / (1 + Math.Abs(l)));
            if (x[j] > u) worst = Math.Max(worst, (x[j] - u) / (1 + Math.Abs(u)));
        }
        for (int i = 0; i < source.RowCount; i++)
        {
            (double l, double u) = source.RowBounds(i);
            double activity = source.Activity(i, x);
            if (activity < l) worst = Math.Max(worst, (l - activity) / (1 + Math.Abs(l)));
            if (activity > u) worst = Math.Max(worst, (activity - u) / (1 + Math.Abs(u)));
        }
        return worst;
    }
}
