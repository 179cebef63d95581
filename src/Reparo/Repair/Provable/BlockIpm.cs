using System.Diagnostics;
using Reparo.Runtime;

namespace Reparo.Repair.Provable;

/// <summary>Settings of <see cref="BlockIpm"/>.</summary>
/// <param name="Threads">Threads for the block factorisations (the result does not depend on it).</param>
/// <param name="TimeLimitSeconds">Wall-clock limit (null: none).</param>
/// <param name="FeasibilityTolerance">Largest relative primal and dual residual at optimality.</param>
/// <param name="OptimalityTolerance">Largest relative duality gap at optimality.</param>
/// <param name="MaxIterations">Iterations before giving up.</param>
/// <param name="MaxMultiplyAdds">Largest estimated multiply–adds per factorisation of a structure it takes on (else it reports numerical trouble at once).</param>
/// <param name="WarmStart">Whether a solve given an earlier solve's iterate (<see cref="IpmStart"/>) starts from it rather than from Mehrotra's point.</param>
/// <param name="MaxCorrectors">
/// Most of Gondzio's centrality correctors per iteration, each one more solve with the iteration's factors. On the
/// repair programs four take fewer iterations than two, in about the same time (docs/results/lp-solvers.md, "Parallel
/// Cholesky, grouped Schur sums, four correctors").
/// </param>
/// <param name="HubRows">Whether each block's hub rows are eliminated in closed form before its dense factorisation (<see cref="Provable.HubRows"/>).</param>
/// <param name="MaxLinkingShare">Largest share of the rows that may be linking rows in a structure it takes on (<see cref="BlockStructure.MaxLinkingShare"/>).</param>
internal sealed record BlockIpmOptions(int Threads = 1, double? TimeLimitSeconds = null, double FeasibilityTolerance = 1e-9,
    double OptimalityTolerance = 1e-9, int MaxIterations = 150, double MaxMultiplyAdds = BlockStructure.MaxMultiplyAdds, bool WarmStart = true,
    int MaxCorrectors = 4, bool HubRows = true, double MaxLinkingShare = BlockStructure.MaxLinkingShare);

/// <summary>Where the time of a <see cref="BlockIpm"/> solve went.</summary>
/// <param name="Setup">Standard form, scaling, structure detection and symbolic set-up.</param>
/// <param name="Factor">Forming and factoring the normal equations.</param>
/// <param name="Solve">Triangular solves and everything else per iteration.</param>
public sealed record BlockIpmTiming(double Setup, double Factor, double Solve);

/// <summary>
/// An iterate of an earlier solve in the original program's terms, from which a solve of the same program grown by
/// rows and columns starts (constraint generation).
/// </summary>
/// <param name="Values">The program's variables.</param>
/// <param name="RowDuals">The duals of its rows.</param>
/// <param name="Complementarity">The iterate's mean complementarity product μ.</param>
internal sealed record IpmStart(double[] Values, double[] RowDuals, double Complementarity)
{
    /// <summary>
    /// Smallest value of a bounded variable or slack at the start (<see cref="BlockIpm.WarmFloor"/> unless set, e.g. by
    /// <see cref="BlockIpm.WarmFloorAfter"/> for the rows that entered since the iterate was kept).
    /// </summary>
    public double Floor { get; init; } = BlockIpm.WarmFloor;
}

/// <summary>The outcome of a <see cref="BlockIpm"/> solve.</summary>
/// <param name="Status">How it ended; <see cref="LpStatus.NumericalTrouble"/> when the caller should use another solver.</param>
/// <param name="Detail">What happened, in words.</param>
/// <param name="Values">The original program's variables (null unless optimal or stopped early).</param>
/// <param name="Objective">Objective value (NaN unless optimal).</param>
/// <param name="Iterations">Interior-point iterations.</param>
/// <param name="Structure">The block structure used, in words (null when none was usable).</param>
/// <param name="Timing">Time per phase.</param>
internal sealed record BlockIpmResult(LpStatus Status, string Detail, double[]? Values, double Objective, int Iterations, string? Structure, BlockIpmTiming Timing)
{
    /// <summary>Whether it started from an earlier solve's iterate.</summary>
    public bool WarmStarted { get; init; }

    /// <summary>Whether it declined the program before any iteration, for want of a block structure within its limits.</summary>
    public bool Declined => Status == LpStatus.NumericalTrouble && Structure is null;

    /// <summary>Whether it declined the program because most of the work would be the Schur complement of its many linking rows (<see cref="BlockIpmOptions.MaxLinkingShare"/>).</summary>
    public bool MostlyLinking { get; init; }

    /// <summary>The shape of the normal equations it iterated on (null when it did not).</summary>
    public BlockShape? Shape { get; init; }
}

/// <summary>
/// A primal–dual interior-point LP solver (Mehrotra's predictor–corrector) whose linear algebra follows the block
/// structure of the normal equations (<see cref="BlockStructure"/>, <see cref="BlockNormalEquations"/>). The program
/// is brought to <see cref="StandardForm"/>; iterates keep x, the upper slacks w = u − x (with their own residual) and
/// the bound duals strictly positive; small primal and dual regularisations keep the normal matrix definite. It stops
/// at relative primal and dual residuals and duality gap below the tolerances, with a certificate of infeasibility or
/// unboundedness, or with <see cref="LpStatus.NumericalTrouble"/> (no affordable structure, iteration limit,
/// stalled progress) so that the caller can fall back to another solver. Same input and options, same bytes out.
/// </summary>
internal static class BlockIpm
{
    private const double PrimalRegularization = 1e-10;
    private const double FreeRegularization = 1e-8;
    private const double DualRegularization = 1e-10;
    private const double StepFraction = 0.995;
    private const double FinalStepFraction = 0.9999;
    private const double DivergenceNorm = 1e10;

    /// <summary>Columns per parallel task of the loops over columns (each column is independent of the others).</summary>
    private const int ColumnsPerTask = 4096;

    /// <summary>
    /// A direction's right-hand side is updated from the one before over the columns whose reduced cost changed when at
    /// most one column in this many did (<see cref="TryUpdateRightHandSide"/>); otherwise it is computed anew.
    /// </summary>
    private const int UpdatedColumnsShare = 8;

    /// <summary>Smallest starting value of a bounded variable or a bound's dual (the scaled program's entries are near 1).</summary>
    private const double StartFloor = 1e-2;

    /// <summary>
    /// Smallest value of a bounded variable or slack when starting from an earlier solve's iterate (see
    /// <see cref="Iteration"/>'s StartFrom) after many rows entered. Tried on a repair's constraint generation (fc2 of a
    /// 784-100-100-10 MLP, 100 fog failures, 300 preserved inputs): 0.1, 0.3 and 1 did about equally well; the iterate's
    /// own values (no floor) stalled on the rows that entered violated, and floors in proportion to √μ did well only when
    /// they came to 0.1–0.4.
    /// </summary>
    public const double WarmFloor = 0.1;

    /// <summary>The smallest floor <see cref="WarmFloorAfter"/> gives.</summary>
    private const double LeastWarmFloor = 0.01;

    /// <summary>Rows entering at and above which a warm start takes the whole <see cref="WarmFloor"/>.</summary>
    private const int WarmFloorRows = 1000;

    /// <summary>
    /// The floor of a warm start (<see cref="IpmStart.Floor"/>) after <paramref name="enteredRows"/> rows entered the
    /// program: <see cref="WarmFloor"/>·√(rows / 1,000), between 0.01 and 0.1. The fewer rows entered violated, the
    /// nearer the kept iterate is to the new program's central path, and the less it needs to be moved back from the
    /// boundary. On mlp:200x9's fc7 (four models) the last two rounds, after the program grew by 1–40 rows, took 8–16
    /// iterations with this floor against 17–29 with 0.1, and the repair took 1.15× less time (docs/results/lp-solvers.md,
    /// section "A warm start's floor after few rows"). In probes, 0.01 after 1,000 rows took 30 iterations where 0.1 took
    /// 22, and 0.003 after the fewest rows did no better than 0.01.
    /// </summary>
    public static double WarmFloorAfter(int enteredRows) =>
        Math.Clamp(WarmFloor * Math.Sqrt(Math.Max(enteredRows, 0) / (double)WarmFloorRows), LeastWarmFloor, WarmFloor);

    /// <summary>
    /// Relative duality gap at which a solve offers its iterate as the start of the next, grown program
    /// (<see cref="IpmStart"/>), whether or not it is feasible yet: well into the solve, yet before the iterate hugs the
    /// boundary (on the repair of <see cref="WarmFloor"/>, 1E-1 did as well, 1E-3 worse, and waiting for a primal residual
    /// below 1E-6 or 1E-9 as well or worse).
    /// </summary>
    public const double KeepGap = 1e-2;

    /// <summary>
    /// Relative duality gap at which a feasible iterate is offered to the caller's early stop (constraint generation):
    /// about a quarter of the iterations of a repair's rounds come after it.
    /// </summary>
    public const double EarlyGap = 1e-3;

    /// <summary>
    /// Updates <paramref name="rightHandSide"/> = r + A·Θ·<paramref name="lastReduced"/> to r + A·Θ·<paramref name="reduced"/>
    /// over the columns where the two differ, and <paramref name="lastReduced"/> to <paramref name="reduced"/>, when at
    /// most one column in <see cref="UpdatedColumnsShare"/> does; else changes nothing and returns false. Within a step
    /// Θ and r stay, and a centrality corrector changes the reduced costs only where it pushes a product back into range
    /// (usually few columns), so this saves a product over all of A.
    /// </summary>
    /// <param name="a">The program's matrix A.</param>
    /// <param name="theta">Θ, per column.</param>
    /// <param name="reduced">The new reduced costs.</param>
    /// <param name="lastReduced">The reduced costs <paramref name="rightHandSide"/> was computed for.</param>
    /// <param name="rightHandSide">r + A·Θ·<paramref name="lastReduced"/>.</param>
    /// <param name="changed">Scratch of at least A's column count.</param>
    /// <returns>Whether it was updated.</returns>
    internal static bool TryUpdateRightHandSide(SparseColumns a, ReadOnlySpan<double> theta, ReadOnlySpan<double> reduced, double[] lastReduced,
        double[] rightHandSide, int[] changed)
    {
        int count = 0, most = a.Cols / UpdatedColumnsShare;
        for (int j = 0; j < a.Cols; j++)
        {
            if (reduced[j] == lastReduced[j]) continue;
            if (count == most) return false;
            changed[count++] = j;
        }
        for (int t = 0; t < count; t++)
        {
            int j = changed[t];
            a.AddColumn(j, theta[j] * (reduced[j] - lastReduced[j]), rightHandSide);
            lastReduced[j] = reduced[j];
        }
        return true;
    }

    /// <summary>
    /// Solves <paramref name="lp"/>; <paramref name="stopEarly"/>, if given, may stop it at a near-optimal iterate, and
    /// <paramref name="keep"/> is offered an iterate for the next, grown program to <paramref name="start"/> from
    /// (<see cref="LpSolver.Solve(LinearProgram, LpSolverOptions, Action?, Func{double[], bool}?, IpmStart?, Action{IpmStart}?)"/>).
    /// </summary>
    public static BlockIpmResult Solve(LinearProgram lp, BlockIpmOptions options, Func<double[], bool>? stopEarly = null, IpmStart? start = null, Action<IpmStart>? keep = null)
    {
        var clock = Stopwatch.StartNew();
        var form = StandardForm.Build(lp);
        BlockIpmTiming Timing(double factor, double setup) => new(setup, factor, clock.Elapsed.TotalSeconds - setup - factor);
        if (form.Conflict is not null) return new BlockIpmResult(LpStatus.Infeasible, form.Conflict, null, double.NaN, 0, null, Timing(0, clock.Elapsed.TotalSeconds));
        if (form.A.Cols == 0)
        {
            double[] values = form.Recover([]);
            return form.HasRay
                ? new BlockIpmResult(LpStatus.Unbounded, "a variable in no row improves the objective without bound", null, double.NaN, 0, null, Timing(0, clock.Elapsed.TotalSeconds))
                : new BlockIpmResult(LpStatus.Optimal, "every variable was fixed by presolve", values, lp.ObjectiveValue(values), 0, null, Timing(0, clock.Elapsed.TotalSeconds));
        }
        var byRows = new SparseRows(form.A);
        BlockStructure structure = BlockStructure.Detect(form.A, byRows, options.Threads, form.RowBatch);
        if (!structure.IsAffordable(options.MaxMultiplyAdds))
        {
            return new BlockIpmResult(LpStatus.NumericalTrouble, $"no affordable block structure ({structure.Describe()})", null, double.NaN, 0, null,
                Timing(0, clock.Elapsed.TotalSeconds));
        }
        if (structure.LinkingShare > options.MaxLinkingShare)
        {
            return new BlockIpmResult(LpStatus.NumericalTrouble,
                $"mostly linking rows ({structure.LinkingRows.Length:N0} of {form.A.Rows:N0}, above the share {options.MaxLinkingShare:G3} it takes on: {structure.Describe()})", null, double.NaN, 0, null,
                Timing(0, clock.Elapsed.TotalSeconds))
            { MostlyLinking = true };
        }
        var normal = new BlockNormalEquations(form.A, structure, options.Threads, byRows, options.HubRows);
        var run = new Iteration(form, byRows, normal, options, clock, stopEarly) { From = options.WarmStart ? start : null, Keep = options.WarmStart ? keep : null };
        (LpStatus status, string detail, double[]? x) = run.Run();
        if (status == LpStatus.Optimal && form.HasRay) (status, detail, x) = (LpStatus.Unbounded, "a variable in no row improves the objective without bound", null);
        (int lowRank, int rowByRow) = normal.BlocksSummedAlone;
        var remarks = new List<string>();
        if (normal.BlocksWithHubRows > 0) remarks.Add($"{normal.BlocksWithHubRows} blocks' hub rows eliminated first");
        if (lowRank + rowByRow > 0) remarks.Add($"{lowRank + rowByRow} blocks' updates of the Schur complement not summed by groups of linking rows: {lowRank} through their own rows, {rowByRow} row by row");
        string described = structure.Describe() + (remarks.Count > 0 ? $" ({string.Join("; ", remarks)})" : "");
        return new BlockIpmResult(status, detail, x, x is null ? double.NaN : lp.ObjectiveValue(x), run.Iterations, described, Timing(run.FactorSeconds, run.SetupSeconds))
        {
            WarmStarted = run.From is not null,
            Shape = new BlockShape(structure.LinkingRows.Length, structure.MultiplyAdds),
        };
    }

    /// <summary>The iterates and the loop of one solve.</summary>
    private sealed class Iteration
    {
        private readonly StandardForm form;
        private readonly BlockNormalEquations normal;
        private readonly BlockIpmOptions options;
        private readonly Stopwatch clock;
        private Func<double[], bool>? stopEarly;
        private readonly SparseColumns a;
        private readonly SparseRows byRows;
        private readonly int m, n, pairs;
        private readonly double[] b, c, u;
        private readonly bool[] lower, boxed;
        private readonly double normB, normC, normU;

        private readonly double[] x, w, zl, zu, y;
        private readonly double[] rp, ru, rd, theta, reduced, rowWork, columnWork;
        private readonly double[] dx, dw, dy, dzl, dzu, dxAffine, dwAffine, dzlAffine, dzuAffine, rxz, rwz;
        private readonly double[] savedDx, savedDw, savedDy, savedDzl, savedDzu, savedRxz, savedRwz;
        private readonly double[] lastRightHandSide, lastReduced;
        private readonly int[] changedColumns;
        private bool lastValid;

        public Iteration(StandardForm form, SparseRows byRows, BlockNormalEquations normal, BlockIpmOptions options, Stopwatch clock, Func<double[], bool>? stopEarly)
        {
            this.stopEarly = stopEarly;
            this.form = form;
            this.normal = normal;
            this.options = options;
            this.clock = clock;
            a = form.A;
            this.byRows = byRows;
            m = a.Rows;
            n = a.Cols;
            b = form.B;
            c = form.Cost;
            u = form.Upper;
            lower = form.HasLower;
            boxed = [.. u.Select(double.IsFinite)];
            pairs = lower.Count(l => l) + boxed.Count(f => f);
            normB = MaxAbs(b);
            normC = MaxAbs(c);
            foreach (double bound in u)
                if (double.IsFinite(bound)) normU = Math.Max(normU, Math.Abs(bound));
            x = new double[n];
            w = new double[n];
            zl = new double[n];
            zu = new double[n];
            y = new double[m];
            rp = new double[m];
            ru = new double[n];
            rd = new double[n];
            theta = new double[n];
            reduced = new double[n];
            rowWork = new double[m];
            columnWork = new double[n];
            dx = new double[n];
            dw = new double[n];
            dy = new double[m];
            dzl = new double[n];
            dzu = new double[n];
            dxAffine = new double[n];
            dwAffine = new double[n];
            dzlAffine = new double[n];
            dzuAffine = new double[n];
            rxz = new double[n];
            rwz = new double[n];
            savedDx = new double[n];
            savedDw = new double[n];
            savedDy = new double[m];
            savedDzl = new double[n];
            savedDzu = new double[n];
            savedRxz = new double[n];
            savedRwz = new double[n];
            lastRightHandSide = new double[m];
            lastReduced = new double[n];
            changedColumns = new int[n];
            SetupSeconds = clock.Elapsed.TotalSeconds;
        }

        /// <summary>Where to start (null: Mehrotra's starting point).</summary>
        public IpmStart? From { get; init; }

        /// <summary>Offered the first iterate within <see cref="KeepGap"/> of optimal, once.</summary>
        public Action<IpmStart>? Keep { get; set; }

        /// <summary>Iterations so far.</summary>
        public int Iterations { get; private set; }

        /// <summary>Seconds from the start of the solve to the end of the set-up.</summary>
        public double SetupSeconds { get; }

        /// <summary>Seconds spent forming and factoring the normal equations.</summary>
        public double FactorSeconds { get; private set; }

        /// <summary>Iterates until optimal, certified infeasible or unbounded, or stopped; returns the status, its description and the original program's variables when optimal.</summary>
        public (LpStatus, string, double[]?) Run()
        {
            if (From is null) Start();
            else StartFrom(From);
            using ProgressScope shown = WorkProgress.Begin("interior point");
            double bestMerit = double.PositiveInfinity;
            int sinceProgress = 0;
            for (Iterations = 0; ; Iterations++)
            {
                Residuals();
                double mu = Complementarity();
                double primal = Math.Max(MaxAbs(rp) / (1 + normB), MaxAbs(ru) / (1 + normU));
                double dual = MaxAbs(rd) / (1 + normC);
                double primalObjective = Dot(c, x) + form.Offset, dualObjective = Dot(b, y) + form.Offset;
                for (int j = 0; j < n; j++)
                    if (boxed[j]) dualObjective -= u[j] * zu[j];
                double gap = Math.Abs(primalObjective - dualObjective) / (1 + Math.Abs(primalObjective));
                if (primal <= options.FeasibilityTolerance && dual <= options.FeasibilityTolerance && gap <= options.OptimalityTolerance)
                {
                    double[] values = form.Recover(x);
                    double violation = form.RelativeViolation(values);
                    if (violation <= 10 * options.FeasibilityTolerance)
                        return (LpStatus.Optimal, $"optimal after {Iterations} iterations (primal {primal:G2}, dual {dual:G2}, gap {gap:G2}, bound violation {violation:G2})", values);
                }
                if (Keep is not null && gap <= KeepGap)
                {
                    Keep(new IpmStart(form.Recover(x), form.RowDuals(y), mu));
                    Keep = null;
                }
                if (stopEarly is not null && primal <= options.FeasibilityTolerance && dual <= options.FeasibilityTolerance && gap <= EarlyGap)
                {
                    double[] values = form.Recover(x);
                    bool stop = stopEarly(values);
                    stopEarly = null;
                    if (stop) return (LpStatus.StoppedEarly, $"stopped early at the caller's request after {Iterations} iterations (primal {primal:G2}, dual {dual:G2}, gap {gap:G2})", values);
                }
                if (Certificate() is { } certificate) return certificate;
                double merit = Math.Max(Math.Max(primal, dual), gap);
                if (merit < 0.9 * bestMerit)
                {
                    bestMerit = merit;
                    sinceProgress = 0;
                }
                else if (++sinceProgress >= 20)
                {
                    return (LpStatus.NumericalTrouble, $"no progress in 20 iterations (primal {primal:G2}, dual {dual:G2}, gap {gap:G2}, {normal.DroppedPivots} pivots dropped)", null);
                }
                if (Iterations >= options.MaxIterations)
                    return (LpStatus.NumericalTrouble, $"iteration limit {options.MaxIterations} (primal {primal:G2}, dual {dual:G2}, gap {gap:G2}, {normal.DroppedPivots} pivots dropped)", null);
                if (options.TimeLimitSeconds is double limit && clock.Elapsed.TotalSeconds >= limit)
                    return (LpStatus.TimeLimit, $"time limit after {Iterations} iterations", null);
                if (MaxAbs(x) > DivergenceNorm * DivergenceNorm || MaxAbs(y) > DivergenceNorm * DivergenceNorm)
                    return (LpStatus.NumericalTrouble, "iterates diverged without a certificate", null);
                shown.Describe($"iteration {Iterations + 1}, gap {gap:G2}");
                shown.Advance();
                Step(mu);
            }
        }

        /// <summary>Mehrotra's starting point: least-norm x and least-squares (y, z), shifted into the interior.</summary>
        private void Start()
        {
            Array.Fill(theta, 1.0);
            Factor();
            // x̃ = Aᵀ(AAᵀ)⁻¹b, ỹ = (AAᵀ)⁻¹Ac, z̃ = c − Aᵀỹ.
            var v = (double[])b.Clone();
            normal.Solve(v);
            for (int j = 0; j < n; j++) x[j] = a.ColumnDot(j, v);
            Array.Clear(v);
            a.MultiplyAdd(c, v);
            normal.Solve(v);
            v.CopyTo(y, 0);
            var z = new double[n];
            for (int j = 0; j < n; j++) z[j] = c[j] - a.ColumnDot(j, y);
            double smallestPrimal = double.PositiveInfinity, smallestDual = double.PositiveInfinity;
            for (int j = 0; j < n; j++)
            {
                if (!lower[j]) continue;
                if (boxed[j])
                {
                    w[j] = u[j] - x[j];
                    zl[j] = Math.Max(z[j], 0);
                    zu[j] = Math.Max(-z[j], 0);
                    smallestPrimal = Math.Min(smallestPrimal, w[j]);
                }
                else
                {
                    zl[j] = z[j];
                    smallestDual = Math.Min(smallestDual, zl[j]);
                }
                smallestPrimal = Math.Min(smallestPrimal, x[j]);
            }
            double primalShift = Math.Max(-1.5 * smallestPrimal, 0), dualShift = Math.Max(-1.5 * smallestDual, 0);
            // Mehrotra's second shift centres the products: δx = ½·(x + δ)ᵀ(z + δ')/Σ(z + δ'), and alike for z.
            double product = 0, primalSum = 0, dualSum = 0;
            void Add(double primalValue, double dualValue)
            {
                product += (primalValue + primalShift) * (dualValue + dualShift);
                primalSum += primalValue + primalShift;
                dualSum += dualValue + dualShift;
            }
            for (int j = 0; j < n; j++)
            {
                if (lower[j]) Add(x[j], zl[j]);
                if (boxed[j]) Add(w[j], zu[j]);
            }
            double primalCentre = dualSum > 0 ? 0.5 * product / dualSum : 0, dualCentre = primalSum > 0 ? 0.5 * product / primalSum : 0;
            double primalTotal = Math.Max(primalShift + primalCentre, StartFloor), dualTotal = Math.Max(dualShift + dualCentre, StartFloor);
            for (int j = 0; j < n; j++)
            {
                if (!lower[j]) continue;
                x[j] = Math.Max(x[j] + primalTotal, StartFloor);
                zl[j] = Math.Max(zl[j] + dualTotal, StartFloor);
                if (!boxed[j]) continue;
                w[j] = Math.Max(w[j] + primalTotal, StartFloor);
                zu[j] = Math.Max(zu[j] + dualTotal, StartFloor);
            }
        }

        /// <summary>
        /// Starts from an earlier solve's iterate (<see cref="IpmStart"/>): its variables and row duals mapped into this
        /// program's scaled standard form, each new slack at the value that meets its row. Bounded variables and slacks
        /// below the start's floor (<see cref="IpmStart.Floor"/>; those at their bounds, and the slacks of rows that
        /// entered violated, mirrored) are raised to it, which moves the iterate back from the boundary so that the
        /// violated rows can be met in a few long steps; each bound's dual is the reduced cost's part of its sign, raised
        /// so that its product is at least the kept iterate's μ. Residuals this leaves are the infeasible method's to
        /// remove.
        /// </summary>
        private void StartFrom(IpmStart start)
        {
            (double[] values, double[] duals) = form.ToInternal(start.Values, start.RowDuals);
            duals.CopyTo(y, 0);
            double mu = Math.Max(start.Complementarity, double.Epsilon), floor = start.Floor;
            for (int j = 0; j < n; j++)
            {
                x[j] = values[j];
                if (!lower[j]) continue;
                double z = c[j] - a.ColumnDot(j, y);
                x[j] = Math.Max(Math.Abs(values[j]), floor);
                zl[j] = Math.Max(Math.Max(z, 0), mu / x[j]);
                if (!boxed[j]) continue;
                if (x[j] > u[j] - floor) x[j] = Math.Max(u[j] - floor, 0.5 * u[j]);
                w[j] = Math.Max(u[j] - x[j], floor);
                zu[j] = Math.Max(Math.Max(-z, 0), mu / w[j]);
            }
        }

        private void Residuals()
        {
            b.CopyTo(rp, 0);
            Array.Clear(rowWork);
            byRows.MultiplyAdd(x, rowWork, options.Threads);
            for (int i = 0; i < m; i++) rp[i] -= rowWork[i];
            DenseKernels.ForBands(n, ColumnsPerTask, options.Threads, (first, count) =>
            {
                for (int j = first; j < first + count; j++)
                {
                    ru[j] = boxed[j] ? u[j] - x[j] - w[j] : 0;
                    rd[j] = c[j] - a.ColumnDot(j, y) - zl[j] + zu[j];
                }
            });
        }

        private double Complementarity()
        {
            if (pairs == 0) return 0;
            double sum = 0;
            for (int j = 0; j < n; j++)
            {
                if (lower[j]) sum += x[j] * zl[j];
                if (boxed[j]) sum += w[j] * zu[j];
            }
            return sum / pairs;
        }

        private void Factor()
        {
            double start = clock.Elapsed.TotalSeconds;
            normal.Factor(theta, DualRegularization);
            FactorSeconds += clock.Elapsed.TotalSeconds - start;
            // Θ (and, since the residuals were computed, rp) changed: the next right-hand side is computed anew.
            lastValid = false;
        }

        /// <summary>One predictor–corrector step.</summary>
        private void Step(double mu)
        {
            for (int j = 0; j < n; j++)
            {
                double d = lower[j] ? zl[j] / x[j] + PrimalRegularization : FreeRegularization;
                if (boxed[j]) d += zu[j] / w[j];
                theta[j] = 1 / d;
            }
            Factor();
            // Predictor (affine scaling): drive every product x·z to 0.
            for (int j = 0; j < n; j++)
            {
                rxz[j] = lower[j] ? -x[j] * zl[j] : 0;
                rwz[j] = boxed[j] ? -w[j] * zu[j] : 0;
            }
            Direction();
            (double primalAffine, double dualAffine) = StepLengths(1.0);
            double affine = 0;
            for (int j = 0; j < n; j++)
            {
                if (lower[j]) affine += (x[j] + primalAffine * dx[j]) * (zl[j] + dualAffine * dzl[j]);
                if (boxed[j]) affine += (w[j] + primalAffine * dw[j]) * (zu[j] + dualAffine * dzu[j]);
            }
            affine /= Math.Max(pairs, 1);
            double sigma = mu > 0 ? Math.Clamp(Math.Pow(affine / mu, 3), 0, 1) : 0;
            dx.CopyTo(dxAffine, 0);
            dw.CopyTo(dwAffine, 0);
            dzl.CopyTo(dzlAffine, 0);
            dzu.CopyTo(dzuAffine, 0);
            // Corrector: aim at σμ and correct the predictor's second-order term.
            for (int j = 0; j < n; j++)
            {
                rxz[j] = lower[j] ? sigma * mu - x[j] * zl[j] - dxAffine[j] * dzlAffine[j] : 0;
                rwz[j] = boxed[j] ? sigma * mu - w[j] * zu[j] - dwAffine[j] * dzuAffine[j] : 0;
            }
            Direction();
            Centre(sigma * mu);
            (double primalStep, double dualStep) = StepLengths(mu < 1e-6 ? FinalStepFraction : StepFraction);
            for (int j = 0; j < n; j++)
            {
                x[j] += primalStep * dx[j];
                w[j] += primalStep * dw[j];
                zl[j] += dualStep * dzl[j];
                zu[j] += dualStep * dzu[j];
            }
            for (int i = 0; i < m; i++) y[i] += dualStep * dy[i];
        }

        /// <summary>
        /// Gondzio's multiple centrality correctors: aim at longer steps than the direction allows, push the products
        /// x·z of that trial point that fall outside [0.1, 10]·<paramref name="target"/> back into that range, and keep
        /// the corrected direction while it lengthens the shorter of the two steps.
        /// </summary>
        private void Centre(double target)
        {
            (double primal, double dual) = StepLengths(1.0);
            for (int corrector = 0; corrector < options.MaxCorrectors && Math.Min(primal, dual) < 1; corrector++)
            {
                double primalAim = Math.Min(1, 1.5 * primal + 0.1), dualAim = Math.Min(1, 1.5 * dual + 0.1);
                Save();
                for (int j = 0; j < n; j++)
                {
                    if (lower[j]) rxz[j] += CentralityTarget((x[j] + primalAim * dx[j]) * (zl[j] + dualAim * dzl[j]), target);
                    if (boxed[j]) rwz[j] += CentralityTarget((w[j] + primalAim * dw[j]) * (zu[j] + dualAim * dzu[j]), target);
                }
                Direction();
                (double newPrimal, double newDual) = StepLengths(1.0);
                if (Math.Min(newPrimal, newDual) < 1.01 * Math.Min(primal, dual))
                {
                    Restore();
                    return;
                }
                (primal, dual) = (newPrimal, newDual);
            }
        }

        private static double CentralityTarget(double product, double target)
        {
            if (product < 0.1 * target) return 0.1 * target - product;
            if (product > 10 * target) return Math.Max(10 * target - product, -10 * target);
            return 0;
        }

        private void Save()
        {
            dx.CopyTo(savedDx, 0);
            dw.CopyTo(savedDw, 0);
            dy.CopyTo(savedDy, 0);
            dzl.CopyTo(savedDzl, 0);
            dzu.CopyTo(savedDzu, 0);
            rxz.CopyTo(savedRxz, 0);
            rwz.CopyTo(savedRwz, 0);
        }

        private void Restore()
        {
            savedDx.CopyTo(dx, 0);
            savedDw.CopyTo(dw, 0);
            savedDy.CopyTo(dy, 0);
            savedDzl.CopyTo(dzl, 0);
            savedDzu.CopyTo(dzu, 0);
            savedRxz.CopyTo(rxz, 0);
            savedRwz.CopyTo(rwz, 0);
        }

        /// <summary>The Newton direction for the complementarity targets in rxz (x·zl) and rwz (w·zu), with the current residuals.</summary>
        private void Direction()
        {
            for (int j = 0; j < n; j++)
            {
                double r = rd[j];
                if (lower[j]) r -= rxz[j] / x[j];
                if (boxed[j]) r += (rwz[j] - zu[j] * ru[j]) / w[j];
                reduced[j] = r;
            }
            RightHandSide();
            normal.Solve(dy);
            DenseKernels.ForBands(n, ColumnsPerTask, options.Threads, (first, count) =>
            {
                for (int j = first; j < first + count; j++)
                {
                    dx[j] = theta[j] * (a.ColumnDot(j, dy) - reduced[j]);
                    dw[j] = boxed[j] ? ru[j] - dx[j] : 0;
                    dzl[j] = lower[j] ? (rxz[j] - zl[j] * dx[j]) / x[j] : 0;
                    dzu[j] = boxed[j] ? (rwz[j] - zu[j] * dw[j]) / w[j] : 0;
                }
            });
        }

        /// <summary>
        /// dy = rp + A·Θ·reduced: the right-hand side of the direction before, updated where the reduced costs changed
        /// (<see cref="TryUpdateRightHandSide"/>), or computed anew.
        /// </summary>
        private void RightHandSide()
        {
            if (!lastValid || !TryUpdateRightHandSide(a, theta, reduced, lastReduced, lastRightHandSide, changedColumns))
            {
                rp.CopyTo(lastRightHandSide, 0);
                for (int j = 0; j < n; j++) columnWork[j] = theta[j] * reduced[j];
                byRows.MultiplyAdd(columnWork, lastRightHandSide, options.Threads);
                reduced.CopyTo(lastReduced, 0);
            }
            lastValid = true;
            lastRightHandSide.CopyTo(dy, 0);
        }

        /// <summary>The largest primal and dual steps (times <paramref name="fraction"/>, at most 1) that keep the iterates positive.</summary>
        private (double Primal, double Dual) StepLengths(double fraction)
        {
            double primal = 1 / fraction, dual = 1 / fraction;
            for (int j = 0; j < n; j++)
            {
                if (lower[j])
                {
                    if (dx[j] < 0) primal = Math.Min(primal, -x[j] / dx[j]);
                    if (dzl[j] < 0) dual = Math.Min(dual, -zl[j] / dzl[j]);
                }
                if (boxed[j])
                {
                    if (dw[j] < 0) primal = Math.Min(primal, -w[j] / dw[j]);
                    if (dzu[j] < 0) dual = Math.Min(dual, -zu[j] / dzu[j]);
                }
            }
            return (Math.Min(1, fraction * primal), Math.Min(1, fraction * dual));
        }

        /// <summary>
        /// A Farkas certificate of primal infeasibility in the dual iterate (bᵀŷ − uᵀ(Aᵀŷ)⁺ &gt; 0 with Aᵀŷ ≤ 0 on
        /// columns without an upper bound), or of unboundedness in the primal iterate (a feasible iterate with A·x̂ ≈ 0,
        /// x̂ in the recession cone and cᵀx̂ &lt; 0), once the iterate has grown far beyond the data.
        /// </summary>
        private (LpStatus, string, double[]?)? Certificate()
        {
            double yNorm = MaxAbs(y);
            if (yNorm > 1e6 * (1 + normC))
            {
                double violation = 0, value = 0;
                for (int i = 0; i < m; i++) value += b[i] * y[i] / yNorm;
                for (int j = 0; j < n; j++)
                {
                    double g = a.ColumnDot(j, y) / yNorm;
                    if (boxed[j]) value -= u[j] * Math.Max(g, 0);
                    else if (lower[j]) violation = Math.Max(violation, g);
                    else violation = Math.Max(violation, Math.Abs(g));
                }
                if (value > 1e-9 * (1 + normB) && violation <= 1e-6 * value)
                    return (LpStatus.Infeasible, $"infeasible: Farkas certificate after {Iterations} iterations (bᵀy − uᵀ(Aᵀy)⁺ = {value:G3} for ‖y‖∞ = 1, violation {violation:G2})", null);
            }
            double xNorm = MaxAbs(x);
            if (xNorm > 1e6 * (1 + normB + normU) && MaxAbs(rp) <= options.FeasibilityTolerance * (1 + normB))
            {
                double descent = Dot(c, x) / xNorm;
                var ax = new double[m];
                a.MultiplyAdd(x, ax);
                double residual = MaxAbs(ax) / xNorm;
                if (descent < -1e-9 * (1 + normC) && residual <= 1e-6 * -descent)
                    return (LpStatus.Unbounded, $"unbounded: a feasible ray of descent after {Iterations} iterations (cᵀd = {descent:G3} for ‖d‖∞ = 1)", null);
            }
            return null;
        }

        private static double MaxAbs(ReadOnlySpan<double> values)
        {
            double max = 0;
            foreach (double v in values) max = Math.Max(max, Math.Abs(v));
            return max;
        }

        private static double Dot(double[] p, double[] q)
        {
            double sum = 0;
            for (int i = 0; i < p.Length; i++) sum += p[i] * q[i];
            return sum;
        }
    }
}
