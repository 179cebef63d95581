using System.Buffers;
using System.Runtime.CompilerServices;

namespace Reparo.Repair.Provable;

/// <summary>One coupling column of a block whose update <see cref="LinkingRowGroups"/> sums: its block, its position among the block's coupling columns, and its linking entries.</summary>
/// <param name="Block">The block.</param>
/// <param name="Position">Position among the block's coupling columns (row and column of the block's Gram matrix Y).</param>
/// <param name="Rows">Linking rows (ascending).</param>
/// <param name="Values">Entries in those rows.</param>
internal sealed record GroupedColumn(int Block, int Position, int[] Rows, double[] Values);

/// <summary>
/// Sums the Schur-complement update Σ_k Σ_{t,u} Y_k[t, u]·z_t·z_uᵀ of coupling columns (z = weight·column's
/// linking part) by groups of linking rows. Linking rows that a column meets together are one group (union
/// of supports), so every column lies in one group. The rows of S in group P, against every group up to P, are
/// one product: with the occurrences o of P (a column of P's in block k at position t_o),
/// U_P = Σ_o z_o·T[o]ᵀ, where T[o] = Σ_u Y_k[t_o, u]·z_u over block k's columns u of groups up to P (each in its
/// group's place). T is built by short sums, U_P by one register-tiled product; each group's rows are written once.
/// In the repair LPs a group is a repair point's specification rows and every neuron block has one column per point
/// where the neuron is on.
/// </summary>
internal sealed class LinkingRowGroups
{
    private readonly int[][] groupRows;
    private readonly int[] groupOffset, occurrenceStart, occurrenceBlock, occurrencePosition, occurrenceGroup, entryStart, entryIndex, vectorStart;
    private readonly int[] blockOccurrenceStart, blockOccurrence;
    private readonly double[] entryValue, vectors;
    private readonly int largestGroup, mostOccurrences;

    /// <summary>
    /// How many times faster per multiply–add a register-tiled product runs here than the scattered updates of a
    /// block's update summed row by row of the linking rows (<see cref="BlockNormalEquations"/>): about 0.07 s against
    /// 0.5 s per factorisation for the later layers' biases of a repair at mlp:200x9's fc7, where the product takes
    /// more multiply–adds (timed during development, not a committed benchmark). Costs in <see cref="SelectBlocks"/> and the choice of a block's own way are compared in
    /// scattered updates.
    /// </summary>
    public const double ProductAdvantage = 10;

    /// <summary>Groups the linking rows (0 … <paramref name="linking"/> − 1) that <paramref name="columns"/> meet.</summary>
    public LinkingRowGroups(int linking, IReadOnlyList<GroupedColumn> columns)
    {
        var parent = new int[linking];
        for (int l = 0; l < linking; l++) parent[l] = l;
        int Find(int l)
        {
            while (parent[l] != l) l = parent[l] = parent[parent[l]];
            return l;
        }
        foreach (GroupedColumn c in columns)
            for (int e = 1; e < c.Rows.Length; e++)
            {
                int p = Find(c.Rows[0]), q = Find(c.Rows[e]);
                if (p != q) parent[Math.Max(p, q)] = Math.Min(p, q);
            }
        var touched = new bool[linking];
        foreach (GroupedColumn c in columns)
            foreach (int l in c.Rows) touched[l] = true;
        var groupOfRoot = new Dictionary<int, int>();
        var rows = new List<List<int>>();
        var groupOf = new int[linking];
        var indexInGroup = new int[linking];
        for (int l = 0; l < linking; l++)
        {
            if (!touched[l]) continue;
            int root = Find(l);
            if (!groupOfRoot.TryGetValue(root, out int g))
            {
                g = rows.Count;
                groupOfRoot[root] = g;
                rows.Add([]);
            }
            groupOf[l] = g;
            indexInGroup[l] = rows[g].Count;
            rows[g].Add(l);
        }
        groupRows = [.. rows.Select(r => r.ToArray())];
        groupOffset = new int[groupRows.Length + 1];
        for (int g = 0; g < groupRows.Length; g++) groupOffset[g + 1] = groupOffset[g] + groupRows[g].Length;

        GroupedColumn[] ordered = [.. columns.OrderBy(c => groupOf[c.Rows[0]]).ThenBy(c => c.Block).ThenBy(c => c.Position)];
        occurrenceStart = new int[groupRows.Length + 1];
        foreach (GroupedColumn c in ordered) occurrenceStart[groupOf[c.Rows[0]] + 1]++;
        for (int g = 0; g < groupRows.Length; g++) occurrenceStart[g + 1] += occurrenceStart[g];
        occurrenceBlock = [.. ordered.Select(c => c.Block)];
        occurrencePosition = [.. ordered.Select(c => c.Position)];
        occurrenceGroup = [.. ordered.Select(c => groupOf[c.Rows[0]])];
        entryStart = new int[ordered.Length + 1];
        vectorStart = new int[ordered.Length + 1];
        for (int o = 0; o < ordered.Length; o++)
        {
            entryStart[o + 1] = entryStart[o] + ordered[o].Rows.Length;
            vectorStart[o + 1] = vectorStart[o] + groupRows[occurrenceGroup[o]].Length;
        }
        entryIndex = [.. ordered.SelectMany(c => c.Rows.Select(l => indexInGroup[l]))];
        entryValue = [.. ordered.SelectMany(c => c.Values)];
        vectors = new double[vectorStart[^1]];
        largestGroup = groupRows.Length == 0 ? 0 : groupRows.Max(r => r.Length);
        mostOccurrences = Enumerable.Range(0, groupRows.Length).Select(g => occurrenceStart[g + 1] - occurrenceStart[g]).DefaultIfEmpty(0).Max();

        // Each block's occurrences, by group (the order of the occurrences).
        int blocks = columns.Count == 0 ? 0 : columns.Max(c => c.Block) + 1;
        blockOccurrenceStart = new int[blocks + 1];
        foreach (int k in occurrenceBlock) blockOccurrenceStart[k + 1]++;
        for (int k = 0; k < blocks; k++) blockOccurrenceStart[k + 1] += blockOccurrenceStart[k];
        blockOccurrence = new int[occurrenceBlock.Length];
        var fill = blockOccurrenceStart[..^1];
        for (int o = 0; o < occurrenceBlock.Length; o++) blockOccurrence[fill[occurrenceBlock[o]]++] = o;
    }

    /// <summary>
    /// Which blocks' columns to sum by groups: every block in <paramref name="always"/>, then the others one by one, those
    /// that cost most summed alone (<paramref name="aloneCost"/>, in scattered updates) first, each kept only if it adds
    /// less to the groups' products than it would cost alone. The groups' products cost about Σ over groups of their
    /// rows × their columns × the <paramref name="linking"/> rows, ÷ <see cref="ProductAdvantage"/>. A block whose columns
    /// meet the rows of many repair points (the later layers' biases meet every specification row) would merge their
    /// groups into one and stays out; a neuron's column per point adds its point's rows once. <paramref name="columns"/>
    /// holds every block's coupling columns.
    /// </summary>
    public static bool[] SelectBlocks(int linking, IReadOnlyList<GroupedColumn> columns, bool[] always, double[] aloneCost)
    {
        int blocks = always.Length;
        var selected = (bool[])always.Clone();
        var byBlock = columns.GroupBy(c => c.Block).ToDictionary(g => g.Key, g => g.ToArray());
        // Union–find over the linking rows without path compression (so a trial can be undone), with each root's rows
        // and columns; the products' size is Σ over roots of rows × columns.
        var parent = new int[linking];
        var rows = new long[linking];
        var cols = new long[linking];
        for (int l = 0; l < linking; l++) (parent[l], rows[l]) = (l, 1);
        long product = 0;
        var undo = new Stack<(int Row, int Parent, long Rows, long Cols)>();
        int Find(int l)
        {
            while (parent[l] != l) l = parent[l];
            return l;
        }
        void Save(int root) => undo.Push((root, parent[root], rows[root], cols[root]));
        void Add(GroupedColumn c)
        {
            if (c.Rows.Length == 0) return;
            int root = Find(c.Rows[0]);
            foreach (int l in c.Rows.AsSpan(1))
            {
                int other = Find(l);
                if (other == root) continue;
                (int big, int small) = rows[other] > rows[root] || (rows[other] == rows[root] && other < root) ? (other, root) : (root, other);
                Save(big);
                Save(small);
                product += (rows[big] + rows[small]) * (cols[big] + cols[small]) - rows[big] * cols[big] - rows[small] * cols[small];
                parent[small] = big;
                rows[big] += rows[small];
                cols[big] += cols[small];
                root = big;
            }
            Save(root);
            cols[root]++;
            product += rows[root];
        }
        for (int k = 0; k < blocks; k++)
            if (always[k] && byBlock.TryGetValue(k, out GroupedColumn[]? own))
                foreach (GroupedColumn c in own) Add(c);
        IEnumerable<int> candidates = Enumerable.Range(0, blocks).Where(k => !always[k] && byBlock.ContainsKey(k)).OrderByDescending(k => aloneCost[k]).ThenBy(k => k);
        foreach (int k in candidates)
        {
            undo.Clear();
            long before = product;
            foreach (GroupedColumn c in byBlock[k]) Add(c);
            if ((product - before) * (double)linking / ProductAdvantage <= aloneCost[k])
            {
                selected[k] = true;
                continue;
            }
            while (undo.Count > 0)
            {
                (int row, int up, long rowCount, long colCount) = undo.Pop();
                (parent[row], rows[row], cols[row]) = (up, rowCount, colCount);
            }
            product = before;
        }
        return selected;
    }

    /// <summary>
    /// Adds the columns' update to the lower triangle of <paramref name="schur"/> (<paramref name="linking"/> ×
    /// linking): <paramref name="weight"/>(block, position) is the column's weight, <paramref name="gram"/>[k] block k's
    /// Y (full, row-major, <paramref name="widths"/>[k] wide); <paramref name="threads"/> threads share the groups.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void AddTo(double[] schur, int linking, Func<int, int, double> weight, double[][] gram, int[] widths, int threads)
    {
        Array.Clear(vectors);
        for (int o = 0; o < occurrenceBlock.Length; o++)
        {
            double w = weight(occurrenceBlock[o], occurrencePosition[o]);
            for (int e = entryStart[o]; e < entryStart[o + 1]; e++) vectors[vectorStart[o] + entryIndex[e]] = w * entryValue[e];
        }
        if (groupRows.Length == 0) return;
        // Two groups never write the same entry of S (entry (l1, l2) belongs to the later of their groups), so groups
        // run in parallel, each thread with its own buffers, and every entry gets the same sum for any thread count.
        int total = groupOffset[^1];
        Parallel.For(0, groupRows.Length, new ParallelOptions { MaxDegreeOfParallelism = threads },
            () => new Buffers(Rent(mostOccurrences * total), Rent(largestGroup * total), Rent(largestGroup * mostOccurrences)),
            (p, _, buffers) =>
            {
                AddGroup(p, schur, linking, gram, widths, buffers);
                return buffers;
            },
            buffers =>
            {
                ArrayPool<double>.Shared.Return(buffers.Terms);
                ArrayPool<double>.Shared.Return(buffers.Update);
                ArrayPool<double>.Shared.Return(buffers.Vectors);
            });
    }

    /// <summary>A pooled buffer of at least <paramref name="length"/> doubles: every factorisation needs the same ones again.</summary>
    private static double[] Rent(int length) => ArrayPool<double>.Shared.Rent(length);

    /// <summary>Per-thread work space: T (occurrences × rows), U (group rows × rows) and the group's vectors side by side.</summary>
    private sealed record Buffers(double[] Terms, double[] Update, double[] Vectors);

    /// <summary>Adds S's rows of group <paramref name="p"/> against the groups up to it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AddGroup(int p, double[] schur, int linking, double[][] gram, int[] widths, Buffers buffers)
    {
        int first = occurrenceStart[p], count = occurrenceStart[p + 1] - first, size = groupRows[p].Length;
        int columns = groupOffset[p + 1];
        Span<double> terms = buffers.Terms.AsSpan(0, count * columns);
        terms.Clear();
        for (int r = 0; r < count; r++)
        {
            int o = first + r, k = occurrenceBlock[o];
            ReadOnlySpan<double> y = gram[k].AsSpan(occurrencePosition[o] * widths[k], widths[k]);
            Span<double> term = terms.Slice(r * columns, columns);
            for (int e = blockOccurrenceStart[k]; e < blockOccurrenceStart[k + 1]; e++)
            {
                int o2 = blockOccurrence[e], q = occurrenceGroup[o2];
                if (q > p) break;
                double c = y[occurrencePosition[o2]];
                if (c != 0) DenseKernels.AddScaled(term.Slice(groupOffset[q], groupRows[q].Length), c, vectors.AsSpan(vectorStart[o2], groupRows[q].Length));
            }
        }
        // U = −Zᵀ·T with Z's rows the occurrences' vectors (Zᵀ: the group's rows × occurrences).
        Span<double> z = buffers.Vectors.AsSpan(0, size * count);
        for (int r = 0; r < count; r++)
            for (int a = 0; a < size; a++) z[a * count + r] = vectors[vectorStart[first + r] + a];
        Span<double> update = buffers.Update.AsSpan(0, size * columns);
        update.Clear();
        DenseKernels.SubtractProduct(update, columns, z, count, terms, columns, size, columns, count);
        int[] rowsP = groupRows[p];
        for (int q = 0; q <= p; q++)
        {
            int[] rowsQ = groupRows[q];
            for (int a = 0; a < size; a++)
            {
                ReadOnlySpan<double> u = update.Slice(a * columns + groupOffset[q], rowsQ.Length);
                int l1 = rowsP[a];
                for (int b = 0; b < (q == p ? a + 1 : rowsQ.Length); b++)
                {
                    int l2 = rowsQ[b];
                    schur[Math.Max(l1, l2) * linking + Math.Min(l1, l2)] -= u[b];
                }
            }
        }
    }
}
