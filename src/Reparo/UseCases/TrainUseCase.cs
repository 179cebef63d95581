using Reparo.Data;
using Reparo.Models;
using Reparo.Repair.Editing;
using Reparo.Reporting;
using Reparo.Training;

namespace Reparo.UseCases;

/// <summary>What <c>reparo train</c> is asked to do.</summary>
/// <param name="Data">The data spec (recorded in the model's provenance).</param>
/// <param name="SplitSeed">Seed of the train/validation/test split (recorded).</param>
/// <param name="Splits">The data, raw.</param>
/// <param name="Architecture">A zoo spec (<see cref="ModelZoo.SpecHelp"/>).</param>
/// <param name="Options">Training options.</param>
/// <param name="Threads">Threads in effect (recorded).</param>
/// <param name="Out">Where the trained model goes.</param>
/// <param name="Preprocessing">The command line's input preprocessing, if any; the model records and applies it.</param>
/// <param name="Poison">Poison the training and validation data first, and measure the effect on the trained model.</param>
/// <param name="Curves">Where the training curves go, if anywhere.</param>
/// <param name="Exclude">Training and validation samples to leave out, by source name (<see cref="DataSplits.Excluding"/>), with where the list came from; null: none.</param>
public sealed record TrainRequest(string Data, int SplitSeed, DataSplits Splits, string Architecture, TrainingOptions Options, int Threads, string Out,
    InputPreprocessing? Preprocessing = null, PoisonSpec? Poison = null, TensorBoardLog? Curves = null, (IReadOnlyList<string> Sources, string From)? Exclude = null);

/// <summary>
/// <c>reparo train</c>: trains a zoo model (on poisoned data when asked, measuring the poison's effect), evaluates it on
/// the test split, records its provenance and saves it.
/// </summary>
public static class TrainUseCase
{
    /// <summary>Trains, evaluates and saves; <paramref name="progress"/> hears every batch.</summary>
    public static TrainedModelReport Run(TrainRequest request, IProgress<TrainingProgress>? progress = null)
    {
        DataSplits splits = request.Splits;
        int excluded = 0;
        if (request.Exclude is { } exclude) (splits, excluded) = splits.Excluding(exclude.Sources);
        int seed = request.Options.Seed;
        InputPreprocessing? preprocessing = request.Preprocessing is { } given ? given with { ByteInputs = splits.ByteInputs }
            : splits.ByteInputs ? new InputPreprocessing { ByteInputs = true } : null;
        PoisonedData? poisoned = null;
        if (request.Poison is { } spec)
        {
            poisoned = Poisoning.Apply(splits, spec, seed);
            splits = poisoned.Splits;
        }
        Network network = ModelZoo.Create(request.Architecture, splits.Train, seed);
        // The model applies its preprocessing in its forward pass, so it trains on the raw (and poisoned) data.
        network.Provenance = new ModelProvenance { Preprocessing = preprocessing };
        TrainingReport training = Trainer.Train(network, splits.Train, splits.Validation, request.Options, progress, epochEnded: request.Curves is null ? null : request.Curves.EpochEnded);
        EvaluationReport test = Evaluator.Evaluate(network, splits.Test);
        PoisonEffect? effect = poisoned is null ? null : Measure(network, poisoned, splits.Test, test);
        string trained = $"trained {network.Spec.Architecture} on {request.Data}"
            + (request.Exclude is { } list ? $" without the {excluded} samples listed in {list.From}" : "")
            + $": {training.Epochs.Count} epochs (kept {training.BestEpoch}), seed {seed}, {request.Threads} threads";
        network.Provenance = new ModelProvenance
        {
            Data = request.Data,
            SplitSeed = request.SplitSeed,
            Seed = seed,
            Threads = request.Threads,
            ValidationAccuracy = training.BestValidationAccuracy,
            Poison = poisoned?.Spec.ToString(),
            Preprocessing = preprocessing,
            ImageResizing = request.Splits.ImageResizing,
            History = poisoned is null ? [trained] :
            [
                $"poisoned {request.Data} with {poisoned.Spec}: {poisoned.Poisoned} images ({poisoned.PoisonedTrainRows.Count} train, {poisoned.PoisonedValidationRows.Count} validation), seed {seed}",
                trained,
            ],
        };
        ModelFile.Save(network, request.Out);
        double trainSeconds = training.Epochs.Sum(e => e.Seconds);
        return new TrainedModelReport(network.Spec.Architecture, request.Data, seed, request.Threads, network.ParameterCount, training.Epochs,
            training.BestEpoch, training.StoppedEarly, training.BestValidationAccuracy, test.Accuracy, test.N, test.PerClassAccuracy,
            training.Seconds, splits.Train.Count * (double)training.Epochs.Count / Math.Max(trainSeconds, 1e-9), request.Out, effect)
        {
            ClassNames = network.Spec.ClassNames,
            Excluded = excluded,
            Warnings = NoBetterThanTheCommonestClass(splits, preprocessing, request.Options, training.Epochs.Count, test.Accuracy) is { } warning ? [warning] : [],
        };
    }

    /// <summary>
    /// A warning when the test accuracy is within one sample of always predicting the test split's most common class:
    /// the model has not learned (on a small table, the defaults' few steps per epoch or features far from unit scale are
    /// the usual causes), with the numbers that tell why; null otherwise.
    /// </summary>
    private static string? NoBetterThanTheCommonestClass(DataSplits splits, InputPreprocessing? preprocessing, TrainingOptions options, int epochs, double testAccuracy)
    {
        long[] labels = splits.Test.Labels();
        if (labels.Length == 0) return null;
        double commonest = labels.GroupBy(label => label).Max(group => group.Count()) / (double)labels.Length;
        if (testAccuracy > commonest + 1.0 / labels.Length) return null;
        int steps = (splits.Train.Count + options.BatchSize - 1) / options.BatchSize;
        return FormattableString.Invariant($"the model is no better than always predicting the most common class (test accuracy {testAccuracy:P2}, most common class {commonest:P2}); {epochs} epochs of {steps} steps each ran ({splits.Train.Count} training samples, batch size {options.BatchSize}, learning rate {options.LearningRate:G3}): {FarFromUnitScale(splits.Train, preprocessing)}train longer (--epochs, --patience), with a smaller --batch-size or a larger --lr");
    }

    /// <summary>
    /// Advice to standardise the inputs when the model does not already and some channel (a feature of a table) the
    /// first layer sees lies far from unit scale (|mean| + sd above 10), naming the widest; empty otherwise.
    /// </summary>
    private static string FarFromUnitScale(Dataset train, InputPreprocessing? preprocessing)
    {
        if (train.Kind == InputKind.Tokens || train.Count == 0 || preprocessing is { Mean: not null } or { Std: not null }) return "";
        (double[] means, double[] stds) = (preprocessing ?? new InputPreprocessing()).StatisticsOf(train);
        int widest = Enumerable.Range(0, means.Length).MaxBy(c => Math.Abs(means[c]) + stds[c]);
        if (Math.Abs(means[widest]) + stds[widest] <= 10) return "";
        string channel = train.SampleShape.Length == 1 ? "feature" : "channel";
        return FormattableString.Invariant($"the inputs are far from unit scale ({channel} {widest}: mean {means[widest]:G4}, sd {stds[widest]:G4}), so standardise them with --normalize {InputPreprocessing.FromTraining}, and ");
    }

    private static PoisonEffect Measure(Network network, PoisonedData poisoned, Dataset test, EvaluationReport clean)
    {
        PoisonSpec spec = poisoned.Spec;
        switch (spec.Kind)
        {
            case PoisonKind.Spurious:
                SpuriousReport spurious = RectificationMetrics.SpuriousDeviation(network, test, spec);
                return new PoisonEffect(spec.ToString(), poisoned.Poisoned, null, spurious.Deviation, spurious.ArtifactAccuracy, spurious.FlippedToClass, null);
            case PoisonKind.Block:
                return new PoisonEffect(spec.ToString(), poisoned.Poisoned, null, null, null, null, clean.Accuracy);
            default:
                double asr = RectificationMetrics.AttackSuccessRate(network, Poisoning.TriggeredTest(test, spec, Corner.BottomRight), spec.Class);
                return new PoisonEffect(spec.ToString(), poisoned.Poisoned, asr, null, null, null, null);
        }
    }
}
