using Reparo.Localisation;
using Reparo.Repair;

namespace Reparo.Reporting;

/// <summary>Seconds per phase, as written to JSON.</summary>
/// <param name="Encode">Encoding.</param>
/// <param name="Solve">Solving or training.</param>
/// <param name="Verify">Independent check.</param>
/// <param name="Total">The method from start to end (encoding, solving and verifying included).</param>
/// <param name="Prepare">Building the repair problem before the method ran (corrupting the test split and finding the repair inputs, for example); prepare + total is the repair end to end.</param>
public sealed record RepairTimes(double Encode, double Solve, double Verify, double Total, double Prepare);

/// <summary>LP size as written to JSON.</summary>
/// <param name="Rows">Rows.</param>
/// <param name="Cols">Columns.</param>
/// <param name="Nonzeros">Nonzeros.</param>
public sealed record LpSizeReport(int Rows, int Cols, long Nonzeros);

/// <summary>Everything a repair run reports (the JSON of <c>reparo repair</c> and one row of the experiments).</summary>
public sealed partial record RepairReport
{
    /// <summary>Method name.</summary>
    public required string Method { get; init; }

    /// <summary>Edited layer.</summary>
    public required string Layer { get; init; }

    /// <summary>What an LP repair minimised (<c>param</c> or <c>aprnn</c>); null for other methods.</summary>
    public string? Objective { get; init; }

    /// <summary>Clean training inputs held in the LP for locality (<c>--preserve N</c>), 0 when none.</summary>
    public int Preserved { get; init; }

    /// <summary>How many of the preserved inputs the repaired model still classifies correctly; null when none were given or no model resulted.</summary>
    public int? PreservedKept { get; init; }

    /// <summary>Preserved inputs the default asked for when the LP was infeasible with all of them held and fewer were (<see cref="Preserved"/>); null otherwise.</summary>
    public int? PreservedRequested { get; init; }

    /// <summary>The weight of the preserved inputs' penalised change (<c>--preserve-as penalised-layer|penalised</c>); null when they were held by hard constraints or none were given.</summary>
    public double? PreservedPenalty { get; init; }

    /// <summary>Where the penalised change was measured: <c>logits</c> (<c>--preserve-as penalised</c>) or <c>layer_output</c> (<c>penalised-layer</c>); null with hard constraints or none given.</summary>
    public PreservedChange? PreservedPenaltyOn { get; init; }

    /// <summary>Repair-set specification.</summary>
    public required string RepairSet { get; init; }

    /// <summary>Number of regions (points or polytopes).</summary>
    public int Regions { get; init; }

    /// <summary>Number of vertices.</summary>
    public int Vertices { get; init; }

    /// <summary>Verified share of the repair set.</summary>
    public double Efficacy { get; init; }

    /// <summary>Every region passed the independent check.</summary>
    public bool Verified { get; init; }

    /// <summary>Clean held-out accuracy before − after.</summary>
    public double Drawdown { get; init; }

    /// <summary>Accuracy gain on held-out inputs like the failures.</summary>
    public double Generalization { get; init; }

    /// <summary>Largest absolute parameter change.</summary>
    public double ParamDeltaLinf { get; init; }

    /// <summary>Sum of absolute parameter changes.</summary>
    public double ParamDeltaL1 { get; init; }

    /// <summary>Share of clean held-out predictions that changed.</summary>
    public double ChangedPredictions { get; init; }

    /// <summary>Seconds per phase.</summary>
    public required RepairTimes TimeS { get; init; }

    /// <summary>LP size (LP methods).</summary>
    public LpSizeReport? Lp { get; init; }

    /// <summary>Each solve of the main LP: its rows, seconds and solver (LP methods; several under constraint generation).</summary>
    public IReadOnlyList<Reparo.Repair.Provable.LpSolve>? LpSolves { get; init; }

    /// <summary>Solver (LP methods).</summary>
    public string? Solver { get; init; }

    /// <summary><c>repaired</c>, <c>not_verified</c>, <c>infeasible</c>, <c>time_limit</c> or <c>numerical_trouble</c>.</summary>
    public required string Status { get; init; }

    /// <summary>One line on the outcome.</summary>
    public required string Message { get; init; }

    /// <summary>What the repaired model is (plain network, decoupled network, lookup table).</summary>
    public string? ModelKind { get; init; }

    /// <summary>Whether the result is a plain network of the original architecture.</summary>
    public bool PlainNetwork { get; init; }

    /// <summary>Final LP margin.</summary>
    public double? Epsilon { get; init; }

    /// <summary>Smallest verified margin in float32.</summary>
    public double? MinMarginFloat32 { get; init; }

    /// <summary>Smallest verified margin in float64.</summary>
    public double? MinMarginFloat64 { get; init; }

    /// <summary>The verifier's float32 guard band: margins, pre-activation signs and max-pool leads counted only beyond it.</summary>
    public double? GuardBandFloat32 { get; init; }

    /// <summary>The verifier's float64 guard band.</summary>
    public double? GuardBandFloat64 { get; init; }

    /// <summary>Held-out accuracies behind drawdown and generalisation.</summary>
    public required RepairMetrics Metrics { get; init; }

    /// <summary>How the layer was chosen when it was left to <c>--layer auto</c> (null otherwise).</summary>
    public LayerChoice? LayerChoice { get; init; }

    /// <summary>Solver status text and other notes.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>For a repaired model written as ONNX: whether ONNX Runtime, running the written file, classifies every repair point or vertex correctly; null when no ONNX file was written.</summary>
    [System.Text.Json.Serialization.JsonPropertyName("verified_onnxruntime")]
    public bool? VerifiedOnnxRuntime { get; init; }

    /// <summary>The smallest margin ONNX Runtime gives over the repair points or vertices of the written ONNX file.</summary>
    [System.Text.Json.Serialization.JsonPropertyName("onnxruntime_min_margin")]
    public double? OnnxRuntimeMinMargin { get; init; }

    /// <summary>Confusion matrices, parameter change per layer and the repair set before and after, for <see cref="ToDocument"/>; not part of the JSON.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public RepairEvidence? Evidence { get; init; }

    /// <summary>Measures <paramref name="result"/> and assembles the report.</summary>
    public static RepairReport Create(RepairProblem problem, RepairResult result)
    {
        RepairMetrics metrics = RepairMetrics.Compute(problem, result);
        var notes = new List<string>(result.Notes);
        if (result.SolverStatus is not null) notes.Add($"solver status: {result.SolverStatus}");
        return new RepairReport
        {
            Method = result.Method,
            Layer = result.Layer,
            Objective = result.Objective,
            Preserved = result.Preserved?.Count ?? 0,
            PreservedKept = result.Preserved?.Kept,
            PreservedRequested = result.Preserved?.Requested,
            PreservedPenalty = result.Preserved?.Penalty,
            PreservedPenaltyOn = result.Preserved?.PenaltyOn,
            RepairSet = problem.RepairSet.Description,
            Regions = problem.RepairSet.Regions.Count,
            Vertices = problem.RepairSet.VertexCount,
            Efficacy = metrics.Efficacy,
            Verified = metrics.Verified,
            Drawdown = metrics.Drawdown,
            Generalization = metrics.Generalization,
            ParamDeltaLinf = metrics.ParamDeltaLinf,
            ParamDeltaL1 = metrics.ParamDeltaL1,
            ChangedPredictions = metrics.ChangedPredictions,
            TimeS = new RepairTimes(result.Time.Encode, result.Time.Solve, result.Time.Verify, result.Time.Total, problem.BuildSeconds),
            Lp = result.LpSize is { } s ? new LpSizeReport(s.Rows, s.Cols, s.Nonzeros) : null,
            LpSolves = result.LpSolves,
            Solver = result.Solver,
            Status = StatusName(result.Status),
            Message = result.Message,
            ModelKind = result.Model?.Kind,
            PlainNetwork = result.Model?.PlainNetwork is not null,
            Epsilon = result.Epsilon,
            MinMarginFloat32 = result.Verification?.MinMarginFloat32,
            MinMarginFloat64 = result.Verification?.MinMarginFloat64,
            GuardBandFloat32 = result.Verification?.GuardBandFloat32,
            GuardBandFloat64 = result.Verification?.GuardBandFloat64,
            Metrics = metrics,
            Notes = notes,
        };
    }

    /// <summary>The snake-case name of a status.</summary>
    public static string StatusName(RepairStatus status) => status switch
    {
        RepairStatus.Repaired => "repaired",
        RepairStatus.NotVerified => "not_verified",
        RepairStatus.Infeasible => "infeasible",
        RepairStatus.TimeLimit => "time_limit",
        RepairStatus.TooLarge => "too_large",
        _ => "numerical_trouble",
    };
}
