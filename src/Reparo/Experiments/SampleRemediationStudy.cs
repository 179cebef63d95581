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
    /// different epoch counts" of Table 3 (the authors use 7), and a fault is a test input all n get wrong.
    /// </summary>
    public int CheckpointEpochs { get; init; } = 7;

    /// <summary>
    /// How the original model and every retrained model are trained (the seed is replaced per run). Default 2 epochs of
    /// Adam at 3e-3, batch 128: measured on the shared 2-core machine (heavily loaded), one <c>lstm:32</c> epoch over
    /// 10,800 Fashion-MNIST rows took about 35 s, so with the CLI's default 3,000 training rows (about 10 s an epoch) the
    /// 7 checkpoint epochs plus 3 conditions × 10 seeds × 2 epochs take about 11 minutes.
    /// </summary>
    public TrainingOptions Training { get; init; } = new() { Epochs = 2, LearningRate = 3e-3, Patience = 0 };

    /// <summary>Retrained models per condition (seeds Seed, Seed + 1, …; the authors use 10).</summary>
    public int Seeds { get; init; } = 10;

    /// <summary>Seed of the original model, the random baseline and the first retraining run.</summary>
    public int Seed { get; init; }

    /// <summary>The candidate grid (rotations −180…179° and shifts of the nearest true-label training samples) and the random baseline's rotations.</summary>
    public AugmentationOptions Augmentation { get; init; } = new();

    /// <summary>How the influence model of the final original model is built (the K sweep stops at the first stable K by default, for speed).</summary>
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

/// <summary>The candidate kept for one fault.</summary>
/// <param name="TestRow">The fault's row in the test split.</param>
/// <param name="Label">Its true label.</param>
/// <param name="SourceRow">The training row the candidate was made from.</param>
/// <param name="Transform">"rotation" or "shift".</param>
/// <param name="Amount">Degrees or pixels.</param>
/// <param name="Distance">Temporal-feature distance of the candidate's abstract trace to the fault's (the smallest among its candidates).</param>
public sealed record SampleRepairChoice(int TestRow, long Label, int SourceRow, string Transform, double Amount, double Distance);

/// <summary>One condition of Table 3: the retrained models' faults fixed and test accuracy.</summary>
/// <param name="Condition">original, influence or random.</param>
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
/// <param name="AbstractStates">K of the influence model.</param>
/// <param name="CandidatesPerFault">Candidates generated per fault.</param>
/// <param name="Choices">The candidate kept per fault.</param>
/// <param name="Conditions">original, influence, random.</param>
/// <param name="Seconds">Wall time of the whole study.</param>
public sealed record SampleRemediationReport(string Data, IReadOnlyList<string> ClassNames, string Architecture, int TrainRows, int TestRows,
    IReadOnlyList<double> CheckpointAccuracies, int Faults, int AbstractStates, int CandidatesPerFault, IReadOnlyList<SampleRepairChoice> Choices,
    IReadOnlyList<SampleConditionResult> Conditions, double Seconds) : IRemediationReport
{
    /// <summary>Table 3 as a document: faults fixed by the influence-chosen samples against random ones first, then the conditions, the setup and the choices.</summary>
    public ReportDocument ToDocument()
    {
        List<string> summary = [$"{Count(Faults, "fault")} of {Architecture} on {Data} (test inputs every one of {Count(CheckpointAccuracies.Count, "checkpoint")} gets wrong), each given one augmented training sample chosen by influence, then {Count(Conditions.FirstOrDefault()?.Result.Runs.Count ?? 0, "model")} retrained per training set."];
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
                new("abstract states (K)", AbstractStates.ToString(inv)),
                new("candidates per fault", CandidatesPerFault.ToString(inv)),
            ])]),
            new("The sample chosen per fault", [new ReportTable(["test row", "label", "training row", "transform", "amount", "distance"],
                [.. Choices.Select(c => (IReadOnlyList<string>)[c.TestRow.ToString(inv), c.Label < ClassNames.Count ? ClassNames[(int)c.Label] : c.Label.ToString(inv),
                    c.SourceRow.ToString(inv), c.Transform, Number(c.Amount), Number(c.Distance)])])]),
        };
        return new ReportDocument("Sample-level remediation (RNNRepair Table 3)", summary, sections);
    }

    /// <summary>The results section: setup, then Table 3's rows (faults fixed and test accuracy, mean ± std).</summary>
    public string ToMarkdown()
    {
        var text = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        text.AppendLine("## Sample-level remediation (RNNRepair Table 3)").AppendLine();
        text.AppendLine(inv, $"Data `{Data}` ({string.Join(" vs ", ClassNames)}), `{Architecture}`, {TrainRows} training and {TestRows} test rows. " +
            $"Checkpoint test accuracies (epochs 1–{CheckpointAccuracies.Count}): {string.Join(", ", CheckpointAccuracies.Select(a => a.ToString("P1", inv)))}. " +
            $"{Faults} faults (test inputs every checkpoint gets wrong); {CandidatesPerFault} candidates each, the one whose abstract trace is closest " +
            $"(smallest temporal-feature distance, K = {AbstractStates}) to the fault's is added. {Seconds / 60:F1} min.").AppendLine();
        text.AppendLine("| training data | rows added | faults fixed (mean ± std) | test accuracy (mean ± std) | runs |");
        text.AppendLine("|---|---:|---:|---:|---:|");
        foreach (SampleConditionResult c in Conditions)
        {
            RetrainComparisonResult r = c.Result;
            text.AppendLine(inv, $"| {Describe(c.Condition)} | {c.AddedRows} | {r.FaultsFixed.Mean:F1} ± {r.FaultsFixed.Std:F1} of {r.FaultCount} | {r.TestAccuracy.Mean:P2} ± {r.TestAccuracy.Std:P2} | {r.Runs.Count} |");
        }
        return text.ToString();
    }

    private static string Describe(string condition) => condition switch
    {
        "influence" => "train + influence-chosen candidates",
        "random" => "train + random rotations",
        _ => "train (original)",
    };
}

/// <summary>
/// RNNRepair's sample-level remediation experiment (Xie et al., ICML'21, Sec. 4.4, Algorithm 2 and Table 3; the
/// authors' apps/RQ4/datagen.py and repair_mnist_rnn_keras.py): faults of an LSTM over image rows get one augmented
/// training sample each, the candidate most influential on the fault, and freshly trained models are compared with
/// ones trained on random rotations and on the original data.
/// </summary>
public static class SampleRemediationStudy
{
    /// <summary>
    /// Table 3 end to end: train the original model keeping every epoch's test predictions, take the faults all
    /// checkpoints get wrong, choose per fault the candidate with the smallest temporal-feature distance to it under the
    /// influence model of the final model, and retrain <see cref="SampleRemediationOptions.Seeds"/> models on the
    /// original data, on data + chosen candidates and on data + as many random rotations.
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
        using Network network = ModelZoo.Create(options.Architecture, train, options.Seed);
        if (network.Spec.InputKind != InputKind.Image || !network.Spec.Architecture.StartsWith("lstm", StringComparison.Ordinal) && !network.Spec.Architecture.StartsWith("gru", StringComparison.Ordinal))
            throw new ReparoInputException($"sample-level remediation needs a recurrent model over image rows (lstm:H or gru:H), got '{options.Architecture}'");
        var wrongEverywhere = Enumerable.Repeat(true, test.Count).ToArray();
        long[] testLabels = test.Labels();
        var accuracies = new List<double>();
        Trainer.Train(network, train, null, options.Training with { Epochs = options.CheckpointEpochs, Seed = options.Seed }, epochEnded: (net, _) =>
        {
            long[] predicted = net.Predict(test.X);
            accuracies.Add(Enumerable.Range(0, test.Count).Count(i => predicted[i] == testLabels[i]) / (double)Math.Max(1, test.Count));
            for (int i = 0; i < test.Count; i++) wrongEverywhere[i] &= predicted[i] != testLabels[i];
        });
        int[] faultRows = Enumerable.Range(0, test.Count).Where(i => wrongEverywhere[i]).Take(options.MaxFaults ?? int.MaxValue).ToArray();
        if (faultRows.Length == 0) throw new ReparoInputException($"every test input of '{test.Name}' is classified right by some checkpoint: there are no faults to repair");
        Dataset faults = test.Subset(faultRows);
        long[] faultLabels = faults.Labels();

        progress?.Report($"{faultRows.Length} faults; building the influence model");
        using InfluenceModel influence = InfluenceModel.Build(network, train, options.Influence, progress);
        TraceSet faultTraces = influence.Abstract(faults);
        int candidateCount = AugmentationCandidates.Grid(options.Augmentation).Count * options.Augmentation.Neighbours;
        AugmentationChoice choice = AugmentationCandidates.ChooseBest(train, faults, options.Augmentation, (f, images) =>
        {
            if (f % 10 == 0) progress?.Report($"choosing candidates: fault {f + 1}/{faultRows.Length}");
            return CandidateDistances(influence, faultTraces[f], images, faultLabels[f], train).Select(d => -d).ToArray();
        });
        SampleRepairChoice[] choices = choice.Choices.Select(ch => new SampleRepairChoice(faultRows[ch.Fault], faultLabels[ch.Fault], ch.SourceRow,
            ch.Transform.Kind.ToString().ToLowerInvariant(), ch.Transform.Amount, -ch.Score)).ToArray();
        Dataset random = AugmentationCandidates.RandomBaseline(train, faultLabels, options.Augmentation, options.Seed);

        var retrain = new RetrainOptions(options.Architecture, options.Training, Enumerable.Range(0, options.Seeds).Select(s => options.Seed + s).ToArray());
        var conditions = new List<SampleConditionResult>();
        foreach ((string name, Dataset? extra) in new (string, Dataset?)[] { ("original", null), ("influence", choice.Rows), ("random", random) })
        {
            progress?.Report($"retraining {options.Seeds} models: {name}");
            conditions.Add(new SampleConditionResult(name, extra?.Count ?? 0, RetrainComparison.Run(train, extra, test, faults, retrain)));
        }
        return new SampleRemediationReport(train.Name, train.ClassNames, options.Architecture, train.Count, test.Count, accuracies, faultRows.Length,
            influence.Report.K, candidateCount, choices, conditions, clock.Elapsed.TotalSeconds);
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
