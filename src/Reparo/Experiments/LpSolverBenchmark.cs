using System.Diagnostics;
using Reparo.Repair.Provable;
using Reparo.Runtime;

namespace Reparo.Experiments;

/// <summary>One solver's run in an <see cref="LpSolverBenchmark"/>.</summary>
/// <param name="Solver">Solver name.</param>
/// <param name="Status">How the solve ended.</param>
/// <param name="Seconds">Wall time of the solve (loading the program into the solver included).</param>
/// <param name="Objective">Objective value (NaN without a solution).</param>
/// <param name="MaxViolation">Largest row or column bound violation of the solution (NaN without one).</param>
/// <param name="ObjectiveDifference">|objective − the first solver's| / (1 + |the first solver's|) (NaN if either has none).</param>
/// <param name="Iterations">Interior-point iterations (block-ipm only).</param>
/// <param name="Phases">Where block-ipm's time went.</param>
/// <param name="Structure">The block structure block-ipm used, in words.</param>
/// <param name="Detail">The solver's status text.</param>
public sealed record LpSolverRun(string Solver, LpStatus Status, double Seconds, double Objective, double MaxViolation, double ObjectiveDifference,
    int? Iterations, BlockIpmTiming? Phases, string? Structure, string Detail);

/// <summary>The runs of every solver on one program.</summary>
/// <param name="Source">Where the program came from.</param>
/// <param name="Size">Rows, columns and nonzeros.</param>
/// <param name="Threads">Solver threads.</param>
/// <param name="Runs">One run per solver, in the order asked.</param>
/// <param name="LoadBefore">The machine's 1-minute load average when the first solve started.</param>
public sealed record LpSolverBenchmarkReport(string Source, LpSize Size, int Threads, IReadOnlyList<LpSolverRun> Runs, double LoadBefore = double.NaN);

/// <summary>
/// Times LP solvers side by side on the same program in one process (<c>reparo bench lp</c>). Block-ipm runs on its own,
/// without the HiGHS fallback that <see cref="LpSolver"/> adds, so that its own outcome shows.
/// </summary>
public static class LpSolverBenchmark
{
    /// <summary>
    /// Solves <paramref name="lp"/> with each of <paramref name="solvers"/> under <paramref name="settings"/> (its solver
    /// kind and <see cref="LpSolverOptions.Extra"/> are ignored); <paramref name="solverOptions"/> gives a solver its own
    /// further options (in its own names), and its run's name then lists them.
    /// </summary>
    public static LpSolverBenchmarkReport Run(LinearProgram lp, string source, IReadOnlyList<LpSolverKind> solvers, LpSolverOptions settings,
        IReadOnlyDictionary<LpSolverKind, IReadOnlyDictionary<string, string>>? solverOptions = null, IProgress<string>? progress = null)
    {
        foreach (LpSolverKind kind in solverOptions?.Keys ?? [])
            if (!solvers.Contains(kind)) throw new ReparoInputException($"options are given for {LpSolverOptions.Name(kind)}, which is not among the solvers");
        if (solvers.Count == 0) throw new ReparoInputException("name at least one solver");
        // Each solver's own options are tried first, so that a bad one fails at once rather than after the solvers before it have run.
        foreach ((LpSolverKind kind, IReadOnlyDictionary<string, string> own) in solverOptions ?? new Dictionary<LpSolverKind, IReadOnlyDictionary<string, string>>())
            LpSolver.CheckOptions(settings with { Solver = kind, Extra = own });
        var runs = new List<LpSolverRun>();
        double load = MachineLoad.OneMinute();
        using ProgressScope shown = WorkProgress.Begin("LP solvers", solvers.Count);
        foreach (LpSolverKind kind in solvers)
        {
            IReadOnlyDictionary<string, string> own = solverOptions?.GetValueOrDefault(kind) ?? new Dictionary<string, string>();
            LpSolverOptions these = settings with { Solver = kind, Extra = own };
            string name = LpSolverOptions.Name(kind) + (own.Count == 0 ? "" : $" ({string.Join(", ", own.Select(o => $"{o.Key}={o.Value}"))})");
            shown.Describe(name);
            progress?.Report($"solving with {name} ...");
            LpSolverRun run;
            if (kind == LpSolverKind.BlockIpm)
            {
                var clock = Stopwatch.StartNew();
                BlockIpmResult result = BlockIpm.Solve(lp, LpSolver.BlockIpmSettings(these));
                double seconds = clock.Elapsed.TotalSeconds;
                run = Describe(lp, name, result.Status, seconds, result.Values, result.Objective, result.Iterations, result.Timing, result.Structure, result.Detail);
            }
            else
            {
                LpSolution solution = LpSolver.Solve(lp, these);
                run = Describe(lp, name, solution.Status, solution.Seconds, solution.Values, solution.Objective, null, null, null, solution.Detail);
            }
            runs.Add(run);
            shown.Advance();
        }
        double reference = runs[0].Objective;
        LpSolverRun[] compared = [.. runs.Select(r => r with { ObjectiveDifference = Math.Abs(r.Objective - reference) / (1 + Math.Abs(reference)) })];
        return new LpSolverBenchmarkReport(source, lp.Size, settings.Threads ?? Environment.ProcessorCount, compared, load);
    }

    /// <summary>The heading of <paramref name="report"/>'s section in a results file: the program's file name.</summary>
    public static string SectionHeading(LpSolverBenchmarkReport report) => $"## {Path.GetFileName(report.Source)}";

    /// <summary>
    /// One results-file section: the command, the machine's load, the program's size, one row per solver and the time
    /// ratio of the first solver to each other one (measured side by side in one process).
    /// </summary>
    public static string ToMarkdown(LpSolverBenchmarkReport report, string command, string jsonPath)
    {
        var text = new System.Text.StringBuilder();
        string Inv(FormattableString s) => s.ToString(System.Globalization.CultureInfo.InvariantCulture);
        text.AppendLine(SectionHeading(report));
        text.AppendLine();
        string idle = !double.IsFinite(report.LoadBefore) ? "load unknown"
            : report.LoadBefore < Environment.ProcessorCount * 0.5 + 0.5 ? Inv($"1-minute load {report.LoadBefore:F2} on {Environment.ProcessorCount} cores when it started: otherwise idle")
            : Inv($"1-minute load {report.LoadBefore:F2} on {Environment.ProcessorCount} cores when it started: other work was running");
        text.AppendLine(Inv($"Produced by `{command}` on {DateTime.UtcNow:yyyy-MM-dd} ({idle}); every figure below is in [{Path.GetFileName(jsonPath)}](data/{Path.GetFileName(jsonPath)}). The program: {report.Size.Rows:N0} rows × {report.Size.Cols:N0} columns, {report.Size.Nonzeros:N0} nonzeros; solver threads {report.Threads}."));
        text.AppendLine();
        text.AppendLine("| solver | status | seconds | objective | rel. difference to the first | max violation | iterations |");
        text.AppendLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (LpSolverRun r in report.Runs)
            text.AppendLine(Inv($"| {r.Solver} | {r.Status} | {r.Seconds:F2} | {r.Objective:G10} | {r.ObjectiveDifference:G2} | {r.MaxViolation:G2} | {r.Iterations?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "–"} |"));
        text.AppendLine();
        foreach (LpSolverRun r in report.Runs.Skip(1))
        {
            string phases = r.Phases is { } p ? Inv($" ({r.Solver}: set-up {p.Setup:F2} s, factorisations {p.Factor:F2} s, rest {p.Solve:F2} s)") : "";
            text.AppendLine(Ratio(report.Runs[0], r) is double ratio
                ? Inv($"- {report.Runs[0].Solver} time / {r.Solver} time: **{ratio:F2}×**{phases}.")
                : $"- no time ratio for {r.Solver}: it ended {r.Status} ({r.Detail}){(r.Structure is null ? "" : $"; structure: {r.Structure}")}.");
        }
        return text.ToString();
    }

    /// <summary>The first run's time over <paramref name="other"/>'s, only when both solved the program to optimality (a failed solve's time is no speed).</summary>
    public static double? Ratio(LpSolverRun first, LpSolverRun other) =>
        first.Status == LpStatus.Optimal && other.Status == LpStatus.Optimal && other.Seconds > 0 ? first.Seconds / other.Seconds : null;

    private static LpSolverRun Describe(LinearProgram lp, string name, LpStatus status, double seconds, double[]? values, double objective,
        int? iterations, BlockIpmTiming? phases, string? structure, string detail) =>
        new(name, status, seconds, objective, values is null ? double.NaN : lp.MaxViolation(values), double.NaN, iterations, phases, structure, detail);
}
