namespace Reparo.Repair.Provable;

/// <summary>
/// The entries of a hub block's pair columns p_j (<see cref="HubRows.Plus"/>) in the block's remaining rows S, for the
/// sums over them that every factorisation and solve takes: sparse, or dense in both orientations (R × S and S × R) when
/// at least one entry in <see cref="DenseShare"/> is nonzero, one dense copy shared by every block with the same entries
/// to the bit (<see cref="DenseCopies"/>). On a repair's neuron blocks the pair columns hold the layer's inputs at the
/// repair and preserved points, about half of them nonzero, and often the same for many neurons. In a probe on
/// mlp:200x9's fc7 the sparse sums took about three quarters of the solves' block work; dense and shared (46 copies
/// for 199 blocks) they took about a third as long (side by side: docs/results/lp-solvers.md, section "Dense, shared
/// pair columns"). Either form adds each product, rounded, in the same order (no fused multiply–add), so the solves
/// are the same to the bit.
/// </summary>
internal sealed class HubPairColumns
{
    /// <summary>A block's pair columns are kept dense when at least one entry of their S × R in this many is nonzero.</summary>
    public const int DenseShare = 4;

    private readonly HubRows hub;
    private readonly ColumnEntries entries;
    private readonly int size;

    // Dense: byHubRow is R × S (row j: p_j's entries), byBlockRow its transpose (row i: each p_j's entry in row i).
    private readonly double[]? byHubRow, byBlockRow;

    private HubPairColumns(HubRows hub, ColumnEntries entries, int size, double[]? byHubRow, double[]? byBlockRow)
    {
        this.hub = hub;
        this.entries = entries;
        this.size = size;
        this.byHubRow = byHubRow;
        this.byBlockRow = byBlockRow;
    }

    /// <summary>Whether the entries are kept dense.</summary>
    public bool Dense => byHubRow is not null;

    /// <summary>
    /// <paramref name="hub"/>'s pair columns in a block of <paramref name="size"/> remaining rows, whose entries
    /// <paramref name="entries"/> holds by block-local row: dense when <paramref name="dense"/> and at least one entry in
    /// <see cref="DenseShare"/> is nonzero, sharing the arrays of an earlier block in <paramref name="copies"/> with the
    /// same entries to the bit (the neurons of a repaired layer see the same inputs, so one copy can serve many of them
    /// and stay in cache), with new dense arrays only while <paramref name="budget"/> (numbers) allows, which they reduce.
    /// </summary>
    public static HubPairColumns Create(HubRows hub, ColumnEntries entries, int size, bool dense, DenseCopies copies, ref long budget)
    {
        int count = hub.Rows.Length;
        long nonzeros = 0;
        for (int j = 0; j < count; j++)
            if (hub.Plus[j] >= 0) nonzeros += entries.Start[hub.Plus[j] + 1] - entries.Start[hub.Plus[j]];
        var pairs = new HubPairColumns(hub, entries, size, null, null);
        if (!dense || nonzeros * DenseShare < (long)count * size) return pairs;
        ulong key = pairs.ContentKey();
        if (copies.Find(key, pairs) is { } copy) return new HubPairColumns(hub, entries, size, copy.ByHubRow, copy.ByBlockRow);
        long numbers = 2L * count * size;
        if (numbers > budget || numbers > Array.MaxLength) return pairs;
        budget -= numbers;
        var byHubRow = new double[count * size];
        var byBlockRow = new double[size * count];
        for (int j = 0; j < count; j++)
        {
            int p = hub.Plus[j];
            if (p < 0) continue;
            for (int e = entries.Start[p]; e < entries.Start[p + 1]; e++)
            {
                byHubRow[j * size + entries.Row[e]] = entries.Value[e];
                byBlockRow[entries.Row[e] * count + j] = entries.Value[e];
            }
        }
        copies.Add(key, byHubRow, byBlockRow, count, size);
        return new HubPairColumns(hub, entries, size, byHubRow, byBlockRow);
    }

    /// <summary>A hash of the entries' shape, positions and bits (FNV-1a), equal for pair columns that are equal to the bit.</summary>
    private ulong ContentKey()
    {
        const ulong prime = 1099511628211UL;
        ulong hash = (14695981039346656037UL ^ (ulong)hub.Rows.Length) * prime;
        hash = (hash ^ (ulong)size) * prime;
        for (int j = 0; j < hub.Rows.Length; j++)
        {
            int p = hub.Plus[j];
            if (p < 0) continue;
            for (int e = entries.Start[p]; e < entries.Start[p + 1]; e++)
            {
                long bits = BitConverter.DoubleToInt64Bits(entries.Value[e]);
                if (bits == 0) continue;
                hash = (hash ^ (ulong)((long)j * size + entries.Row[e])) * prime;
                hash = (hash ^ (ulong)bits) * prime;
            }
        }
        return hash;
    }

    /// <summary>Whether a dense copy's entries are, to the bit, those of these pair columns.</summary>
    private bool SameAs(double[] byHubRow, int[] rowNonzeros)
    {
        for (int j = 0; j < hub.Rows.Length; j++)
        {
            int p = hub.Plus[j], found = 0;
            if (p >= 0)
            {
                for (int e = entries.Start[p]; e < entries.Start[p + 1]; e++)
                {
                    long bits = BitConverter.DoubleToInt64Bits(entries.Value[e]);
                    if (BitConverter.DoubleToInt64Bits(byHubRow[j * size + entries.Row[e]]) != bits) return false;
                    if (bits != 0) found++;
                }
            }
            // Every entry matches, and the copy has no other nonzero in row j.
            if (found != rowNonzeros[j]) return false;
        }
        return true;
    }

    /// <summary>target += <paramref name="scale"/>·p_j (nothing when row j has no pair).</summary>
    public void AddTo(int j, double scale, Span<double> target)
    {
        int p = hub.Plus[j];
        if (p < 0) return;
        if (byHubRow is null) entries.AddTo(p, scale, target);
        else DenseKernels.AddScaledUnfused(target, scale, byHubRow.AsSpan(j * size, size));
    }

    /// <summary>dots[j] = p_j · <paramref name="v"/> (0 when row j has no pair), for every eliminated row j.</summary>
    public void DotAll(ReadOnlySpan<double> v, Span<double> dots)
    {
        int count = hub.Rows.Length;
        if (byBlockRow is null)
        {
            for (int j = 0; j < count; j++) dots[j] = hub.Plus[j] >= 0 ? entries.Dot(hub.Plus[j], v) : 0;
            return;
        }
        Span<double> sums = dots[..count];
        sums.Clear();
        for (int i = 0; i < size; i++)
            if (v[i] != 0) DenseKernels.AddScaledUnfused(sums, v[i], byBlockRow.AsSpan(i * count, count));
    }

    /// <summary>Dense pair columns made so far, found by their entries (compared to the bit).</summary>
    internal sealed class DenseCopies
    {
        private readonly Dictionary<ulong, List<Copy>> byContent = [];

        /// <summary>Copies kept.</summary>
        public int Count { get; private set; }

        /// <summary>An earlier copy with the same shape and entries as <paramref name="pairs"/> (whose <see cref="ContentKey"/> is <paramref name="key"/>), or null.</summary>
        public (double[] ByHubRow, double[] ByBlockRow)? Find(ulong key, HubPairColumns pairs)
        {
            if (!byContent.TryGetValue(key, out var list)) return null;
            foreach (Copy copy in list)
                if (copy.Count == pairs.hub.Rows.Length && copy.Size == pairs.size && pairs.SameAs(copy.ByHubRow, copy.RowNonzeros))
                    return (copy.ByHubRow, copy.ByBlockRow);
            return null;
        }

        /// <summary>Keeps a copy (R = <paramref name="count"/> rows of <paramref name="size"/>) for later blocks.</summary>
        public void Add(ulong key, double[] byHubRow, double[] byBlockRow, int count, int size)
        {
            var rowNonzeros = new int[count];
            for (int j = 0; j < count; j++)
                for (int i = 0; i < size; i++)
                    if (BitConverter.DoubleToInt64Bits(byHubRow[j * size + i]) != 0) rowNonzeros[j]++;
            if (!byContent.TryGetValue(key, out var list)) byContent[key] = list = [];
            list.Add(new Copy(byHubRow, byBlockRow, count, size, rowNonzeros));
            Count++;
        }

        private sealed record Copy(double[] ByHubRow, double[] ByBlockRow, int Count, int Size, int[] RowNonzeros);
    }
}
