using System.Diagnostics;
using System.Globalization;
using Google.OrTools.ModelBuilder;
using Reparo.Runtime;
using MpSolver = Google.OrTools.LinearSolver.Solver;

namespace Reparo.Repair.Provable;

/// <summary>The LP solvers Reparo drives through OR-Tools.</summary>
public enum LpSolverKind
{
    /// <summary>HiGHS: interior point without crossover, the closest to the papers' Gurobi barrier setting; the fallback of <see cref="BlockIpm"/>.</summary>
    Highs,

    /// <summary>Google's GLOP primal/dual simplex.</summary>
    Glop,

    /// <summary>PDLP, a first-order primal–dual method.</summary>
    Pdlp,

    /// <summary>COIN-OR CLP (dual simplex), through OR-Tools' linear-solver front end.</summary>
    Clp,

    /// <summary>Gurobi (barrier), when the user's library and licence are present.</summary>
    Gurobi,

    /// <summary>
    /// Reparo's own interior-point method (<see cref="BlockIpm"/>), whose normal equations follow the block structure it
    /// finds in the program (the default); falls back to HiGHS when it finds no affordable structure or runs into numerical trouble.
    /// </summary>
    BlockIpm,
}

/// <summary>How an LP solve ended.</summary>
public enum LpStatus
{
    /// <summary>Solved to optimality (within the solver's tolerances).</summary>
    Optimal,

    /// <summary>The constraints cannot all hold.</summary>
    Infeasible,

    /// <summary>The objective is unbounded below.</summary>
    Unbounded,

    /// <summary>The time limit ran out before optimality.</summary>
    TimeLimit,

    /// <summary>The solver stopped for numerical reasons or returned no usable solution.</summary>
    NumericalTrouble,

    /// <summary>
    /// Stopped before optimality because the caller asked to (constraint generation: a near-optimal iterate already
    /// violates rows still waiting); the values are that iterate, feasible within the solver's tolerance.
    /// </summary>
    StoppedEarly,
}

/// <summary>Solver settings. Named settings map to each solver's own options; <see cref="Extra"/> passes options through in the solver's syntax.</summary>
public sealed record LpSolverOptions
{
    /// <summary>Which solver.</summary>
    public LpSolverKind Solver { get; init; } = LpSolverKind.BlockIpm;

    /// <summary>Wall-clock limit in seconds (null: none).</summary>
    public double? TimeLimitSeconds { get; init; }

    /// <summary>Solver threads (null: the solver's default).</summary>
    public int? Threads { get; init; }

    /// <summary>Primal and dual feasibility tolerance (null: the solver's default).</summary>
    public double? FeasibilityTolerance { get; init; }

    /// <summary>Optimality tolerance, e.g. HiGHS's <c>ipm_optimality_tolerance</c> (null: the solver's default).</summary>
    public double? OptimalityTolerance { get; init; }

    /// <summary>
    /// Further options by name, passed to the solver in its own syntax (HiGHS <c>name = value</c>; GLOP and PDLP
    /// protocol-buffer text <c>name: value</c>; CLP and Gurobi their parameter strings). A name the solver does not know is an error.
    /// </summary>
    public IReadOnlyDictionary<string, string> Extra { get; init; } = new Dictionary<string, string>();

    /// <summary>Parses a solver name as given on the command line.</summary>
    public static LpSolverKind ParseSolver(string name) => name.Trim().ToLowerInvariant() switch
    {
        "highs" => LpSolverKind.Highs,
        "glop" => LpSolverKind.Glop,
        "pdlp" => LpSolverKind.Pdlp,
        "clp" => LpSolverKind.Clp,
        "gurobi" => LpSolverKind.Gurobi,
        "block-ipm" => LpSolverKind.BlockIpm,
        _ => throw new ReparoInputException($"unknown solver '{name}'; choose highs, glop, pdlp, clp, gurobi or block-ipm"),
    };

    /// <summary>A solver's name as the command line spells it (<c>highs</c>, <c>block-ipm</c>).</summary>
    public static string Name(LpSolverKind kind) => kind == LpSolverKind.BlockIpm ? "block-ipm" : kind.ToString().ToLowerInvariant();
}

/// <summary>The result of an LP solve.</summary>
/// <param name="Status">How it ended.</param>
/// <param name="Detail">The solver's own status text.</param>
/// <param name="Values">Variable values (null unless a solution exists).</param>
/// <param name="Objective">Objective value (NaN without a solution).</param>
/// <param name="Seconds">Wall time of the solve, including loading the model into the solver.</param>
/// <param name="Solver">Solver name and version as reported.</param>
public sealed record LpSolution(LpStatus Status, string Detail, double[]? Values, double Objective, double Seconds, string Solver)
{
    /// <summary>Interior-point iterations of block-ipm (null when another solver produced the solution).</summary>
    public int? Iterations { get; init; }

    /// <summary>Whether block-ipm started from an earlier solve's iterate (constraint generation).</summary>
    public bool WarmStarted { get; init; }

    /// <summary>Where block-ipm's time went (null when another solver produced the solution).</summary>
    public BlockIpmTiming? Phases { get; init; }

    /// <summary>The shape of block-ipm's normal equations (null when another solver produced the solution).</summary>
    internal BlockShape? Shape { get; init; }
}

/// <summary>The linking rows of block-ipm's normal equations in a solve and its estimated multiply–adds per factorisation.</summary>
internal sealed record BlockShape(int LinkingRows, double MultiplyAdds)
{
    /// <summary>
    /// Whether, with <paramref name="moreRows"/> more linking rows, the dense Cholesky factorisation of the Schur complement
    /// (<see cref="BlockStructure.SchurMultiplyAdds"/>) would cost more than the rest of one factorisation.
    /// </summary>
    public bool SchurWouldDominate(int moreRows) =>
        BlockStructure.SchurMultiplyAdds(LinkingRows + moreRows) > MultiplyAdds - BlockStructure.SchurMultiplyAdds(LinkingRows);
}

/// <summary>Solves a <see cref="LinearProgram"/> with one of the OR-Tools solvers.</summary>
public static class LpSolver
{
    /// <summary>
    /// Tries <paramref name="options"/> on a one-variable program, so that an invalid option or an unavailable solver is
    /// a <see cref="ReparoInputException"/> before any long work rather than after it.
    /// </summary>
    public static void CheckOptions(LpSolverOptions options)
    {
        var probe = new LinearProgram();
        int x = probe.AddColumn(0, 1, 1);
        probe.AddRow(0, 1, [x], [1]);
        Solve(probe, options);
    }

    /// <summary>Solves <paramref name="lp"/>. Invalid solver options and an unavailable solver are <see cref="ReparoInputException"/>s.</summary>
    public static LpSolution Solve(LinearProgram lp, LpSolverOptions options) => Solve(lp, options, null);

    /// <inheritdoc cref="Solve(LinearProgram, LpSolverOptions)"/>
    /// <param name="lp">The program.</param>
    /// <param name="options">Solver settings.</param>
    /// <param name="whenDeclined">
    /// Called when block-ipm declines <paramref name="lp"/> for want of an affordable structure, before HiGHS solves it
    /// instead: it may add to the program (constraint generation brings in every row still waiting, so that HiGHS solves
    /// once). Not called for a program declined because it is mostly linking rows (<see cref="BlockIpmOptions.MaxLinkingShare"/>).
    /// </param>
    /// <param name="stopEarly">
    /// block-ipm only: asked once with the program's variables at the first feasible iterate close to optimal
    /// (<see cref="BlockIpm.EarlyGap"/>); true stops the solve there with <see cref="LpStatus.StoppedEarly"/>.
    /// </param>
    /// <param name="start">block-ipm only: start from this iterate of an earlier solve of the program's first rows and columns.</param>
    /// <param name="keep">block-ipm only: offered an iterate to start the next, grown program from.</param>
    internal static LpSolution Solve(LinearProgram lp, LpSolverOptions options, Action? whenDeclined, Func<double[], bool>? stopEarly = null, IpmStart? start = null, Action<IpmStart>? keep = null)
    {
        if (options.Threads is < 1) throw new ReparoInputException($"solver threads must be positive, got {options.Threads}");
        if (options.TimeLimitSeconds is <= 0) throw new ReparoInputException($"time limit must be positive, got {options.TimeLimitSeconds}");
        if (options.FeasibilityTolerance is <= 0 || options.OptimalityTolerance is <= 0) throw new ReparoInputException("tolerances must be positive");
        var clock = Stopwatch.StartNew();
        // HiGHS, GLOP, PDLP, CLP and Gurobi report nothing while they run: an indeterminate task with its elapsed time.
        using ProgressScope shown = WorkProgress.Begin($"LP {LpSolverOptions.Name(options.Solver)} {lp.RowCount}×{lp.ColumnCount}");
        LpSolution solution = options.Solver switch
        {
            LpSolverKind.Clp => SolveWithLinearSolver(lp, options),
            LpSolverKind.BlockIpm => SolveWithBlockIpm(lp, options, clock, whenDeclined, stopEarly, start, keep),
            _ => SolveWithModelBuilder(lp, options),
        };
        return solution with { Seconds = clock.Elapsed.TotalSeconds };
    }

    /// <summary>The settings <see cref="BlockIpm"/> runs with under <paramref name="options"/> (threads default to every processor).</summary>
    internal static BlockIpmOptions BlockIpmSettings(LpSolverOptions options)
    {
        var settings = new BlockIpmOptions(options.Threads ?? Environment.ProcessorCount, options.TimeLimitSeconds);
        if (options.FeasibilityTolerance is double feasibility) settings = settings with { FeasibilityTolerance = feasibility };
        if (options.OptimalityTolerance is double optimality) settings = settings with { OptimalityTolerance = optimality };
        foreach ((string key, string value) in options.Extra)
        {
            settings = key switch
            {
                "max_iterations" when int.TryParse(value, CultureInfo.InvariantCulture, out int iterations) && iterations > 0 => settings with { MaxIterations = iterations },
                "max_iterations" => throw new ReparoInputException($"block-ipm option max_iterations must be a positive integer, got '{value}'"),
                "max_multiply_adds" when double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double work) && work > 0 && double.IsFinite(work) => settings with { MaxMultiplyAdds = work },
                "max_multiply_adds" => throw new ReparoInputException($"block-ipm option max_multiply_adds must be a positive number, got '{value}'"),
                "max_correctors" when int.TryParse(value, CultureInfo.InvariantCulture, out int correctors) && correctors >= 0 => settings with { MaxCorrectors = correctors },
                "max_correctors" => throw new ReparoInputException($"block-ipm option max_correctors must be a non-negative integer, got '{value}'"),
                "warm_start" when value is "on" or "off" => settings with { WarmStart = value == "on" },
                "warm_start" => throw new ReparoInputException($"block-ipm option warm_start must be on or off, got '{value}'"),
                "hub_rows" when value is "on" or "off" => settings with { HubRows = value == "on" },
                "hub_rows" => throw new ReparoInputException($"block-ipm option hub_rows must be on or off, got '{value}'"),
                "max_linking_share" when double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double share) && share > 0 && share <= 1 => settings with { MaxLinkingShare = share },
                "max_linking_share" => throw new ReparoInputException($"block-ipm option max_linking_share must be a number in (0, 1], got '{value}'"),
                _ => throw new ReparoInputException($"block-ipm has no option '{key}' (it knows hub_rows, max_correctors, max_iterations, max_linking_share, max_multiply_adds and warm_start)"),
            };
        }
        return settings;
    }

    /// <summary>
    /// Runs <see cref="BlockIpm"/>; when it reports numerical trouble (which includes finding no affordable structure
    /// and the iteration limit) HiGHS solves the program in the time left, and the result says so in its solver name
    /// and detail; a program declined for want of a structure is first handed to <paramref name="whenDeclined"/>.
    /// </summary>
    private static LpSolution SolveWithBlockIpm(LinearProgram lp, LpSolverOptions options, Stopwatch clock, Action? whenDeclined, Func<double[], bool>? stopEarly, IpmStart? start, Action<IpmStart>? keep)
    {
        BlockIpmOptions settings = BlockIpmSettings(options);
        IpmStart? offered = null;
        BlockIpmResult result = BlockIpm.Solve(lp, settings, stopEarly, start, s => offered = s);
        string retried = "";
        if (result is { Status: LpStatus.NumericalTrouble, WarmStarted: true })
        {
            // A start that led nowhere: Mehrotra's point before HiGHS.
            retried = $"; from Mehrotra's point after the warm start failed ({result.Detail})";
            offered = null;
            result = BlockIpm.Solve(lp, settings with { TimeLimitSeconds = settings.TimeLimitSeconds - clock.Elapsed.TotalSeconds }, stopEarly, null, s => offered = s);
        }
        if (offered is not null && result.Status != LpStatus.NumericalTrouble) keep?.Invoke(offered);
        string name = LpSolverOptions.Name(LpSolverKind.BlockIpm);
        if (result.Status != LpStatus.NumericalTrouble)
            return new LpSolution(result.Status, $"{result.Detail}; {result.Structure}{retried}", result.Values, result.Objective, 0, name) { Iterations = result.Iterations, WarmStarted = result.WarmStarted, Phases = result.Timing, Shape = result.Shape };
        // A program declined for its many linking rows is small (else no structure would be affordable): HiGHS solves it
        // as it stands, and constraint generation goes on, its rounds cheap.
        if (result.Declined && !result.MostlyLinking) whenDeclined?.Invoke();
        double? remaining = options.TimeLimitSeconds is double limit ? Math.Max(limit - clock.Elapsed.TotalSeconds, 1) : null;
        LpSolution fallback = SolveWithModelBuilder(lp, options with { Solver = LpSolverKind.Highs, TimeLimitSeconds = remaining, Extra = new Dictionary<string, string>() });
        return fallback with { Detail = $"{name} fell back to highs ({result.Detail}{retried}); highs: {fallback.Detail}", Solver = $"highs (after {name})" };
    }

    private static LpSolution SolveWithModelBuilder(LinearProgram lp, LpSolverOptions options)
    {
        string name = LpSolverOptions.Name(options.Solver);
        using var model = new ModelBuilderHelper();
        for (int j = 0; j < lp.ColumnCount; j++)
        {
            int v = model.AddVar();
            (double lo, double hi) = lp.ColumnBounds(j);
            model.SetVarLowerBound(v, lo);
            model.SetVarUpperBound(v, hi);
            if (lp.Cost(j) != 0) model.SetVarObjectiveCoefficient(v, lp.Cost(j));
        }
        ReadOnlySpan<int> starts = lp.RowStarts, cols = lp.EntryColumns;
        ReadOnlySpan<double> values = lp.EntryValues;
        for (int i = 0; i < lp.RowCount; i++)
        {
            int c = model.AddLinearConstraint();
            (double lo, double hi) = lp.RowBounds(i);
            model.SetConstraintLowerBound(c, lo);
            model.SetConstraintUpperBound(c, hi);
            for (int e = starts[i]; e < starts[i + 1]; e++) model.AddConstraintTerm(c, cols[e], values[e]);
        }
        model.SetObjectiveOffset(lp.ObjectiveOffset);
        using var solver = new ModelSolverHelper(name);
        if (!solver.SolverIsSupported())
            throw new ReparoInputException(options.Solver == LpSolverKind.Gurobi
                ? "solver 'gurobi' is not available: OR-Tools found no Gurobi library (set GUROBI_HOME to your installation)"
                : $"solver '{name}' is not available in this OR-Tools build");
        if (options.TimeLimitSeconds is double limit) solver.SetTimeLimitInSeconds(limit);
        string parameters = SolverParameters(options);
        if (parameters.Length > 0) solver.SetSolverSpecificParameters(parameters);
        solver.Solve(model);
        SolveStatus status = solver.Status();
        if (status == SolveStatus.INVALID_SOLVER_PARAMETERS)
            throw new ReparoInputException($"{name} rejected the solver options ({OneLine(solver.StatusString())}); check the option names");
        if (status is SolveStatus.SOLVER_TYPE_UNAVAILABLE or SolveStatus.INCOMPATIBLE_OPTIONS)
            throw new ReparoInputException($"{name}: {status} {OneLine(solver.StatusString())}");
        LpStatus mapped = status switch
        {
            SolveStatus.OPTIMAL => LpStatus.Optimal,
            SolveStatus.INFEASIBLE => LpStatus.Infeasible,
            SolveStatus.UNBOUNDED => LpStatus.Unbounded,
            _ when options.TimeLimitSeconds is double t && solver.WallTime() >= 0.98 * t => LpStatus.TimeLimit,
            _ => LpStatus.NumericalTrouble,
        };
        double[]? x = null;
        if (mapped == LpStatus.Optimal && solver.HasSolution())
        {
            x = new double[lp.ColumnCount];
            for (int j = 0; j < x.Length; j++) x[j] = solver.VariableValue(j);
        }
        else if (mapped == LpStatus.Optimal)
        {
            mapped = LpStatus.NumericalTrouble;
        }
        return new LpSolution(mapped, $"{status} {OneLine(solver.StatusString())}".Trim(), x, x is null ? double.NaN : solver.ObjectiveValue(), 0, name);
    }

    private static string SolverParameters(LpSolverOptions o)
    {
        var lines = new List<string>();
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        switch (o.Solver)
        {
            case LpSolverKind.Highs:
                // Interior point without crossover; quiet (HiGHS would otherwise print its banner on stdout).
                lines.Add("output_flag = false");
                var highs = new Dictionary<string, string> { ["solver"] = "ipm", ["run_crossover"] = "off" };
                if (o.Threads is int threads) highs["threads"] = threads.ToString(CultureInfo.InvariantCulture);
                if (o.FeasibilityTolerance is double feas) highs["primal_feasibility_tolerance"] = highs["dual_feasibility_tolerance"] = F(feas);
                if (o.OptimalityTolerance is double opt) highs["ipm_optimality_tolerance"] = F(opt);
                foreach ((string key, string value) in o.Extra) highs[key] = value;
                lines.AddRange(highs.Select(kv => $"{kv.Key} = {kv.Value}"));
                break;
            case LpSolverKind.Glop:
                if (o.FeasibilityTolerance is double gf) lines.Add($"primal_feasibility_tolerance: {F(gf)} dual_feasibility_tolerance: {F(gf)}");
                lines.AddRange(o.Extra.Select(kv => $"{kv.Key}: {kv.Value}"));
                break;
            case LpSolverKind.Pdlp:
                if (o.Threads is int pt) lines.Add($"num_threads: {pt}");
                if (o.OptimalityTolerance is double po)
                    lines.Add($"termination_criteria {{ simple_optimality_criteria {{ eps_optimal_absolute: {F(po)} eps_optimal_relative: {F(po)} }} }}");
                lines.AddRange(o.Extra.Select(kv => $"{kv.Key}: {kv.Value}"));
                break;
            case LpSolverKind.Gurobi:
                lines.Add("Method 2");
                lines.Add("Crossover 0");
                if (o.Threads is int gt) lines.Add($"Threads {gt}");
                if (o.FeasibilityTolerance is double gfeas) lines.Add($"FeasibilityTol {F(gfeas)}");
                if (o.OptimalityTolerance is double gopt) lines.Add($"BarConvTol {F(gopt)}");
                lines.AddRange(o.Extra.Select(kv => $"{kv.Key} {kv.Value}"));
                break;
        }
        return string.Join("\n", lines);
    }

    private static LpSolution SolveWithLinearSolver(LinearProgram lp, LpSolverOptions options)
    {
        MpSolver solver = MpSolver.CreateSolver("CLP") ?? throw new ReparoInputException("solver 'clp' is not available in this OR-Tools build");
        try
        {
            var vars = new Google.OrTools.LinearSolver.Variable[lp.ColumnCount];
            Google.OrTools.LinearSolver.Objective objective = solver.Objective();
            for (int j = 0; j < vars.Length; j++)
            {
                (double lo, double hi) = lp.ColumnBounds(j);
                vars[j] = solver.MakeNumVar(lo, hi, "");
                if (lp.Cost(j) != 0) objective.SetCoefficient(vars[j], lp.Cost(j));
            }
            objective.SetOffset(lp.ObjectiveOffset);
            objective.SetMinimization();
            for (int i = 0; i < lp.RowCount; i++)
            {
                (double lo, double hi) = lp.RowBounds(i);
                Google.OrTools.LinearSolver.Constraint row = solver.MakeConstraint(lo, hi, "");
                foreach ((int col, double value) in lp.Row(i)) row.SetCoefficient(vars[col], value);
            }
            if (options.TimeLimitSeconds is double limit) solver.SetTimeLimit((long)Math.Ceiling(limit * 1000));
            if (options.Threads is int threads) solver.SetNumThreads(threads); // CLP is single-threaded; the setting is advisory.
            string extra = string.Join(" ", options.Extra.Select(kv => $"-{kv.Key} {kv.Value}"));
            if (extra.Length > 0 && !solver.SetSolverSpecificParametersAsString(extra))
                throw new ReparoInputException($"clp rejected the solver options '{extra}'; check the option names");
            using var parameters = new Google.OrTools.LinearSolver.MPSolverParameters();
            if (options.FeasibilityTolerance is double feas)
            {
                parameters.SetDoubleParam(Google.OrTools.LinearSolver.MPSolverParameters.DoubleParam.PRIMAL_TOLERANCE, feas);
                parameters.SetDoubleParam(Google.OrTools.LinearSolver.MPSolverParameters.DoubleParam.DUAL_TOLERANCE, feas);
            }
            MpSolver.ResultStatus status = solver.Solve(parameters);
            LpStatus mapped = status switch
            {
                MpSolver.ResultStatus.OPTIMAL => LpStatus.Optimal,
                MpSolver.ResultStatus.INFEASIBLE => LpStatus.Infeasible,
                MpSolver.ResultStatus.UNBOUNDED => LpStatus.Unbounded,
                MpSolver.ResultStatus.NOT_SOLVED or MpSolver.ResultStatus.FEASIBLE when options.TimeLimitSeconds is not null => LpStatus.TimeLimit,
                _ => LpStatus.NumericalTrouble,
            };
            double[]? x = mapped == LpStatus.Optimal ? vars.Select(v => v.SolutionValue()).ToArray() : null;
            return new LpSolution(mapped, status.ToString(), x, x is null ? double.NaN : objective.Value(), 0, "clp");
        }
        finally
        {
            solver.Dispose();
        }
    }

    private static string OneLine(string text) => string.Join(" ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
