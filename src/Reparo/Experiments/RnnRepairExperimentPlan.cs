using System.Diagnostics;
using Reparo.Data;
using Reparo.Influence;
using Reparo.Models;
using Reparo.Remediation;

namespace Reparo.Experiments;

/// <summary>One model's fidelity check in the RNNRepair experiment.</summary>
/// <param name="Model">The architecture.</param>
/// <param name="Data">The data set.</param>
/// <param name="K">Abstract states of its influence model.</param>
/// <param name="Report">The check.</param>
public sealed record FidelitySection(string Model, string Data, int K, FidelityReport Report);

/// <summary>What the RNNRepair experiment measured.</summary>
/// <param name="Speed">Influence-model build time and query latency (Sec. 4.1).</param>
/// <param name="Fidelity">Fidelity of the abstract model's features (Table 1).</param>
/// <param name="Mislabel">Mislabel finding (Sec. 4.2), one report per class pair.</param>
/// <param name="Sample">Sample-level remediation (Table 3).</param>
/// <param name="Segment">Segment-level remediation (Table 4).</param>
public sealed record RnnRepairResults(InfluenceBenchmarkReport Speed, IReadOnlyList<FidelitySection> Fidelity, IReadOnlyList<MislabelReport> Mislabel,
    SampleRemediationReport? Sample, SegmentRemediationReport? Segment);

/// <summary>
/// The plan of <c>reparo experiment rnnrepair</c>: the evaluation of RNNRepair (Xie et al., ICML'21) — influence-model
/// build time and query latency on Fashion-MNIST with Reparo's EM beside scikit-learn's, the fidelity of the abstract
/// model's features, mislabel finding against the training-data influence baselines, and sample- and segment-level
/// remediation; the quick plan runs each on subsets with few seeds.
/// </summary>
public static partial class RnnRepairExperimentPlan
{
    /// <summary>Runs the plan.</summary>
    /// <param name="fashion">Fashion-MNIST, clean.</param>
    /// <param name="dataDir">Folder searched first for data set files (WordNet, the quick mislabel subset).</param>
    /// <param name="models">Where the LSTM and the GRU are trained once and kept.</param>
    /// <param name="quick">The small plan (minutes).</param>
    /// <param name="seed">Seed of the models and the studies.</param>
    /// <param name="notes">Hears each part as it starts and the studies' progress.</param>
    public static RnnRepairResults Run(DataSplits fashion, string? dataDir, ModelCache models, bool quick, int seed, IProgress<string>? notes = null)
    {
        var clock = Stopwatch.StartNew();
        // 1. Speed: the influence model over all 60 000 training images (quick: 5 000), queries, EM vs scikit-learn.
        notes?.Report($"[{clock.Elapsed.TotalMinutes:F1} min] influence model speed");
        int epochs = quick ? 1 : 3;
        Network lstm = models.LoadOrTrain(ModelCache.FileName("rnnrepair", "lstm:100", epochs, seed), "lstm:100", epochs, fashion, "fashion-mnist", seed).Network;
        Dataset all = RetrainComparison.Append(fashion.Train, fashion.Validation);
        if (quick) all = all.Subset(Enumerable.Range(0, 5000).ToArray(), "train+validation (5000)");
        string vectors = Path.Combine(Path.GetTempPath(), $"reparo-rnnrepair-steps-{Environment.ProcessId}.npy");
        InfluenceBenchmarkReport speed;
        try
        {
            speed = InfluenceBenchmark.Run(lstm, all, fashion.Test, new InfluenceBenchmarkOptions(quick ? [10, 20] : [5, 10, 15, 20, 25, 30, 35, 40], 100, 100, vectors,
                InfluenceBenchmark.FindSklearnPython(), seed), notes);
        }
        finally
        {
            File.Delete(vectors);
        }

        // 2. Fidelity (Table 1): linear classifiers on the abstract model's features vs the network.
        notes?.Report($"[{clock.Elapsed.TotalMinutes:F1} min] fidelity");
        var fidelity = new List<FidelitySection>();
        var abstraction = new InfluenceOptions { Abstraction = new AbstractionOptions { Candidates = quick ? [10, 20] : [5, 10, 15, 20, 25, 30, 35, 40], StopAtFirstStable = true, Mixture = new GaussianMixtureOptions(Seed: seed) } };
        Dataset fidelityTrain = quick ? fashion.Train.Subset(Enumerable.Range(0, 5000).ToArray(), "train (5000)") : fashion.Train;
        using (InfluenceModel model = InfluenceModel.Build(lstm, fidelityTrain, abstraction, notes))
            fidelity.Add(new FidelitySection("lstm:100", "fashion-mnist", model.Report.K, FidelityCheck.Run(model, model.Abstract(fashion.Test))));
        DataSplits text = DataCatalog.Load("wordnet:animal,plant", new DataOptions { DataDir = dataDir });
        Network gru = models.LoadOrTrain($"rnnrepair-gru-64-wordnet-e{(quick ? 3 : 8)}-s{seed}.reparo", "gru:64", quick ? 3 : 8, text, "wordnet:animal,plant", seed).Network;
        text = DataCatalog.Load("wordnet:animal,plant", new DataOptions { DataDir = dataDir, Vocabulary = gru.Vocabulary });
        using (InfluenceModel model = InfluenceModel.Build(gru, text.Train, abstraction, notes))
            fidelity.Add(new FidelitySection("gru:64", "wordnet:animal,plant", model.Report.K, FidelityCheck.Run(model, model.Abstract(text.Test))));

        // 3. Mislabel finding (Sec. 4.2): Trouser vs Dress and Pullover vs Coat, 30 % of one class flipped.
        var mislabel = new List<MislabelReport>();
        DataSplits mislabelData = quick ? DataCatalog.Load("fashion-mnist", new DataOptions { DataDir = dataDir, TrainLimit = 3000 }) : fashion;
        foreach (int[] pair in quick ? new[] { new[] { 1, 3 } } : [[1, 3], [2, 4]])
        {
            notes?.Report($"[{clock.Elapsed.TotalMinutes:F1} min] mislabel finding, classes {pair[0]} vs {pair[1]}");
            mislabel.Add(MislabelStudy.Run(mislabelData, new MislabelOptions { Classes = pair, FlipClass = pair[0], Epochs = quick ? 3 : 5, Seed = seed, RestorePercents = quick ? [10] : [10, 20] }, notes));
        }

        // 4–5. Remediation (Tables 3 and 4).
        notes?.Report($"[{clock.Elapsed.TotalMinutes:F1} min] sample-level remediation");
        SampleRemediationReport sample = SampleRemediationStudy.Run(fashion, new SampleRemediationOptions { Seed = seed, Seeds = quick ? 2 : 20, TrainRows = quick ? 2000 : null, MaxFaults = quick ? 20 : null }, notes);
        notes?.Report($"[{clock.Elapsed.TotalMinutes:F1} min] segment-level remediation");
        SegmentRemediationReport segment = SegmentRemediationStudy.Run(text, new SegmentRemediationOptions { Seed = seed, RandomDraws = quick ? 2 : 10, M = quick ? [5, 25] : [5, 15, 25, 35, 45], Seeds = quick ? 1 : 3 }, notes);
        return new RnnRepairResults(speed, fidelity, mislabel, sample, segment);
    }
}
