using System.Runtime.InteropServices;

namespace Reparo.Repair.Provable;

/// <summary>
/// Rows and columns cut from the end of a <see cref="LinearProgram"/> (<see cref="LinearProgram.RemoveTail"/>): one
/// preserved input's part of a repair LP, held out of the program until a solution violates it (constraint
/// generation). Columns from <see cref="FirstColumn"/> on are the fragment's own auxiliary columns, each defined by the
/// first of the fragment's rows that uses it (an equality, as the encoder writes them); smaller indices are the
/// program's columns.
/// <para>
/// A violated constraint enters the program by itself. One over program columns alone (a sign row at the repaired
/// layer), or the bound of an own column whose definition uses program columns alone (an active neuron's sign there),
/// enters as one row over program columns: it meets one neuron's weights. One that uses own columns (a later layer's
/// sign, the specification) first brings in the own columns with their bounds and defining rows (each defining row
/// meets one neuron's block), then enters as it is; the fragment's other rows keep waiting.
/// </para>
/// </summary>
internal sealed class ProgramFragment
{
    private readonly double[] columnLower, columnUpper, columnCost, rowLower, rowUpper, entryValue;
    private readonly int[] rowStart, entryColumn;

    /// <summary>Each own column's defining row, and its coefficient there.</summary>
    private readonly int[] definingRow;

    private readonly double[] definingCoefficient;

    /// <summary>Per row: −1 for a defining row, 0 if it uses own columns, 1 if it is over program columns alone.</summary>
    private readonly sbyte[] rowKind;

    /// <summary>Per own column: whether its definition uses program columns alone.</summary>
    private readonly bool[] directColumn;

    private readonly bool[] rowEntered, boundEntered;

    /// <summary>Where the own columns went in the program (their index there minus <see cref="FirstColumn"/>), once they entered.</summary>
    private int ownOffset;

    /// <summary>Wraps rows and columns cut from a program (CSR rows; columns from <paramref name="firstColumn"/> on are the fragment's own).</summary>
    public ProgramFragment(int firstColumn, double[] columnLower, double[] columnUpper, double[] columnCost,
        double[] rowLower, double[] rowUpper, int[] rowStart, int[] entryColumn, double[] entryValue)
    {
        FirstColumn = firstColumn;
        (this.columnLower, this.columnUpper, this.columnCost) = (columnLower, columnUpper, columnCost);
        (this.rowLower, this.rowUpper, this.rowStart, this.entryColumn, this.entryValue) = (rowLower, rowUpper, rowStart, entryColumn, entryValue);
        definingRow = new int[columnLower.Length];
        Array.Fill(definingRow, -1);
        definingCoefficient = new double[columnLower.Length];
        directColumn = new bool[columnLower.Length];
        rowKind = new sbyte[rowLower.Length];
        for (int r = 0; r < rowLower.Length; r++)
        {
            int defined = -1, own = 0;
            for (int e = rowStart[r]; e < rowStart[r + 1]; e++)
            {
                int c = entryColumn[e] - firstColumn;
                if (c < 0) continue;
                own++;
                if (definingRow[c] >= 0) continue;
                if (defined >= 0 || rowLower[r] != rowUpper[r]) throw new InvalidOperationException($"fragment row {r} uses column {c + firstColumn} before an equality defines it");
                defined = c;
                definingCoefficient[c] = entryValue[e];
            }
            if (defined >= 0)
            {
                definingRow[defined] = r;
                directColumn[defined] = own == 1;
                rowKind[r] = -1;
            }
            else
            {
                rowKind[r] = (sbyte)(own == 0 ? 1 : 0);
            }
        }
        int undefined = Array.IndexOf(definingRow, -1);
        if (undefined >= 0) throw new InvalidOperationException($"fragment column {undefined + firstColumn} has no defining equality");
        rowEntered = new bool[rowLower.Length];
        boundEntered = new bool[columnLower.Length];
    }

    /// <summary>The index its first own column had in the program.</summary>
    public int FirstColumn { get; }

    /// <summary>Its rows.</summary>
    public int RowCount => rowLower.Length;

    /// <summary>Whether the whole fragment has entered a program (<see cref="EnterRest"/>).</summary>
    public bool EnteredWhole { get; private set; }

    /// <summary>Whether the own columns and their defining rows have entered (a violated row used them).</summary>
    public bool OwnColumnsEntered { get; private set; }

    /// <summary>Rows that entered by themselves (defining rows not counted).</summary>
    public int SingleRowsEntered { get; private set; }

    /// <summary>How many of its constraints not yet entered <paramref name="x"/> (its columns) violates or brings within <paramref name="slack"/> of an inequality's bound.</summary>
    public int CountViolated(ReadOnlySpan<double> x, double slack)
    {
        (List<int> rows, List<int> columns) = Unmet(x, [], slack);
        return rows.Count + columns.Count;
    }

    /// <summary>
    /// Adds to <paramref name="lp"/> each constraint that <paramref name="x"/> (its columns) violates or brings within
    /// <paramref name="slack"/> of an inequality's bound, and each that <paramref name="ahead"/> (a predicted next
    /// solution; empty: none) does, one by one (see the class). Returns the rows added.
    /// </summary>
    public int EnterViolated(LinearProgram lp, ReadOnlySpan<double> x, ReadOnlySpan<double> ahead, double slack)
    {
        (List<int> rows, List<int> columns) = Unmet(x, ahead, slack);
        bool needsOwn = rows.Any(r => rowKind[r] == 0) || columns.Any(c => !directColumn[c]);
        List<int> bounds = [.. columns.Where(c => directColumn[c])];
        int added = needsOwn && !OwnColumnsEntered ? EnterOwnColumns(lp) : 0;
        foreach (int r in rows) AddRow(lp, r);
        if (!OwnColumnsEntered)
        {
            foreach (int c in bounds)
            {
                AddBoundRow(lp, c);
                boundEntered[c] = true;
            }
        }
        int single = rows.Count + (OwnColumnsEntered ? 0 : bounds.Count);
        SingleRowsEntered += single;
        return added + single;
    }

    /// <summary>Adds the own columns (renumbered to follow <paramref name="lp"/>'s last column) and their defining rows; returns the rows added.</summary>
    private int EnterOwnColumns(LinearProgram lp)
    {
        ownOffset = lp.ColumnCount - FirstColumn;
        for (int c = 0; c < columnLower.Length; c++) lp.AddColumn(columnLower[c], columnUpper[c], columnCost[c]);
        OwnColumnsEntered = true;
        int added = 0;
        for (int r = 0; r < rowLower.Length; r++)
        {
            if (rowKind[r] >= 0) continue;
            AddRow(lp, r);
            added++;
        }
        return added;
    }

    /// <summary>Adds row <paramref name="r"/> (own columns where they entered) and marks it entered.</summary>
    private void AddRow(LinearProgram lp, int r)
    {
        rowEntered[r] = true;
        Write(lp, r, ownOffset);
    }

    /// <summary>Adds row <paramref name="r"/> to <paramref name="lp"/> with own column c at index FirstColumn + c + <paramref name="offset"/>.</summary>
    private void Write(LinearProgram lp, int r, int offset)
    {
        ReadOnlySpan<int> columns = entryColumn.AsSpan(rowStart[r], RowLength(r));
        if (rowKind[r] != 1)
        {
            int[] moved = columns.ToArray();
            for (int e = 0; e < moved.Length; e++)
                if (moved[e] >= FirstColumn) moved[e] += offset;
            columns = moved;
        }
        lp.AddRow(rowLower[r], rowUpper[r], columns, entryValue.AsSpan(rowStart[r], RowLength(r)));
    }

    /// <summary>Adds everything not yet in <paramref name="lp"/>: own columns (renumbered to follow its last column) and the rows that have not entered by themselves.</summary>
    public void EnterRest(LinearProgram lp)
    {
        if (EnteredWhole) return;
        if (!OwnColumnsEntered) EnterOwnColumns(lp);
        for (int r = 0; r < rowLower.Length; r++)
            if (!rowEntered[r]) AddRow(lp, r);
        EnteredWhole = true;
    }

    /// <summary>Appends the whole fragment to <paramref name="lp"/> (a copy of the program it came from), whatever has entered elsewhere.</summary>
    public void AddWholeTo(LinearProgram lp)
    {
        int offset = lp.ColumnCount - FirstColumn;
        for (int c = 0; c < columnLower.Length; c++) lp.AddColumn(columnLower[c], columnUpper[c], columnCost[c]);
        for (int r = 0; r < rowLower.Length; r++) Write(lp, r, offset);
    }

    private int RowLength(int r) => rowStart[r + 1] - rowStart[r];

    /// <summary>Own column c's bounds as a row over program columns, from its definition a·x + d·c = b: c = (b − a·x)/d.</summary>
    private void AddBoundRow(LinearProgram lp, int c)
    {
        int r = definingRow[c];
        double d = definingCoefficient[c];
        var cols = new List<int>();
        var values = new List<double>();
        for (int e = rowStart[r]; e < rowStart[r + 1]; e++)
        {
            if (entryColumn[e] >= FirstColumn) continue;
            cols.Add(entryColumn[e]);
            values.Add(-entryValue[e] / d);
        }
        double constant = rowLower[r] / d;
        lp.AddRow(columnLower[c] - constant, columnUpper[c] - constant, CollectionsMarshal.AsSpan(cols), CollectionsMarshal.AsSpan(values));
    }

    /// <summary>
    /// The rows (defining rows aside) and own columns' bounds not yet entered that <paramref name="x"/> or
    /// <paramref name="ahead"/> (empty: none) violates or brings within <paramref name="slack"/> of an inequality's bound
    /// (own columns only while they are out of the program: once in, their bounds hold there).
    /// </summary>
    private (List<int> Rows, List<int> Columns) Unmet(ReadOnlySpan<double> x, ReadOnlySpan<double> ahead, double slack)
    {
        var rows = new List<int>();
        var columns = new List<int>();
        if (EnteredWhole) return (rows, columns);
        double[] own = OwnValues(x);
        double[]? ownAhead = ahead.IsEmpty ? null : OwnValues(ahead);
        for (int r = 0; r < rowLower.Length; r++)
        {
            if (rowKind[r] < 0 || rowEntered[r]) continue;
            if (Outside(Activity(r, x, own), rowLower[r], rowUpper[r], slack)
                || (ownAhead is not null && Outside(Activity(r, ahead, ownAhead), rowLower[r], rowUpper[r], slack))) rows.Add(r);
        }
        for (int c = 0; c < own.Length && !OwnColumnsEntered; c++)
        {
            if (boundEntered[c]) continue;
            if (Outside(own[c], columnLower[c], columnUpper[c], slack)
                || (ownAhead is not null && Outside(ownAhead[c], columnLower[c], columnUpper[c], slack))) columns.Add(c);
        }
        return (rows, columns);
    }

    /// <summary>The own columns' values that their definitions give for <paramref name="x"/>.</summary>
    private double[] OwnValues(ReadOnlySpan<double> x)
    {
        var own = new double[columnLower.Length];
        // Definitions come in column order and use earlier columns only; column c is still 0 in its own activity.
        for (int c = 0; c < own.Length; c++) own[c] = (rowLower[definingRow[c]] - Activity(definingRow[c], x, own)) / definingCoefficient[c];
        return own;
    }

    private double Activity(int r, ReadOnlySpan<double> x, double[] own)
    {
        double activity = 0;
        for (int e = rowStart[r]; e < rowStart[r + 1]; e++)
        {
            int col = entryColumn[e];
            activity += entryValue[e] * (col < FirstColumn ? x[col] : own[col - FirstColumn]);
        }
        return activity;
    }

    /// <summary>Whether <paramref name="value"/> is outside [lower, upper], or an inequality's bound is within <paramref name="slack"/> of it.</summary>
    internal static bool Outside(double value, double lower, double upper, double slack) => lower == upper
        ? Math.Abs(value - lower) > slack
        : value > upper - slack || value < lower + slack;
}
