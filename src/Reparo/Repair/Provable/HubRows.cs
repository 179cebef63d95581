namespace Reparo.Repair.Provable;

/// <summary>
/// Rows of a block that <see cref="BlockNormalEquations"/> eliminates in closed form before the block's dense
/// factorisation: every block row that meets one hub column h, where each such row meets, besides h, only columns of
/// its own (singletons, such as its slack) and at most one split pair (p, m) whose other entries lie in the block's
/// remaining rows S, with m = ratio·p there, and no linking rows. The repair encoder's objective makes these rows: per
/// parameter change, g_k ≥ Δ⁺ + Δ⁻ with g_k the neuron's L∞ bound; they are about half of each neuron block.
/// <para>
/// With the eliminated rows R ordered first, M_RR = D + θ_h·e·eᵀ (D diagonal: each row's own columns and δ; e: h's
/// entries), M_SR's column for row j is β_j·a_j (a_j: p's entries in S, β_j = θ_p·e_p + ratio·θ_m·e_m) and M_LR's is
/// θ_h·e_j·h_L (h_L: h's linking entries). The Schur complement M_SS − M_SR·M_RR⁻¹·M_RS is then, exactly,
/// Σ_j w_j·a_j·a_jᵀ + ρ·u·uᵀ with w_j = (θ_p·θ_m·(e_m − ratio·e_p)² + (θ_p + ratio²·θ_m)·q_j) / D_j (q_j: D_j without
/// the pair), ρ = θ_h / (1 + θ_h·Σ e_j²/D_j) and u = Σ_j (β_j·e_j/D_j)·a_j; the coupling to the linking rows is that of
/// one column with entries −u in S and h_L, weighted ρ, which also replaces θ_h in M_LL. Every term is a sum of
/// non-negative parts, so nothing cancels however the interior point scales Θ. The eliminated rows' own solves use
/// M_RR's Cholesky factor, which for a diagonal plus rank-one matrix takes O(|R|) numbers.
/// </para>
/// </summary>
internal sealed class HubRows
{
    private readonly int[] singleStart, singleColumn;
    private readonly double[] singleValue, plusValue, minusValue, hubValue, ratio;
    private readonly double[] d, beta, pivot, below;
    private double sigmaTheta;

    private HubRows(int hub, int[] rows, int[] plus, int[] minus, double[] plusValue, double[] minusValue, double[] ratio, double[] hubValue,
        int[] singleStart, int[] singleColumn, double[] singleValue)
    {
        Hub = hub;
        Rows = rows;
        Plus = plus;
        Minus = minus;
        this.plusValue = plusValue;
        this.minusValue = minusValue;
        this.ratio = ratio;
        this.hubValue = hubValue;
        this.singleStart = singleStart;
        this.singleColumn = singleColumn;
        this.singleValue = singleValue;
        d = new double[rows.Length];
        beta = new double[rows.Length];
        pivot = new double[rows.Length];
        below = new double[rows.Length];
    }

    /// <summary>The hub column h.</summary>
    public int Hub { get; }

    /// <summary>The eliminated rows, in the block's order.</summary>
    public int[] Rows { get; }

    /// <summary>Each row's pair column p (−1 when the row has no pair).</summary>
    public int[] Plus { get; }

    /// <summary>Each row's pair column m (−1 when the row has no pair).</summary>
    public int[] Minus { get; }

    /// <summary>ρ of the last <see cref="Prepare"/>.</summary>
    public double Rho { get; private set; }

    /// <summary>θ_h of the last <see cref="Prepare"/>.</summary>
    public double HubTheta { get; private set; }

    /// <summary>
    /// The hub rows of block <paramref name="block"/> of <paramref name="blocks"/>, or null when its rows have no such hub
    /// (or nothing would remain of the block). <paramref name="linkingColumn"/> tells whether a column meets linking rows.
    /// </summary>
    public static HubRows? Find(int block, BlockStructure blocks, SparseColumns a, SparseRows byRows, bool[] linkingColumn)
    {
        int[] blockRows = blocks.BlockRows[block];
        int Length(int j) => a.ColStart[j + 1] - a.ColStart[j];
        // Candidate hubs: columns of rows with one or three columns that meet other rows.
        var count = new Dictionary<int, int>();
        foreach (int r in blockRows)
        {
            int shared = 0;
            for (int e = byRows.RowStart[r]; e < byRows.RowStart[r + 1]; e++)
                if (Length(byRows.ColIndex[e]) > 1) shared++;
            if (shared is not (1 or 3)) continue;
            for (int e = byRows.RowStart[r]; e < byRows.RowStart[r + 1]; e++)
            {
                int j = byRows.ColIndex[e];
                if (Length(j) > 1) count[j] = count.GetValueOrDefault(j) + 1;
            }
        }
        int hub = -1, most = 1;
        foreach ((int j, int c) in count)
            if (c > most || (c == most && hub >= 0 && j < hub)) (hub, most) = (j, c);
        if (hub < 0) return null;
        var eliminated = new HashSet<int>();
        for (int e = a.ColStart[hub]; e < a.ColStart[hub + 1]; e++)
            if (blocks.BlockOfRow[a.RowIndex[e]] == block) eliminated.Add(a.RowIndex[e]);
        if (eliminated.Count < 2 || eliminated.Count == blockRows.Length) return null;
        int[] rows = [.. blockRows.Where(eliminated.Contains)];
        var plus = new int[rows.Length];
        var minus = new int[rows.Length];
        var plusValue = new double[rows.Length];
        var minusValue = new double[rows.Length];
        var ratio = new double[rows.Length];
        var hubValue = new double[rows.Length];
        var singleStart = new int[rows.Length + 1];
        var singleColumn = new List<int>();
        var singleValue = new List<double>();
        for (int i = 0; i < rows.Length; i++)
        {
            int r = rows[i];
            var pair = new List<(int Column, double Value)>();
            for (int e = byRows.RowStart[r]; e < byRows.RowStart[r + 1]; e++)
            {
                int j = byRows.ColIndex[e];
                double v = byRows.Value[e];
                if (j == hub) hubValue[i] = v;
                else if (Length(j) == 1)
                {
                    singleColumn.Add(j);
                    singleValue.Add(v);
                }
                else pair.Add((j, v));
            }
            singleStart[i + 1] = singleColumn.Count;
            (plus[i], minus[i]) = (-1, -1);
            if (pair.Count == 0) continue;
            if (pair.Count != 2) return null;
            (int p, double ep) = pair[0];
            (int m, double em) = pair[1];
            if (linkingColumn[p] || linkingColumn[m] || !Proportional(a, p, m, r, row => blocks.BlockOfRow[row] == block && !eliminated.Contains(row), out ratio[i])) return null;
            (plus[i], minus[i], plusValue[i], minusValue[i]) = (p, m, ep, em);
        }
        return new HubRows(hub, rows, plus, minus, plusValue, minusValue, ratio, hubValue, singleStart, [.. singleColumn], [.. singleValue]);
    }

    /// <summary>Whether m = ratio·p on every row but <paramref name="own"/>, all of them rows that <paramref name="remaining"/> accepts (the block's rows that stay).</summary>
    private static bool Proportional(SparseColumns a, int p, int m, int own, Func<int, bool> remaining, out double ratio)
    {
        ratio = 0;
        int ep = a.ColStart[p], em = a.ColStart[m];
        if (a.ColStart[p + 1] - ep != a.ColStart[m + 1] - em) return false;
        bool first = true;
        for (; ep < a.ColStart[p + 1]; ep++, em++)
        {
            int row = a.RowIndex[ep];
            if (row != a.RowIndex[em]) return false;
            if (row == own) continue;
            if (!remaining(row)) return false;
            if (first)
            {
                ratio = a.Value[em] / a.Value[ep];
                first = false;
            }
            if (a.Value[em] - ratio * a.Value[ep] != 0) return false;
        }
        return !first;
    }

    /// <summary>
    /// For the column weights <paramref name="theta"/> and regularisation <paramref name="delta"/>: factors M_RR and
    /// writes into <paramref name="weights"/> (a copy of θ) each pair's w_j (on p, 0 on m) and ρ on the hub.
    /// </summary>
    public void Prepare(double[] theta, double delta, double[] weights)
    {
        double sigma = 0;
        HubTheta = theta[Hub];
        for (int j = 0; j < Rows.Length; j++)
        {
            double q = delta;
            for (int s = singleStart[j]; s < singleStart[j + 1]; s++) q += theta[singleColumn[s]] * singleValue[s] * singleValue[s];
            double dj = q;
            if (Plus[j] >= 0)
            {
                double tp = theta[Plus[j]], tm = theta[Minus[j]], ep = plusValue[j], em = minusValue[j], r = ratio[j];
                dj += tp * ep * ep + tm * em * em;
                beta[j] = tp * ep + r * tm * em;
                double spread = em - r * ep;
                weights[Plus[j]] = (tp * tm * spread * spread + (tp + r * r * tm) * q) / dj;
                weights[Minus[j]] = 0;
            }
            else beta[j] = 0;
            d[j] = dj;
            sigma += hubValue[j] * hubValue[j] / dj;
        }
        sigmaTheta = HubTheta * sigma;
        Rho = HubTheta / (1 + sigmaTheta);
        weights[Hub] = Rho;
        // Cholesky factor of D + θ_h·e·eᵀ: pivot l_j and, below it, column j = below_j·e.
        double t = HubTheta;
        for (int j = 0; j < Rows.Length; j++)
        {
            double e = hubValue[j];
            double squared = d[j] + t * e * e;
            pivot[j] = Math.Sqrt(squared);
            below[j] = t * e / pivot[j];
            t = t * d[j] / squared;
        }
    }

    /// <summary>u = Σ_j (β_j·e_j/D_j)·a_j, in the block's remaining rows (those of <paramref name="pairs"/>), added to <paramref name="u"/>.</summary>
    public void AddU(Span<double> u, HubPairColumns pairs)
    {
        for (int j = 0; j < Rows.Length; j++)
        {
            if (Plus[j] < 0) continue;
            double scale = beta[j] * hubValue[j] / d[j];
            if (scale != 0) pairs.AddTo(j, scale, u);
        }
    }

    /// <summary>Overwrites <paramref name="v"/> (one value per eliminated row) with M_RR⁻¹·v.</summary>
    public void SolveInPlace(Span<double> v)
    {
        double sum = 0;
        for (int j = 0; j < v.Length; j++)
        {
            v[j] = (v[j] - hubValue[j] * sum) / pivot[j];
            sum += below[j] * v[j];
        }
        sum = 0;
        for (int j = v.Length - 1; j >= 0; j--)
        {
            v[j] = (v[j] - below[j] * sum) / pivot[j];
            sum += hubValue[j] * v[j];
        }
    }

    /// <summary>The coefficient of a_j in M_SR·z (so M_SR·z = Σ_j Beta(j)·z_j·a_j).</summary>
    public double Beta(int j) => beta[j];

    /// <summary>h's entry in eliminated row j.</summary>
    public double HubEntry(int j) => hubValue[j];
}
