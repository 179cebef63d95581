using System.Buffers;
using System.Runtime.CompilerServices;

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
/// Columns with proportional entries (a split variable's two parts, Δ⁺ and Δ⁻) count once with their weights summed
/// (<see cref="ProportionalColumns"/>); coupling columns are summed into S by groups of linking
/// rows (<see cref="LinkingRowGroups"/>): those that meet few linking rows always, the others too when they add less to
/// the groups' products than they cost alone (<see cref="LinkingRowGroups.SelectBlocks"/>); a block left out goes
/// through its own rows as one product (<see cref="AddLowRank"/>) or row by row of the linking rows, whichever is cheaper. A block's rows through one
/// hub column (the repair objective's g ≥ Δ⁺ + Δ⁻) are eliminated in closed form before its dense factor
/// (<see cref="HubRows"/>): the block's factor then covers its other rows only. Blocks are factored in
/// parallel (each on its own storage) and summed into S in a fixed order, and the parallel sums into S write disjoint
/// entries, so the result is the same for any thread count.
/// </summary>
internal sealed class BlockNormalEquations
{
    /// <summary>Relative size below which a pivot counts as zero (see <see cref="DenseKernels.Cholesky"/>).</summary>
    private const double PivotTolerance = 1e-13;

    /// <summary>Rows of X_k per product when forming X_kᵀX_k.</summary>
    private const int GramSlice = 64;

    /// <summary>Most numbers the dense forms of hub blocks' pair columns take in all (<see cref="HubPairColumns"/>); blocks beyond it keep them sparse.</summary>
    private const long MaxDensePairNumbers = 1L << 25;

    /// <summary>Columns per parallel task when the entries are split into block and linking parts.</summary>
    private const int ColumnsPerTask = 4096;

    private readonly BlockStructure structure;
    private readonly int threads;
    private readonly int linking;

    // Each column's entries split into its block's rows (block-local index) and linking rows (linking index), both ascending.
    private readonly int[] blockEntryStart, blockEntryRow, linkEntryStart, linkEntryRow;
    private readonly double[] blockEntryValue, linkEntryValue;
    private readonly ColumnEntries blockEntries, linkEntries;
    private readonly ProportionalColumns[] blockForm;
    private readonly ProportionalColumns linkingForm;
    private readonly Coupling[] couplings;
    private readonly LinkingRowGroups groupSums;
    private readonly int[] rowWiseBlocks;

    private readonly double[][] blockFactor, gram, couplingSolve, blockVector, couplingScalars, hubVector, hubU;
    private readonly double[] schur, schurReference, theta, rightHandSide, linkingPart, hubSum;

    // θ with each hub block's pair and hub weights replaced by those of its rows' elimination (HubRows.Prepare).
    private readonly double[] adjusted;

    // Each block's rows that stay in its dense factor (its hub rows, if any, are eliminated first; see HubRows).
    private readonly int[][] blockRows;
    private readonly HubRows?[] hubs;
    private readonly HubPairColumns?[] hubPairs;
    private readonly double[][] hubDots;
    private double regularization;

    /// <summary>
    /// Sets up the symbolic structure (which column touches which block, which rows are eliminated first) for
    /// <paramref name="matrix"/>, whose rows are <paramref name="byRows"/> (built here when not given); with
    /// <paramref name="hubRows"/> false no rows are eliminated before the blocks' dense factors, and with
    /// <paramref name="densePairColumns"/> false the hub blocks' pair columns stay sparse (<see cref="HubPairColumns"/>).
    /// </summary>
    public BlockNormalEquations(SparseColumns matrix, BlockStructure blocks, int threadCount, SparseRows? byRows = null, bool hubRows = true,
        bool densePairColumns = true)
    {
        structure = blocks;
        threads = Math.Max(1, threadCount);
        linking = blocks.LinkingRows.Length;
        int n = matrix.Cols, blockCount = blocks.BlockRows.Length;
        byRows ??= new SparseRows(matrix);
        // Each column's linking entries are counted first: whether a column meets linking rows decides which rows are hub rows.
        linkEntryStart = new int[n + 1];
        var linkingColumn = new bool[n];
        for (int j = 0; j < n; j++)
        {
            int inLinking = 0;
            for (int e = matrix.ColStart[j]; e < matrix.ColStart[j + 1]; e++)
                if (blocks.BlockOfRow[matrix.RowIndex[e]] < 0) inLinking++;
            linkEntryStart[j + 1] = linkEntryStart[j] + inLinking;
            linkingColumn[j] = inLinking > 0;
        }
        hubs = new HubRows?[blockCount];
        if (hubRows) Parallel.For(0, blockCount, new ParallelOptions { MaxDegreeOfParallelism = threads }, k => hubs[k] = HubRows.Find(k, blocks, matrix, byRows, linkingColumn));
        var eliminated = new bool[matrix.Rows];
        var localIndex = new int[matrix.Rows];
        blockRows = new int[blockCount][];
        for (int k = 0; k < blockCount; k++)
        {
            if (hubs[k] is { } hub)
                foreach (int row in hub.Rows) eliminated[row] = true;
            blockRows[k] = [.. blocks.BlockRows[k].Where(row => !eliminated[row])];
            for (int i = 0; i < blockRows[k].Length; i++) localIndex[blockRows[k][i]] = i;
        }
        blockEntryStart = new int[n + 1];
        var columnBlock = new int[n];
        for (int j = 0; j < n; j++)
        {
            columnBlock[j] = -1;
            int inBlocks = 0;
            for (int e = matrix.ColStart[j]; e < matrix.ColStart[j + 1]; e++)
            {
                int block = blocks.BlockOfRow[matrix.RowIndex[e]];
                if (block < 0 || eliminated[matrix.RowIndex[e]]) continue;
                if (columnBlock[j] >= 0 && columnBlock[j] != block) throw new InvalidOperationException($"column {j} meets two blocks");
                columnBlock[j] = block;
                inBlocks++;
            }
            blockEntryStart[j + 1] = blockEntryStart[j] + inBlocks;
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
        // Columns are independent: each writes its own stretch of the entry arrays.
        DenseKernels.ForBands(n, ColumnsPerTask, threads, (first, count) =>
        {
            for (int j = first; j < first + count; j++)
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
                    else if (!eliminated[row])
                    {
                        blockEntryRow[bp] = localIndex[row];
                        blockEntryValue[bp++] = matrix.Value[e];
                    }
                }
                SortByRow(blockEntryRow, blockEntryValue, blockEntryStart[j], blockEntryStart[j + 1]);
                SortByRow(linkEntryRow, linkEntryValue, linkEntryStart[j], linkEntryStart[j + 1]);
            }
        });
        blockEntries = new ColumnEntries(blockEntryStart, blockEntryRow, blockEntryValue);
        linkEntries = new ColumnEntries(linkEntryStart, linkEntryRow, linkEntryValue);
        hubPairs = new HubPairColumns?[blockCount];
        long densePairBudget = MaxDensePairNumbers;
        var denseCopies = new HubPairColumns.DenseCopies();
        for (int k = 0; k < blockCount; k++)
            if (hubs[k] is { } hub) hubPairs[k] = HubPairColumns.Create(hub, blockEntries, blockRows[k].Length, densePairColumns, denseCopies, ref densePairBudget);
        DensePairCopies = denseCopies.Count;
        var withLinks = new List<int>();
        for (int j = 0; j < n; j++)
        {
            bool links = linkingColumn[j];
            if (links) withLinks.Add(j);
            if (columnBlock[j] < 0) continue;
            byBlock[columnBlock[j]].Add(j);
            if (links) byCoupling[columnBlock[j]].Add(j);
        }
        // A hub that meets linking rows couples its block to them through −u (see HubRows), though it meets none of the block's remaining rows.
        for (int k = 0; k < blockCount; k++)
            if (hubs[k] is { } hub && linkingColumn[hub.Hub]) byCoupling[k].Add(hub.Hub);
        // Each block's groupings depend on its own columns only, so they are built in parallel.
        blockForm = new ProportionalColumns[blockCount];
        couplings = new Coupling[blockCount];
        Parallel.For(0, blockCount, new ParallelOptions { MaxDegreeOfParallelism = threads }, k =>
        {
            // Without its hub rows a block's split pairs are exactly proportional, and many columns share a row pattern:
            // only exact groups are sought there (a near match would be tried against each of them).
            blockForm[k] = new ProportionalColumns(byBlock[k], blockEntryStart, blockEntryRow, blockEntryValue, exact: hubs[k] is not null);
            couplings[k] = new Coupling(new ProportionalColumns(byCoupling[k], matrix.ColStart, matrix.RowIndex, matrix.Value, exact: true), this);
        });
        linkingForm = new ProportionalColumns(withLinks, linkEntryStart, linkEntryRow, linkEntryValue, exact: false);
        // Narrow blocks are always summed by groups of linking rows; the others too where that costs less than summing them
        // alone (LinkingRowGroups.SelectBlocks), else through their own rows or row by row, whichever is cheaper.
        GroupedColumn[][] own =
        [
            .. couplings.Select((c, k) => c.Columns.Select((j, t) =>
                new GroupedColumn(k, t, linkEntryRow[linkEntryStart[j]..linkEntryStart[j + 1]], linkEntryValue[linkEntryStart[j]..linkEntryStart[j + 1]])).ToArray()),
        ];
        (double Cost, bool LowRank)[] alone =
            [.. own.Select((columns, k) => AloneCost(columns.Sum(c => c.Rows.Length), columns.SelectMany(c => c.Rows).Distinct().Count(), columns.Length, blockRows[k].Length))];
        bool[] narrowBlock = [.. couplings.Select(c => c.Narrow)];
        bool[] grouped = narrowBlock.All(narrow => narrow)
            ? narrowBlock
            : LinkingRowGroups.SelectBlocks(linking, [.. own.SelectMany(c => c)], narrowBlock, [.. alone.Select(a => a.Cost)]);
        groupSums = new LinkingRowGroups(linking, [.. Enumerable.Range(0, blockCount).Where(k => grouped[k]).SelectMany(k => own[k])]);
        rowWiseBlocks = [.. Enumerable.Range(0, blockCount).Where(k => !grouped[k])];
        foreach (int k in rowWiseBlocks) couplings[k].SumAlone(this, alone[k].LowRank);
        blockFactor = new double[blockCount][];
        gram = new double[blockCount][];
        couplingSolve = new double[blockCount][];
        blockVector = new double[blockCount][];
        couplingScalars = new double[blockCount][];
        for (int k = 0; k < blockCount; k++)
        {
            int size = blockRows[k].Length, q = couplings[k].Width;
            blockFactor[k] = new double[size * size];
            gram[k] = new double[q * q];
            couplingSolve[k] = new double[size * q];
            blockVector[k] = new double[size];
            couplingScalars[k] = new double[q];
        }
        hubVector = [.. hubs.Select(hub => new double[hub?.Rows.Length ?? 0])];
        hubDots = [.. hubs.Select(hub => new double[hub?.Rows.Length ?? 0])];
        hubU = [.. hubs.Select((hub, k) => new double[hub is null ? 0 : blockRows[k].Length])];
        hubSum = new double[blockCount];
        adjusted = new double[n];
        schur = new double[linking * linking];
        schurReference = new double[linking];
        theta = new double[n];
        rightHandSide = new double[matrix.Rows];
        linkingPart = new double[linking];
    }

    /// <summary>
    /// Sorts the entries [<paramref name="start"/>, <paramref name="end"/>) by row. A column's rows ascend in A, and the
    /// linking rows' positions ascend with their rows, so most stretches are sorted already and are only checked.
    /// </summary>
    private static void SortByRow(int[] row, double[] value, int start, int end)
    {
        for (int e = start + 1; e < end; e++)
        {
            if (row[e - 1] < row[e]) continue;
            Array.Sort(row, value, start, end - start);
            return;
        }
    }

    /// <summary>Blocks whose update of S is not summed by groups of linking rows: through their own rows (<see cref="AddLowRank"/>) and row by row (<see cref="AddByRows"/>).</summary>
    public (int LowRank, int ByRows) BlocksSummedAlone => (rowWiseBlocks.Count(k => couplings[k].LowRank), rowWiseBlocks.Count(k => !couplings[k].LowRank));

    /// <summary>Blocks whose hub rows are eliminated in closed form before their dense factorisation (<see cref="HubRows"/>).</summary>
    public int BlocksWithHubRows => hubs.Count(hub => hub is not null);

    /// <summary>Hub blocks whose pair columns are kept dense (<see cref="HubPairColumns"/>).</summary>
    public int BlocksWithDensePairs => hubPairs.Count(pairs => pairs is { Dense: true });

    /// <summary>Distinct dense arrays those blocks share (<see cref="HubPairColumns.DenseCopies"/>).</summary>
    public int DensePairCopies { get; }

    /// <summary>Pivots of the last factorisation that were replaced because they were not clearly positive.</summary>
    public int DroppedPivots { get; private set; }

    /// <summary>Factors A·Θ·Aᵀ + δ·I for the column weights <paramref name="weights"/> (Θ) and <paramref name="delta"/> (δ).</summary>
    public void Factor(ReadOnlySpan<double> weights, double delta)
    {
        weights.CopyTo(theta);
        weights.CopyTo(adjusted);
        regularization = delta;
        int blockCount = blockFactor.Length;
        var dropped = new int[blockCount];
        if (AcrossBlocks) Parallel.For(0, blockCount, new ParallelOptions { MaxDegreeOfParallelism = threads }, k => dropped[k] = FactorBlock(k, 1));
        else for (int k = 0; k < blockCount; k++) dropped[k] = FactorBlock(k, threads);
        DroppedPivots = dropped.Sum() + FactorSchur();
    }

    /// <summary>Whether blocks are worked on in parallel (else one at a time, each with every thread).</summary>
    private bool AcrossBlocks => threads > 1 && blockFactor.Length >= 2 * threads;

    private int FactorBlock(int k, int innerThreads)
    {
        int n = blockRows[k].Length;
        double[] f = blockFactor[k];
        for (int i = 0; i < n; i++) Array.Clear(f, i * n, i + 1);
        HubRows? hub = hubs[k];
        // The block's columns are its own, so each block rewrites only its own weights.
        hub?.Prepare(theta, regularization, adjusted);
        blockForm[k].AddOuterProducts(f, n, adjusted);
        double[] u = hubU[k];
        if (hub is not null)
        {
            Array.Clear(u);
            hub.AddU(u, hubPairs[k]!);
            double rho = hub.Rho;
            for (int i = 0; i < n; i++)
            {
                double scaled = rho * u[i];
                if (scaled == 0) continue;
                for (int j = 0; j <= i; j++) f[i * n + j] += scaled * u[j];
            }
        }
        for (int i = 0; i < n; i++) f[i * n + i] += regularization;
        int dropped = DenseKernels.Cholesky(f, n, PivotTolerance, innerThreads);
        Coupling c = couplings[k];
        int width = c.Width;
        if (width == 0) return dropped;
        for (int t = 0; t < width; t++) c.Weight[t] = c.Groups.Weight(c.Group[t], adjusted);
        double[] x = couplingSolve[k];
        Array.Clear(x);
        for (int t = 0; t < width; t++)
        {
            int j = c.Columns[t];
            if (hub is not null && j == hub.Hub)
                for (int i = 0; i < n; i++) x[i * width + t] = -u[i];
            for (int p = blockEntryStart[j]; p < blockEntryStart[j + 1]; p++) x[blockEntryRow[p] * width + t] = blockEntryValue[p];
        }
        DenseKernels.SolveLowerInPlace(f, n, x, width, c.FirstRow);
        // Y = −XᵀX, by slices of X's rows: in a slice, only the columns that start by its last row are nonzero.
        double[] y = gram[k];
        Array.Clear(y);
        double[] transposed = ArrayPool<double>.Shared.Rent(width * GramSlice);
        try
        {
            int active = 0;
            for (int i0 = c.FirstRow[0]; i0 < n; i0 += GramSlice)
            {
                int rows = Math.Min(GramSlice, n - i0);
                while (active < width && c.FirstRow[active] < i0 + rows) active++;
                DenseKernels.Transpose(x.AsSpan(i0 * width), width, rows, active, transposed, rows);
                DenseKernels.SubtractProduct(y, width, transposed, rows, x.AsSpan(i0 * width), width, active, active, rows, diagonal: 0);
            }
        }
        finally
        {
            ArrayPool<double>.Shared.Return(transposed);
        }
        for (int t1 = 0; t1 < width; t1++)
            for (int t2 = t1 + 1; t2 < width; t2++) y[t1 * width + t2] = y[t2 * width + t1];
        return dropped;
    }

    /// <summary>S = M_L + δ·I − Σ_k C_k·M_k⁻¹·C_kᵀ (gram[k] holds −X_kᵀX_k), then its Cholesky factor.</summary>
    private int FactorSchur()
    {
        if (linking == 0) return 0;
        Array.Clear(schur);
        linkingForm.AddOuterProducts(schur, linking, adjusted);
        for (int l = 0; l < linking; l++)
        {
            schur[l * linking + l] += regularization;
            schurReference[l] = schur[l * linking + l];
        }
        groupSums.AddTo(schur, linking, (k, t) => couplings[k].Weight[t], gram, [.. couplings.Select(c => c.Width)], threads);
        foreach (int k in rowWiseBlocks)
        {
            if (couplings[k].LowRank) AddLowRank(k);
            else AddByRows(k);
        }
        return DenseKernels.Cholesky(schur, linking, PivotTolerance, threads, schurReference);
    }

    /// <summary>
    /// S −= B·Bᵀ (lower triangle) for block k with B = A_RJ·W·X_kᵀ over the linking rows R its coupling columns meet
    /// (|R| × the block's rows): Y_k = −X_kᵀX_k, so this is <see cref="AddByRows"/>'s update through the block's rows
    /// instead of its columns, as one sparse product and one register-tiled product. Bands of R's rows run in parallel,
    /// each writing only its own rows of S.
    /// </summary>
    private void AddLowRank(int k)
    {
        Coupling c = couplings[k];
        LinkingEntries entries = c.ByLinkingRow!;
        int n = blockRows[k].Length, width = c.Width, support = entries.Rows.Length;
        double[] xt = ArrayPool<double>.Shared.Rent(width * n), b = ArrayPool<double>.Shared.Rent(support * n), bt = ArrayPool<double>.Shared.Rent(n * support);
        try
        {
            DenseKernels.Transpose(couplingSolve[k], width, n, width, xt, n);
            DenseKernels.ForBands(support, LowRankBand, threads, (first, count) =>
            {
                for (int i = first; i < first + count; i++)
                {
                    Span<double> row = b.AsSpan(i * n, n);
                    row.Clear();
                    for (int e = entries.Start[i]; e < entries.Start[i + 1]; e++)
                    {
                        int t = entries.Position[e];
                        DenseKernels.AddScaled(row, c.Weight[t] * entries.Value[e], xt.AsSpan(t * n, n));
                    }
                }
            });
            DenseKernels.Transpose(b, n, support, n, bt, support);
            DenseKernels.ForBands(support, LowRankBand, threads, (first, count) =>
            {
                int columns = first + count;
                double[] update = ArrayPool<double>.Shared.Rent(count * columns);
                try
                {
                    Span<double> u = update.AsSpan(0, count * columns);
                    u.Clear();
                    DenseKernels.SubtractProduct(u, columns, b.AsSpan(first * n), n, bt, support, count, columns, n, diagonal: first);
                    for (int a = 0; a < count; a++)
                    {
                        int row = entries.Rows[first + a] * linking;
                        for (int i2 = 0; i2 <= first + a; i2++) schur[row + entries.Rows[i2]] += u[a * columns + i2];
                    }
                }
                finally
                {
                    ArrayPool<double>.Shared.Return(update);
                }
            });
        }
        finally
        {
            ArrayPool<double>.Shared.Return(xt);
            ArrayPool<double>.Shared.Return(b);
            ArrayPool<double>.Shared.Return(bt);
        }
    }

    /// <summary>
    /// The cost, in scattered updates, of summing a block's update of S without the groups: <see cref="AddByRows"/> takes
    /// about <paramref name="entries"/> × (<paramref name="width"/> + half its <paramref name="support"/> of linking
    /// rows), <see cref="AddLowRank"/> <paramref name="entries"/> × <paramref name="rows"/> + support² × rows / 2
    /// multiply–adds in products that run <see cref="LinkingRowGroups.ProductAdvantage"/> times faster; the cheaper wins.
    /// </summary>
    private static (double Cost, bool LowRank) AloneCost(double entries, double support, double width, double rows)
    {
        double byRows = entries * (width + support / 2), lowRank = (entries * rows + support * support * rows / 2) / LinkingRowGroups.ProductAdvantage;
        return lowRank <= byRows ? (lowRank, true) : (byRows, false);
    }

    /// <summary>Rows of R per parallel task of <see cref="AddLowRank"/>.</summary>
    private const int LowRankBand = 64;

    /// <summary>
    /// S += A_LJ·W·Y_k·W·A_LJᵀ (lower triangle) for block k, one linking row l at a time: g = (row l of A_LJ·W)·Y_k,
    /// then S[l, l2] += Σ_t g_t·W_t·a[l2, t] for l2 ≤ l. Each entry of S is written once however many of the block's
    /// columns meet its two rows, which suits blocks whose columns meet many linking rows. Rows l run in parallel: each
    /// writes only its own row of S.
    /// </summary>
    private void AddByRows(int k)
    {
        Coupling c = couplings[k];
        LinkingEntries entries = c.ByLinkingRow!;
        Parallel.For(0, entries.Rows.Length, new ParallelOptions { MaxDegreeOfParallelism = threads }, () => new double[c.Width], (i, _, g) =>
        {
            AddRow(c, gram[k], entries, i, g);
            return g;
        }, _ => { });
    }

    /// <summary>Adds the part of <see cref="AddByRows"/> in the <paramref name="i"/>-th linking row of <paramref name="entries"/>, with <paramref name="g"/> as work space.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AddRow(Coupling c, double[] y, LinkingEntries entries, int i, double[] g)
    {
        int width = c.Width, l1 = entries.Rows[i];
        Array.Clear(g);
        for (int e = entries.Start[i]; e < entries.Start[i + 1]; e++)
        {
            int t = entries.Position[e];
            DenseKernels.AddScaled(g, c.Weight[t] * entries.Value[e], y.AsSpan(t * width, width));
        }
        int row = l1 * linking;
        for (int t = 0; t < width; t++)
        {
            double coefficient = g[t] * c.Weight[t];
            if (coefficient == 0) continue;
            int j = c.Columns[t];
            for (int r = linkEntryStart[j]; r < linkEntryStart[j + 1] && linkEntryRow[r] <= l1; r++) schur[row + linkEntryRow[r]] += coefficient * linkEntryValue[r];
        }
    }

    /// <summary>Overwrites <paramref name="r"/> (one value per row) with the solution of the factored system.</summary>
    public void Solve(Span<double> r)
    {
        int blockCount = blockFactor.Length;
        double[] rhs = rightHandSide;
        r.CopyTo(rhs);
        for (int l = 0; l < linking; l++) linkingPart[l] = rhs[structure.LinkingRows[l]];
        // u_k = L_k⁻¹ r_k and the scalars W·X_kᵀ·u_k, then the linking right-hand side r_L − A_LJ·(those scalars).
        ForEachBlock(k =>
        {
            double[] v = blockVector[k];
            int[] rows = blockRows[k];
            for (int i = 0; i < rows.Length; i++) v[i] = rhs[rows[i]];
            if (hubs[k] is { } hub)
            {
                // The hub rows first: z = M_RR⁻¹·r_R, then r_S −= M_SR·z here and r_L −= M_LR·z below.
                double[] z = hubVector[k];
                for (int j = 0; j < z.Length; j++) z[j] = rhs[hub.Rows[j]];
                hub.SolveInPlace(z);
                double sum = 0;
                HubPairColumns pairs = hubPairs[k]!;
                for (int j = 0; j < z.Length; j++)
                {
                    pairs.AddTo(j, -hub.Beta(j) * z[j], v);
                    sum += hub.HubEntry(j) * z[j];
                }
                hubSum[k] = hub.HubTheta * sum;
            }
            DenseKernels.ForwardSolve(blockFactor[k], v.Length, v);
            Coupling c = couplings[k];
            double[] scalars = couplingScalars[k], x = couplingSolve[k];
            int width = c.Width;
            Array.Clear(scalars);
            for (int i = width == 0 ? v.Length : c.FirstRow[0]; i < v.Length; i++)
                if (v[i] != 0) DenseKernels.AddScaled(scalars, v[i], x.AsSpan(i * width, width));
            for (int t = 0; t < width; t++) scalars[t] *= c.Weight[t];
        });
        for (int k = 0; k < blockCount; k++)
        {
            if (hubs[k] is { } hub && hubSum[k] != 0) linkEntries.AddTo(hub.Hub, -hubSum[k], linkingPart);
            Coupling c = couplings[k];
            for (int t = 0; t < c.Width; t++) linkEntries.AddTo(c.Columns[t], -couplingScalars[k][t], linkingPart);
        }
        if (linking > 0)
        {
            DenseKernels.ForwardSolve(schur, linking, linkingPart);
            DenseKernels.BackwardSolve(schur, linking, linkingPart);
        }
        // y_k = L_k⁻ᵀ (u_k − X_k·W·A_LJᵀ·y_L).
        ForEachBlock(k =>
        {
            double[] v = blockVector[k];
            Coupling c = couplings[k];
            double[] scalars = couplingScalars[k], x = couplingSolve[k];
            int width = c.Width;
            for (int t = 0; t < width; t++) scalars[t] = c.Weight[t] * linkEntries.Dot(c.Columns[t], linkingPart);
            for (int i = width == 0 ? v.Length : c.FirstRow[0]; i < v.Length; i++) v[i] -= DenseKernels.Dot(x.AsSpan(i * width, width), scalars);
            DenseKernels.BackwardSolve(blockFactor[k], v.Length, v);
            if (hubs[k] is not { } hub) return;
            // y_R = M_RR⁻¹·(r_R − M_RS·y_S − M_RL·y_L).
            double[] z = hubVector[k], dots = hubDots[k];
            double linked = hub.HubTheta * linkEntries.Dot(hub.Hub, linkingPart);
            hubPairs[k]!.DotAll(v, dots);
            for (int j = 0; j < z.Length; j++)
            {
                z[j] = rhs[hub.Rows[j]] - hub.HubEntry(j) * linked;
                if (hub.Plus[j] >= 0) z[j] -= hub.Beta(j) * dots[j];
            }
            hub.SolveInPlace(z);
        });
        for (int k = 0; k < blockCount; k++)
        {
            int[] rows = blockRows[k];
            for (int i = 0; i < rows.Length; i++) r[rows[i]] = blockVector[k][i];
            if (hubs[k] is { } hub)
                for (int j = 0; j < hub.Rows.Length; j++) r[hub.Rows[j]] = hubVector[k][j];
        }
        for (int l = 0; l < linking; l++) r[structure.LinkingRows[l]] = linkingPart[l];
    }

    private void ForEachBlock(Action<int> body)
    {
        if (AcrossBlocks) Parallel.For(0, blockFactor.Length, new ParallelOptions { MaxDegreeOfParallelism = threads }, body);
        else for (int k = 0; k < blockFactor.Length; k++) body(k);
    }

    /// <summary>
    /// A block's coupling columns (meeting the block and linking rows), proportional ones merged: position t holds the
    /// representative column, ordered by its first block row so that solves with them skip leading zeros, and its
    /// weight W_t = Σ θ_j·α_j² of the last factorisation.
    /// </summary>
    private sealed class Coupling
    {
        public Coupling(ProportionalColumns groups, BlockNormalEquations owner)
        {
            Groups = groups;
            // A hub column meets none of the block's remaining rows: its entries there (−u) fill them all.
            int FirstBlockRow(int g) => owner.blockEntryStart[groups.Representative(g) + 1] > owner.blockEntryStart[groups.Representative(g)]
                ? owner.blockEntryRow[owner.blockEntryStart[groups.Representative(g)]] : 0;
            Group = [.. Enumerable.Range(0, groups.Count).OrderBy(FirstBlockRow).ThenBy(groups.Representative)];
            Columns = [.. Group.Select(groups.Representative)];
            FirstRow = [.. Group.Select(FirstBlockRow)];
            Narrow = Columns.All(j => owner.linkEntryStart[j + 1] - owner.linkEntryStart[j] <= BlockStructure.NarrowLimit);
            Weight = new double[Columns.Length];
        }

        /// <summary>Collects <see cref="ByLinkingRow"/> for a block whose update is not summed by groups, to be summed the way <paramref name="lowRank"/> says (<see cref="AloneCost"/>).</summary>
        public void SumAlone(BlockNormalEquations owner, bool lowRank)
        {
            ByLinkingRow = new LinkingEntries(Columns, owner.linkEntryStart, owner.linkEntryRow, owner.linkEntryValue);
            LowRank = lowRank;
        }

        /// <summary>Whether the update goes through the block's rows as one register-tiled product (<see cref="AddLowRank"/>) rather than row by row of the linking rows (<see cref="AddByRows"/>).</summary>
        public bool LowRank { get; private set; }

        public ProportionalColumns Groups { get; }

        /// <summary>The group at each position.</summary>
        public int[] Group { get; }

        public int[] Columns { get; }

        public int[] FirstRow { get; }

        /// <summary>Whether every column meets at most <see cref="BlockStructure.NarrowLimit"/> linking rows (then <see cref="LinkingRowGroups"/> always sums it into S).</summary>
        public bool Narrow { get; }

        /// <summary>The columns' linking entries by linking row, for a block summed into S without the groups (<see cref="SumAlone"/>).</summary>
        public LinkingEntries? ByLinkingRow { get; private set; }

        public double[] Weight { get; }

        public int Width => Columns.Length;
    }

    /// <summary>A block's coupling columns' entries in linking rows, ordered by linking row, then column position.</summary>
    private sealed class LinkingEntries
    {
        /// <summary>Collects the entries of <paramref name="columns"/>, whose linking entries are [start[j], start[j + 1]) of the row and value arrays.</summary>
        public LinkingEntries(int[] columns, int[] start, int[] rows, double[] values)
        {
            var entries = new List<(int Row, int Position, double Value)>();
            for (int t = 0; t < columns.Length; t++)
                for (int e = start[columns[t]]; e < start[columns[t] + 1]; e++) entries.Add((rows[e], t, values[e]));
            entries.Sort();
            var distinct = new List<int>();
            var rowStart = new List<int>();
            for (int e = 0; e < entries.Count; e++)
            {
                if (e > 0 && entries[e].Row == entries[e - 1].Row) continue;
                distinct.Add(entries[e].Row);
                rowStart.Add(e);
            }
            rowStart.Add(entries.Count);
            Rows = [.. distinct];
            Start = [.. rowStart];
            Position = [.. entries.Select(x => x.Position)];
            Value = [.. entries.Select(x => x.Value)];
        }

        /// <summary>The linking rows, ascending.</summary>
        public int[] Rows { get; }

        /// <summary>Row i's entries are [Start[i], Start[i + 1]).</summary>
        public int[] Start { get; }

        /// <summary>Each entry's column position.</summary>
        public int[] Position { get; }

        /// <summary>Each entry's value.</summary>
        public double[] Value { get; }
    }
}

/// <summary>Each column's entries in one part of the rows (block-local or linking indices), for sums over a column.</summary>
/// <param name="Start">Column j's entries are [Start[j], Start[j + 1]).</param>
/// <param name="Row">Each entry's row index within the part.</param>
/// <param name="Value">Each entry's value.</param>
internal readonly record struct ColumnEntries(int[] Start, int[] Row, double[] Value)
{
    /// <summary>target += scale·(column j's entries).</summary>
    public void AddTo(int j, double scale, Span<double> target)
    {
        for (int e = Start[j]; e < Start[j + 1]; e++) target[Row[e]] += scale * Value[e];
    }

    /// <summary>Column j's entries · x.</summary>
    public double Dot(int j, ReadOnlySpan<double> x)
    {
        double sum = 0;
        for (int e = Start[j]; e < Start[j + 1]; e++) sum += Value[e] * x[Row[e]];
        return sum;
    }
}
