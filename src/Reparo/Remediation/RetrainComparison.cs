using System.Diagnostics;
using Reparo.Data;
using Reparo.Models;
using Reparo.Runtime;
using Reparo.Training;
using static TorchSharp.torch;

namespace Reparo.Remediation;

/// <summary>Settings of <see cref="RetrainComparison"/>.</summary>
/// <param name="Architecture">The network to train afresh, as a <see cref="ModelZoo"/> spec such as <c>lstm:32</c>.</param>
/// <param name="Training">How to train; its seed is replaced by each run's seed.</param>
/// <param name="Seeds">One run per seed: the seed initialises the weights and orders the batches.</param>
public sealed record RetrainOptions(string Architecture, TrainingOptions Training, IReadOnlyList<int> Seeds);

/// <summary>One retrained model.</summary>
/// <param name="Seed">The run's seed.</param>
/// <param name="TestAccuracy">Accuracy on the test set.</param>
/// <param name="FaultsFixed">How many of the fault inputs are now predicted as their true label.</param>
/// <param name="Epochs">Epochs trained.</param>
/// <param name="Seconds">Wall time of training and evaluation.</param>
public sealed record RetrainRun(int Seed, double TestAccuracy, int FaultsFixed, int Epochs, double Seconds);

/// <summary>Mean and sample standard deviation (n − 1 in the denominator; 0 for a single value).</summary>
/// <param name="Mean">The mean.</param>
/// <param name="Std">The sample standard deviation.</param>
public sealed record MeanStd(double Mean, double Std)
{
    /// <summary>The mean and sample standard deviation of <paramref name="values"/> (at least one).</summary>
    public static MeanStd Of(IReadOnlyCollection<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("no values to summarise");
        double mean = values.Average();
        double std = values.Count == 1 ? 0 : Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        return new MeanStd(mean, std);
    }
}

/// <summary>Every run of a comparison and their summary.</summary>
/// <param name="Runs">One run per seed, in the seeds' order.</param>
/// <param name="TrainRows">Rows trained on: the base set plus the extra rows.</param>
/// <param name="FaultCount">Number of fault inputs.</param>
/// <param name="TestAccuracy">Test accuracy over the runs.</param>
/// <param name="FaultsFixed">Faults predicted right over the runs.</param>
public sealed record RetrainComparisonResult(IReadOnlyList<RetrainRun> Runs, int TrainRows, int FaultCount, MeanStd TestAccuracy, MeanStd FaultsFixed);

/// <summary>Progress of a comparison: which run, and its training progress.</summary>
/// <param name="Run">The run (1-based).</param>
/// <param name="Runs">Number of runs.</param>
/// <param name="Seed">The run's seed.</param>
/// <param name="Training">The run's training progress.</param>
public sealed record RetrainProgress(int Run, int Runs, int Seed, TrainingProgress Training);

/// <summary>
/// The evaluation of RNNRepair's remediation by retraining (Xie et al., ICML 2021, Sec. 4.4, Tables 3 and 4; the
/// authors' apps/RQ4/repair_mnist_rnn_keras.py and segment_repair.py): a fresh model per seed is trained on the
/// training set plus the remediation's extra rows, and each is measured by its test accuracy and by how many of the
/// faults it now predicts right; the runs are summarised as mean ± standard deviation. The inputs are not modified.
/// </summary>
public static class RetrainComparison
{
    /// <summary>The training set with the remediation's rows appended (same kind, sample shape, classes and vocabulary).</summary>
    public static Dataset Append(Dataset train, Dataset extra)
    {
        if (extra.Kind != train.Kind || !extra.SampleShape.SequenceEqual(train.SampleShape))
            throw new ReparoInputException($"'{extra.Name}' has {extra.Kind.ToString().ToLowerInvariant()} rows of shape [{string.Join(",", extra.SampleShape)}]; '{train.Name}' has {train.Kind.ToString().ToLowerInvariant()} rows of shape [{string.Join(",", train.SampleShape)}]");
        if (!extra.ClassNames.SequenceEqual(train.ClassNames)) throw new ReparoInputException($"'{extra.Name}' and '{train.Name}' name their classes differently");
        if (train.Kind == InputKind.Tokens && !extra.Vocabulary!.Tokens.SequenceEqual(train.Vocabulary!.Tokens))
            throw new ReparoInputException($"'{extra.Name}' was encoded with another vocabulary than '{train.Name}'");
        using var scope = NewDisposeScope();
        return new Dataset($"{train.Name}+{extra.Count} rows", cat([train.X, extra.X.to(train.X.dtype)], 0), cat([train.Y, extra.Y], 0),
            train.ClassNames, train.Kind, train.Vocabulary, train.SourceIndices.Concat(extra.SourceIndices).ToArray());
    }

    /// <summary>
    /// Tables 3 and 4's measurement: per seed, a fresh <see cref="RetrainOptions.Architecture"/> trained on
    /// <paramref name="train"/> plus <paramref name="extra"/> (none: the unrepaired baseline), with early stopping on
    /// <paramref name="validation"/> if given, then its accuracy on <paramref name="test"/> and the number of
    /// <paramref name="faults"/> (inputs with their true labels) it predicts right.
    /// </summary>
    public static RetrainComparisonResult Run(Dataset train, Dataset? extra, Dataset test, Dataset faults, RetrainOptions options,
        Dataset? validation = null, IProgress<RetrainProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (options.Seeds.Count == 0) throw new ReparoInputException("at least one seed is needed");
        options.Training.Validate();
        Dataset data = extra is null ? train : Append(train, extra);
        var runs = new List<RetrainRun>();
        long[] faultLabels = faults.Labels();
        using ProgressScope shown = WorkProgress.Begin($"retrain {options.Architecture} over seeds", options.Seeds.Count);
        foreach (int seed in options.Seeds)
        {
            var clock = Stopwatch.StartNew();
            int run = runs.Count + 1;
            using Network network = ModelZoo.Create(options.Architecture, data, seed);
            Trainer.CheckCompatible(network, test);
            Trainer.CheckCompatible(network, faults);
            TrainingReport report = Trainer.Train(network, data, validation, options.Training with { Seed = seed },
                progress is null ? null : new RunProgress(p => progress.Report(new RetrainProgress(run, options.Seeds.Count, seed, p))), cancellation);
            double accuracy = Evaluator.Accuracy(network, test);
            long[] predicted = network.Predict(faults.X);
            int fixedCount = Enumerable.Range(0, faultLabels.Length).Count(i => predicted[i] == faultLabels[i]);
            runs.Add(new RetrainRun(seed, accuracy, fixedCount, report.Epochs.Count, clock.Elapsed.TotalSeconds));
            shown.Advance();
        }
        return new RetrainComparisonResult(runs, data.Count, faults.Count,
            MeanStd.Of(runs.Select(r => r.TestAccuracy).ToArray()), MeanStd.Of(runs.Select(r => (double)r.FaultsFixed).ToArray()));
    }

    /// <summary>Forwards training progress synchronously (<see cref="Progress{T}"/> would post to the thread pool).</summary>
    private sealed class RunProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
