using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace Reparo.Repair.Provable;

/// <summary>One coupling column of a block that meets few linking rows: its block, its position among the block's coupling columns, and its linking entries.</summary>
/// <param name="Block">The block.</param>
/// <param name="Position">Position among the block's coupling columns (row and column of the block's Gram matrix Y).</param>
/// <param name="Rows">Linking rows (ascending).</param>
/// <param name="Values">Entries in those rows.</param>
internal sealed record NarrowCoupling(int Block, int Position, int[] Rows, double[] Values);

/// <summary>
/// Sums the Schur-complement update Σ_k Σ_{t,u} Y_k[t, u]·z_t·z_uᵀ of narrow coupling columns (z = weight·column's
/// linking part) by groups of linking rows. Linking rows that a narrow column meets together are one group (union
/// of supports), so every narrow column lies in one group; for each pair of groups P, Q that share a block, the small
/// |P| × |Q| update is summed over the blocks in a local buffer and then added to S once. In the repair LPs a group is
/// a repair point's specification rows and every neuron block has one column per point where the neuron is on, so S
/// is written once per pair of points instead of once per neuron and pair of points.
/// </summary>
internal sealed class LinkingRowGroups
{
    private readonly int[][] groupRows;
    private readonly int[] occurrenceStart, occurrenceBlock, occurrencePosition, entryStart, entryIndex, vectorStart;
    private readonly double[] entryValue, vectors;
    private readonly int largestGroup;
    private readonly (int P, int Q)[] pairs;

    /// <summary>Groups the linking rows (0 … <paramref name="linking"/> − 1) that <paramref name="narrow"/> meet.</summary>
    public LinkingRowGroups(int linking, IReadOnlyList<NarrowCoupling> narrow)
    {
        var parent = new int[linking];
        for (int l = 0; l < linking; l++) parent[l] = l;
        int Find(int l)
        {
            while (parent[l] != l) l = parent[l] = parent[parent[l]];
            return l;
        }
        foreach (NarrowCoupling c in narrow)
            for (int e = 1; e < c.Rows.Length; e++)
            {
                int p = Find(c.Rows[0]), q = Find(c.Rows[e]);
                if (p != q) parent[Math.Max(p, q)] = Math.Min(p, q);
            }
        var touched = new bool[linking];
        foreach (NarrowCoupling c in narrow)
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

        NarrowCoupling[] ordered = [.. narrow.OrderBy(c => groupOf[c.Rows[0]]).ThenBy(c => c.Block).ThenBy(c => c.Position)];
        occurrenceStart = new int[groupRows.Length + 1];
        foreach (NarrowCoupling c in ordered) occurrenceStart[groupOf[c.Rows[0]] + 1]++;
        for (int g = 0; g < groupRows.Length; g++) occurrenceStart[g + 1] += occurrenceStart[g];
        occurrenceBlock = [.. ordered.Select(c => c.Block)];
        occurrencePosition = [.. ordered.Select(c => c.Position)];
        entryStart = new int[ordered.Length + 1];
        vectorStart = new int[ordered.Length + 1];
        for (int o = 0; o < ordered.Length; o++)
        {
            entryStart[o + 1] = entryStart[o] + ordered[o].Rows.Length;
            vectorStart[o + 1] = vectorStart[o] + groupRows[groupOf[ordered[o].Rows[0]]].Length;
        }
        entryIndex = [.. ordered.SelectMany(c => c.Rows.Select(l => indexInGroup[l]))];
        entryValue = [.. ordered.SelectMany(c => c.Values)];
        vectors = new double[vectorStart[^1]];
        largestGroup = groupRows.Length == 0 ? 0 : groupRows.Max(r => r.Length);

        // Pairs of groups that some block meets both of.
        var pairSet = new HashSet<(int, int)>();
        foreach (IGrouping<int, NarrowCoupling> block in narrow.GroupBy(c => c.Block))
        {
            int[] groups = [.. block.Select(c => groupOf[c.Rows[0]]).Distinct()];
            foreach (int p in groups)
                foreach (int q in groups)
                    if (p >= q) pairSet.Add((p, q));
        }
        pairs = [.. pairSet.Order()];
    }

    /// <summary>
    /// Adds the narrow columns' update to the lower triangle of <paramref name="schur"/> (<paramref name="linking"/> ×
    /// linking): <paramref name="weight"/>(block, position) is the column's weight, <paramref name="gram"/>[k] block k's
    /// Y (full, row-major, <paramref name="widths"/>[k] wide); <paramref name="threads"/> threads share the pairs of groups.
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
        if (pairs.Length == 0) return;
        // Two pairs of groups never write the same entry of S (the groups split the rows), so pairs run in parallel, each
        // thread with its own buffer, and every entry gets the same sum in the same order for any thread count.
        var chunks = Partitioner.Create(0, pairs.Length, Math.Max(1, pairs.Length / (8 * threads)));
        Parallel.ForEach(chunks, new ParallelOptions { MaxDegreeOfParallelism = threads }, () => new double[largestGroup * largestGroup], (range, _, buffer) =>
        {
            for (int pair = range.Item1; pair < range.Item2; pair++) AddPair(pairs[pair], schur, linking, gram, widths, buffer);
            return buffer;
        }, _ => { });
    }

    /// <summary>Adds the update of the pair of groups <paramref name="pair"/> (P, Q) to S, summed first in <paramref name="buffer"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AddPair((int P, int Q) pair, double[] schur, int linking, double[][] gram, int[] widths, double[] buffer)
    {
        (int p, int q) = pair;
        int[] rowsP = groupRows[p], rowsQ = groupRows[q];
        int sizeP = rowsP.Length, sizeQ = rowsQ.Length;
        Span<double> u = buffer.AsSpan(0, sizeP * sizeQ);
        u.Clear();
        int i = occurrenceStart[p], endP = occurrenceStart[p + 1], j = occurrenceStart[q], endQ = occurrenceStart[q + 1];
        while (i < endP && j < endQ)
        {
            int k = occurrenceBlock[i];
            if (occurrenceBlock[j] < k)
            {
                j++;
                continue;
            }
            if (occurrenceBlock[j] > k)
            {
                i++;
                continue;
            }
            int nextI = i, nextJ = j;
            while (nextI < endP && occurrenceBlock[nextI] == k) nextI++;
            while (nextJ < endQ && occurrenceBlock[nextJ] == k) nextJ++;
            double[] y = gram[k];
            int width = widths[k];
            for (int o1 = i; o1 < nextI; o1++)
            {
                ReadOnlySpan<double> z1 = vectors.AsSpan(vectorStart[o1], sizeP);
                int row = occurrencePosition[o1] * width;
                for (int o2 = j; o2 < nextJ; o2++)
                {
                    double c = y[row + occurrencePosition[o2]];
                    if (c == 0) continue;
                    ReadOnlySpan<double> z2 = vectors.AsSpan(vectorStart[o2], sizeQ);
                    for (int a = 0; a < sizeP; a++)
                    {
                        double scaled = c * z1[a];
                        if (scaled != 0) DenseKernels.AddScaled(u.Slice(a * sizeQ, sizeQ), scaled, z2);
                    }
                }
            }
            i = nextI;
            j = nextJ;
        }
        for (int a = 0; a < sizeP; a++)
            for (int b = 0; b < (p == q ? a + 1 : sizeQ); b++)
            {
                int l1 = rowsP[a], l2 = rowsQ[b];
                schur[Math.Max(l1, l2) * linking + Math.Min(l1, l2)] += u[a * sizeQ + b];
            }
    }
}
