using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Reparo.Repair.Provable;

/// <summary>
/// Factors and solves the regularised normal equations (A·Θ·Aᵀ + δ·I)·y = r of an interior-point step along a
/// <see cref="BlockStructure"/>: with the rows ordered blocks first, linking rows last,
/// <code>
/// M = [ M_B   Cᵀ  ]   M_B block diagonal (one dense M_k per block),
///     [ C    M_L  ]   C couples linking rows to blocks through the columns J_k that meet both,
/// </code>
/// each M_k = L_k·L_kᵀ is factored densely, and the Schur complement S = M_L − Σ_k C_k·M_k⁻¹·C_kᵀ is assembled and
/// factored. C_k = A_LJ·Θ_J·A_kJᵀ, so C_k·M_k⁻¹·C_kᵀ = A_LJ·Θ_J·(X_kᵀX_k)·Θ_J·A_LJᵀ with X_k = L_k⁻¹·A_kJ: one
/// triangular solve with |J_k| right-hand sides (which start at their first nonzero row) and one small product per
/// block, then a sparse accumulation into S. A solve needs one forward and one backward substitution per block: with
/// u_k = L_k⁻¹·r_k, C_k·M_k⁻¹·r_k = A_LJ·Θ_J·X_kᵀ·u_k, and y_k = L_k⁻ᵀ·(u_k − X_k·Θ_J·A_LJᵀ·y_L).
/// Columns with proportional entries (a split variable's two parts, Δ⁺ and Δ⁻) are formed once with their weights
/// summed. Blocks are factored in parallel (each on its own storage) and summed into S in block order, so the result
/// is the same for any thread count.
/// </summary>
internal sealed class BlockNormalEquations
{
    /// <summary>Relative size below which a pivot counts as zero (see <see cref="DenseKernels.Cholesky"/>).</summary>
    private const double PivotTolerance = 1e-13;

    private readonly SparseColumns a;
    private readonly BlockStructure structure;
    private readonly int threads;
    private readonly int linking;

    // Each column's entries split into its block's rows (block-local index) and linking rows (linking index), both ascending.
    private readonly int[] blockEntryStart, blockEntryRow, linkEntryStart, linkEntryRow;
    private readonly double[] blockEntryValue, linkEntryValue;
    private readonly int[][] couplingColumns, couplingFirstRow;
    private readonly LinkingPattern[] linkingPattern;
    private readonly MergedColumns[] blockForm;
    private readonly MergedColumns linkingForm;

    private readonly double[][] blockFactor, coupling, couplingSolve, blockVector, couplingScalars;
    private readonly double[] schur, schurReference, theta;
    private double regularization;

    /// <summary>Sets up the symbolic structure (which column touches which block) for <paramref name="matrix"/>.</summary>
    public BlockNormalEquations(SparseColumns matrix, BlockStructure blocks, int threadCount)
    {
        a = matrix;
        structure = blocks;
        threads = Math.Max(1, threadCount);
        linking = blocks.LinkingRows.Length;
        int n = matrix.Cols, blockCount = blocks.BlockRows.Length;
        blockEntryStart = new int[n + 1];
        linkEntryStart = new int[n + 1];
        var columnBlock = new int[n];
        for (int j = 0; j < n; j++)
        {
            columnBlock[j] = -1;
            int inBlocks = 0, inLinking = 0;
            for (int e = matrix.ColStart[j]; e < matrix.ColStart[j + 1]; e++)
            {
                int block = blocks.BlockOfRow[matrix.RowIndex[e]];
                if (block < 0)
                {
                    inLinking++;
                    continue;
                }
                if (columnBlock[j] >= 0 && columnBlock[j] != block) throw new InvalidOperationException($"column {j} meets two blocks");
                columnBlock[j] = block;
                inBlocks++;
            }
            blockEntryStart[j + 1] = blockEntryStart[j] + inBlocks;
            linkEntryStart[j + 1] = linkEntryStart[j] + inLinking;
        }
        blockEntryRow = new int[blockEntryStart[n]];
        blockEntryValue = new double[blockEntryStart[n]];
        linkEntryRow = new int[linkEntryStart[n]];
        linkEntryValue = new double[linkEntryStart[n]];
        var byBlock = new List<int>[blockCount];
        var byCoupling = new List<int>[blockCount];
        for (int k = 0; k < blockCount; k++)
        {
            byBlock[k] = [];
            byCoupling[k] = [];
        }
        var withLinks = new List<int>();
        for (int j = 0; j < n; j++)
        {
            int bp = blockEntryStart[j], lp = linkEntryStart[j];
            for (int e = matrix.ColStart[j]; e < matrix.ColStart[j + 1]; e++)
            {
                int row = matrix.RowIndex[e];
                if (blocks.BlockOfRow[row] < 0)
                {
                    linkEntryRow[lp] = blocks.LocalIndex[row];
                    linkEntryValue[lp++] = matrix.Value[e];
                }
                else
                {
                    blockEntryRow[bp] = blocks.LocalIndex[row];
                    blockEntryValue[bp++] = matrix.Value[e];
                }
            }
            Array.Sort(blockEntryRow, blockEntryValue, blockEntryStart[j], blockEntryStart[j + 1] - blockEntryStart[j]);
            Array.Sort(linkEntryRow, linkEntryValue, linkEntryStart[j], linkEntryStart[j + 1] - linkEntryStart[j]);
            bool links = linkEntryStart[j + 1] > linkEntryStart[j];
            if (links) withLinks.Add(j);
            if (columnBlock[j] < 0) continue;
            byBlock[columnBlock[j]].Add(j);
            if (links) byCoupling[columnBlock[j]].Add(j);
        }
        var swc = System.Diagnostics.Stopwatch.StartNew();
        blockForm = [.. byBlock.Select(columns => new MergedColumns(columns, blockEntryStart, blockEntryRow, blockEntryValue))];
        linkingForm = new MergedColumns(withLinks, linkEntryStart, linkEntryRow, linkEntryValue);
        double tMerged = swc.Elapsed.TotalMilliseconds;
        // Coupling columns by their first block row, so that the solve with them can skip leading zeros.
        couplingColumns = [.. byCoupling.Select(l => l.OrderBy(j => blockEntryRow[blockEntryStart[j]]).ThenBy(j => j).ToArray())];
        couplingFirstRow = [.. couplingColumns.Select(l => l.Select(j => blockEntryRow[blockEntryStart[j]]).ToArray())];
        linkingPattern = [.. couplingColumns.Select(columns => new LinkingPattern(columns, linkEntryStart, linkEntryRow, linkEntryValue))];
        if (Environment.GetEnvironmentVariable("IPM_TRACE") is not null) Console.Error.WriteLine($"CTOR merged {tMerged:F1} rest {swc.Elapsed.TotalMilliseconds - tMerged:F1}");
        if (Environment.GetEnvironmentVariable("IPM_TRACE") is not null)
            Console.Error.WriteLine($"PAIRS {linkingPattern.Sum(pt => 0.5 * pt.Row.Length * (double)pt.Row.Length):G4}, formation pairs {blockForm.Sum(f => f.Pairs):G4}");
        if (Environment.GetEnvironmentVariable("IPM_TRACE") is not null)
            for (int k = 0; k < Math.Min(3, blockCount); k++)
                Console.Error.WriteLine($"BLOCK {k}: rows {blocks.BlockRows[k].Length}, coupling {couplingColumns[k].Length}, linking rows {linkingPattern[k].Row.Distinct().Count()}, link entries {couplingColumns[k].Sum(j => linkEntryStart[j + 1] - linkEntryStart[j])}, max {couplingColumns[k].Max(j => linkEntryStart[j + 1] - linkEntryStart[j])}, first rows {string.Join(",", couplingFirstRow![k].Take(5))}");
        blockFactor = new double[blockCount][];
        coupling = new double[blockCount][];
        couplingSolve = new double[blockCount][];
        blockVector = new double[blockCount][];
        couplingScalars = new double[blockCount][];
        for (int k = 0; k < blockCount; k++)
        {
            int size = blocks.BlockRows[k].Length, q = couplingColumns[k].Length;
            blockFactor[k] = new double[size * size];
            coupling[k] = new double[q * q];
            couplingSolve[k] = new double[size * q];
            blockVector[k] = new double[size];
            couplingScalars[k] = new double[q];
        }
        schur = new double[linking * linking];
        schurReference = new double[linking];
        theta = new double[n];
    }

    /// <summary>Pivots of the last factorisation that were replaced because they were not clearly positive.</summary>
    public int DroppedPivots { get; private set; }

    /// <summary>Factors A·Θ·Aᵀ + δ·I for the column weights <paramref name="weights"/> (Θ) and <paramref name="delta"/> (δ).</summary>
    public void Factor(ReadOnlySpan<double> weights, double delta)
    {
        weights.CopyTo(theta);
        regularization = delta;
        int blockCount = blockFactor.Length;
        var dropped = new int[blockCount];
        bool acrossBlocks = threads > 1 && blockCount >= 2 * threads;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        if (acrossBlocks) Parallel.For(0, blockCount, new ParallelOptions { MaxDegreeOfParallelism = threads }, k => dropped[k] = FactorBlock(k, 1));
        else for (int k = 0; k < blockCount; k++) dropped[k] = FactorBlock(k, threads);
        double tb = sw.Elapsed.TotalMilliseconds;
        DroppedPivots = dropped.Sum() + FactorSchur();
        if (Environment.GetEnvironmentVariable("IPM_TRACE") is not null) Console.Error.WriteLine($"FACTOR blocks {tb:F1} ms (form {TForm:F1}, chol {TChol:F1}, trsm {TTrsm:F1}, syrk {TSyrk:F1}) schur {sw.Elapsed.TotalMilliseconds - tb:F1} ms (assemble {TAsm:F1})");
        TForm = TChol = TTrsm = TSyrk = 0;
    }

    private double TForm, TChol, TTrsm, TSyrk, TAsm;

    private int FactorBlock(int k, int innerThreads)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        int n = structure.BlockRows[k].Length;
        double[] f = blockFactor[k];
        Array.Clear(f);
        blockForm[k].AddTo(f, n, theta);
        for (int i = 0; i < n; i++) f[i * n + i] += regularization;
        TForm += sw.Elapsed.TotalMilliseconds; sw.Restart();
        int dropped = DenseKernels.Cholesky(f, n, PivotTolerance, innerThreads);
        TChol += sw.Elapsed.TotalMilliseconds; sw.Restart();
        int[] columns = couplingColumns[k];
        int width = columns.Length;
        if (width == 0) return dropped;
        double[] x = couplingSolve[k];
        Array.Clear(x);
        for (int t = 0; t < width; t++)
        {
            int j = columns[t];
            for (int p = blockEntryStart[j]; p < blockEntryStart[j + 1]; p++) x[blockEntryRow[p] * width + t] = blockEntryValue[p];
        }
        DenseKernels.SolveLowerInPlace(f, n, x, width, couplingFirstRow[k]);
        TTrsm += sw.Elapsed.TotalMilliseconds; sw.Restart();
        // Y = −XᵀX (lower triangle) as a sum of outer products of X's rows; row t of Y only needs columns up to the last nonzero of row i.
        double[] y = coupling[k];
        Array.Clear(y);
        int[] first = couplingFirstRow[k];
        int active = 0;
        for (int i = first[0]; i < n; i++)
        {
            while (active < width && first[active] <= i) active++;
            ReadOnlySpan<double> row = x.AsSpan(i * width, active);
            for (int t = 0; t < active; t++)
                if (row[t] != 0) DenseKernels.AddScaled(y.AsSpan(t * width, t + 1), -row[t], row[..(t + 1)]);
        }
        TSyrk += sw.Elapsed.TotalMilliseconds;
        return dropped;
    }

    /// <summary>S = M_L + δ·I − Σ_k C_k·M_k⁻¹·C_kᵀ (coupling[k] holds −X_kᵀX_k), then its Cholesky factor.</summary>
    private int FactorSchur()
    {
        if (linking == 0) return 0;
        Array.Clear(schur);
        linkingForm.AddTo(schur, linking, theta);
        for (int l = 0; l < linking; l++)
        {
            schur[l * linking + l] += regularization;
            schurReference[l] = schur[l * linking + l];
        }
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (int k = 0; k < couplingColumns.Length; k++) SubtractCoupling(k);
        TAsm = sw.Elapsed.TotalMilliseconds;
        return DenseKernels.Cholesky(schur, linking, PivotTolerance, threads, schurReference);
    }

    /// <summary>
    /// S += A_LJ·Θ_J·Y_k·Θ_J·A_LJᵀ (lower triangle) for block k, with Y_k = −X_kᵀX_k (lower triangle), entry pair by
    /// entry pair of A_LJ in linking-row order, so that one row of S is written at a time: entries e1 = (l1, t1, v1)
    /// and e2 = (l2, t2, v2) with l2 ≤ l1 add θ_t1·v1·θ_t2·v2·Y[t1, t2] to S[l1, l2].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void SubtractCoupling(int k)
    {
        int[] columns = couplingColumns[k];
        int width = columns.Length;
        if (width == 0) return;
        double[] y = coupling[k];
        for (int t1 = 0; t1 < width; t1++)
            for (int t2 = t1 + 1; t2 < width; t2++) y[t1 * width + t2] = y[t2 * width + t1];
        LinkingPattern pattern = linkingPattern[k];
        int count = pattern.Column.Length;
        var scaled = new double[count];
        for (int e = 0; e < count; e++) scaled[e] = theta[columns[pattern.Column[e]]] * pattern.Value[e];
        ref double s0 = ref MemoryMarshal.GetArrayDataReference(schur);
        ref double y0 = ref MemoryMarshal.GetArrayDataReference(y);
        ref double z0 = ref MemoryMarshal.GetArrayDataReference(scaled);
        ref int row0 = ref MemoryMarshal.GetArrayDataReference(pattern.Row);
        ref int column0 = ref MemoryMarshal.GetArrayDataReference(pattern.Column);
        for (int e1 = 0; e1 < count; e1++)
        {
            int l1 = Unsafe.Add(ref row0, e1);
            ref double row = ref Unsafe.Add(ref s0, l1 * linking);
            ref double yRow = ref Unsafe.Add(ref y0, Unsafe.Add(ref column0, e1) * width);
            double c = Unsafe.Add(ref z0, e1);
            int e2 = 0;
            // Entries of earlier rows; then those of row l1 itself, whose pairs (e1, e2) and (e2, e1) both fall on the diagonal.
            for (; e2 < e1 && Unsafe.Add(ref row0, e2) < l1; e2++)
                Unsafe.Add(ref row, Unsafe.Add(ref row0, e2)) += c * Unsafe.Add(ref z0, e2) * Unsafe.Add(ref yRow, Unsafe.Add(ref column0, e2));
            for (; e2 <= e1; e2++)
                Unsafe.Add(ref row, l1) += (e2 == e1 ? 1 : 2) * c * Unsafe.Add(ref z0, e2) * Unsafe.Add(ref yRow, Unsafe.Add(ref column0, e2));
        }
    }

    /// <summary>Overwrites <paramref name="r"/> (one value per row) with the solution of the factored system.</summary>
    public void Solve(Span<double> r)
    {
        int blockCount = blockFactor.Length;
        var rhs = r.ToArray();
        var linkingPart = new double[linking];
        for (int l = 0; l < linking; l++) linkingPart[l] = rhs[structure.LinkingRows[l]];
        // u_k = L_k⁻¹ r_k and the scalars Θ_J·X_kᵀ·u_k, then the linking right-hand side r_L − A_LJ·(those scalars).
        ForEachBlock(k =>
        {
            double[] v = blockVector[k];
            int[] rows = structure.BlockRows[k];
            for (int i = 0; i < rows.Length; i++) v[i] = rhs[rows[i]];
            DenseKernels.ForwardSolve(blockFactor[k], v.Length, v);
            int[] columns = couplingColumns[k];
            double[] scalars = couplingScalars[k], x = couplingSolve[k];
            int width = columns.Length;
            Array.Clear(scalars);
            for (int i = width == 0 ? v.Length : couplingFirstRow[k][0]; i < v.Length; i++)
                if (v[i] != 0) DenseKernels.AddScaled(scalars, v[i], x.AsSpan(i * width, width));
            for (int t = 0; t < width; t++) scalars[t] *= theta[columns[t]];
        });
        for (int k = 0; k < blockCount; k++)
        {
            int[] columns = couplingColumns[k];
            for (int t = 0; t < columns.Length; t++)
            {
                int j = columns[t];
                double s = couplingScalars[k][t];
                for (int p = linkEntryStart[j]; p < linkEntryStart[j + 1]; p++) linkingPart[linkEntryRow[p]] -= s * linkEntryValue[p];
            }
        }
        if (linking > 0)
        {
            DenseKernels.ForwardSolve(schur, linking, linkingPart);
            DenseKernels.BackwardSolve(schur, linking, linkingPart);
        }
        // y_k = L_k⁻ᵀ (u_k − X_k·Θ_J·A_LJᵀ·y_L).
        ForEachBlock(k =>
        {
            double[] v = blockVector[k];
            int[] columns = couplingColumns[k];
            double[] scalars = couplingScalars[k], x = couplingSolve[k];
            int width = columns.Length;
            for (int t = 0; t < width; t++)
            {
                int j = columns[t];
                double sum = 0;
                for (int p = linkEntryStart[j]; p < linkEntryStart[j + 1]; p++) sum += linkEntryValue[p] * linkingPart[linkEntryRow[p]];
                scalars[t] = theta[j] * sum;
            }
            for (int i = width == 0 ? v.Length : couplingFirstRow[k][0]; i < v.Length; i++) v[i] -= DenseKernels.Dot(x.AsSpan(i * width, width), scalars);
            DenseKernels.BackwardSolve(blockFactor[k], v.Length, v);
        });
        for (int k = 0; k < blockCount; k++)
        {
            int[] rows = structure.BlockRows[k];
            for (int i = 0; i < rows.Length; i++) r[rows[i]] = blockVector[k][i];
        }
        for (int l = 0; l < linking; l++) r[structure.LinkingRows[l]] = linkingPart[l];
    }

    private void ForEachBlock(Action<int> body)
    {
        int blockCount = blockFactor.Length;
        if (threads > 1 && blockCount >= 2 * threads) Parallel.For(0, blockCount, new ParallelOptions { MaxDegreeOfParallelism = threads }, body);
        else for (int k = 0; k < blockCount; k++) body(k);
    }

    /// <summary>(A·Θ·Aᵀ + δ·I)·v with the weights of the last factorisation, for iterative refinement.</summary>
    public double[] Multiply(ReadOnlySpan<double> v)
    {
        var column = new double[a.Cols];
        for (int j = 0; j < a.Cols; j++) column[j] = theta[j] * a.ColumnDot(j, v);
        var result = new double[a.Rows];
        for (int i = 0; i < result.Length; i++) result[i] = regularization * v[i];
        a.MultiplyAdd(column, result);
        return result;
    }

    /// <summary>The entries of a block's coupling columns in linking rows, ordered by linking row, then column position.</summary>
    private sealed class LinkingPattern
    {
        /// <summary>Collects the entries of <paramref name="columns"/>, whose linking entries are [start[j], start[j + 1]) of the row and value arrays.</summary>
        public LinkingPattern(int[] columns, int[] start, int[] rows, double[] values)
        {
            var entries = new List<(int Row, int Column, double Value)>();
            for (int t = 0; t < columns.Length; t++)
                for (int e = start[columns[t]]; e < start[columns[t] + 1]; e++) entries.Add((rows[e], t, values[e]));
            entries.Sort((p, q) => p.Row != q.Row ? p.Row.CompareTo(q.Row) : p.Column.CompareTo(q.Column));
            Row = [.. entries.Select(x => x.Row)];
            Column = [.. entries.Select(x => x.Column)];
            Value = [.. entries.Select(x => x.Value)];
        }

        /// <summary>Each entry's linking row (ascending).</summary>
        public int[] Row { get; }

        /// <summary>Each entry's coupling column position.</summary>
        public int[] Column { get; }

        /// <summary>Each entry's value.</summary>
        public double[] Value { get; }
    }

    /// <summary>
    /// Columns of one part of the matrix with their entries in that part, those with proportional entries merged:
    /// for a = α·v with a shared v, Σ θ_j·a_j·a_jᵀ = (Σ θ_j·α_j²)·v·vᵀ, so each group adds one outer product.
    /// </summary>
    private sealed class MergedColumns
    {
        private readonly int[] memberStart, member, entryStart, entryRow;
        private readonly double[] memberScale, entryValue;

        /// <summary>Groups <paramref name="columns"/>, whose entries are [start[j], start[j + 1]) of the row and value arrays.</summary>
        public MergedColumns(IReadOnlyList<int> columns, int[] start, int[] rows, double[] values)
        {
            var groups = new List<(int First, List<(int Column, double Scale)> Members)>();
            var byKey = new Dictionary<int, List<int>>();
            bool Proportional(int p, int q)
            {
                int length = start[p + 1] - start[p];
                if (length != start[q + 1] - start[q]) return false;
                double ratio = values[start[q]] / values[start[p]];
                for (int e = 0; e < length; e++)
                    if (rows[start[p] + e] != rows[start[q] + e] || values[start[p] + e] * ratio != values[start[q] + e]) return false;
                return true;
            }
            foreach (int j in columns)
            {
                if (start[j + 1] == start[j]) continue;
                var hash = new HashCode();
                double first = values[start[j]];
                for (int e = start[j]; e < start[j + 1]; e++)
                {
                    hash.Add(rows[e]);
                    hash.Add(Math.Abs(values[e] / first));
                }
                int key = hash.ToHashCode();
                if (!byKey.TryGetValue(key, out List<int>? candidates)) byKey[key] = candidates = [];
                int match = candidates.FindIndex(g => Proportional(groups[g].First, j));
                if (match < 0)
                {
                    candidates.Add(groups.Count);
                    groups.Add((j, [(j, 1.0)]));
                    continue;
                }
                (int representative, List<(int, double)> members) = groups[candidates[match]];
                double ratio = first / values[start[representative]];
                members.Add((j, ratio * ratio));
            }
            memberStart = new int[groups.Count + 1];
            entryStart = new int[groups.Count + 1];
            for (int g = 0; g < groups.Count; g++)
            {
                memberStart[g + 1] = memberStart[g] + groups[g].Members.Count;
                entryStart[g + 1] = entryStart[g] + start[groups[g].First + 1] - start[groups[g].First];
            }
            member = new int[memberStart[^1]];
            memberScale = new double[memberStart[^1]];
            entryRow = new int[entryStart[^1]];
            entryValue = new double[entryStart[^1]];
            for (int g = 0; g < groups.Count; g++)
            {
                for (int i = 0; i < groups[g].Members.Count; i++) (member[memberStart[g] + i], memberScale[memberStart[g] + i]) = groups[g].Members[i];
                int from = start[groups[g].First];
                for (int e = entryStart[g]; e < entryStart[g + 1]; e++)
                {
                    entryRow[e] = rows[from + e - entryStart[g]];
                    entryValue[e] = values[from + e - entryStart[g]];
                }
            }
        }

        public double Pairs { get { double sum = 0; for (int g = 0; g + 1 < entryStart.Length; g++) sum += 0.5 * (entryStart[g + 1] - entryStart[g]) * (double)(entryStart[g + 1] - entryStart[g] + 1); return sum; } }

        /// <summary>Adds Σ_j θ_j·a_j·a_jᵀ to the lower triangle of the dense <paramref name="n"/> × n matrix <paramref name="target"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void AddTo(double[] target, int n, double[] theta)
        {
            ref double t0 = ref MemoryMarshal.GetArrayDataReference(target);
            ref int rows = ref MemoryMarshal.GetArrayDataReference(entryRow);
            ref double values = ref MemoryMarshal.GetArrayDataReference(entryValue);
            for (int g = 0; g + 1 < memberStart.Length; g++)
            {
                double weight = 0;
                for (int i = memberStart[g]; i < memberStart[g + 1]; i++) weight += theta[member[i]] * memberScale[i];
                int from = entryStart[g], to = entryStart[g + 1];
                for (int p = from; p < to; p++)
                {
                    double scaled = weight * Unsafe.Add(ref values, p);
                    ref double row = ref Unsafe.Add(ref t0, Unsafe.Add(ref rows, p) * n);
                    for (int q = from; q <= p; q++) Unsafe.Add(ref row, Unsafe.Add(ref rows, q)) += scaled * Unsafe.Add(ref values, q);
                }
            }
        }
    }
}
