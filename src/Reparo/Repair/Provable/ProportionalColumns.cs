using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Reparo.Repair.Provable;

/// <summary>
/// Columns grouped by proportional entries: same rows, and a_j = α_j·v + d_j for the group's first column v, where
/// the deviation d_j is nonzero on a few rows only (on none when <c>exact</c>). Their contributions to a normal
/// matrix, Σ θ_j·a_j·a_jᵀ, add up to W·v·vᵀ with W = Σ θ_j·α_j², plus θ_j·α_j·(v·d_jᵀ + d_j·vᵀ) + θ_j·d_j·d_jᵀ per
/// deviating member, so a group costs about one outer product. A split variable's two parts (Δ⁺ and Δ⁻: a and −a,
/// except in the row of the objective's |Δ| ≤ bound, where both are −1) form such a group.
/// </summary>
internal sealed class ProportionalColumns
{
    /// <summary>Groups with the same row pattern a column is compared with before it starts a group of its own.</summary>
    private const int CandidatesPerPattern = 8;

    private readonly int[] memberStart, member, entryStart, entryRow, representative, deviationStart, deviationIndex;
    private readonly double[] memberScale, memberRatio, entryValue, deviationValue;

    /// <summary>
    /// Groups <paramref name="columns"/>, whose entries are [start[j], start[j + 1]) of <paramref name="rows"/>
    /// (ascending) and <paramref name="values"/>; empty columns are left out. With <paramref name="exact"/> members are
    /// exactly proportional; otherwise up to an eighth of a column's entries may deviate.
    /// </summary>
    public ProportionalColumns(IEnumerable<int> columns, int[] start, int[] rows, double[] values, bool exact)
    {
        var groups = new List<(int First, List<(int Column, double Ratio, List<(int Index, double Value)> Deviations)> Members)>();
        var byKey = new Dictionary<int, List<int>>();
        // The deviations of q from a ratio a_q / a_p that all but a few entries share (taken from one of the first
        // entries: more deviations than allowed would be needed otherwise), or null when there is no such ratio.
        List<(int, double)>? Deviations(int p, int q, out double ratio)
        {
            ratio = 0;
            int length = start[p + 1] - start[p];
            if (length != start[q + 1] - start[q]) return null;
            for (int e = 0; e < length; e++)
                if (rows[start[p] + e] != rows[start[q] + e]) return null;
            int allowed = exact ? 0 : length / 8;
            for (int candidate = 0; candidate <= Math.Min(allowed, length - 1); candidate++)
            {
                ratio = values[start[q] + candidate] / values[start[p] + candidate];
                var deviations = new List<(int, double)>();
                for (int e = 0; e < length && deviations.Count <= allowed; e++)
                {
                    double d = values[start[q] + e] - ratio * values[start[p] + e];
                    if (d != 0) deviations.Add((e, d));
                }
                if (deviations.Count <= allowed) return deviations;
            }
            return null;
        }
        foreach (int j in columns)
        {
            if (start[j + 1] == start[j]) continue;
            var hash = new HashCode();
            for (int e = start[j]; e < start[j + 1]; e++) hash.Add(rows[e]);
            if (exact)
                for (int e = start[j]; e < start[j + 1]; e++) hash.Add(values[e] / values[start[j]]);
            int key = hash.ToHashCode();
            if (!byKey.TryGetValue(key, out List<int>? candidates)) byKey[key] = candidates = [];
            bool joined = false;
            foreach (int g in candidates.Take(CandidatesPerPattern))
            {
                if (Deviations(groups[g].First, j, out double ratio) is not { } deviations) continue;
                groups[g].Members.Add((j, ratio, deviations));
                joined = true;
                break;
            }
            if (joined) continue;
            candidates.Add(groups.Count);
            groups.Add((j, [(j, 1.0, [])]));
        }
        representative = [.. groups.Select(g => g.First)];
        memberStart = new int[groups.Count + 1];
        entryStart = new int[groups.Count + 1];
        for (int g = 0; g < groups.Count; g++)
        {
            memberStart[g + 1] = memberStart[g] + groups[g].Members.Count;
            entryStart[g + 1] = entryStart[g] + start[groups[g].First + 1] - start[groups[g].First];
        }
        member = new int[memberStart[^1]];
        memberRatio = new double[memberStart[^1]];
        memberScale = new double[memberStart[^1]];
        deviationStart = new int[memberStart[^1] + 1];
        var deviationIndices = new List<int>();
        var deviationValues = new List<double>();
        entryRow = new int[entryStart[^1]];
        entryValue = new double[entryStart[^1]];
        for (int g = 0; g < groups.Count; g++)
        {
            for (int i = 0; i < groups[g].Members.Count; i++)
            {
                int slot = memberStart[g] + i;
                (int column, double ratio, List<(int Index, double Value)> deviations) = groups[g].Members[i];
                (member[slot], memberRatio[slot], memberScale[slot]) = (column, ratio, ratio * ratio);
                deviationIndices.AddRange(deviations.Select(d => d.Index));
                deviationValues.AddRange(deviations.Select(d => d.Value));
                deviationStart[slot + 1] = deviationIndices.Count;
            }
            Array.Copy(rows, start[groups[g].First], entryRow, entryStart[g], entryStart[g + 1] - entryStart[g]);
            Array.Copy(values, start[groups[g].First], entryValue, entryStart[g], entryStart[g + 1] - entryStart[g]);
        }
        deviationIndex = [.. deviationIndices];
        deviationValue = [.. deviationValues];
    }

    /// <summary>Number of groups.</summary>
    public int Count => representative.Length;

    /// <summary>The first column of group <paramref name="g"/>, whose entries are the group's v.</summary>
    public int Representative(int g) => representative[g];

    /// <summary>W = Σ θ_j·α_j² of group <paramref name="g"/> (its members' contribution when the grouping is exact).</summary>
    public double Weight(int g, double[] theta)
    {
        double weight = 0;
        for (int i = memberStart[g]; i < memberStart[g + 1]; i++) weight += theta[member[i]] * memberScale[i];
        return weight;
    }

    /// <summary>
    /// Adds Σ_j θ_j·a_j·a_jᵀ to the lower triangle of the dense <paramref name="n"/> × n matrix <paramref name="target"/>
    /// (whose upper triangle is free storage). Groups whose column meets at least a quarter of the rows are packed into a
    /// dense n × g matrix P (column t: √W·v) and added as one product P·Pᵀ (<see cref="DenseKernels.SubtractProduct"/>);
    /// the others, and every deviation, entry by entry.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void AddOuterProducts(double[] target, int n, double[] theta)
    {
        int dense = 0;
        for (int g = 0; g < representative.Length; g++)
            if (IsDense(g, n)) dense++;
        if (dense > 0) AddDenseGroups(target, n, theta, dense);
        ref double t0 = ref MemoryMarshal.GetArrayDataReference(target);
        ref int rows = ref MemoryMarshal.GetArrayDataReference(entryRow);
        ref double values = ref MemoryMarshal.GetArrayDataReference(entryValue);
        for (int g = 0; g < representative.Length; g++)
        {
            double weight = Weight(g, theta);
            int from = entryStart[g], to = entryStart[g + 1];
            bool sparse = !IsDense(g, n);
            for (int p = from; sparse && p < to; p++)
            {
                double scaled = weight * Unsafe.Add(ref values, p);
                ref double row = ref Unsafe.Add(ref t0, Unsafe.Add(ref rows, p) * n);
                for (int q = from; q <= p; q++) Unsafe.Add(ref row, Unsafe.Add(ref rows, q)) += scaled * Unsafe.Add(ref values, q);
            }
            for (int i = memberStart[g]; i < memberStart[g + 1]; i++)
            {
                if (deviationStart[i] == deviationStart[i + 1]) continue;
                double w = theta[member[i]];
                for (int e = deviationStart[i]; e < deviationStart[i + 1]; e++)
                {
                    int rowD = entryRow[from + deviationIndex[e]];
                    double d = deviationValue[e];
                    // θ·α·(v·dᵀ + d·vᵀ): each v entry pairs with d once per triangle side, the diagonal twice.
                    for (int p = from; p < to; p++)
                    {
                        int rowV = entryRow[p];
                        double v = w * memberRatio[i] * entryValue[p] * d * (rowV == rowD ? 2 : 1);
                        target[Math.Max(rowV, rowD) * n + Math.Min(rowV, rowD)] += v;
                    }
                    // θ·d·dᵀ.
                    for (int f = deviationStart[i]; f <= e; f++)
                    {
                        int rowF = entryRow[from + deviationIndex[f]];
                        target[Math.Max(rowD, rowF) * n + Math.Min(rowD, rowF)] += w * d * deviationValue[f];
                    }
                }
            }
        }
    }

    /// <summary>Whether group <paramref name="g"/>'s column meets at least a quarter of the <paramref name="n"/> rows (it then joins the dense product).</summary>
    private bool IsDense(int g, int n) => 4 * (entryStart[g + 1] - entryStart[g]) >= n;

    /// <summary>Adds P·Pᵀ for the <paramref name="dense"/> dense groups (P's column t: √W·v of the t-th of them) to the lower triangle of <paramref name="target"/>.</summary>
    private void AddDenseGroups(double[] target, int n, double[] theta, int dense)
    {
        // SubtractProduct computes C −= A·B: A = −P (n × dense), B = Pᵀ (dense × n).
        double[] negative = ArrayPool<double>.Shared.Rent(n * dense), transposed = ArrayPool<double>.Shared.Rent(dense * n);
        try
        {
            Array.Clear(negative, 0, n * dense);
            Array.Clear(transposed, 0, dense * n);
            int t = 0;
            for (int g = 0; g < representative.Length; g++)
            {
                if (!IsDense(g, n)) continue;
                double scale = Math.Sqrt(Weight(g, theta));
                for (int p = entryStart[g]; p < entryStart[g + 1]; p++)
                {
                    double value = scale * entryValue[p];
                    transposed[t * n + entryRow[p]] = value;
                    negative[entryRow[p] * dense + t] = -value;
                }
                t++;
            }
            DenseKernels.SubtractProduct(target, n, negative, dense, transposed, n, n, n, dense, diagonal: 0);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(negative);
            ArrayPool<double>.Shared.Return(transposed);
        }
    }
}
