using System.Diagnostics;
using System.Globalization;
using System.Text;
using Reparo.Data;
using Reparo.Influence;
using Reparo.Models;
using Reparo.Remediation;
using Reparo.Reporting;
using Reparo.Training;
using static Reparo.Reporting.ReportText;
using static TorchSharp.torch;

namespace Reparo.Experiments;

/// <summary>Settings of <see cref="SampleRemediationStudy"/>.</summary>
public sealed record SampleRemediationOptions
{
    /// <summary>
    /// Two class indices to keep (relabelled 0 and 1, as <see cref="LabelNoise.BinarySubset(DataSplits, int, int)"/>), or
    /// null for every class. Default Pullover (2) vs Coat (4) of Fashion-MNIST: the pair an LSTM over rows confuses most.
    /// </summary>
    public IReadOnlyList<int>? Classes { get; init; } = [2, 4];

    /// <summary>The recurrent network over image rows, as a <see cref="ModelZoo"/> spec.</summary>
    public string Architecture { get; init; } = "lstm:32";

    /// <summary>
    /// Epochs of the model whose faults are repaired; its weights after each epoch 1..n are the "n models trained for
    /// different epoch counts" of Table 3 (the authors use 7), a fault is a test input all n get wrong, each of the n
    /// contributes one sample per fault, and every retrained model is trained for n epochs, as the original was.
    /// </summary>
    public int CheckpointEpochs { get; init; } = 7;

    /// <summary>
    /// How the original model and every retrained model are trained (the seed is replaced per run, the epochs are
    /// <see cref="CheckpointEpochs"/>). Adam at 3e-3, batch 128: measured on the shared 2-core machine, one <c>lstm:32</c>
    /// epoch over the CLI's default 3,000 training rows takes about 10 s.
    /// </summary>
    public TrainingOptions Training { get; init; } = new() { LearningRate = 3e-3, Patience = 0 };

    /// <summary>Retrained models per condition (seeds Seed, Seed + 1, …; the authors report the mean over 10 per repeat).</summary>
    public int Seeds { get; init; } = 20;

    /// <summary>Seed of the original model, the random baseline and the first retraining run.</summary>
    public int Seed { get; init; }

    /// <summary>The candidate grid (rotations −180…179° and diagonal shifts of the true-label neighbour) and the random baseline's rotations.</summary>
    public AugmentationOptions Augmentation { get; init; } = new();

    /// <summary>How the influence model of each checkpoint is built (the K sweep stops at the first stable K by default, for speed).</summary>
    public InfluenceOptions Influence { get; init; } = new() { Abstraction = new AbstractionOptions { StopAtFirstStable = true } };

    /// <summary>Use at most this many training rows after the class subset (a subset drawn by <see cref="Seed"/>, in row order); null for all.</summary>
    public int? TrainRows { get; init; }

    /// <summary>Use at most this many faults (the first ones in test order); null for all.</summary>
    public int? MaxFaults { get; init; }

    /// <summary>Throws a <see cref="ReparoInputException"/> if a value is out of range.</summary>
    public void Validate()
    {
        if (Classes is { } c && c.Count != 2) throw new ReparoInputException($"--classes takes two class indices (or none for all classes), got {c.Count}");
        if (CheckpointEpochs < 1) throw new ReparoInputException($"at least one checkpoint epoch is needed, got {CheckpointEpochs}");
        if (Seeds < 1) throw new ReparoInputException($"at least one seed is needed, got {Seeds}");
        if (TrainRows is < 1) throw new ReparoInputException($"the training row limit must be at least 1, got {TrainRows}");
        if (MaxFaults is < 1) throw new ReparoInputException($"the fault limit must be at least 1, got {MaxFaults}");
        Training.Validate();
        Augmentation.Validate();
    }
}

/// <summary>The candidate one checkpoint kept for one fault.</summary>
/// <param name="TestRow">The fault's row in the test split.</param>
/// <param name="Label">Its true label.</param>
/// <param name="Epoch">The checkpoint (epoch) whose abstraction chose it.</param>
/// <param name="TargetRow">The selection target: the training row nearest the fault (trace distance) among those the checkpoint predicts right with the label it wrongly gives the fault.</param>
/// <param name="SourceRow">The training row the candidate was made from: the nearest such row with the fault's true label.</param>
/// <param name="Transform">"rotation" or "shift".</param>
/// <param name="Amount">Degrees or pixels.</param>
/// <param name="Distance">Temporal-feature distance of the candidate's abstract trace to the target's (the smallest among the candidates).</param>
public sealed record SampleRepairChoice(int TestRow, long Label, int Epoch, int TargetRow, int SourceRow, string Transform, double Amount, double Distance);

/// <summary>One condition of Table 3: the retrained models' faults fixed and test accuracy.</summary>
/// <param name="Condition">original, influence, random (the authors' baseline), pool-random or neighbour.</param>
/// <param name="AddedRows">Rows added to the training set.</param>
/// <param name="Result">Every run and the mean ± std.</param>
public sealed record SampleConditionResult(string Condition, int AddedRows, RetrainComparisonResult Result);

/// <summary>What <see cref="SampleRemediationStudy.Run"/> measured.</summary>
/// <param name="Data">The data's name (after the class subset).</param>
/// <param name="ClassNames">The classes.</param>
/// <param name="Architecture">The network.</param>
/// <param name="TrainRows">Training rows before augmentation.</param>
/// <param name="TestRows">Test rows.</param>
/// <param name="CheckpointAccuracies">Test accuracy of the original model after each epoch 1..n.</param>
/// <param name="Faults">Test inputs every checkpoint gets wrong (used ones, after the limit).</param>
/// <param name="AbstractStates">K of each checkpoint's influence model.</param>
/// <param name="CandidatesPerFault">Candidates generated per fault and checkpoint.</param>
/// <param name="Choices">The candidate each checkpoint kept per fault.</param>
/// <param name="Conditions">original, influence, random, pool-random, neighbour.</param>
/// <param name="Seconds">Wall time of the whole study.</param>
public sealed record SampleRemediationReport(string Data, IReadOnlyList<string> ClassNames, string Architecture, int TrainRows, int TestRows,
    IReadOnlyList<double> CheckpointAccuracies, int Faults, IReadOnlyList<int> AbstractStates, int CandidatesPerFault, IReadOnlyList<SampleRepairChoice> Choices,
    IReadOnlyList<SampleConditionResult> Conditions, double Seconds) : IRemediationReport
{
    /// <summary>Table 3 as a document: faults fixed by the influence-chosen samples against random ones first, then the conditions, the setup and the choices.</summary>
    public ReportDocument ToDocument()
    {
        List<string> summary = [$"{Count(Faults, "fault")} of {Architecture} on {Data} (test inputs every one of {Count(CheckpointAccuracies.Count, "checkpoint")} gets wrong), each given one augmented training sample per checkpoint chosen by influence as the authors do, then {Count(Conditions.FirstOrDefault()?.Result.Runs.Count ?? 0, "model")} retrained per training set."];
        foreach (SampleConditionResult c in Conditions)
        {
            RetrainComparisonResult r = c.Result;
            summary.Add($"{Describe(c.Condition)}: {Number(r.FaultsFixed.Mean)} ± {Number(r.FaultsFixed.Std)} of {r.FaultCount} faults fixed, test accuracy {Percent(r.TestAccuracy.Mean)} ± {Percent(r.TestAccuracy.Std)}.");
        }
        summary.Add($"Cost: {Count(Conditions.Sum(c => c.Result.Runs.Count), "retrained model")} and {Count(Conditions.Sum(c => c.AddedRows), "added row")} in {ReportText.Seconds(Seconds)}.");
        var inv = CultureInfo.InvariantCulture;
        var sections = new List<ReportSection>
        {
            new("Before and after: faults fixed per training set", [new ReportTable(["training data", "rows added", "faults fixed (mean ± std)", "test accuracy (mean ± std)", "runs"],
                [.. Conditions.Select(c => (IReadOnlyList<string>)[Describe(c.Condition), c.AddedRows.ToString(inv), $"{Number(c.Result.FaultsFixed.Mean)} ± {Number(c.Result.FaultsFixed.Std)} of {c.Result.FaultCount}",
                    $"{Percent(c.Result.TestAccuracy.Mean)} ± {Percent(c.Result.TestAccuracy.Std)}", c.Result.Runs.Count.ToString(inv)])])]),
            new("Setup", [new ReportKeyValues(
            [
                new("data", $"{Data} ({string.Join(" vs ", ClassNames)})"),
                new("model", Architecture),
                new("training rows", Count(TrainRows)),
                new("test rows", Count(TestRows)),
                new("checkpoint test accuracies", string.Join(", ", CheckpointAccuracies.Select(Percent))),
                new("abstract states (K) per checkpoint", string.Join(", ", AbstractStates)),
                new("candidates per fault and checkpoint", CandidatesPerFault.ToString(inv)),
            ])]),
            new("The sample each checkpoint chose per fault", [new ReportTable(["test row", "label", "checkpoint", "target row", "source row", "transform", "amount", "distance"],
                [.. Choices.Select(c => (IReadOnlyList<string>)[c.TestRow.ToString(inv), c.Label < ClassNames.Count ? ClassNames[(int)c.Label] : c.Label.ToString(inv),
                    c.Epoch.ToString(inv), c.TargetRow.ToString(inv), c.SourceRow.ToString(inv), c.Transform, Number(c.Amount), Number(c.Distance)])])]),
        };
        return new ReportDocument("Sample-level remediation (RNNRepair Table 3)", summary, sections);
    }

    /// <summary>The results section: setup, then Table 3's rows (faults fixed and test accuracy, mean ± sd, and the accuracy against the original arm's).</summary>
    public string ToMarkdown()
    {
        var text = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        text.AppendLine("## Sample-level remediation (RNNRepair Table 3, the authors' protocol)").AppendLine();
        text.AppendLine(inv, $"Data `{Data}` ({string.Join(" vs ", ClassNames)}), `{Architecture}`, {TrainRows} training and {TestRows} test rows. " +
            $"Checkpoint test accuracies (epochs 1–{CheckpointAccuracies.Count}): {string.Join(", ", CheckpointAccuracies.Select(a => a.ToString("P1", inv)))}. " +
            $"{Faults} faults (test inputs every checkpoint gets wrong). As the authors' datagen.py: per checkpoint and fault, the nearest correctly predicted training " +
            $"sample (trace distance) with the fault's true label is turned into {CandidatesPerFault} candidates (rotations and diagonal shifts), and the one whose trace is " +
            $"closest to that of the nearest correctly predicted training sample with the label the fault wrongly gets is added: one per checkpoint, " +
            $"{CheckpointAccuracies.Count} per fault (K per checkpoint: {string.Join(", ", AbstractStates)}); {Choices.Count} of {Faults * CheckpointAccuracies.Count} " +
            $"were made (a checkpoint that gets no training sample of a label right has no neighbour of that label). Every model is retrained from scratch for " +
            $"{CheckpointAccuracies.Count} epochs, as the original. {Seconds / 60:F1} min.").AppendLine();
        text.AppendLine("| training data | rows added | faults fixed (mean ± sd) | test accuracy (mean ± sd) | accuracy − original's (points) | runs |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|");
        double original = Conditions.FirstOrDefault(c => c.Condition == "original")?.Result.TestAccuracy.Mean ?? double.NaN;
        foreach (SampleConditionResult c in Conditions)
        {
            RetrainComparisonResult r = c.Result;
            text.AppendLine(inv, $"| {Describe(c.Condition)} | {c.AddedRows} | {r.FaultsFixed.Mean:F2} ± {r.FaultsFixed.Std:F2} of {r.FaultCount} | {r.TestAccuracy.Mean:P2} ± {r.TestAccuracy.Std:P2} | {(r.TestAccuracy.Mean - original) * 100:+0.00;-0.00;0.00} | {r.Runs.Count} |");
        }
        return text.ToString();
    }

    private static string Describe(string condition) => condition switch
    {
        "influence" => "train + influence-chosen candidates (RNNRepair)",
        "random" => "train + those candidates rotated at random (the authors' baseline)",
        "pool-random" => "train + a random candidate of the same pool",
        "neighbour" => "train + the true-label neighbour itself (no augmentation)",
        _ => "train (original)",
    };
}

/// <summary>
/// RNNRepair's sample-level remediation experiment (Xie et al., ICML'21, Sec. 4.4, Algorithm 2 and Table 3, run as the
/// authors' apps/RQ4/datagen.py and repair_mnist_rnn_keras.py run it: docs/research/rnnrepair-authors-code.md): faults
/// of an LSTM over image rows get one augmented training sample per checkpoint, and freshly trained models are compared
/// with ones trained on the original data, on the authors' random rotations, on random candidates of the same pool and
/// on the unaugmented neighbours.
/// </summary>
public static class SampleRemediationStudy
{
    /// <summary>
    /// Table 3 end to end, as the authors' code runs it: train the original model keeping every epoch's weights and test
    /// predictions; take the faults all checkpoints get wrong; for each checkpoint, build its influence model and, per
    /// fault, rank the training samples the checkpoint predicts right by trace distance to the fault, take the nearest
    /// with the fault's true label (the source) and the nearest with the label the checkpoint wrongly gives it (the
    /// target), and keep the candidate (the source rotated or shifted) whose trace is closest to the target's; then
    /// retrain <see cref="SampleRemediationOptions.Seeds"/> models from scratch on the original data and on data plus the
    /// chosen candidates, plus them rotated at random (the authors' baseline), plus a random candidate of the same pool,
    /// and plus the sources themselves.
    /// </summary>
    public static SampleRemediationReport Run(DataSplits splits, SampleRemediationOptions options, IProgress<string>? progress = null)
    {
        options.Validate();
        var clock = Stopwatch.StartNew();
        if (splits.Train.Kind != InputKind.Image) throw new ReparoInputException($"sample-level remediation needs images; '{splits.Train.Name}' holds {splits.Train.Kind.ToString().ToLowerInvariant()}");
        DataSplits data = options.Classes is { } c ? LabelNoise.BinarySubset(splits, c[0], c[1]) : splits;
        Dataset train = data.Train, test = data.Test;
        if (options.TrainRows is int limit && limit < train.Count)
        {
            int[] order = Enumerable.Range(0, train.Count).ToArray();
            new Random(options.Seed).Shuffle(order);
            train = train.Subset(order.Take(limit).Order().ToArray());
        }

        progress?.Report($"training the original {options.Architecture} for {options.CheckpointEpochs} epochs on {train.Count} rows");
        TrainingOptions training = options.Training with { Epochs = options.CheckpointEpochs };
        using Network network = ModelZoo.Create(options.Architecture, train, options.Seed);
        if (network.Spec.InputKind != InputKind.Image || !network.Spec.Architecture.StartsWith("lstm", StringComparison.Ordinal) && !network.Spec.Architecture.StartsWith("gru", StringComparison.Ordinal))
            throw new ReparoInputException($"sample-level remediation needs a recurrent model over image rows (lstm:H or gru:H), got '{options.Architecture}'");
        var wrongEverywhere = Enumerable.Repeat(true, test.Count).ToArray();
        long[] testLabels = test.Labels();
        var accuracies = new List<double>();
        var checkpoints = new List<Network>();
        try
        {
            Trainer.Train(network, train, null, training with { Seed = options.Seed }, epochEnded: (net, _) =>
            {
                long[] predicted = net.Predict(test.X);
                accuracies.Add(Enumerable.Range(0, test.Count).Count(i => predicted[i] == testLabels[i]) / (double)Math.Max(1, test.Count));
                for (int i = 0; i < test.Count; i++) wrongEverywhere[i] &= predicted[i] != testLabels[i];
                checkpoints.Add(net.Clone());
            });
            int[] faultRows = Enumerable.Range(0, test.Count).Where(i => wrongEverywhere[i]).Take(options.MaxFaults ?? int.MaxValue).ToArray();
            if (faultRows.Length == 0) throw new ReparoInputException($"every test input of '{test.Name}' is classified right by some checkpoint: there are no faults to repair");
            Dataset faults = test.Subset(faultRows);
            long[] faultLabels = faults.Labels();

            var chosen = new List<Tensor>();
            var poolPicks = new List<Tensor>();
            var sources = new List<Tensor>();
            var labels = new List<long>();
            var choices = new List<SampleRepairChoice>();
            var statesPerCheckpoint = new List<int>();
            var rng = new Random(options.Seed);
            int candidateCount = AugmentationCandidates.Grid(options.Augmentation).Count;
            for (int m = 0; m < checkpoints.Count; m++)
            {
                progress?.Report($"{faultRows.Length} faults; checkpoint {m + 1}/{checkpoints.Count}: building its influence model");
                using InfluenceModel influence = InfluenceModel.Build(checkpoints[m], train, options.Influence, progress);
                statesPerCheckpoint.Add(influence.Report.K);
                TraceSet faultTraces = influence.Abstract(faults);
                TraceSet known = influence.Training;
                for (int f = 0; f < faultRows.Length; f++)
                {
                    AbstractTrace fault = faultTraces[f];
                    double[] distances = influence.Similarity.Distances(fault);
                    int? Nearest(long label) => Enumerable.Range(0, known.Count).Where(i => known.Predictions[i] == known.Labels[i] && known.Labels[i] == label)
                        .Select(i => (int?)i).MinBy(i => distances[i!.Value]);
                    if (Nearest(faultLabels[f]) is not int source || Nearest(fault.Prediction) is not int target) continue;
                    using var scope = NewDisposeScope();
                    using CandidateSet candidates = AugmentationCandidates.Of(train, source, options.Augmentation);
                    double[] toTarget = CandidateDistances(influence, known[target], candidates.Images, faultLabels[f], train);
                    int best = Enumerable.Range(0, toTarget.Length).MinBy(i => toTarget[i]);
                    chosen.Add(candidates.Images[best].clone().MoveToOuterDisposeScope());
                    poolPicks.Add(candidates.Images[rng.Next(toTarget.Length)].clone().MoveToOuterDisposeScope());
                    sources.Add(train.X[source].clone().MoveToOuterDisposeScope());
                    labels.Add(faultLabels[f]);
                    CandidateTransform transform = candidates.Transforms[best];
                    choices.Add(new SampleRepairChoice(faultRows[f], faultLabels[f], m + 1, target, source, transform.Kind.ToString().ToLowerInvariant(), transform.Amount, toTarget[best]));
                }
            }
            Dataset Rows(string name, List<Tensor> images) => new($"{train.Name}+{name}({images.Count})",
                images.Count > 0 ? stack(images) : empty([0, .. train.SampleShape], dtype: train.X.dtype), tensor(labels.ToArray()), train.ClassNames, train.Kind);
            Dataset influenceRows = Rows("influence", chosen);
            var retrain = new RetrainOptions(options.Architecture, training, Enumerable.Range(0, options.Seeds).Select(s => options.Seed + s).ToArray());
            var conditions = new List<SampleConditionResult>();
            foreach ((string name, Dataset? extra) in new (string, Dataset?)[]
            {
                ("original", null), ("influence", influenceRows), ("random", AugmentationCandidates.RotateEach(influenceRows, options.Augmentation, options.Seed)),
                ("pool-random", Rows("pool-random", poolPicks)), ("neighbour", Rows("neighbour", sources)),
            })
            {
                progress?.Report($"retraining {options.Seeds} models: {name}");
                conditions.Add(new SampleConditionResult(name, extra?.Count ?? 0, RetrainComparison.Run(train, extra, test, faults, retrain)));
            }
            return new SampleRemediationReport(train.Name, train.ClassNames, options.Architecture, train.Count, test.Count, accuracies, faultRows.Length,
                statesPerCheckpoint, candidateCount, choices, conditions, clock.Elapsed.TotalSeconds);
        }
        finally
        {
            foreach (Network checkpoint in checkpoints) checkpoint.Dispose();
        }
    }

    /// <summary>
    /// Algorithm 2, line 20 (sample-level influence of Sec. 3.3 as the score): the temporal-feature distance of each
    /// candidate's abstract trace to the fault's (smaller = more influential), with the influence model's abstraction.
    /// </summary>
    public static double[] CandidateDistances(InfluenceModel influence, AbstractTrace fault, Tensor candidates, long label, Dataset like)
    {
        using var scope = NewDisposeScope();
        var rows = new Dataset("candidates", candidates.detach().clone(), full(candidates.shape[0], label, ScalarType.Int64), like.ClassNames, like.Kind);
        TraceSet traces = influence.Abstract(rows);
        using var similarity = new SampleInfluence(traces, influence.Abstraction);
        return similarity.Distances(fault);
    }
}
