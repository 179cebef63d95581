namespace Reparo.Repair;

/// <summary>How a repair attempt ended.</summary>
public enum RepairStatus
{
    /// <summary>A repaired model was produced and the independent verifier accepted every region.</summary>
    Repaired,

    /// <summary>A model was produced but the verifier rejected at least one region.</summary>
    NotVerified,

    /// <summary>No parameter change within the bounds satisfies the specification (the LP is infeasible).</summary>
    Infeasible,

    /// <summary>The time or step budget ran out.</summary>
    TimeLimit,

    /// <summary>The solver stopped for numerical reasons.</summary>
    NumericalTrouble,

    /// <summary>The program was predicted larger than the caller's cap and not attempted.</summary>
    TooLarge,
}

/// <summary>Wall-clock seconds per phase.</summary>
/// <param name="Encode">Building the problem (LP encoding, pattern computation, data preparation).</param>
/// <param name="Solve">Solving (LP solver, or gradient steps for fine-tuning).</param>
/// <param name="Verify">The independent re-check.</param>
/// <param name="Total">Everything, end to end.</param>
public sealed record RepairTiming(double Encode, double Solve, double Verify, double Total);

/// <summary>Preserved inputs given to a repair and how many of them the repaired model still classifies correctly (float32).</summary>
/// <param name="Count">Inputs held in the repair.</param>
/// <param name="Kept">Inputs still classified as their class; null when no model resulted.</param>
/// <param name="Requested">Inputs the default asked for when fewer were held because the LP was infeasible with all of them (null: as many as asked for).</param>
/// <param name="Penalty">The weight of their penalised change (<see cref="PreserveRequest.Penalty"/>); null: held by hard constraints.</param>
/// <param name="PenaltyOn">Where the penalised change was measured (<see cref="PreserveRequest.PenaltyOn"/>; null: hard constraints).</param>
public sealed record PreservedOutcome(int Count, int? Kept, int? Requested = null, double? Penalty = null, PreservedChange? PenaltyOn = null)
{
    /// <summary>How they were held, for notes and reports: <c>hard constraints</c>, <c>a penalised output change, weight 0.1</c> or <c>a penalised change of the repaired layer's outputs, weight 10</c>.</summary>
    public string Form => Describe(Penalty, PenaltyOn);

    /// <summary>See <see cref="Form"/>.</summary>
    public static string Describe(double? penalty, PreservedChange? on) => penalty is double w
        ? FormattableString.Invariant($"a penalised {(on == PreservedChange.LayerOutput ? "change of the repaired layer's outputs" : "output change")}, weight {w:G3}")
        : "hard constraints";
}

/// <summary>
/// What a repair method hands back: the repaired model (absent when the repair failed), the verifier's record and
/// how the attempt went. Metrics on held-out data are computed separately.
/// </summary>
public sealed record RepairResult
{
    /// <summary>Method name as on the command line (<c>provable</c>, <c>prdnn</c>, <c>lastlayer</c>, <c>ft</c>, <c>mft</c>, <c>lookup</c>).</summary>
    public required string Method { get; init; }

    /// <summary>The layer that was edited (name), or <c>all</c>.</summary>
    public required string Layer { get; init; }

    /// <summary>How it ended.</summary>
    public required RepairStatus Status { get; init; }

    /// <summary>One line explaining the status.</summary>
    public required string Message { get; init; }

    /// <summary>The repaired model, or null when none was produced.</summary>
    public IRepairedModel? Model { get; init; }

    /// <summary>The independent check of <see cref="Model"/> on the repair set (null when no model was produced).</summary>
    public VerificationReport? Verification { get; init; }

    /// <summary>Time per phase.</summary>
    public required RepairTiming Time { get; init; }

    /// <summary>Size of the final LP (LP methods only).</summary>
    public Provable.LpSize? LpSize { get; init; }

    /// <summary>Each solve of the main LP, in order (LP methods only).</summary>
    public IReadOnlyList<Provable.LpSolve>? LpSolves { get; init; }

    /// <summary>Solver used (LP methods only).</summary>
    public string? Solver { get; init; }

    /// <summary>Solver's own status text of the final solve (LP methods only).</summary>
    public string? SolverStatus { get; init; }

    /// <summary>Margin ε of the final attempt (LP methods only).</summary>
    public double? Epsilon { get; init; }

    /// <summary>Further facts worth reporting (retries, rounds of constraint generation, steps taken, …).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>What an LP repair minimised (<c>param</c>, <c>aprnn</c>); null for other methods.</summary>
    public string? Objective { get; init; }

    /// <summary>How many preserved inputs the repair was given and how many it kept; null when none were given.</summary>
    public PreservedOutcome? Preserved { get; init; }

    /// <summary>True when a model exists and the verifier accepted every region.</summary>
    public bool Verified => Status == RepairStatus.Repaired && Verification is { Verified: true };
}

/// <summary>A repair method: takes a problem, returns a result; the input network is never modified.</summary>
public interface IRepairMethod
{
    /// <summary>Name as on the command line.</summary>
    string Name { get; }

    /// <summary>Repairs <paramref name="problem"/>'s network on its repair set.</summary>
    RepairResult Repair(RepairProblem problem);
}
