using System.Diagnostics;
using Reparo.Data;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Repair.Baselines;
using Reparo.Repair.Editing;
using Reparo.Reporting;
using static TorchSharp.torch;

namespace Reparo.Experiments;

/// <summary>
/// One rectification benchmark run: draw n cleansed pairs from the validation split, rectify (or run a baseline:
/// fine-tuning with <see cref="FineTune"/>, or P-/A-ClArC with <see cref="RectifyMode.PClarc"/>/<see cref="RectifyMode.AClarc"/>
/// options, see <see cref="ClassArtifactCompensation"/>), and measure the model before and after on the test split.
/// Shared by <c>reparo rectify</c>, the experiment and the demo.
/// </summary>
public sealed partial class RectificationRun
{
    private RectificationRun(string poison, int pairs, string method, RectificationMeasures before, RectificationMeasures after, RectificationResult rectification,
        Network original, PairInputs inputs)
    {
        Original = original;
        Inputs = inputs;
        Poison = poison;
        Pairs = pairs;
        Method = method;
        Before = before;
        After = after;
        Rectification = rectification;
    }

    /// <summary>The model's poisoning (<c>badnets:0.1:0</c>, …), or <c>user</c> for pairs the user brought (<see cref="UserPairs"/>).</summary>
    public string Poison { get; }

    /// <summary>Number of cleansed pairs.</summary>
    public int Pairs { get; }

    /// <summary>The method's name in reports: the mode (<c>static</c>, <c>dynamic</c>, <c>p-clarc</c>, <c>a-clarc</c>), <c>ft</c>, or the caller's label (the experiment's <c>default</c>).</summary>
    public string Method { get; }

    /// <summary>Measurements before.</summary>
    public RectificationMeasures Before { get; }

    /// <summary>Measurements after.</summary>
    public RectificationMeasures After { get; }

    /// <summary>The rectification (for fine-tuning: one pseudo-round over all layers).</summary>
    public RectificationResult Rectification { get; }

    /// <summary>The model before the rectification (not modified).</summary>
    public Network Original { get; }

    /// <summary>The cleansed pairs the rectification was given.</summary>
    public PairInputs Inputs { get; }

    /// <summary>Rectifies with <paramref name="options"/> (its mode picks the method: the rectifier or a ClArC baseline) and measures before and after.</summary>
    /// <param name="network">The poisoned model (not modified).</param>
    /// <param name="spec">Its poisoning.</param>
    /// <param name="splits">Clean splits prepared for the model (block-transformed for block models).</param>
    /// <param name="pairs">Number of cleansed pairs, drawn from the validation split.</param>
    /// <param name="options">Rectification options.</param>
    /// <param name="statisticsSamples">Training images for the key second moments.</param>
    /// <param name="seed">Seed of the pair and held-out draws.</param>
    /// <param name="label">The method's name in reports (default: the mode).</param>
    /// <param name="before">The model's measures if already known (they depend only on the model and the test split).</param>
    public static RectificationRun Execute(Network network, PoisonSpec spec, DataSplits splits, int pairs, RectifyOptions options, int statisticsSamples, int seed,
        string? label = null, RectificationMeasures? before = null)
    {
        (CleansedPairs drawn, Dataset heldOut) = Draw(spec, splits, pairs, seed);
        return Run(network, spec.ToString(), drawn.Corrupted, drawn.Clean, drawn.Labels, heldOut, splits, options, statisticsSamples,
            model => RectificationMetrics.Measure(model, spec, splits.Test), label, before);
    }

    /// <summary>
    /// Rectifies with the user's own pairs (a model Reparo did not poison) and measures before and after: clean test
    /// accuracy and, with triggered inputs, the share of them predicted as the target (ASR). The held-out accuracy check
    /// uses the whole validation split, which the pairs are not drawn from.
    /// </summary>
    /// <param name="network">The model (not modified).</param>
    /// <param name="pairs">The user's pairs and triggered inputs.</param>
    /// <param name="splits">Clean splits prepared for the model.</param>
    /// <param name="options">Rectification options.</param>
    /// <param name="statisticsSamples">Training inputs for the key second moments.</param>
    public static RectificationRun Execute(Network network, UserPairs pairs, DataSplits splits, RectifyOptions options, int statisticsSamples)
    {
        if (splits.Validation.Count == 0) throw new ReparoInputException("rectification checks held-out accuracy on the validation split, which is empty");
        RectificationMeasures Measure(Network model) => new(Training.Evaluator.Accuracy(model, splits.Test),
            pairs.Triggered is { } triggered ? RectificationMetrics.AttackSuccessRate(model, triggered, pairs.Target!.Value) : null, null, null, null, null, null);
        return Run(network, "user", pairs.Corrupted, pairs.Clean, pairs.Labels, splits.Validation, splits, options, statisticsSamples, Measure, null, null);
    }

    private static RectificationRun Run(Network network, string poison, Tensor corrupted, Tensor clean, long[] labels, Dataset heldOut, DataSplits splits,
        RectifyOptions options, int statisticsSamples, Func<Network, RectificationMeasures> measure, string? label, RectificationMeasures? before)
    {
        before ??= measure(network);
        int samples = Math.Min(statisticsSamples, splits.Train.Count);
        Tensor statisticsInputs = splits.Train.X.narrow(0, 0, samples);
        // The ClArC baselines get the same pairs, and A-ClArC trains on the same clean inputs the rectifier's statistics come from.
        var clarc = new ClarcOptions(options.Layer, Seed: options.Seed);
        RectificationResult result = options.Mode switch
        {
            RectifyMode.PClarc => ClassArtifactCompensation.Project(network, corrupted, clean, heldOut, clarc),
            RectifyMode.AClarc => ClassArtifactCompensation.Augment(network, corrupted, clean, heldOut, statisticsInputs, splits.Train.Y.narrow(0, 0, samples), clarc),
            _ => Rectifier.Rectify(network, corrupted, clean, labels, heldOut, statisticsInputs, options),
        };
        return new RectificationRun(poison, labels.Length, label ?? options.Mode.Name(), before, measure(result.Network), result,
            network, new PairInputs(corrupted, clean, labels));
    }

    /// <summary>
    /// The fine-tuning baseline with the same pairs: all layers, Adam (learning rate 1e-4), on the corrupted inputs and
    /// their clean twins with the true labels, until every one is classified correctly (at most 200 steps).
    /// </summary>
    public static RectificationRun FineTune(Network network, PoisonSpec spec, DataSplits splits, int pairs, int seed, RectificationMeasures? before = null)
    {
        (CleansedPairs drawn, Dataset heldOut) = Draw(spec, splits, pairs, seed);
        before ??= RectificationMetrics.Measure(network, spec, splits.Test);
        var clock = Stopwatch.StartNew();
        Tensor inputs = cat([drawn.Corrupted, drawn.Clean], 0);
        Tensor labels = tensor(drawn.Labels.Concat(drawn.Labels).ToArray());
        var points = new Dataset("cleansed pairs", inputs, labels, splits.Test.ClassNames, splits.Test.Kind);
        var problem = new RepairProblem(network, RepairSet.FromPoints(points, [.. Enumerable.Range(0, points.Count)], $"{pairs} cleansed pairs"), heldOut, null);
        RepairResult repaired = new FineTuneRepair(new FineTuneOptions("all", LearningRate: 1e-4, MaxSteps: 200, Seed: seed)).Repair(problem);
        Network tuned = repaired.Model?.PlainNetwork ?? throw new ReparoInputException($"fine-tuning failed: {repaired.Message}");
        double seconds = clock.Elapsed.TotalSeconds;
        double accuracyBefore = Training.Evaluator.Accuracy(network, heldOut), accuracyAfter = Training.Evaluator.Accuracy(tuned, heldOut);
        double gapBefore = Rectifier.PairGap(network, drawn.Corrupted, drawn.Clean), gapAfter = Rectifier.PairGap(tuned, drawn.Corrupted, drawn.Clean);
        var round = new RectificationRound(1, "all", [], gapBefore, gapAfter, accuracyAfter, accuracyBefore - accuracyAfter, true, "adam", double.NaN, 0, seconds, 0);
        var result = new RectificationResult(tuned, [round], accuracyBefore, accuracyAfter, gapBefore, gapAfter, repaired.Message, new RectifyTiming(0, 0, seconds, 0, seconds));
        RectificationMeasures after = RectificationMetrics.Measure(tuned, spec, splits.Test);
        return new RectificationRun(spec.ToString(), pairs, "ft", before, after, result, network, new PairInputs(drawn.Corrupted, drawn.Clean, drawn.Labels));
    }

    /// <summary>The JSON report (<c>layers, asr_before, asr_after, accuracy_before, accuracy_after, time_s</c> and the details).</summary>
    public RectificationReport Report(string? output = null) => new(Method, Poison, Pairs, Rectification.Layers,
        Before.Asr, After.Asr, Before.Accuracy, After.Accuracy, Rectification.Time.Total, Before, After,
        Rectification.HeldOutAccuracyBefore, Rectification.HeldOutAccuracyAfter, Rectification.GapBefore, Rectification.GapAfter,
        Rectification.StopReason, Rectification.Rounds, Rectification.Time, output);

    private static (CleansedPairs Pairs, Dataset HeldOut) Draw(PoisonSpec spec, DataSplits splits, int pairs, int seed)
    {
        if (splits.Validation.Count == 0) throw new ReparoInputException("rectification draws its pairs and held-out check from the validation split, which is empty");
        CleansedPairs drawn = Poisoning.Pairs(spec, splits.Validation, pairs, seed);
        // The held-out accuracy check uses the validation images that are not pair images.
        var used = new HashSet<int>(drawn.SourceIds);
        int[] rest = [.. Enumerable.Range(0, splits.Validation.Count).Where(i => !used.Contains(splits.Validation.SourceIndices[i]))];
        return (drawn, splits.Validation.Subset(rest, "held-out"));
    }
}

/// <summary>Cleansed pairs: corrupted inputs, their clean twins and their true labels, in the same order.</summary>
/// <param name="Corrupted">The corrupted inputs (n, …).</param>
/// <param name="Clean">Their clean twins (n, …).</param>
/// <param name="Labels">The true labels.</param>
public sealed record PairInputs(Tensor Corrupted, Tensor Clean, long[] Labels);
