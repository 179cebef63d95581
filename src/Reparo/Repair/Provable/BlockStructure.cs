namespace Reparo.Repair.Provable;

/// <summary>A sparse matrix stored by columns (CSC).</summary>
/// <param name="Rows">Row count.</param>
/// <param name="Cols">Column count.</param>
/// <param name="ColStart">Column j's entries are [ColStart[j], ColStart[j + 1]).</param>
/// <param name="RowIndex">Each entry's row.</param>
/// <param name="Value">Each entry's value.</param>
internal sealed record SparseColumns(int Rows, int Cols, int[] ColStart, int[] RowIndex, double[] Value)
{
    /// <summary>y += A·x.</summary>
    public void MultiplyAdd(ReadOnlySpan<double> x, Span<double> y)
    {
        for (int j = 0; j < Cols; j++)
            if (x[j] != 0) AddColumn(j, x[j], y);
    }

    /// <summary>y += scale·(column j).</summary>
    public void AddColumn(int j, double scale, Span<double> y)
    {
        for (int e = ColStart[j]; e < ColStart[j + 1]; e++) y[RowIndex[e]] += Value[e] * scale;
    }

    /// <summary>Aᵀ·y for column j (<see cref="Dot"/>).</summary>
    public double ColumnDot(int j, ReadOnlySpan<double> y) => Dot(Value, RowIndex, ColStart[j], ColStart[j + 1], y);

    /// <summary>
    /// Σ value[e]·x[index[e]] over e in [<paramref name="start"/>, <paramref name="end"/>), summed in four interleaved
    /// partial sums: one running sum waits for each addition to finish before the next, so a long sparse dot product
    /// takes a quarter of the additions' latency this way. The order is fixed, so the result is.
    /// </summary>
    internal static double Dot(double[] value, int[] index, int start, int end, ReadOnlySpan<double> x)
    {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int e = start;
        for (; e + 3 < end; e += 4)
        {
            s0 += value[e] * x[index[e]];
            s1 += value[e + 1] * x[index[e + 1]];
            s2 += value[e + 2] * x[index[e + 2]];
            s3 += value[e + 3] * x[index[e + 3]];
        }
        for (; e < end; e++) s0 += value[e] * x[index[e]];
        return (s0 + s1) + (s2 + s3);
    }
}

/// <summary>A sparse matrix stored by rows (CSR): its pattern for structure detection, and products that run in parallel over rows.</summary>
internal sealed class SparseRows
{
    /// <summary>Rows per parallel task.</summary>
    private const int RowsPerTask = 4096;

    private readonly double[] value;

    /// <summary>The rows of <paramref name="a"/>, each with its entries in column order.</summary>
    public SparseRows(SparseColumns a)
    {
        RowStart = new int[a.Rows + 1];
        foreach (int r in a.RowIndex) RowStart[r + 1]++;
        for (int i = 0; i < a.Rows; i++) RowStart[i + 1] += RowStart[i];
        var next = (int[])RowStart.Clone();
        ColIndex = new int[a.RowIndex.Length];
        value = new double[a.RowIndex.Length];
        for (int j = 0; j < a.Cols; j++)
            for (int e = a.ColStart[j]; e < a.ColStart[j + 1]; e++)
            {
                int p = next[a.RowIndex[e]]++;
                ColIndex[p] = j;
                value[p] = a.Value[e];
            }
    }

    /// <summary>Row i's entries are [RowStart[i], RowStart[i + 1]).</summary>
    public int[] RowStart { get; }

    /// <summary>Each entry's column, ascending within a row.</summary>
    public int[] ColIndex { get; }

    /// <summary>Each entry's value.</summary>
    public double[] Value => value;

    /// <summary>
    /// y += A·x with <paramref name="threads"/> threads, each row's terms summed by <see cref="SparseColumns.Dot"/>; each
    /// row is summed by one thread in a fixed order, so the result is the same for any thread count.
    /// </summary>
    public void MultiplyAdd(double[] x, double[] y, int threads) => DenseKernels.ForBands(y.Length, RowsPerTask, threads, (first, count) =>
    {
        for (int i = first; i < first + count; i++) y[i] += SparseColumns.Dot(value, ColIndex, RowStart[i], RowStart[i + 1], x);
    });
}

/// <summary>
/// A bordered block-diagonal ordering of the rows of A for the normal equations A·Θ·Aᵀ: rows split into blocks and
/// linking rows such that every column meets the rows of at most one block (besides any linking rows). The normal
/// matrix is then block diagonal apart from the linking rows, and a block factorisation with a Schur complement on
/// the linking rows solves it. One block and no linking rows is the plain dense normal-equations method.
/// </summary>
internal sealed class BlockStructure
{
    /// <summary>
    /// Largest multiply–add count per factorisation for which the structure is used by default
    /// (<see cref="BlockIpmOptions.MaxMultiplyAdds"/>): about 5 s per factorisation on 2 cores here. Repairs at
    /// mlp:100x3's fc1 reach programs of 6.0E+10 (the default) and 1.13E+11 (no preserved inputs) in their last rounds,
    /// which block-ipm factors in 1.8 s and 3.5 s: both repairs end in 2–4 minutes, where at the earlier bound of 3E+10
    /// those rounds went to HiGHS and ran out of 600 s (docs/results/lp-solvers.md, "A larger factorisation budget").
    /// </summary>
    public const double MaxMultiplyAdds = 1.5e11;

    /// <summary>
    /// Default largest share of a program's rows that may be linking rows (<see cref="BlockIpmOptions.MaxLinkingShare"/>).
    /// Above it the dense Schur complement of the linking rows is most of the work, and HiGHS was faster on every such
    /// program tried here: repairs at the last layer, whose margin rows all link the output neurons' blocks (linking
    /// shares 0.45–0.78 on mlp:100x3, mlp:200x9 and a PyTorch-exported 784-100-100-10 with 300 preserved inputs: HiGHS
    /// 3.0× and 2.8× faster on two, and block-ipm stalled on the third); block-ipm was the faster at shares 0.07 (the
    /// preserving default's whole program at fc2, 5.3×) and 0.12 (APRNN's objective at fc2, 1.26×)
    /// (docs/results/lp-solvers.md, "Programs that are mostly linking rows go to HiGHS").
    /// </summary>
    public const double MaxLinkingShare = 0.25;

    /// <summary>Largest number of doubles the factors may hold (2 GB).</summary>
    public const double MaxStoredValues = 2.5e8;

    private BlockStructure(int[] blockOfRow, int[] localIndex, int[][] blockRows, int[] linkingRows, double multiplyAdds, double storedValues)
    {
        BlockOfRow = blockOfRow;
        LocalIndex = localIndex;
        BlockRows = blockRows;
        LinkingRows = linkingRows;
        MultiplyAdds = multiplyAdds;
        StoredValues = storedValues;
    }

    /// <summary>Each row's block, or −1 for a linking row.</summary>
    public int[] BlockOfRow { get; }

    /// <summary>Each row's position within its block, or within the linking rows.</summary>
    public int[] LocalIndex { get; }

    /// <summary>
    /// The rows of each block in the order they are factored: rows that no coupling column (one that meets linking rows
    /// too) meets first, then the others by how few block entries such a column has, most first (ties by row).
    /// </summary>
    public int[][] BlockRows { get; }

    /// <summary>The linking rows, in ascending order.</summary>
    public int[] LinkingRows { get; }

    /// <summary>The linking rows' share of all rows.</summary>
    public double LinkingShare => BlockOfRow.Length == 0 ? 0 : LinkingRows.Length / (double)BlockOfRow.Length;

    /// <summary>Estimated multiply–adds of one factorisation.</summary>
    public double MultiplyAdds { get; }

    /// <summary>Doubles held by the factors.</summary>
    public double StoredValues { get; }

    /// <summary>Multiply–adds of the dense Cholesky factorisation of a Schur complement on <paramref name="linkingRows"/> rows.</summary>
    internal static double SchurMultiplyAdds(double linkingRows) => linkingRows * linkingRows * linkingRows / 6;

    /// <summary>Whether the factorisation takes at most <paramref name="maxMultiplyAdds"/> and fits the memory limit.</summary>
    public bool IsAffordable(double maxMultiplyAdds) => MultiplyAdds <= maxMultiplyAdds && StoredValues <= MaxStoredValues;

    /// <summary>For reports: blocks, the largest, linking rows, cost.</summary>
    public string Describe() =>
        $"{BlockRows.Length} blocks (largest {(BlockRows.Length == 0 ? 0 : BlockRows.Max(b => b.Length))} rows), {LinkingRows.Length} linking rows, {MultiplyAdds:G3} multiply-adds per factorisation";

    /// <summary>
    /// Finds a cheap ordering for <paramref name="a"/>. Rows are taken one by one in a few candidate orders (by their
    /// nonzero count, and by the largest column they meet, each way round, and by the largest column with the longest
    /// rows first among ties); a row that would join two components
    /// holding at least <c>minimum</c> (1 or 8) rows each becomes a linking row, any other row joins the components its
    /// columns belong to. Linking rows that end up meeting a single component join it. Of these candidates and the single
    /// dense block, the one with the fewest estimated multiply–adds per factorisation wins.
    /// </summary>
    public static BlockStructure Detect(SparseColumns a) => Detect(a, new SparseRows(a), 1);

    /// <summary>
    /// As <see cref="Detect(SparseColumns)"/>, with <paramref name="rows"/> the rows of <paramref name="a"/> already built;
    /// the candidates are built on <paramref name="threads"/> threads and compared in a fixed order, so the result does
    /// not depend on the count.
    /// </summary>
    public static BlockStructure Detect(SparseColumns a, SparseRows rows, int threads) => Detect(a, rows, threads, null);

    /// <summary>
    /// As <see cref="Detect(SparseColumns, SparseRows, int)"/>; with <paramref name="rowBatch"/> (each row's batch, rows
    /// added by constraint generation in later rounds), each candidate order is also tried with every batch's rows after
    /// the earlier batches': the blocks the first rows formed then stay, and a later row that meets two of them links them.
    /// Taken without regard to batches, a round's violated rows can glue blocks into a few huge ones.
    /// </summary>
    public static BlockStructure Detect(SparseColumns a, SparseRows rows, int threads, int[]? rowBatch)
    {
        (int[] rowStart, int[] colIndex) = (rows.RowStart, rows.ColIndex);
        int m = a.Rows;
        var rowLength = new int[m];
        var largestColumn = new int[m];
        for (int i = 0; i < m; i++)
        {
            rowLength[i] = rowStart[i + 1] - rowStart[i];
            for (int e = rowStart[i]; e < rowStart[i + 1]; e++)
            {
                int j = colIndex[e];
                largestColumn[i] = Math.Max(largestColumn[i], a.ColStart[j + 1] - a.ColStart[j]);
            }
        }
        Func<int, long>[] keys =
        [
            i => -rowLength[i],
            i => rowLength[i],
            i => largestColumn[i],
            i => -largestColumn[i],
            // Rows meeting the same longest column, longest first: a row that ties blocks' own columns to a hub (the
            // L∞ bound of every group) then comes after the rows that make the blocks, and links them instead of gluing them.
            i => (long)largestColumn[i] * (m + 1) - rowLength[i],
        ];
        if (rowBatch is not null)
        {
            // Every key is above −2⁴⁰ and below 2⁴⁰ (products of two row or column counts), so the batch leads.
            keys = [.. keys, .. keys.Select(key => (Func<int, long>)(i => ((long)rowBatch[i] << 42) + key(i)))];
        }
        int[] minimums = [1, 8];
        // Candidate c partitions in order c / 2 with minimum c % 2; each is independent of the others.
        var labels = new int[keys.Length * minimums.Length][];
        var costs = new double[labels.Length];
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) };
        int[][] orders = new int[keys.Length][];
        Parallel.For(0, keys.Length, options, o => orders[o] = Order(m, keys[o]));
        Parallel.For(0, labels.Length, options, c =>
        {
            labels[c] = Partition(a, rowStart, colIndex, orders[c / minimums.Length], minimums[c % minimums.Length]);
            costs[c] = Cost(a, labels[c]);
        });
        int[] best = new int[m];
        double bestCost = Cost(a, best);
        for (int c = 0; c < labels.Length; c++)
        {
            if (costs[c] >= bestCost) continue;
            (best, bestCost) = (labels[c], costs[c]);
        }
        return Evaluate(a, best);
    }

    /// <summary>The estimated multiply–adds of one factorisation with the blocks of <paramref name="label"/> (see <see cref="Evaluate"/>).</summary>
    private static double Cost(SparseColumns a, int[] label)
    {
        // Labels are rows (a component's root), so per-block sums sit in arrays indexed by label; blocks are summed in the
        // order their first rows come.
        int m = label.Length;
        var rows = new double[m];
        var coupling = new double[m];
        var entries = new double[m];
        var wide = new bool[m];
        var blocks = new List<int>();
        double linking = 0, direct = 0;
        foreach (int l in label)
        {
            if (l < 0)
            {
                linking++;
                continue;
            }
            if (rows[l] == 0) blocks.Add(l);
            rows[l]++;
        }
        for (int j = 0; j < a.Cols; j++)
        {
            int block = -1, links = 0;
            for (int e = a.ColStart[j]; e < a.ColStart[j + 1]; e++)
            {
                int l = label[a.RowIndex[e]];
                if (l < 0) links++;
                else block = l;
            }
            if (links == 0) continue;
            if (block < 0)
            {
                direct += 0.5 * links * (double)links;
                continue;
            }
            coupling[block]++;
            entries[block] += links;
            wide[block] |= links > NarrowLimit;
        }
        double cost = direct + SchurMultiplyAdds(linking);
        foreach (int l in blocks) cost += BlockCost(rows[l], coupling[l], entries[l], wide[l], linking);
        return cost;
    }

    /// <summary>
    /// Factoring a block of n rows, solving with its q coupling columns, and adding their products with that many
    /// linking entries to the Schur complement: for narrow columns about one multiply–add per pair of entries
    /// (<see cref="LinkingRowGroups"/>), or row by row of the linking rows for a block with a wide one (each entry meets
    /// the q columns, then half the linking rows; <see cref="BlockNormalEquations"/>).
    /// </summary>
    private static double BlockCost(double n, double q, double entries, bool wide, double linking) =>
        n * n * n / 6 + n * n * q / 2 + n * q * q / 2 + (wide ? entries * (q + Math.Min(linking, entries) / 2) : 0.5 * entries * entries);

    /// <summary>A block whose coupling columns each meet at most this many linking rows sums them into the Schur complement by groups of linking rows (<see cref="LinkingRowGroups"/>); one with a wider column, row by row.</summary>
    public const int NarrowLimit = 32;

    /// <summary>The single dense block (plain normal equations).</summary>
    public static BlockStructure SingleBlock(SparseColumns a) => Evaluate(a, new int[a.Rows]);

    private static int[] Order(int m, Func<int, long> key)
    {
        int[] order = [.. Enumerable.Range(0, m)];
        long[] keys = [.. Enumerable.Range(0, m).Select(key)];
        Array.Sort(keys, order); // Array.Sort is not stable: break ties by row below.
        int start = 0;
        for (int i = 1; i <= m; i++)
        {
            if (i < m && keys[i] == keys[start]) continue;
            Array.Sort(order, start, i - start);
            start = i;
        }
        return order;
    }

    /// <summary>Component labels (any int ≥ 0) per row, −1 for linking rows.</summary>
    private static int[] Partition(SparseColumns a, int[] rowStart, int[] colIndex, int[] order, int minimum)
    {
        int m = a.Rows;
        var parent = new int[m];
        var size = new int[m];
        var columnRow = new int[a.Cols];
        Array.Fill(columnRow, -1);
        var linking = new bool[m];
        var seen = new int[m];
        Array.Fill(seen, -1);
        int stamp = 0;
        var roots = new List<int>();
        int Find(int r)
        {
            while (parent[r] != r)
            {
                parent[r] = parent[parent[r]];
                r = parent[r];
            }
            return r;
        }
        void CollectRoots(int row)
        {
            roots.Clear();
            stamp++;
            // Neighbouring columns mostly share their first row, whose root is found once (nothing is joined meanwhile).
            int lastOwner = -1;
            for (int e = rowStart[row]; e < rowStart[row + 1]; e++)
            {
                int owner = columnRow[colIndex[e]];
                if (owner < 0 || owner == lastOwner) continue;
                lastOwner = owner;
                int root = Find(owner);
                if (seen[root] == stamp) continue;
                seen[root] = stamp;
                roots.Add(root);
            }
        }
        void Join(int row)
        {
            parent[row] = row;
            size[row] = 1;
            int root = row;
            foreach (int other in roots)
            {
                (int big, int small) = size[other] >= size[root] ? (other, root) : (root, other);
                parent[small] = big;
                size[big] += size[small];
                root = big;
            }
            for (int e = rowStart[row]; e < rowStart[row + 1]; e++)
                if (columnRow[colIndex[e]] < 0) columnRow[colIndex[e]] = row;
        }
        foreach (int row in order)
        {
            CollectRoots(row);
            int large = 0;
            foreach (int r in roots)
                if (size[r] >= minimum) large++;
            if (large >= 2) linking[row] = true;
            else Join(row);
        }
        foreach (int row in order)
        {
            if (!linking[row]) continue;
            CollectRoots(row);
            if (roots.Count > 1) continue;
            linking[row] = false;
            Join(row);
        }
        var label = new int[m];
        for (int i = 0; i < m; i++) label[i] = linking[i] ? -1 : Find(i);
        return label;
    }

    /// <summary>
    /// Numbers the components by their first row, orders each block's rows, and estimates the cost. Within a block,
    /// rows that a coupling column (one that meets linking rows too) with few block entries touches come last, so that
    /// the triangular solves with those columns start late (<see cref="BlockNormalEquations"/>); untouched rows come first.
    /// </summary>
    private static BlockStructure Evaluate(SparseColumns a, int[] label)
    {
        int m = a.Rows;
        var blockOf = new int[m];
        var number = new Dictionary<int, int>();
        var blockRowLists = new List<List<int>>();
        var linkingRows = new List<int>();
        for (int i = 0; i < m; i++)
        {
            if (label[i] < 0)
            {
                blockOf[i] = -1;
                linkingRows.Add(i);
                continue;
            }
            if (!number.TryGetValue(label[i], out int k))
            {
                k = number.Count;
                number[label[i]] = k;
                blockRowLists.Add([]);
            }
            blockOf[i] = k;
            blockRowLists[k].Add(i);
        }

        // Per block: columns meeting it and linking rows (J) and their linking entries; columns meeting only linking rows.
        int blockCount = blockRowLists.Count;
        var coupling = new double[blockCount];
        var linkingEntries = new double[blockCount];
        var wideBlock = new bool[blockCount];
        var touch = new int[m];
        Array.Fill(touch, int.MaxValue);
        double direct = 0;
        for (int j = 0; j < a.Cols; j++)
        {
            int block = -1, links = 0, entries = 0;
            for (int e = a.ColStart[j]; e < a.ColStart[j + 1]; e++)
            {
                int r = a.RowIndex[e];
                if (blockOf[r] < 0)
                {
                    links++;
                    continue;
                }
                block = blockOf[r];
                entries++;
            }
            if (links == 0) continue;
            if (block < 0)
            {
                direct += 0.5 * links * (double)links;
                continue;
            }
            coupling[block]++;
            linkingEntries[block] += links;
            wideBlock[block] |= links > NarrowLimit;
            for (int e = a.ColStart[j]; e < a.ColStart[j + 1]; e++)
                if (blockOf[a.RowIndex[e]] >= 0) touch[a.RowIndex[e]] = Math.Min(touch[a.RowIndex[e]], entries);
        }
        var localIndex = new int[m];
        var blockRows = new int[blockCount][];
        for (int k = 0; k < blockCount; k++)
        {
            blockRows[k] = [.. blockRowLists[k].OrderByDescending(r => touch[r]).ThenBy(r => r)];
            for (int p = 0; p < blockRows[k].Length; p++) localIndex[blockRows[k][p]] = p;
        }
        for (int l = 0; l < linkingRows.Count; l++) localIndex[linkingRows[l]] = l;
        double cost = direct + SchurMultiplyAdds(linkingRows.Count), stored = (double)linkingRows.Count * linkingRows.Count;
        for (int k = 0; k < blockCount; k++)
        {
            double n = blockRows[k].Length, q = coupling[k];
            cost += BlockCost(n, q, linkingEntries[k], wideBlock[k], linkingRows.Count);
            stored += n * n + n * q + q * q;
        }
        return new BlockStructure(blockOf, localIndex, blockRows, [.. linkingRows], cost, stored);
    }
}
