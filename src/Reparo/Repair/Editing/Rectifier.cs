using System.Diagnostics;
using Reparo.Data;
using Reparo.Models;
using Reparo.Runtime;
using Reparo.Training;
using static TorchSharp.torch;

namespace Reparo.Repair.Editing;

/// <summary>
/// Static (one edit at the last feature layer) or dynamic (the paper's Algorithm 1) rectification, or one of the two
/// Class Artifact Compensation baselines the paper compares with (run by <see cref="Baselines.ClassArtifactCompensation"/>,
/// not by <see cref="Rectifier"/>).
/// </summary>
public enum RectifyMode
{
    /// <summary>One edit at a fixed layer: the given one, or the last feature layer (the affine layer before the classifier).</summary>
    Static,

    /// <summary>Localise → edit → check held-out accuracy, round after round, with rollback.</summary>
    Dynamic,

    /// <summary>Baseline: projective ClArC (Anders et al. 2022), the artifact direction projected out at the classifier's input.</summary>
    PClarc,

    /// <summary>Baseline: augmentive ClArC (Anders et al. 2022), the classifier fine-tuned on clean features shifted along the artifact direction.</summary>
    AClarc,
}

/// <summary>The names of <see cref="RectifyMode"/>s on the command line and in reports.</summary>
public static class RectifyModes
{
    /// <summary>Every mode's name: <c>static</c>, <c>dynamic</c>, <c>p-clarc</c>, <c>a-clarc</c>.</summary>
    public static IReadOnlyList<string> Names { get; } = ["static", "dynamic", "p-clarc", "a-clarc"];

    /// <summary>The mode's name (<c>static</c>, <c>dynamic</c>, <c>p-clarc</c> or <c>a-clarc</c>).</summary>
    public static string Name(this RectifyMode mode) => mode switch
    {
        RectifyMode.Static => "static",
        RectifyMode.Dynamic => "dynamic",
        RectifyMode.PClarc => "p-clarc",
        RectifyMode.AClarc => "a-clarc",
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, null),
    };

    /// <summary>The mode with this name (case-insensitive); an unknown name is a <see cref="ReparoInputException"/> listing the names.</summary>
    public static RectifyMode Parse(string name)
    {
        foreach (RectifyMode mode in Enum.GetValues<RectifyMode>())
            if (string.Equals(mode.Name(), name.Trim(), StringComparison.OrdinalIgnoreCase)) return mode;
        throw new ReparoInputException($"unknown rectification mode '{name}'; modes are {string.Join(", ", Names)}");
    }

    /// <summary>Whether the mode is one of the Class Artifact Compensation baselines.</summary>
    public static bool IsClarc(this RectifyMode mode) => mode is RectifyMode.PClarc or RectifyMode.AClarc;
}

/// <summary>
/// Options of <see cref="Rectifier"/>. The parameters' defaults follow the paper where it gives them (<see cref="Paper"/>);
/// <see cref="Recommended"/> is what <c>reparo rectify</c> runs unless told <c>--paper</c>.
/// </summary>
/// <param name="Mode">Static or dynamic (or a ClArC baseline, which <see cref="Rectifier"/> refuses: the experiment harness runs those).</param>
/// <param name="Layer"><c>auto</c> (localise by editability; static mode: the last feature layer) or a layer's dotted name.</param>
/// <param name="Budget">ε: the most held-out accuracy (a fraction, 0.01 = 1 point) the accumulated edits may cost.</param>
/// <param name="Gap">δ: stop once the mean total-variation distance between the pairs' clean and corrupted predictions is at most this.</param>
/// <param name="MaxRounds">
/// Most edits the dynamic loop keeps. Rolled-back rounds do not count: a rollback stops the loop (the paper) or, with
/// <see cref="NextOnRollback"/>, excludes its layer from the rounds after it, so the loop still ends.
/// </param>
/// <param name="Score">Raw or per-parameter editability.</param>
/// <param name="IgSteps">Integration steps of the layer IG used to localise.</param>
/// <param name="Edit">How each edit is computed.</param>
/// <param name="Ridge">Ridge of the key second moments, relative to their mean eigenvalue.</param>
/// <param name="Augment">
/// Transplanted pairs in all (<see cref="PairAugmentation"/>, built on held-out images; 0 = the paper's setting), spread
/// over the cleansed pairs: each is transplanted onto ⌈Augment / pairs⌉ images (every pair an edit maps exactly is a
/// constraint on it, so many pairs times many transplants over-constrain the edit).
/// </param>
/// <param name="Seed">Seed of the augmentation's image choice.</param>
/// <param name="NextOnRollback">
/// After a rollback, try the next most editable layer instead of stopping (Reparo's refinement; the paper stops).
/// </param>
/// <param name="MinGapClosed">
/// A dynamic round whose edit closes less than this share of the gap still above δ is rolled back like one over budget
/// (0 = never, the paper's rule). A layer where the edit cannot move the pairs then no longer holds the loop for its
/// remaining rounds: with <see cref="NextOnRollback"/> the next most editable layer is tried.
/// </param>
/// <param name="HeldBack">
/// Transplanted pairs in all held back from the edits (spread like <see cref="Augment"/>'s, on other held-out images) to check that the corruption is gone beyond the pairs edited on: once the pairs' gap is at most δ, every
/// held-back pair the corruption still steers (its corrupted input goes to the class the model first gave its cleansed
/// pair's corrupted input, its clean twin does not) joins the pairs and the loop goes on (0 = no check, the paper's).
/// </param>
public sealed record RectifyOptions(
    RectifyMode Mode = RectifyMode.Dynamic,
    string Layer = "auto",
    double Budget = 0.01,
    double Gap = 0.05,
    int MaxRounds = 5,
    EditabilityScore Score = EditabilityScore.Raw,
    int IgSteps = 16,
    EditOptions? Edit = null,
    double Ridge = 1e-3,
    int Augment = 0,
    int Seed = 0,
    bool NextOnRollback = false,
    double MinGapClosed = 0,
    int HeldBack = 0)
{
    /// <summary>δ of <see cref="Recommended"/>: the pairs' gap the loop drives down to (the paper stops at 0.05).</summary>
    public const double RecommendedGap = 0.01;

    /// <summary>Transplanted pairs in all in <see cref="Recommended"/> (one cleansed pair: each transplanted onto 20 images).</summary>
    public const int RecommendedAugment = 20;

    /// <summary>The least share of the remaining gap a kept round must close in <see cref="Recommended"/>.</summary>
    public const double RecommendedMinGapClosed = 0.25;

    /// <summary>Transplanted pairs in all held back to check the edits in <see cref="Recommended"/>.</summary>
    public const int RecommendedHeldBack = 200;

    /// <summary>The paper's method exactly (Yang et al., CVPR'26): its edit, its stopping rule, no augmentation.</summary>
    public static RectifyOptions Paper(RectifyMode mode = RectifyMode.Dynamic, int seed = 0) => new(mode, Seed: seed);

    /// <summary>
    /// Reparo's defaults: the paper's dynamic loop with seven refinements, each measured in docs/results/rectification.md:
    /// the clean twins' keys held (<see cref="EditOptions.PreserveClean"/>), the corruption moved elsewhere held
    /// (<see cref="EditOptions.HoldElsewhere"/>), the pairs transplanted onto <see cref="RecommendedAugment"/> held-out images in all
    /// (<see cref="Augment"/>), the next most editable layer tried after a rollback (<see cref="NextOnRollback"/>), a round
    /// that closes less than <see cref="RecommendedMinGapClosed"/> of the remaining gap rolled back (<see cref="MinGapClosed"/>),
    /// <see cref="RecommendedHeldBack"/> more transplanted pairs held back to check the edits (<see cref="HeldBack"/>),
    /// and δ = <see cref="RecommendedGap"/> instead of 0.05.
    /// </summary>
    public static RectifyOptions Recommended(RectifyMode mode = RectifyMode.Dynamic, int seed = 0) =>
        new(mode, Gap: RecommendedGap, Edit: new EditOptions(PreserveClean: true, HoldElsewhere: true), Augment: RecommendedAugment, Seed: seed,
            NextOnRollback: true, MinGapClosed: RecommendedMinGapClosed, HeldBack: RecommendedHeldBack);
}

/// <summary>One round of rectification.</summary>
/// <param name="Round">1-based round number.</param>
/// <param name="Layer">The layer edited.</param>
/// <param name="Scores">Editability of every candidate layer (empty when the layer was fixed).</param>
/// <param name="GapBefore">Clean/corrupted gap on the pairs before the edit.</param>
/// <param name="GapAfter">The gap after it (before any rollback).</param>
/// <param name="HeldOutAccuracy">Held-out clean accuracy after the edit.</param>
/// <param name="Degradation">Accumulated held-out accuracy lost since the start.</param>
/// <param name="Kept">Whether the edit stayed (false: rolled back).</param>
/// <param name="Solver">Which edit solver ran.</param>
/// <param name="DeltaNorm">‖ΔW‖_F.</param>
/// <param name="LocaliseSeconds">Time spent scoring layers (without key statistics).</param>
/// <param name="EditSeconds">Time spent computing and applying the edit.</param>
/// <param name="EvaluateSeconds">Time spent measuring held-out accuracy and the gap (and checking the held-back pairs).</param>
/// <param name="HeldBackStillSteered">
/// When the round brought the pairs' gap to δ and pairs were held back (<see cref="RectifyOptions.HeldBack"/>): how many
/// of them the corruption still steered after it (they joined the pairs, if another edit was allowed); otherwise null.
/// </param>
public sealed record RectificationRound(int Round, string Layer, IReadOnlyList<LayerEditability> Scores, double GapBefore, double GapAfter,
    double HeldOutAccuracy, double Degradation, bool Kept, string Solver, double DeltaNorm, double LocaliseSeconds, double EditSeconds, double EvaluateSeconds,
    int? HeldBackStillSteered = null);

/// <summary>Time split of a rectification, in seconds.</summary>
/// <param name="Statistics">Estimating key second moments (a one-off per layer, cacheable).</param>
/// <param name="Localise">Layer IG and editability scores.</param>
/// <param name="Edit">Computing and applying edits.</param>
/// <param name="Evaluate">Held-out accuracy and gap checks.</param>
/// <param name="Total">Everything.</param>
public sealed record RectifyTiming(double Statistics, double Localise, double Edit, double Evaluate, double Total)
{
    /// <summary>Localisation plus editing: the cost the paper's method adds once statistics are known.</summary>
    public double LocaliseAndEdit => Localise + Edit;
}

/// <summary>What a rectification did.</summary>
/// <param name="Network">The rectified copy (the input network is never changed).</param>
/// <param name="Rounds">Every round, kept or rolled back.</param>
/// <param name="HeldOutAccuracyBefore">Held-out clean accuracy before.</param>
/// <param name="HeldOutAccuracyAfter">Held-out clean accuracy after.</param>
/// <param name="GapBefore">Pairs' clean/corrupted gap before.</param>
/// <param name="GapAfter">The gap after.</param>
/// <param name="StopReason">Why the loop stopped.</param>
/// <param name="Time">Time split.</param>
public sealed record RectificationResult(Network Network, IReadOnlyList<RectificationRound> Rounds, double HeldOutAccuracyBefore, double HeldOutAccuracyAfter,
    double GapBefore, double GapAfter, string StopReason, RectifyTiming Time)
{
    /// <summary>The layers of the kept edits, in order.</summary>
    public IReadOnlyList<string> Layers => [.. Rounds.Where(r => r.Kept).Select(r => r.Layer)];
}

/// <summary>
/// Attribution-guided rectification (Yang et al., CVPR'26, Algorithm 1): from a few cleansed pairs (corrupted input,
/// clean twin), localise the most editable layer by layer integrated gradients (<see cref="Editability"/>), apply the
/// rank-one edit that maps the corrupted keys to the clean values there (<see cref="RankOneEdit"/>), then measure clean
/// accuracy on a held-out split: keep the edit while the accumulated degradation stays within the budget ε and the
/// pairs' clean/corrupted gap is still above δ; otherwise roll the edit back and stop. Static mode makes one edit at a
/// fixed layer (the last feature layer unless one is named).
/// </summary>
public static class Rectifier
{
    /// <summary>Rectifies a copy of <paramref name="network"/>.</summary>
    /// <param name="network">The model (not modified).</param>
    /// <param name="corrupted">Corrupted inputs of the pairs.</param>
    /// <param name="clean">Their clean twins.</param>
    /// <param name="labels">The pairs' true classes.</param>
    /// <param name="heldOut">Clean held-out data for the accuracy budget.</param>
    /// <param name="statisticsInputs">Clean inputs the key second moments are estimated on.</param>
    /// <param name="options">Options.</param>
    public static RectificationResult Rectify(Network network, Tensor corrupted, Tensor clean, long[] labels, Dataset heldOut, Tensor statisticsInputs, RectifyOptions options)
    {
        Validate(corrupted, clean, labels, heldOut, options);
        var total = Stopwatch.StartNew();
        Network model = network.Clone();
        model.eval();
        (Tensor pairsCorrupted, Tensor pairsClean) = (corrupted, clean);
        (corrupted, clean, labels, Tensor heldBackCorrupted, Tensor heldBackClean, long[] heldBackLabels, long[] heldBackSources) =
            PairAugmentation.AugmentAndHoldBack(corrupted, clean, labels, heldOut, PerPair(options.Augment, labels.Length), options.Mode == RectifyMode.Dynamic ? PerPair(options.HeldBack, labels.Length) : 0, options.Seed);
        var heldBack = new HeldBackPairs(model, pairsCorrupted, pairsClean, heldBackCorrupted, heldBackClean, heldBackLabels, heldBackSources);
        EditOptions edit = options.Edit ?? new EditOptions();
        IReadOnlyList<AffineSite> sites = [.. AffineSites.Of(model).Where(LayerKeys.Editable)];
        bool fixedLayer = !options.Layer.Equals("auto", StringComparison.OrdinalIgnoreCase);
        IReadOnlyList<AffineSite> candidates = fixedLayer ? [AffineSites.Find(model, options.Layer)]
            : options.Mode == RectifyMode.Static ? [LastFeatureLayer(sites)] : sites;
        using var statistics = new KeyStatistics(model, statisticsInputs, options.Ridge);
        double statisticsTime = 0, localiseTime = 0, editTime = 0, evaluateTime = 0;

        var clock = Stopwatch.StartNew();
        double accuracyBefore = Evaluator.Accuracy(model, heldOut);
        double gapBefore = PairGap(model, corrupted, clean);
        evaluateTime += clock.Elapsed.TotalSeconds;
        double accuracy = accuracyBefore, gap = gapBefore;
        var rounds = new List<RectificationRound>();
        var excluded = new HashSet<string>();
        string stop = "";
        int maxRounds = options.Mode == RectifyMode.Static ? 1 : options.MaxRounds, keptEdits = 0;
        using ProgressScope shown = WorkProgress.Begin("rectify", maxRounds);
        for (int round = 1; ; round++)
        {
            if (options.Mode == RectifyMode.Dynamic && gap <= options.Gap)
            {
                stop = $"gap {gap:G3} ≤ δ {options.Gap:G3}";
                if (heldBack.Count == 0 || keptEdits == 0) break;
                clock.Restart();
                long[] steered = heldBack.StillSteered(model);
                rounds[^1] = rounds[^1] with { HeldBackStillSteered = steered.Length };
                stop += $"; the corruption still steers {steered.Length} of {heldBack.Count} held-back pairs";
                bool moved = steered.Length > 0 && keptEdits < maxRounds;
                if (moved)
                {
                    (Tensor movedCorrupted, Tensor movedClean, long[] movedLabels) = heldBack.Remove(steered);
                    (corrupted, clean, labels) = (cat([corrupted, movedCorrupted], 0), cat([clean, movedClean], 0), [.. labels, .. movedLabels]);
                    gap = PairGap(model, corrupted, clean);
                }
                evaluateTime += clock.Elapsed.TotalSeconds;
                if (!moved) break;
            }
            if (keptEdits >= maxRounds) { stop = options.Mode == RectifyMode.Static ? "static: one edit" : $"kept {maxRounds} edits" + (stop.Length > 0 ? $" ({stop})" : ""); break; }

            shown.Describe($"round {round}: gap {gap:G3}");
            clock.Restart();
            statistics.Prepare(candidates, edit.Keys);
            statisticsTime += clock.Elapsed.TotalSeconds;

            clock.Restart();
            IReadOnlyList<LayerEditability> scores = [];
            AffineSite[] open = [.. candidates.Where(s => !excluded.Contains(s.Name))];
            if (open.Length == 0) { stop = "every candidate layer was rolled back"; break; }
            AffineSite target = open[0];
            if (open.Length > 1)
            {
                scores = Editability.Score(model, open, corrupted, clean, labels, statistics, edit, options.IgSteps);
                target = open.First(s => s.Name == Editability.Pick(scores, options.Score).Layer);
            }
            double localise = clock.Elapsed.TotalSeconds;
            localiseTime += localise;

            clock.Restart();
            LayerEdit change = RankOneEdit.Compute(model, target, corrupted, clean, labels, statistics.SecondMoment(target, edit.Keys), edit);
            change.Apply();
            double editing = clock.Elapsed.TotalSeconds;
            editTime += editing;

            clock.Restart();
            double newAccuracy = Evaluator.Accuracy(model, heldOut);
            double newGap = PairGap(model, corrupted, clean);
            double evaluating = clock.Elapsed.TotalSeconds;
            evaluateTime += evaluating;

            double degradation = accuracyBefore - newAccuracy;
            double closed = gap > options.Gap ? (gap - newGap) / (gap - options.Gap) : 1;
            string? rollback = options.Mode == RectifyMode.Static ? null
                : degradation > options.Budget ? $"cost {degradation:P2} > budget {options.Budget:P2}"
                : closed < options.MinGapClosed ? $"closed {closed:P0} of the gap above δ < {options.MinGapClosed:P0}"
                : null;
            rounds.Add(new RectificationRound(round, target.Name, scores, gap, newGap, newAccuracy, degradation, rollback is null, change.Solver.ToString(), change.DeltaNorm, localise, editing, evaluating));
            shown.Advance();
            if (rollback is not null)
            {
                change.Rollback();
                stop = $"round {round} at {target.Name} {rollback}: rolled back";
                if (!options.NextOnRollback || fixedLayer) break;
                excluded.Add(target.Name);
                continue;
            }
            accuracy = newAccuracy;
            gap = newGap;
            keptEdits++;
            stop = ""; // an earlier round's rollback no longer explains where the loop stops
            statistics.Invalidate(target, sites);
        }
        model.Provenance = model.Provenance with
        {
            History = [.. model.Provenance.History, $"rectified ({options.Mode.Name()}) with {labels.Length} pair(s) at {string.Join(", ", rounds.Where(r => r.Kept).Select(r => r.Layer))}"],
        };
        return new RectificationResult(model, rounds, accuracyBefore, accuracy, gapBefore, gap, stop,
            new RectifyTiming(statisticsTime, localiseTime, editTime, evaluateTime, total.Elapsed.TotalSeconds));
    }

    /// <summary>A total of transplanted pairs spread over <paramref name="pairs"/> cleansed pairs: ⌈total / pairs⌉ each.</summary>
    internal static int PerPair(int total, int pairs) => (total + pairs - 1) / pairs;

    /// <summary>The last feature layer: the affine layer just before the classifier (the last affine layer).</summary>
    public static AffineSite LastFeatureLayer(IReadOnlyList<AffineSite> sites) =>
        sites.Count >= 2 ? sites[^2] : throw new ReparoInputException("static rectification needs a feature layer before the classifier");

    /// <summary>Mean total-variation distance between the class probabilities (softmax of the scores) of the clean twins and the corrupted inputs.</summary>
    public static double PairGap(Network network, Tensor corrupted, Tensor clean)
    {
        using var scope = NewDisposeScope();
        Tensor p = network.LayerInputs(corrupted, network.ScoreLayerCount).softmax(1), q = network.LayerInputs(clean, network.ScoreLayerCount).softmax(1);
        return p.sub(q).abs().sum(1).mul(0.5).mean().item<float>();
    }

    private static void Validate(Tensor corrupted, Tensor clean, long[] labels, Dataset heldOut, RectifyOptions options)
    {
        if (options.Mode.IsClarc()) throw new ReparoInputException($"{options.Mode.Name()} is a baseline run by ClassArtifactCompensation, not by the rectifier");
        if (corrupted.shape[0] == 0 || !corrupted.shape.SequenceEqual(clean.shape) || corrupted.shape[0] != labels.Length)
            throw new ReparoInputException($"rectification needs matching corrupted inputs, clean twins and labels (got {corrupted.shape[0]}, {clean.shape[0]}, {labels.Length})");
        if (!corrupted.isfinite().all().item<bool>() || !clean.isfinite().all().item<bool>()) throw new ReparoInputException("the pairs contain NaN or infinite values");
        if (heldOut.Count == 0) throw new ReparoInputException("rectification needs held-out data to check accuracy");
        if (!(options.Budget >= 0) || !double.IsFinite(options.Budget)) throw new ReparoInputException($"the budget must be zero or positive, got {options.Budget}");
        if (!(options.Gap >= 0) || !double.IsFinite(options.Gap)) throw new ReparoInputException($"the gap threshold must be zero or positive, got {options.Gap}");
        if (!(options.MinGapClosed >= 0 && options.MinGapClosed <= 1)) throw new ReparoInputException($"the least share of the gap a round must close is between 0 and 1, got {options.MinGapClosed}");
        if (options.MaxRounds < 1) throw new ReparoInputException($"at least one round is needed, got {options.MaxRounds}");
        if (options.IgSteps < 1) throw new ReparoInputException($"layer IG needs at least one step, got {options.IgSteps}");
    }
}
