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
public sealed record LpSolverBenchmarkReport(string Source, LpSize Size, int Threads, IReadOnlyList<LpSolverRun> Runs);

/// <summary>
/// Times LP solvers side by side on the same program in one process (<c>reparo bench lp</c>). Block-ipm runs on its own,
/// without the HiGHS fallback that <see cref="LpSolver"/> adds, so that its own outcome shows.
/// </summary>
public static class LpSolverBenchmark
{
    /// <summary>Solves <paramref name="lp"/> with each of <paramref name="solvers"/> under <paramref name="settings"/> (its solver kind is ignored).</summary>
    public static LpSolverBenchmarkReport Run(LinearProgram lp, string source, IReadOnlyList<LpSolverKind> solvers, LpSolverOptions settings, IProgress<string>? progress = null)
    {
        if (solvers.Count == 0) throw new ReparoInputException("name at least one solver");
        var runs = new List<LpSolverRun>();
        using ProgressScope shown = WorkProgress.Begin("LP solvers", solvers.Count);
        foreach (LpSolverKind kind in solvers)
        {
            string name = LpSolverOptions.Name(kind);
            shown.Describe(name);
            progress?.Report($"solving with {name} ...");
            LpSolverRun run;
            if (kind == LpSolverKind.BlockIpm)
            {
                var clock = Stopwatch.StartNew();
                BlockIpmResult result = BlockIpm.Solve(lp, LpSolver.BlockIpmSettings(settings));
                double seconds = clock.Elapsed.TotalSeconds;
                run = Describe(lp, name, result.Status, seconds, result.Values, result.Objective, result.Iterations, result.Timing, result.Structure, result.Detail);
            }
            else
            {
                LpSolution solution = LpSolver.Solve(lp, settings with { Solver = kind });
                run = Describe(lp, name, solution.Status, solution.Seconds, solution.Values, solution.Objective, null, null, null, solution.Detail);
            }
            runs.Add(run);
            shown.Advance();
        }
        double reference = runs[0].Objective;
        LpSolverRun[] compared = [.. runs.Select(r => r with { ObjectiveDifference = Math.Abs(r.Objective - reference) / (1 + Math.Abs(reference)) })];
        return new LpSolverBenchmarkReport(source, lp.Size, settings.Threads ?? Environment.ProcessorCount, compared);
    }

    private static LpSolverRun Describe(LinearProgram lp, string name, LpStatus status, double seconds, double[]? values, double objective,
        int? iterations, BlockIpmTiming? phases, string? structure, string detail) =>
        new(name, status, seconds, objective, values is null ? double.NaN : lp.MaxViolation(values), double.NaN, iterations, phases, structure, detail);
}
