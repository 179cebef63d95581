namespace Reparo.Experiments;

/// <summary>Rank statistics shared by the studies.</summary>
public static class RankCorrelation
{
    /// <summary>Spearman's rank correlation with average ranks for ties; NaN when either side is constant or there are fewer than two values.</summary>
    public static double Spearman(double[] a, double[] b)
    {
        if (a.Length != b.Length) throw new ArgumentException("Spearman needs two equally long series");
        if (a.Length < 2) return double.NaN;
        double[] ra = Ranks(a), rb = Ranks(b);
        double ma = ra.Average(), mb = rb.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            sab += (ra[i] - ma) * (rb[i] - mb);
            saa += (ra[i] - ma) * (ra[i] - ma);
            sbb += (rb[i] - mb) * (rb[i] - mb);
        }
        return saa == 0 || sbb == 0 ? double.NaN : sab / Math.Sqrt(saa * sbb);
    }

    private static double[] Ranks(double[] values)
    {
        int[] order = [.. Enumerable.Range(0, values.Length).OrderBy(i => values[i])];
        var ranks = new double[values.Length];
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            while (end + 1 < order.Length && values[order[end + 1]] == values[order[start]]) end++;
            for (int i = start; i <= end; i++) ranks[order[i]] = (start + end) / 2.0;
            start = end + 1;
        }
        return ranks;
    }
}
