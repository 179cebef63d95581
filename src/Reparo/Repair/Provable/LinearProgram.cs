using System.Globalization;

namespace Reparo.Repair.Provable;

/// <summary>Rows, columns and nonzeros of a linear program.</summary>
/// <param name="Rows">Constraint rows.</param>
/// <param name="Cols">Variables.</param>
/// <param name="Nonzeros">Nonzero constraint coefficients.</param>
public sealed record LpSize(int Rows, int Cols, long Nonzeros)
{
    /// <summary>Bytes per nonzero of the LP's own arrays: an 8-byte value and a 4-byte column index.</summary>
    public const long BytesPerNonzero = 12;

    /// <summary>Bytes per row: two 8-byte bounds and a 4-byte row start.</summary>
    public const long BytesPerRow = 20;

    /// <summary>Bytes per column: two 8-byte bounds and an 8-byte cost.</summary>
    public const long BytesPerColumn = 24;

    /// <summary>Memory of the LP's own arrays (<see cref="LinearProgram"/>'s CSR form, bounds and costs).</summary>
    public long StorageBytes => checked(Nonzeros * BytesPerNonzero + Rows * BytesPerRow + Cols * BytesPerColumn);
}

/// <summary>One solve of a repair's LP (constraint generation solves a growing program several times).</summary>
/// <param name="Rows">Rows of the program solved.</param>
/// <param name="Seconds">Wall time of the solve.</param>
/// <param name="Solver">Solver that solved it (<c>block-ipm</c>, <c>highs (after block-ipm)</c>, …).</param>
/// <param name="StoppedEarly">Whether the round ended at a near-optimal iterate that already violated rows still waiting (<see cref="LpStatus.StoppedEarly"/>).</param>
/// <param name="Iterations">block-ipm's interior-point iterations (null when another solver solved it).</param>
/// <param name="WarmStarted">Whether block-ipm started from an iterate of the round before rather than from Mehrotra's point.</param>
/// <param name="PhaseSeconds">Where block-ipm's time went: set-up, factorisations and the rest (null when another solver solved it).</param>
public sealed record LpSolve(int Rows, double Seconds, string Solver, bool StoppedEarly = false, int? Iterations = null, bool WarmStarted = false, BlockIpmTiming? PhaseSeconds = null);

/// <summary>
/// A solver-independent sparse linear program: minimise cᵀx subject to row bounds l ≤ Ax ≤ u and column bounds.
/// Rows are stored compressed (CSR). It is what the encoders build, what every solver back end reads, and what
/// <see cref="WriteMps"/> exports so the same problem can be solved elsewhere.
/// </summary>
public sealed class LinearProgram
{
    private readonly List<double> colLower = [], colUpper = [], objective = [];
    private readonly List<double> rowLower = [], rowUpper = [];
    private readonly List<int> rowStart = [0], entryCol = [];
    private readonly List<double> entryValue = [];

    /// <summary>For each row, the largest column any row up to it uses (−1 for none): <see cref="RemoveTail"/>'s check in one look.</summary>
    private readonly List<int> largestColumnSoFar = [];

    /// <summary>The row counts at which later batches of rows began (<see cref="StartBatch"/>), ascending.</summary>
    private readonly List<int> batchStarts = [];
    private readonly bool countsRows;
    private int countedRows;
    private long countedEntries;

    /// <summary>An empty program.</summary>
    public LinearProgram()
    {
    }

    private LinearProgram(bool countsRows) => this.countsRows = countsRows;

    /// <summary>Number of variables.</summary>
    public int ColumnCount => colLower.Count;

    /// <summary>Number of constraint rows.</summary>
    public int RowCount => countsRows ? countedRows : rowLower.Count;

    /// <summary>Rows, columns and nonzeros.</summary>
    public LpSize Size => new(RowCount, ColumnCount, countsRows ? countedEntries : entryCol.Count);

    /// <summary>Constant added to the objective (reported, not optimised).</summary>
    public double ObjectiveOffset { get; set; }

    /// <summary>Adds a variable with bounds and objective coefficient; returns its index.</summary>
    public int AddColumn(double lower, double upper, double cost = 0)
    {
        if (double.IsNaN(lower) || double.IsNaN(upper) || lower > upper) throw new ArgumentException($"bad column bounds [{lower}, {upper}]");
        colLower.Add(lower);
        colUpper.Add(upper);
        objective.Add(cost);
        return colLower.Count - 1;
    }

    /// <summary>Adds a row l ≤ Σ values[i]·x[cols[i]] ≤ u; returns its index. Zero coefficients are dropped.</summary>
    public int AddRow(double lower, double upper, ReadOnlySpan<int> cols, ReadOnlySpan<double> values)
    {
        if (cols.Length != values.Length) throw new ArgumentException("columns and values differ in length");
        if (double.IsNaN(lower) || double.IsNaN(upper) || lower > upper) throw new ArgumentException($"bad row bounds [{lower}, {upper}]");
        int largest = largestColumnSoFar.Count == 0 ? -1 : largestColumnSoFar[^1];
        for (int i = 0; i < cols.Length; i++)
        {
            if (values[i] == 0) continue;
            if (!double.IsFinite(values[i])) throw new ArgumentException($"non-finite coefficient {values[i]}");
            if ((uint)cols[i] >= (uint)colLower.Count) throw new ArgumentOutOfRangeException(nameof(cols), $"no column {cols[i]}");
            if (countsRows)
            {
                countedEntries++;
                continue;
            }
            entryCol.Add(cols[i]);
            entryValue.Add(values[i]);
            largest = Math.Max(largest, cols[i]);
        }
        if (countsRows) return countedRows++;
        largestColumnSoFar.Add(largest);
        rowLower.Add(lower);
        rowUpper.Add(upper);
        rowStart.Add(entryCol.Count);
        return rowLower.Count - 1;
    }

    /// <summary>
    /// A program that keeps its columns but only counts its rows and their nonzeros (<see cref="Size"/>): the encoder
    /// walks into it to predict an LP's size in the memory of its columns alone. Its rows cannot be read back.
    /// </summary>
    internal static LinearProgram Counting() => new(countsRows: true);

    /// <summary>Whether this program only counts its rows (<see cref="Counting"/>).</summary>
    internal bool IsCounting => countsRows;

    /// <summary>An independent copy.</summary>
    public LinearProgram Copy()
    {
        RequireRows();
        var copy = new LinearProgram { ObjectiveOffset = ObjectiveOffset };
        copy.colLower.AddRange(colLower);
        copy.colUpper.AddRange(colUpper);
        copy.objective.AddRange(objective);
        copy.rowLower.AddRange(rowLower);
        copy.rowUpper.AddRange(rowUpper);
        copy.rowStart.Clear();
        copy.rowStart.AddRange(rowStart);
        copy.entryCol.AddRange(entryCol);
        copy.entryValue.AddRange(entryValue);
        copy.largestColumnSoFar.AddRange(largestColumnSoFar);
        copy.batchStarts.AddRange(batchStarts);
        return copy;
    }

    /// <summary>
    /// Removes the rows from <paramref name="firstRow"/> and the columns from <paramref name="firstColumn"/> on and returns
    /// them; the rows before <paramref name="firstRow"/> must not use the removed columns.
    /// </summary>
    internal ProgramFragment RemoveTail(int firstRow, int firstColumn)
    {
        RequireRows();
        int entries = rowStart[firstRow];
        if (firstRow > 0 && largestColumnSoFar[firstRow - 1] >= firstColumn)
            throw new InvalidOperationException($"a row before {firstRow} uses column {largestColumnSoFar[firstRow - 1]}, which is being removed");
        int rows = rowLower.Count - firstRow, cols = colLower.Count - firstColumn;
        var fragment = new ProgramFragment(firstColumn,
            [.. colLower.GetRange(firstColumn, cols)], [.. colUpper.GetRange(firstColumn, cols)], [.. objective.GetRange(firstColumn, cols)],
            [.. rowLower.GetRange(firstRow, rows)], [.. rowUpper.GetRange(firstRow, rows)],
            [.. rowStart.GetRange(firstRow, rows + 1).Select(start => start - entries)],
            [.. entryCol.GetRange(entries, entryCol.Count - entries)], [.. entryValue.GetRange(entries, entryValue.Count - entries)]);
        colLower.RemoveRange(firstColumn, cols);
        colUpper.RemoveRange(firstColumn, cols);
        objective.RemoveRange(firstColumn, cols);
        rowLower.RemoveRange(firstRow, rows);
        rowUpper.RemoveRange(firstRow, rows);
        rowStart.RemoveRange(firstRow + 1, rows);
        largestColumnSoFar.RemoveRange(firstRow, rows);
        batchStarts.RemoveAll(start => start >= firstRow);
        entryCol.RemoveRange(entries, entryCol.Count - entries);
        entryValue.RemoveRange(entries, entryValue.Count - entries);
        return fragment;
    }

    /// <summary>
    /// Marks the rows added from now on as a new batch (constraint generation adds the rows a solution violated as a batch):
    /// block-ipm's structure search also tries orders that take each batch's rows after the earlier batches', so the blocks
    /// the first rows formed stay and a later row that would join two of them links them instead
    /// (<see cref="BlockStructure.Detect(SparseColumns, SparseRows, int, int[])"/>).
    /// </summary>
    internal void StartBatch()
    {
        if (batchStarts.Count == 0 || batchStarts[^1] < RowCount) batchStarts.Add(RowCount);
    }

    /// <summary>The batch of row <paramref name="row"/>: 0 for rows added before the first <see cref="StartBatch"/>.</summary>
    internal int BatchOf(int row)
    {
        int found = batchStarts.BinarySearch(row);
        return found >= 0 ? found + 1 : ~found;
    }

    /// <summary>Whether rows were added in more than one batch (<see cref="StartBatch"/>).</summary>
    internal bool HasBatches => batchStarts.Count > 0 && batchStarts[0] < RowCount;

    /// <summary>Sets a column's objective coefficient.</summary>
    public void SetCost(int col, double cost) => objective[col] = cost;

    /// <summary>A column's bounds.</summary>
    public (double Lower, double Upper) ColumnBounds(int col) => (colLower[col], colUpper[col]);

    /// <summary>A column's objective coefficient.</summary>
    public double Cost(int col) => objective[col];

    /// <summary>A row's bounds.</summary>
    public (double Lower, double Upper) RowBounds(int row)
    {
        RequireRows();
        return (rowLower[row], rowUpper[row]);
    }

    /// <summary>A row's entries as (column, value) pairs.</summary>
    public IEnumerable<(int Col, double Value)> Row(int row)
    {
        RequireRows();
        for (int e = rowStart[row]; e < rowStart[row + 1]; e++) yield return (entryCol[e], entryValue[e]);
    }

    /// <summary>The row activity Σ a·x for a given point.</summary>
    public double Activity(int row, ReadOnlySpan<double> x)
    {
        RequireRows();
        double sum = 0;
        for (int e = rowStart[row]; e < rowStart[row + 1]; e++) sum += entryValue[e] * x[entryCol[e]];
        return sum;
    }

    /// <summary>cᵀx + offset.</summary>
    public double ObjectiveValue(ReadOnlySpan<double> x)
    {
        double sum = ObjectiveOffset;
        for (int j = 0; j < objective.Count; j++) sum += objective[j] * x[j];
        return sum;
    }

    /// <summary>The largest violation of any row or column bound at <paramref name="x"/> (0 when feasible).</summary>
    public double MaxViolation(ReadOnlySpan<double> x)
    {
        double worst = 0;
        for (int j = 0; j < ColumnCount; j++) worst = Math.Max(worst, Math.Max(colLower[j] - x[j], x[j] - colUpper[j]));
        for (int i = 0; i < RowCount; i++)
        {
            double a = Activity(i, x);
            worst = Math.Max(worst, Math.Max(rowLower[i] - a, a - rowUpper[i]));
        }
        return worst;
    }

    /// <summary>Writes the program in free MPS format (columns C0…, rows R0…, objective COST, ranges for two-sided rows).</summary>
    public void WriteMps(TextWriter writer, string name = "REPARO")
    {
        RequireRows();
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        writer.WriteLine($"NAME {name}");
        writer.WriteLine("ROWS");
        writer.WriteLine(" N COST");
        var kinds = new char[RowCount];
        for (int i = 0; i < RowCount; i++)
        {
            double l = rowLower[i], u = rowUpper[i];
            kinds[i] = l == u ? 'E' : double.IsNegativeInfinity(l) ? 'L' : double.IsPositiveInfinity(u) ? 'G' : 'G';
            if (double.IsNegativeInfinity(l) && double.IsPositiveInfinity(u)) kinds[i] = 'N';
            writer.WriteLine($" {kinds[i]} R{i}");
        }
        // Column-major entries.
        var byCol = new List<(int Row, double Value)>[ColumnCount];
        for (int i = 0; i < RowCount; i++)
            for (int e = rowStart[i]; e < rowStart[i + 1]; e++) (byCol[entryCol[e]] ??= []).Add((i, entryValue[e]));
        writer.WriteLine("COLUMNS");
        for (int j = 0; j < ColumnCount; j++)
        {
            if (objective[j] != 0) writer.WriteLine($" C{j} COST {F(objective[j])}");
            if (byCol[j] is { } entries) foreach ((int row, double value) in entries) writer.WriteLine($" C{j} R{row} {F(value)}");
            if (objective[j] == 0 && byCol[j] is null) writer.WriteLine($" C{j} COST 0");
        }
        writer.WriteLine("RHS");
        if (ObjectiveOffset != 0) writer.WriteLine($" RHS COST {F(-ObjectiveOffset)}");
        for (int i = 0; i < RowCount; i++)
        {
            double rhs = kinds[i] switch { 'L' => rowUpper[i], 'N' => 0, _ => rowLower[i] };
            if (rhs != 0) writer.WriteLine($" RHS R{i} {F(rhs)}");
        }
        writer.WriteLine("RANGES");
        for (int i = 0; i < RowCount; i++)
        {
            if (kinds[i] == 'G' && double.IsFinite(rowUpper[i])) writer.WriteLine($" RNG R{i} {F(rowUpper[i] - rowLower[i])}");
        }
        writer.WriteLine("BOUNDS");
        for (int j = 0; j < ColumnCount; j++)
        {
            double l = colLower[j], u = colUpper[j];
            if (double.IsNegativeInfinity(l) && double.IsPositiveInfinity(u)) writer.WriteLine($" FR BND C{j}");
            else if (l == u) writer.WriteLine($" FX BND C{j} {F(l)}");
            else
            {
                if (double.IsNegativeInfinity(l)) writer.WriteLine($" MI BND C{j}");
                else if (l != 0) writer.WriteLine($" LO BND C{j} {F(l)}");
                if (double.IsFinite(u)) writer.WriteLine($" UP BND C{j} {F(u)}");
            }
        }
        writer.WriteLine("ENDATA");
    }

    /// <summary>
    /// Reads a program in free MPS format: what <see cref="WriteMps"/> writes and what other tools write for an LP (rows
    /// N, E, L, G; RHS; RANGES; BOUNDS UP, LO, FX, FR, MI, PL, BV, LI, UI). The first N row is the objective, later N rows
    /// become free rows; integrality markers are ignored (the LP relaxation is read). A negative UP bound on a column with
    /// lower bound 0 makes the lower bound −∞, as in most readers. Columns and rows keep their order of appearance.
    /// </summary>
    public static LinearProgram ReadMps(TextReader reader)
    {
        var rowIndex = new Dictionary<string, int>();
        var rowKind = new List<char>();
        var rhs = new List<double>();
        var range = new List<double>();
        var columnIndex = new Dictionary<string, int>();
        var columnEntries = new List<List<(int Row, double Value)>>();
        var cost = new List<double>();
        var lower = new List<double>();
        var upper = new List<double>();
        string? objective = null;
        double offset = 0;
        string section = "";
        int lineNumber = 0;
        double Number(string text) => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
            ? v : throw new ReparoInputException($"MPS line {lineNumber}: '{text}' is not a number");
        int Column(string name)
        {
            if (columnIndex.TryGetValue(name, out int j)) return j;
            columnIndex[name] = columnEntries.Count;
            columnEntries.Add([]);
            cost.Add(0);
            lower.Add(0);
            upper.Add(double.PositiveInfinity);
            return columnEntries.Count - 1;
        }
        int Row(string name) => rowIndex.TryGetValue(name, out int i) ? i : throw new ReparoInputException($"MPS line {lineNumber}: unknown row '{name}'");
        for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            lineNumber++;
            if (line.Length == 0 || line[0] == '*') continue;
            string[] f = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length == 0) continue;
            if (!char.IsWhiteSpace(line[0]))
            {
                section = f[0].ToUpperInvariant();
                if (section == "ENDATA") break;
                continue;
            }
            switch (section)
            {
                case "ROWS":
                    char kind = char.ToUpperInvariant(f[0][0]);
                    if (kind == 'N' && objective is null)
                    {
                        objective = f[1];
                        break;
                    }
                    if (kind is not ('N' or 'E' or 'L' or 'G')) throw new ReparoInputException($"MPS line {lineNumber}: row type '{f[0]}'");
                    rowIndex[f[1]] = rowKind.Count;
                    rowKind.Add(kind);
                    rhs.Add(0);
                    range.Add(double.NaN);
                    break;
                case "COLUMNS":
                    if (f.Length >= 3 && f[1].Trim('\'').Equals("MARKER", StringComparison.OrdinalIgnoreCase)) break;
                    int col = Column(f[0]);
                    for (int k = 1; k + 1 < f.Length; k += 2)
                    {
                        double value = Number(f[k + 1]);
                        if (f[k] == objective) cost[col] += value;
                        else columnEntries[col].Add((Row(f[k]), value));
                    }
                    break;
                case "RHS":
                case "RANGES":
                    for (int k = f.Length % 2 == 0 ? 0 : 1; k + 1 < f.Length; k += 2)
                    {
                        double value = Number(f[k + 1]);
                        if (f[k] == objective)
                        {
                            if (section == "RHS") offset = -value;
                            continue;
                        }
                        if (section == "RHS") rhs[Row(f[k])] = value;
                        else range[Row(f[k])] = value;
                    }
                    break;
                case "BOUNDS":
                    string type = f[0].ToUpperInvariant();
                    int j = Column(f[type is "FR" or "MI" or "PL" or "BV" ? f.Length - 1 : f.Length - 2]);
                    double bound = type is "FR" or "MI" or "PL" or "BV" ? 0 : Number(f[^1]);
                    switch (type)
                    {
                        case "UP" or "UI":
                            if (bound < 0 && lower[j] == 0) lower[j] = double.NegativeInfinity;
                            upper[j] = bound;
                            break;
                        case "LO" or "LI": lower[j] = bound; break;
                        case "FX": lower[j] = upper[j] = bound; break;
                        case "FR": (lower[j], upper[j]) = (double.NegativeInfinity, double.PositiveInfinity); break;
                        case "MI": lower[j] = double.NegativeInfinity; break;
                        case "PL": upper[j] = double.PositiveInfinity; break;
                        case "BV": (lower[j], upper[j]) = (0, 1); break;
                        default: throw new ReparoInputException($"MPS line {lineNumber}: bound type '{f[0]}'");
                    }
                    break;
                case "NAME" or "OBJSENSE":
                    break;
                default:
                    throw new ReparoInputException($"MPS line {lineNumber}: unexpected section '{section}'");
            }
        }
        var lp = new LinearProgram { ObjectiveOffset = offset };
        for (int j = 0; j < columnEntries.Count; j++) lp.AddColumn(lower[j], upper[j], cost[j]);
        var rows = new List<(int Col, double Value)>[rowKind.Count];
        for (int i = 0; i < rows.Length; i++) rows[i] = [];
        for (int j = 0; j < columnEntries.Count; j++)
            foreach ((int row, double value) in columnEntries[j]) rows[row].Add((j, value));
        for (int i = 0; i < rows.Length; i++)
        {
            double r = range[i], b = rhs[i];
            (double lo, double hi) = rowKind[i] switch
            {
                'E' when double.IsNaN(r) => (b, b),
                'E' => r >= 0 ? (b, b + r) : (b + r, b),
                'L' => (double.IsNaN(r) ? double.NegativeInfinity : b - Math.Abs(r), b),
                'G' => (b, double.IsNaN(r) ? double.PositiveInfinity : b + Math.Abs(r)),
                _ => (double.NegativeInfinity, double.PositiveInfinity),
            };
            lp.AddRow(lo, hi, [.. rows[i].Select(e => e.Col)], [.. rows[i].Select(e => e.Value)]);
        }
        return lp;
    }

    private void RequireRows()
    {
        if (countsRows) throw new InvalidOperationException("a counting program keeps no rows");
    }

    internal ReadOnlySpan<int> RowStarts => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(rowStart);

    internal ReadOnlySpan<int> EntryColumns => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(entryCol);

    internal ReadOnlySpan<double> EntryValues => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(entryValue);
}
