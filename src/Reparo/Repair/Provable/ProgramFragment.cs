using System.Runtime.InteropServices;

namespace Reparo.Repair.Provable;

/// <summary>
/// Rows and columns cut from the end of a <see cref="LinearProgram"/> (<see cref="LinearProgram.RemoveTail"/>): one
/// preserved input's part of a repair LP, held out of the program until a solution violates it (constraint
/// generation). Columns from <see cref="FirstColumn"/> on are the fragment's own auxiliary columns, each defined by the
/// first of the fragment's rows that uses it (an equality, as the encoder writes them); smaller indices are the
/// program's columns.
/// <para>
/// A constraint over program columns alone (a sign row at the repaired layer) or the bound of an own column whose
/// definition uses program columns alone (an active neuron's sign there) enters the program by itself, as one row over
/// program columns, when violated: it meets one neuron's weights. Any other violated row (a later layer's sign, the
/// specification) brings in the whole fragment.
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

    /// <summary>Whether the whole fragment has entered a program (<see cref="EnterViolated"/>, <see cref="EnterRest"/>).</summary>
    public bool EnteredWhole { get; private set; }

    /// <summary>Single rows that entered by themselves.</summary>
    public int SingleRowsEntered { get; private set; }

    /// <summary>
    /// Adds to <paramref name="lp"/> what <paramref name="x"/> (its columns) violates or comes within
    /// <paramref name="slack"/> of an inequality's bound: each such single-neuron constraint as one row, or the whole
    /// fragment if a constraint that uses own columns is among them. Returns the rows added.
    /// </summary>
    public int EnterViolated(LinearProgram lp, ReadOnlySpan<double> x, double slack)
    {
        if (EnteredWhole) return 0;
        double[] own = OwnValues(x);
        var rows = new List<int>();
        var bounds = new List<int>();
        for (int r = 0; r < rowLower.Length; r++)
        {
            if (rowKind[r] < 0 || rowEntered[r] || !Outside(Activity(r, x, own), rowLower[r], rowUpper[r], slack)) continue;
            if (rowKind[r] == 0) return EnterWhole(lp);
            rows.Add(r);
        }
        for (int c = 0; c < own.Length; c++)
        {
            if (boundEntered[c] || !Outside(own[c], columnLower[c], columnUpper[c], slack)) continue;
            if (!directColumn[c]) return EnterWhole(lp);
            bounds.Add(c);
        }
        foreach (int r in rows)
        {
            lp.AddRow(rowLower[r], rowUpper[r], entryColumn.AsSpan(rowStart[r], RowLength(r)), entryValue.AsSpan(rowStart[r], RowLength(r)));
            rowEntered[r] = true;
        }
        foreach (int c in bounds)
        {
            AddBoundRow(lp, c);
            boundEntered[c] = true;
        }
        SingleRowsEntered += rows.Count + bounds.Count;
        return rows.Count + bounds.Count;
    }

    private int EnterWhole(LinearProgram lp)
    {
        EnterRest(lp);
        return rowLower.Length;
    }

    /// <summary>Adds everything not yet in <paramref name="lp"/>: own columns (renumbered to follow its last column) and the rows that have not entered by themselves.</summary>
    public void EnterRest(LinearProgram lp)
    {
        if (EnteredWhole) return;
        Append(lp, rowEntered);
        EnteredWhole = true;
    }

    /// <summary>Appends the whole fragment to <paramref name="lp"/> (a copy of the program it came from), whatever has entered elsewhere.</summary>
    public void AddWholeTo(LinearProgram lp) => Append(lp, new bool[rowLower.Length]);

    private void Append(LinearProgram lp, bool[] skip)
    {
        int offset = lp.ColumnCount - FirstColumn;
        for (int c = 0; c < columnLower.Length; c++) lp.AddColumn(columnLower[c], columnUpper[c], columnCost[c]);
        var cols = new List<int>();
        for (int r = 0; r < rowLower.Length; r++)
        {
            if (skip[r]) continue;
            cols.Clear();
            for (int e = rowStart[r]; e < rowStart[r + 1]; e++) cols.Add(entryColumn[e] < FirstColumn ? entryColumn[e] : entryColumn[e] + offset);
            lp.AddRow(rowLower[r], rowUpper[r], CollectionsMarshal.AsSpan(cols), entryValue.AsSpan(rowStart[r], RowLength(r)));
        }
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
    private static bool Outside(double value, double lower, double upper, double slack) => lower == upper
        ? Math.Abs(value - lower) > slack
        : value > upper - slack || value < lower + slack;
}
