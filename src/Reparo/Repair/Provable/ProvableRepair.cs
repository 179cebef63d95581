using System.Diagnostics;
using Reparo.Io;
using Reparo.Models;
using Reparo.Models.Onnx;
using Reparo.Runtime;
using static TorchSharp.torch;

namespace Reparo.Repair.Provable;

/// <summary>Which LP-based repair to run.</summary>
public enum LpRepairVariant
{
    /// <summary>APRNN (Tao et al. PLDI'23): layer k's weights and the biases of k and later layers; patterns held by sign constraints; a plain network results.</summary>
    Aprnn,

    /// <summary>PRDNN (Sotoudeh and Thakur PLDI'21): only layer k changes, in the value channel of a decoupled network whose activation channel keeps the original weights; layers before k may be anything (ONNX blocks run as they are), layers from k on must be Linear, Conv2d, ReLU, MaxPool2d, Flatten or piecewise-linear ONNX blocks (leaky ReLUs and Clips take the activation channel's piece, as ReLUs do).</summary>
    Prdnn,

    /// <summary>Last-layer LP (Goldberger et al.; PRoViT's variant): only the last layer's rows of the classes in the repair set change.</summary>
    LastLayer,
}

/// <summary>What an LP repair minimises.</summary>
public enum LpObjective
{
    /// <summary>
    /// max|Δ| + mean|Δ| over the parameter changes Δ alone (Reparo's default; with <see cref="ProvableRepairOptions.LogitChangeWeight"/>,
    /// plus that weight times the same norms of the repair points' logit changes).
    /// </summary>
    Param,

    /// <summary>
    /// APRNN's Exp. 1 objective (<c>linf+l1_normalized</c> in its evaluation script): one L∞ norm plus the L1 norm divided
    /// by the vector's length, both over the concatenation of the repair points' output (logit) changes and the parameter changes.
    /// </summary>
    Aprnn,
}

/// <summary>Options of an LP repair; defaults follow APRNN.</summary>
public sealed record ProvableRepairOptions
{
    /// <summary>Which LP repair.</summary>
    public LpRepairVariant Variant { get; init; } = LpRepairVariant.Aprnn;

    /// <summary>The affine layer k, by name or index, or a module nested in an ONNX block (<c>block2.conv5</c>, or its ONNX node or initializer name); ignored by <see cref="LpRepairVariant.LastLayer"/>.</summary>
    public string Layer { get; init; } = "";

    /// <summary>Only these output rows (Linear) or channels (Conv2d) of layer k change, [start, end); null: all.</summary>
    public (int Start, int End)? Rows { get; init; }

    /// <summary>Margin ε of the correct logit over every other logit.</summary>
    public double Epsilon { get; init; } = 1e-3;

    /// <summary>Bound on every parameter change.</summary>
    public double Bound { get; init; } = 3;

    /// <summary>What the LP minimises.</summary>
    public LpObjective Objective { get; init; } = LpObjective.Param;

    /// <summary>Weight of the logit-change norms on the repair vertices in the <see cref="LpObjective.Param"/> objective (a drawdown proxy; 0: off).</summary>
    public double LogitChangeWeight { get; init; }

    /// <summary>
    /// Clean inputs the repair should keep (locality). Without a <see cref="PreserveRequest.Penalty"/>, each is held in
    /// the LP like a repair point by hard constraints: its activation pattern from layer k on and its class by the margin
    /// ε. With one, its change is penalised in the objective instead, at the logits (its pattern held) or at layer k's
    /// outputs (nothing held; <see cref="PreserveRequest.PenaltyOn"/>). Null: none.
    /// </summary>
    public PreserveRequest? Preserve { get; init; }

    /// <summary>
    /// Margin by which every ReLU pre-activation the LP controls keeps its required sign (and every max-pool choice its
    /// lead); a polytope slice is skipped only when its vertices already keep their pieces by this margin. The verifier
    /// certifies a polytope's pattern only beyond its float32 guard band (<see cref="RepairVerifier.GuardBandFloat32"/>),
    /// so the default is ten times that band: rounding the repaired weights to float32 then cannot move a pre-activation
    /// the LP left at the margin into the band.
    /// </summary>
    public double SignMargin { get; init; } = 10 * RepairVerifier.GuardBandFloat32;

    /// <summary>How many times ε is multiplied by 10 and the LP re-solved when rounding the repaired weights to float32 breaks a margin that the LP's float64 solution meets.</summary>
    public int EpsilonRetries { get; init; } = 3;

    /// <summary>
    /// Keep the sign rows of switched-off neurons out of the LP and add only those the solution violates, re-solving until
    /// none is violated. The result is an optimum of the full LP (every row holds). On the Fashion-MNIST MLPs it was slower
    /// than one solve (each round is a fresh interior-point solve), so it is off by default.
    /// </summary>
    public bool ConstraintGeneration { get; init; }

    /// <summary>
    /// A memory budget in bytes (null: none). Before the main LP is built, the encoder's counting walk gives its exact size;
    /// when twice its storage (<see cref="LpSize.StorageBytes"/>: the LP as built and the copy every solver makes of it, a
    /// lower bound on what the solve needs) exceeds the budget, the repair is refused with advice, before anything is allocated.
    /// </summary>
    public long? MaxMemoryBytes { get; init; }

    /// <summary>
    /// A cap on the whole program's nonzeros (held inputs and rows included; null: none), from the same counting walk:
    /// a larger program is not attempted and the result says <see cref="RepairStatus.TooLarge"/> (for studies that plan
    /// many repairs and must not spend hours building one that cannot be solved).
    /// </summary>
    public long? MaxLpNonzeros { get; init; }

    /// <summary>The LP solver and its settings.</summary>
    public LpSolverOptions Solver { get; init; } = new();

    /// <summary>If set, the final LP is written here in MPS format (before solving).</summary>
    public string? ExportLpPath { get; init; }
}

/// <summary>
/// Provable architecture-preserving repair (APRNN, Tao et al. PLDI'23), with the PRDNN and last-layer LP baselines:
/// one LP over the parameters of layer k (and later biases) keeps every repair point's activation pattern and puts
/// the correct logit ε above the others (§4, point repair). V-polytopes take their centroid's pattern at every vertex;
/// for k beyond the first affine layer the prefix is first made affine on each polytope slice by slice (§5).
/// The result is accepted only after the independent <see cref="RepairVerifier"/> re-runs it in float32 and float64;
/// if float32 rounding breaks a margin (or leaves it within the verifier's guard band), ε grows tenfold and the LP is solved again.
/// </summary>
public sealed class ProvableRepair(ProvableRepairOptions options) : IRepairMethod
{
    private const int MaxGenerationRounds = 30;

    /// <summary>
    /// When block-ipm declines a round, every row still waiting enters at once only if that adds at most this many times
    /// the round's rows; otherwise HiGHS solves the rounds as they stand.
    /// </summary>
    private const int MaxEnterAllGrowth = 3;
    private const double GenerationSlack = 1e-7;

    /// <summary>
    /// A held row that a round's solution meets by more than this leaves the program again (once; see
    /// <see cref="SolveWithGeneration(EncodedProgram, LpSolverOptions, int)"/>).
    /// </summary>
    private const double LeaveSlack = 1e-2;

    /// <summary>
    /// At most this many held rows enter after a block-ipm round whose Schur complement would otherwise be most of a
    /// factorisation, the most violated first (ties may add a few more): each is a linking row of the next round's normal
    /// equations.
    /// </summary>
    private const int MaxEnteringRows = 1000;

    /// <summary>A held row in the program: the round that brought it in, and whether it may no longer leave.</summary>
    private readonly record struct EnteredRow(PendingRow Row, int Round, bool Permanent);

    /// <inheritdoc />
    public string Name => options.Variant switch
    {
        LpRepairVariant.Prdnn => "prdnn",
        LpRepairVariant.LastLayer => "lastlayer",
        _ => "provable",
    };

    /// <inheritdoc />
    public RepairResult Repair(RepairProblem problem)
    {
        var total = Stopwatch.StartNew();
        double encodeTime = 0, solveTime = 0;
        var notes = new List<string>();
        Network original = problem.Network;
        RepairSet set = problem.RepairSet;
        using Network work64 = PlainRepairedModel.ToFloat64(original);
        (LayerSite k, string layerName) = ChooseLayer(work64);
        (int, int)? rows = options.Variant == LpRepairVariant.LastLayer ? RepairSetClassRows(set, work64, k.Layer) : options.Rows;
        (Tensor vertices32, int[] region, long[] labels) = set.Stacked();
        using Tensor vertices64 = vertices32.to(ScalarType.Float64);
        vertices32.Dispose();
        bool decoupled = options.Variant == LpRepairVariant.Prdnn;
        if (decoupled && DecoupledNetwork.FirstUnsupported(work64, k.Layer) is { } unsupported)
            throw new ReparoInputException($"PRDNN's decoupled network runs only Linear, Conv1d, Conv2d, ReLU, MaxPool2d, Flatten and piecewise-linear ONNX layers from the repaired layer on (layers before it run as they are), and {unsupported.Name} ({unsupported.Spec.Describe()}) is at or after {layerName}; choose a later layer, or use provable (APRNN) repair");
        using Network? original64 = decoupled ? PlainRepairedModel.ToFloat64(original) : null;

        RepairResult Failed(RepairStatus status, string message, LpSize? size = null, string? detail = null, PreservedInputs? anchors = null, List<string>? attemptNotes = null) => new()
        {
            Method = Name,
            Layer = layerName,
            Status = status,
            Message = message,
            Time = new RepairTiming(encodeTime, solveTime, 0, total.Elapsed.TotalSeconds),
            LpSize = size,
            Solver = LpSolverOptions.Name(options.Solver.Solver),
            SolverStatus = detail,
            Objective = ObjectiveName(options.Objective),
            Preserved = anchors is null ? null : Outcome(anchors, null),
            Notes = attemptNotes ?? notes,
        };

        if (!set.IsPointSet && !decoupled)
        {
            if (UnslicedBlock(work64, k) is { } unsliced)
                throw new ReparoInputException($"polytope repair at {layerName} needs the network before it made affine on every polytope slice by slice, which is not supported inside ONNX block {unsliced}; choose a layer before {unsliced}");
            foreach (int j in AffineLayersBefore(work64, k.Layer))
            {
                var clock = Stopwatch.StartNew();
                int next = NextAffine(work64, j);
                ActivationPatterns slicePatterns = ActivationPatterns.Compute(work64, set, vertices64, region, j + 1, next);
                if (PatternsHold(work64, vertices64, slicePatterns, j + 1, next)) continue;
                EncodedProgram slice = SymbolicEncoder.Encode(work64, j, next, vertices64, labels, slicePatterns, Encoding(options.Epsilon, null) with { Specification = false, LaterBiases = false });
                encodeTime += clock.Elapsed.TotalSeconds;
                if (slice.Conflict is not null) return Failed(RepairStatus.Infeasible, $"polytope slice at {work64.Layers[j].Name}: {slice.Conflict}");
                (LpSolution s, IReadOnlyList<LpSolve> sliceSolves, _) = SolveWithGeneration(slice, solveTime);
                solveTime += s.Seconds;
                if (s.Status != LpStatus.Optimal) return Failed(Map(s.Status), $"polytope slice at {work64.Layers[j].Name}: {Describe(s.Status)}", slice.Program.Size, s.Detail);
                Apply(work64, slice.Deltas, s.Values!);
                notes.Add($"slice {work64.Layers[j].Name}: made the prefix affine on every polytope ({slice.Program.Size.Rows} rows, {sliceSolves.Count} rounds)");
            }
        }

        int end = work64.ScoreLayerCount;
        PreservedInputs? requested = options.Preserve?.Select(original, vertices64) is { Count: > 0 } chosen ? chosen : null;
        RepairResult held = Holding(requested, [.. notes]);
        // Inputs penalised at the layer's outputs add no constraint, so they cannot make the LP infeasible.
        if (held.Status != RepairStatus.Infeasible || requested is null || options.Preserve is { Penalty: not null, PenaltyOn: PreservedChange.LayerOutput }) return held;
        RepairResult fallback = WithFewerPreserved(held, requested, options.Preserve!.AtMost, anchors => Holding(anchors, [.. notes]));
        return fallback with { Time = fallback.Time with { Encode = encodeTime, Solve = solveTime, Total = total.Elapsed.TotalSeconds } };

        // The main LP with the preserved inputs anchors (null: none) joining it as further points after the repair
        // vertices; the verifier checks the repair set alone.
        RepairResult Holding(PreservedInputs? anchors, List<string> notes)
        {
            double epsilon = options.Epsilon;
            (RepairSet lpSet, Tensor lpVertices64, int[] lpRegion, long[] lpLabels) = WithPreserved(set, vertices64, region, labels, anchors);
            using Tensor ownedLpVertices = lpVertices64;
            for (int attempt = 0; ; attempt++)
            {
                var clock = Stopwatch.StartNew();
                ActivationPatterns patterns = ActivationPatterns.Compute(original64 ?? work64, lpSet, lpVertices64, lpRegion, k.Nested ? k.Layer : k.Layer + 1, end);
                if (patterns.PinnedToZero > 0 && attempt == 0) notes.Add($"{patterns.PinnedToZero} pre-activations pinned to 0 at vertices shared by polytopes with different patterns");
                if (attempt == 0 && (options.MaxMemoryBytes is not null || options.MaxLpNonzeros is not null))
                {
                    LpSize whole = SymbolicEncoder.Count(work64, k, end, lpVertices64, lpLabels, patterns, Encoding(epsilon, rows) with { RepairVertices = set.VertexCount });
                    if (options.MaxMemoryBytes is long budget) RefuseOverBudget(whole, budget, layerName, anchors?.Count ?? 0);
                    if (whole.Nonzeros > options.MaxLpNonzeros)
                        return Failed(RepairStatus.TooLarge, FormattableString.Invariant($"not attempted: the LP at {layerName} would have {whole.Nonzeros:N0} nonzeros ({whole.Rows:N0} rows × {whole.Cols:N0} columns), above the cap of {options.MaxLpNonzeros:N0}"), whole, anchors: anchors, attemptNotes: notes);
                }
                EncodedProgram encoded = SymbolicEncoder.Encode(work64, k, end, lpVertices64, lpLabels, patterns, Encoding(epsilon, rows) with { RepairVertices = set.VertexCount });
                if (options.ExportLpPath is string path) ExportMps(encoded, path);
                encodeTime += clock.Elapsed.TotalSeconds;
                if (encoded.Conflict is not null) return Failed(RepairStatus.Infeasible, encoded.Conflict, encoded.Program.Size, anchors: anchors, attemptNotes: notes);
                (LpSolution solution, IReadOnlyList<LpSolve> solves, string generation) = SolveWithGeneration(encoded, solveTime);
                solveTime += solution.Seconds;
                LpSize size = encoded.Program.Size;
                if (solves.Count > 1 || encoded.Held.Count > 0) notes.Add(generation);
                if (solution.Status != LpStatus.Optimal)
                    return Failed(Map(solution.Status), $"{Describe(solution.Status)} (ε = {epsilon:G3}, bound ±{options.Bound:G3}); no model written", size, solution.Detail, anchors, notes) with { LpSolves = solves };

                clock.Restart();
                Network candidate64 = PlainRepairedModel.ToFloat64(work64);
                Apply(candidate64, encoded.Deltas, solution.Values!);
                // Whether the LP's solution itself, in float64 before its weights are rounded to float32, meets every margin:
                // the verifier's float64 run of a plain network uses the rounded weights, so its margins show weight rounding
                // too (a decoupled network keeps the float64 value weights, so the verifier's float64 margins tell).
                bool? solutionHolds = decoupled ? null : RepairVerifier.Margins(candidate64.Logits(vertices64), region, set).All(m => m > 0);
                IRepairedModel model = decoupled ? new DecoupledNetwork(original, candidate64, k.Layer) : new PlainRepairedModel(ToFloat32(original, candidate64));
                if (!decoupled) candidate64.Dispose();
                encodeTime += clock.Elapsed.TotalSeconds;
                VerifiedRepair verified = VerifiedRepair.Check(model, set);
                VerificationReport report = verified.Report;
                bool roundingOnly = !report.Verified && (solutionHolds ?? report.Regions.All(r => r.MarginFloat64 > 0)) && report.Regions.All(r => r.LinearOnRegion != false);
                if (!report.Verified && roundingOnly && attempt < options.EpsilonRetries)
                {
                    notes.Add($"float32 rounding broke a margin at ε = {epsilon:G3} (or left it within the verifier's guard band); re-solved with ε = {epsilon * 10:G3}");
                    epsilon *= 10;
                    continue;
                }
                PreservedOutcome? preserved = anchors is null ? null : Outcome(anchors, anchors.Kept(model));
                if (preserved is not null)
                    notes.Add($"preserved inputs: {preserved.Kept} of {preserved.Count} still classified correctly in float32 ({anchors!.Description}; {preserved.Form})");
                string message = report.Verified
                    ? $"provable: yes ({report.Note}); smallest margin {report.MinMarginFloat32:G3} (float32), {report.MinMarginFloat64:G3} (float64)"
                    : $"provable: no — {verified.Rejected} of {report.Regions.Count} regions failed the independent check ({report.Note})";
                return verified.Result(Name, layerName, message, new RepairTiming(encodeTime, solveTime, verified.Seconds, total.Elapsed.TotalSeconds)) with
                {
                    Objective = ObjectiveName(options.Objective),
                    Preserved = preserved,
                    LpSize = size,
                    Solver = solution.Solver,
                    SolverStatus = solution.Detail,
                    LpSolves = solves,
                    Epsilon = epsilon,
                    Notes = notes,
                };
            }
        }
    }

    /// <summary>
    /// After the LP with the preserved inputs <paramref name="requested"/> held came out infeasible (<paramref name="held"/>):
    /// whether the repair set alone is feasible, and if so, for the default count (<paramref name="atMost"/>), the
    /// repair with the first half, quarter, … of them, down to none (none too once the time limit is spent); for a count the user asked for, the infeasible
    /// result with that cause named (no model is written without the inputs asked for). <paramref name="holding"/>
    /// repairs with the given inputs held (null: none). Every attempt's time counts in the result.
    /// </summary>
    private static RepairResult WithFewerPreserved(RepairResult held, PreservedInputs requested, bool atMost, Func<PreservedInputs?, RepairResult> holding)
    {
        int asked = requested.Count;
        RepairResult alone = holding(null);
        if (alone.Status == RepairStatus.Infeasible)
            return held with { Message = $"{held.Message}; without the {asked} preserved inputs too, so the repair set itself cannot be met at this layer" };
        if (alone.Status is not (RepairStatus.Repaired or RepairStatus.NotVerified))
            return held with { Message = $"{held.Message} with the {asked} preserved inputs held; without them the solve ended {alone.Status} ({alone.Message}), so whether they are the cause is not known" };
        string cause = $"the LP is infeasible with the {asked} preserved inputs held, but not without them";
        if (!atMost)
            return held with { Message = $"infeasible with the {asked} preserved inputs held, though the repair set alone is feasible at this layer; no model written: ask to preserve fewer (--preserve), or none (--preserve 0)" };
        for (int count = asked / 2; count > 0; count /= 2)
        {
            RepairResult fewer = holding(requested.First(count));
            if (fewer.Status == RepairStatus.Infeasible) continue;
            if (fewer.Status == RepairStatus.TimeLimit)
            {
                return alone with
                {
                    Preserved = new PreservedOutcome(0, null, asked),
                    Notes = [$"{cause}, and halving them ran out of the time limit at the first {count}: repaired without preserved inputs", .. alone.Notes],
                };
            }
            return fewer with
            {
                Preserved = fewer.Preserved! with { Requested = asked },
                Notes = [$"{cause}: held the first {count} of them instead (halving until feasible)", .. fewer.Notes],
            };
        }
        return alone with
        {
            Preserved = new PreservedOutcome(0, null, asked),
            Notes = [$"{cause}, nor with any number down to 1: repaired without preserved inputs", .. alone.Notes],
        };
    }

    /// <summary>The command-line name of an objective.</summary>
    public static string ObjectiveName(LpObjective objective) => objective switch
    {
        LpObjective.Aprnn => "aprnn",
        _ => "param",
    };

    /// <summary>Parses an objective name as given on the command line.</summary>
    public static LpObjective ParseObjective(string name) => name.Trim().ToLowerInvariant() switch
    {
        "param" => LpObjective.Param,
        "aprnn" => LpObjective.Aprnn,
        _ => throw new ReparoInputException($"unknown objective '{name}'; choose param or aprnn"),
    };

    /// <summary>What became of <paramref name="anchors"/>, held as the options' preserve request says.</summary>
    private PreservedOutcome Outcome(PreservedInputs anchors, int? kept) =>
        new(anchors.Count, kept, Penalty: options.Preserve?.Penalty, PenaltyOn: options.Preserve is { Penalty: not null } request ? request.PenaltyOn : null);

    /// <summary>The repair set's vertices followed by the preserved inputs as single-point regions (the set itself when there are none).</summary>
    private static (RepairSet Set, Tensor Vertices64, int[] Region, long[] Labels) WithPreserved(RepairSet set, Tensor vertices64, int[] region, long[] labels, PreservedInputs? anchors)
    {
        if (anchors is null) return (set, vertices64.alias(), region, labels);
        if (!anchors.Inputs.shape[1..].SequenceEqual(vertices64.shape[1..]))
            throw new ReparoInputException($"the preserved inputs have shape [{string.Join(",", anchors.Inputs.shape[1..])}] but the repair set's are [{string.Join(",", vertices64.shape[1..])}]");
        var regions = new RepairSet([.. set.Regions, .. anchors.AsRegions()], set.Description);
        Tensor all = cat([vertices64, anchors.Inputs.to(ScalarType.Float64)], 0);
        int[] allRegion = [.. region, .. Enumerable.Range(set.Regions.Count, anchors.Count)];
        return (regions, all, allRegion, [.. labels, .. anchors.Labels]);
    }

    /// <summary>The encoding of the main LP that a provable repair with default options builds for <paramref name="repairVertices"/> repair vertices.</summary>
    internal static EncodingOptions DefaultEncoding(int repairVertices)
    {
        var defaults = new ProvableRepairOptions();
        return new ProvableRepair(defaults).Encoding(defaults.Epsilon, null) with { RepairVertices = repairVertices };
    }

    private EncodingOptions Encoding(double epsilon, (int, int)? rows) => new()
    {
        Bound = options.Bound,
        Epsilon = epsilon,
        Rows = rows,
        LaterBiases = options.Variant == LpRepairVariant.Aprnn,
        Decoupled = options.Variant == LpRepairVariant.Prdnn,
        Objective = options.Objective,
        LogitChangeWeight = options.LogitChangeWeight,
        LazySignRows = options.ConstraintGeneration,
        HoldPreservedInputs = true,
        PreservedOutputWeight = options.Preserve is { Penalty: double w, PenaltyOn: PreservedChange.Logits } ? w : 0,
        PreservedLayerWeight = options.Preserve is { Penalty: double v, PenaltyOn: PreservedChange.LayerOutput } ? v : 0,
        ComposeLaterLayers = true,
        SignMargin = options.SignMargin,
    };

    private (LayerSite Site, string Name) ChooseLayer(Network network)
    {
        if (options.Variant == LpRepairVariant.LastLayer)
        {
            int last = network.ClassifierLayer;
            if (last < 0 || network.Layers[last].Spec is not LinearSpec)
                throw new ReparoInputException("last-layer repair needs a network that ends with a Linear layer");
            return (last, network.Layers[last].Name);
        }
        if (string.IsNullOrWhiteSpace(options.Layer)) throw new ReparoInputException("choose the layer to repair with --layer NAME|INDEX");
        if (network.Spec.ResolveName(options.Layer).Contains('.'))
        {
            AffineSite site = AffineSites.Find(network, options.Layer);
            string[] path = site.Name.Split('.');
            int layer = network.LayerIndex(path[0]);
            if (network.Layers[layer].Module is not OnnxBlockModule block || path.Length != 2)
                throw new ReparoInputException($"{site.Name} is nested in {network.Layers[layer].Spec.Describe()}; LP repair edits a top-level Linear or convolution layer or one inside an ONNX block");
            OnnxAffineSpec unit = block.Spec.Affine.First(a => a.Name == path[1]);
            return (new LayerSite(layer, unit.Node), site.Name);
        }
        int k = network.LayerIndex(options.Layer);
        if (!AffineParameters.IsAffine(network.Layers[k].Spec))
            throw new ReparoInputException($"layer {network.Layers[k].Name} is {network.Layers[k].Spec.Describe()}; LP repair edits a Linear or convolution layer");
        return (k, network.Layers[k].Name);
    }

    /// <summary>
    /// The first ONNX block that the slices of a polytope repair at <paramref name="k"/> would have to start inside (slices
    /// start at top-level affine layers only): a block before k with an affine module, or k's own block with a ReLU, Clip or
    /// max-pool before k.
    /// </summary>
    private static string? UnslicedBlock(Network network, LayerSite k)
    {
        for (int j = 0; j <= k.Layer; j++)
        {
            if (network.Layers[j].Module is not OnnxBlockModule block) continue;
            bool unsliced = j == k.Layer ? block.Nodes.Take(k.Node).Any(n => Activations.HasKinks(n.OpType)) : block.Spec.Affine.Count > 0;
            if (unsliced) return block.Spec.Name;
        }
        return null;
    }

    private static (int, int)? RepairSetClassRows(RepairSet set, Network network, int k)
    {
        // PRoViT's variant edits only the rows of classes that occur in the repair set; a contiguous span covers them.
        // A binary classifier's last layer has one row, the score both classes are read from.
        if (network.BinaryScoresLayer > k) return null;
        int low = (int)set.Regions.Min(r => r.Label), high = (int)set.Regions.Max(r => r.Label);
        if (high >= ((LinearSpec)network.Layers[k].Spec).Out) throw new ReparoInputException($"label {high} is outside the network's classes");
        return (low, high + 1);
    }

    private static IEnumerable<int> AffineLayersBefore(Network network, int k)
    {
        for (int j = 0; j < k; j++)
            if (AffineParameters.IsAffine(network.Layers[j].Spec)) yield return j;
    }

    /// <summary>The next layer after <paramref name="j"/> that is affine or an ONNX block with affine modules.</summary>
    private static int NextAffine(Network network, int j)
    {
        for (int i = j + 1; i < network.Layers.Count; i++)
            if (AffineParameters.IsAffine(network.Layers[i].Spec) || network.Layers[i].Spec is OnnxBlockSpec { Affine.Count: > 0 }) return i;
        return network.Layers.Count;
    }

    /// <summary>
    /// Whether every vertex is already certainly on its required piece of every ReLU and max-pool by the LP's own sign
    /// margin (<see cref="ActivationPieces"/>), so that a slice LP is needed only when one is not.
    /// </summary>
    private bool PatternsHold(Network network64, Tensor vertices64, ActivationPatterns patterns, int from, int to)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int count = (int)vertices64.shape[0];
        foreach (Activation activation in Activations.Of(network64, vertices64, from, to))
        {
            var pieces = new ActivationPieces(activation, count);
            for (int v = 0; v < count; v++)
                if (!patterns.HeldBy(pieces, activation.Site, v, options.SignMargin)) return false;
        }
        return true;
    }

    /// <summary>
    /// Solves the encoded LP; held rows and held preserved inputs are added when the solution violates them, until none
    /// is (each round is a fresh solve). Each round's rows enter as a batch (<see cref="LinearProgram.StartBatch"/>), so
    /// block-ipm keeps the blocks the earlier rows formed. From the second round on, a held input's row also enters when
    /// the solution moved on as far again as it moved from the round before (2·x − x_previous) would violate it: the rows
    /// a round violates were mostly near their bound one round earlier, so this saves rounds. Held rows enter only when
    /// violated: they are later layers' sign rows, each a linking row of the repaired layer's neuron blocks, and the
    /// dense Schur complement of the linking rows costs their count cubed (at mlp:200x9's fc7 the predicted rows more
    /// than doubled the third round's linking rows and pushed it past block-ipm's budget to HiGHS; with violated rows
    /// only every round stays with block-ipm: docs/results/lp-solvers.md, section "Rounds as batches"). For the same
    /// reason, after a block-ipm round whose linking rows with the violated ones would make the Schur complement most of
    /// a factorisation (<see cref="BlockShape.SchurWouldDominate"/>; and without held inputs, whose rows and columns sit
    /// among the held rows), the held rows its solution meets by more than <see cref="LeaveSlack"/> leave the program
    /// again, each at most once (so the rounds end), and at most <see cref="MaxEnteringRows"/> violated rows enter, the
    /// most violated first: at mlp:200x9's fc7 most held rows that had entered were met with room to spare at the
    /// optimum, and the final program's linking rows fall from 4,625–6,551 to 1,676–2,368, the repair's
    /// time by 1.3–2.0× (docs/results/lp-solvers.md, section "Held rows leave again"). The last
    /// round's optimum is then optimal for the whole program too: it is feasible for every held constraint, and the
    /// solved program's feasible set contains the whole program's. A block-ipm round starts from the iterate the round
    /// before kept, moved back from the boundary the less the fewer rows entered (<see cref="BlockIpm.WarmFloorAfter"/>).
    /// The time limit is what <paramref name="spent"/> seconds of earlier solves left of it (<see cref="WithinTimeLimit"/>).
    /// </summary>
    /// <returns>The last solution (its seconds those of every round), each round's solve, and a note for the report.</returns>
    private (LpSolution Solution, IReadOnlyList<LpSolve> Solves, string Note) SolveWithGeneration(EncodedProgram encoded, double spent) =>
        WithinTimeLimit(options.Solver, spent) is { } solver
            ? SolveWithGeneration(encoded, solver)
            : (new LpSolution(LpStatus.TimeLimit, $"time limit: the {options.Solver.TimeLimitSeconds:G3} s were spent by this repair's earlier solves", null, double.NaN, 0, LpSolverOptions.Name(options.Solver.Solver)), [], "");

    /// <summary>
    /// The solver settings for a solve after <paramref name="spent"/> seconds of this repair's earlier solves (polytope
    /// slices, ε retries, fewer preserved inputs): a time limit bounds them all together, so the solve gets what is left
    /// of it; null when nothing is left.
    /// </summary>
    internal static LpSolverOptions? WithinTimeLimit(LpSolverOptions solver, double spent) => solver.TimeLimitSeconds switch
    {
        null => solver,
        double limit when limit - spent > 0 => solver with { TimeLimitSeconds = limit - spent },
        _ => null,
    };

    /// <inheritdoc cref="SolveWithGeneration(EncodedProgram, double)"/>
    /// <param name="encoded">The program, its held rows and held inputs.</param>
    /// <param name="solver">The solver settings for all rounds together.</param>
    /// <param name="maxEnteringRows">Most held rows that enter after such a block-ipm round (<see cref="MaxEnteringRows"/>).</param>
    internal static (LpSolution Solution, IReadOnlyList<LpSolve> Solves, string Note) SolveWithGeneration(EncodedProgram encoded, LpSolverOptions solver, int maxEnteringRows = MaxEnteringRows)
    {
        LinearProgram lp = encoded.Program;
        // A row that left the program once (Left) stays when it enters again.
        var waiting = encoded.Pending.Select(row => (Row: row, Left: false)).ToList();
        var held = encoded.Held.ToList();
        // Held rows in the program, in its order from row generatedFrom on, with the round that brought each in; rows
        // may leave again only while no held input has entered rows or columns among them.
        int generatedFrom = lp.RowCount, left = 0;
        var entered = new List<EnteredRow>();
        bool rowsMayLeave = held.Count == 0;
        int whole = lp.RowCount + waiting.Count + held.Sum(input => input.RowCount);
        double seconds = 0;
        var solves = new List<LpSolve>();
        int allEntered = 0, tooLargeToEnter = 0;
        double[]? previous = null;
        IpmStart? kept = null;
        int violatedTotal = 0, enteredTotal = 0;
        int Violated(double[] x) => waiting.Count(row => row.Row.IsUnmetAt(x, GenerationSlack)) + held.Sum(input => input.CountViolated(x, GenerationSlack));
        (LpSolution, IReadOnlyList<LpSolve>, string) Done(LpSolution solution, int round)
        {
            string inputs = encoded.Held.Count == 0 ? "" : $"; of {encoded.Held.Count} preserved inputs, {encoded.Held.Count(input => input.OwnColumnsEntered)} brought their auxiliary columns in, {encoded.Held.Count(input => input.EnteredWhole)} entered whole, and {encoded.Held.Sum(input => input.SingleRowsEntered)} of their rows entered one by one";
            string tooLarge = tooLargeToEnter > 0 ? $"; block-ipm found no structure it takes on (last before solve {tooLargeToEnter}), and the rows still waiting would have made the program more than {MaxEnterAllGrowth + 1} times larger, so HiGHS solved the rounds as they stood" : "";
            string atOnce = tooLarge + (allEntered > 0 ? $"; before solve {allEntered} block-ipm found no structure it takes on, so every row still waiting entered at once" : "");
            string brought = violatedTotal == 0 ? "" : $"; {violatedTotal} violated constraints brought {enteredTotal} rows in (with held inputs' auxiliary columns' definitions and the rows the next solution was predicted to violate)";
            string leaving = left == 0 ? "" : $"; {left} held rows left the program again because a round's solution met them by more than {LeaveSlack:G2} (each row at most once)";
            int warm = solves.Count(solve => solve.WarmStarted);
            string started = warm == 0 ? "" : $"; {warm} of them started from an iterate of the solve before";
            int iterations = solves.Sum(solve => solve.Iterations ?? 0), byHighs = solves.Count(solve => solve.Solver.StartsWith("highs", StringComparison.Ordinal));
            string counted = iterations > 0 ? $", {iterations} block-ipm iterations" : "";
            string highs = byHighs == 0 || solver.Solver == LpSolverKind.Highs ? "" : $"; HiGHS solved {byHighs} of them";
            return (solution with { Seconds = seconds }, solves, $"constraint generation: {round} solves (lp_solves{counted}){highs}{started}, final LP {lp.RowCount} rows (the whole program {whole}){inputs}{brought}{leaving}{atOnce}");
        }
        void Enter(PendingRow row, int round, bool permanent)
        {
            row.AddTo(lp);
            entered.Add(new EnteredRow(row, round, permanent));
        }
        // The held rows that x meets by more than LeaveSlack, unless they left once already, go back to waiting: the
        // program is rebuilt from generatedFrom on with the others, batch by batch as they came, and the warm start's row
        // duals follow them.
        IpmStart? LeaveMetRows(double[] x, IpmStart? start)
        {
            bool[] staying = [.. entered.Select(row => row.Permanent || row.Row.SlackAt(x) <= LeaveSlack)];
            if (staying.All(stays => stays)) return start;
            var stays = new List<EnteredRow>(entered.Count);
            var from = new List<int>(entered.Count);
            for (int i = 0; i < entered.Count; i++)
            {
                if (!staying[i])
                {
                    waiting.Add((entered[i].Row, true));
                    continue;
                }
                stays.Add(entered[i]);
                from.Add(generatedFrom + i);
            }
            left += entered.Count - stays.Count;
            lp.RemoveTail(generatedFrom, lp.ColumnCount);
            entered.Clear();
            int batch = -1;
            foreach (EnteredRow row in stays)
            {
                if (row.Round != batch) lp.StartBatch();
                batch = row.Round;
                Enter(row.Row, row.Round, row.Permanent);
            }
            if (start is null) return null;
            double[] duals = [.. start.RowDuals.AsSpan(0, generatedFrom), .. from.Select(row => row < start.RowDuals.Length ? start.RowDuals[row] : 0)];
            return start with { RowDuals = duals };
        }
        // The slack at or below which waiting rows enter: all violated rows, or the MaxEnteringRows most violated.
        double EntryThreshold(double[] x)
        {
            double[] violations = [.. waiting.Where(row => row.Row.IsUnmetAt(x, GenerationSlack)).Select(row => row.Row.SlackAt(x))];
            if (violations.Length <= maxEnteringRows) return double.PositiveInfinity;
            Array.Sort(violations);
            return violations[maxEnteringRows - 1];
        }
        using ProgressScope? shown = waiting.Count + held.Count > 0 ? WorkProgress.Begin("constraint generation") : null;
        for (int round = 1; ; round++)
        {
            shown?.Describe($"round {round}: {lp.RowCount} rows, {waiting.Count} rows and {held.Count} preserved inputs held back");
            // A time limit bounds all rounds together: each round gets what the earlier ones left.
            LpSolverOptions thisRound = solver.TimeLimitSeconds is double limit ? solver with { TimeLimitSeconds = limit - seconds } : solver;
            void EnterEverything()
            {
                // HiGHS solves this round instead of block-ipm, and each of its rounds costs about a whole solve: bring in
                // everything still waiting now, unless that would make the program many times larger (a whole program of
                // many preserved convolutional inputs can take HiGHS hours where the rounds' programs take seconds).
                int rest = waiting.Count + held.Sum(input => input.RowCount);
                if (rest > MaxEnterAllGrowth * lp.RowCount)
                {
                    tooLargeToEnter = Math.Max(tooLargeToEnter, round);
                    return;
                }
                foreach ((PendingRow row, _) in waiting) Enter(row, round, permanent: true);
                waiting.Clear();
                foreach (ProgramFragment input in held) input.EnterRest(lp);
                held.Clear();
                allEntered = round;
            }
            // A round whose near-optimal iterate already violates waiting rows ends there: the next round needs those rows
            // anyway, and the last round (nothing violated) still runs to optimality.
            bool waits = waiting.Count + held.Count > 0;
            int violatedEarly = 0;
            // Each round starts from an iterate of the round before (block-ipm), which it offered when near optimal.
            IpmStart? from = kept;
            kept = null;
            LpSolution solution = LpSolver.Solve(lp, thisRound, waits ? EnterEverything : null, waits ? x => (violatedEarly = Violated(x)) > 0 : null,
                from, waits ? offered => kept = offered : null);
            solves.Add(new LpSolve(lp.RowCount, solution.Seconds, solution.Solver, solution.Status == LpStatus.StoppedEarly, solution.Iterations, solution.WarmStarted, solution.Phases));
            shown?.Advance();
            seconds += solution.Seconds;
            if (solution.Status is not (LpStatus.Optimal or LpStatus.StoppedEarly) || waiting.Count + held.Count == 0) return Done(solution, round);
            double[] x = solution.Values!;
            // A round that stopped early was stopped for the violations counted at this very iterate.
            int violated = solution.Status == LpStatus.StoppedEarly ? violatedEarly : Violated(x);
            if (violated == 0) return Done(solution, round);
            violatedTotal += violated;
            // A held input's rows that the next solution would violate if it moved as far again as this one did from the last also enter now.
            double[] ahead = previous is null ? [] : [.. x.Select((value, j) => j < previous.Length ? 2 * value - previous[j] : value)];
            previous = x;
            bool final = round >= MaxGenerationRounds;
            // Where block-ipm's next round would spend most of a factorisation on the Schur complement of the linking rows
            // (the cube of their count) once the violated rows entered, the program stays small: rows met with room to
            // spare leave, and the most violated rows enter first. Elsewhere the blocks cost most, and each round more
            // costs more than the rows save (mlp:100x3's fc1); a HiGHS round costs about a whole solve whatever its rows.
            bool thrifty = rowsMayLeave && !final && solution.Shape is { } shape && shape.SchurWouldDominate(violated);
            if (thrifty) kept = LeaveMetRows(x, kept);
            double enterUpTo = thrifty ? EntryThreshold(x) : double.PositiveInfinity;
            int violatedAt = lp.RowCount;
            lp.StartBatch();
            waiting.RemoveAll(row =>
            {
                bool enters = final || (row.Row.IsUnmetAt(x, GenerationSlack) && (double.IsPositiveInfinity(enterUpTo) || row.Row.SlackAt(x) <= enterUpTo));
                if (enters) Enter(row.Row, round + 1, permanent: row.Left);
                return enters;
            });
            foreach (ProgramFragment input in held)
            {
                input.EnterViolated(lp, x, ahead, GenerationSlack);
                if (final) input.EnterRest(lp);
            }
            int added = lp.RowCount - violatedAt;
            // The fewer rows entered, the less the next round's start is moved back from the boundary.
            if (kept is not null) kept = kept with { Floor = BlockIpm.WarmFloorAfter(added) };
            enteredTotal += added;
            held.RemoveAll(input => input.EnteredWhole);
            if (solver.TimeLimitSeconds is double budget && seconds >= budget)
                return Done(solution with { Status = LpStatus.TimeLimit, Values = null, Detail = $"time limit: {round} rounds of constraint generation used {seconds:F0} s with {added} violated rows just added" }, round);
        }
    }

    private static void ExportMps(EncodedProgram encoded, string path)
    {
        // The exported LP is the whole program: held rows and inputs are included so other solvers see the same problem.
        LinearProgram full = encoded.Full();
        AtomicFile.Write(path, stream =>
        {
            using var writer = new StreamWriter(stream);
            full.WriteMps(writer);
        });
    }

    /// <summary>Adds the solved parameter changes to a float64 network (each to its module, top-level or nested).</summary>
    private static void Apply(Network network64, IReadOnlyList<ParameterDelta> deltas, double[] values)
    {
        using var noGrad = no_grad();
        foreach (IGrouping<(string Site, bool IsBias), ParameterDelta> group in deltas.GroupBy(d => (d.Site, d.IsBias)))
        {
            AffineSite site = AffineSites.Find(network64, group.Key.Site);
            Tensor parameter = group.Key.IsBias ? site.Bias! : site.Weight;
            double[] data = parameter.contiguous().data<double>().ToArray();
            foreach (ParameterDelta d in group) data[d.Index] += d.ValueIn(values);
            using Tensor updated = tensor(data, ScalarType.Float64).reshape(parameter.shape);
            parameter.copy_(updated);
        }
    }

    private static Network ToFloat32(Network original, Network repaired64)
    {
        Network result = original.Clone();
        result.CopyWeightsFrom(repaired64);
        result.eval();
        result.Provenance = original.Provenance with { History = [.. original.Provenance.History] };
        return result;
    }

    /// <summary>Refuses an LP of <paramref name="size"/> whose memory, at least twice its storage, exceeds <paramref name="budget"/> bytes.</summary>
    private static void RefuseOverBudget(LpSize size, long budget, string layer, int preserved)
    {
        long atLeast = 2 * size.StorageBytes;
        if (atLeast <= budget) return;
        string fewer = preserved > 0 ? $", fewer preserved inputs (--preserve, now {preserved})" : "";
        throw new ReparoInputException(FormattableString.Invariant(
            $"the LP at {layer} ({size.Rows:N0} rows × {size.Cols:N0} columns, {size.Nonzeros:N0} nonzeros) needs at least {atLeast / 1073741824.0:F2} GiB, above --max-memory {budget / 1073741824.0:F2} GiB: repair fewer points, a subset of the rows (--rows){fewer}, or a later layer"));
    }

    private static RepairStatus Map(LpStatus status) => status switch
    {
        LpStatus.Infeasible => RepairStatus.Infeasible,
        LpStatus.TimeLimit => RepairStatus.TimeLimit,
        _ => RepairStatus.NumericalTrouble,
    };

    private static string Describe(LpStatus status) => status switch
    {
        LpStatus.Infeasible => "infeasible: no parameter change within the bounds satisfies the repair set",
        LpStatus.Unbounded => "the LP is unbounded (a bug in the encoding; please report it)",
        LpStatus.TimeLimit => "the solver ran out of time",
        _ => "the solver stopped with numerical trouble",
    };
}
