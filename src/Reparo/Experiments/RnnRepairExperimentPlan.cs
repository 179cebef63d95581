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

/// <summary>One part of the RNNRepair experiment.</summary>
/// <param name="Name"><c>speed</c>, <c>fidelity</c>, <c>mislabel</c>, <c>sample</c> or <c>segment</c>.</param>
/// <param name="Model">The model it reads (<c>lstm:100</c>, <c>gru:64</c>), if any; the others train their own.</param>
/// <param name="Classes">The class pair of a mislabel part.</param>
public sealed record RnnRepairPart(string Name, string? Model = null, int[]? Classes = null);

/// <summary>What one part of the RNNRepair experiment measured (the field of its kind is set).</summary>
/// <param name="Speed">The speed part's.</param>
/// <param name="Fidelity">A fidelity part's.</param>
/// <param name="Mislabel">A mislabel part's.</param>
/// <param name="Sample">The sample-level remediation's.</param>
/// <param name="Segment">The segment-level remediation's.</param>
public sealed record RnnRepairPartResult(InfluenceBenchmarkReport? Speed = null, FidelitySection? Fidelity = null, MislabelReport? Mislabel = null,
    SampleRemediationReport? Sample = null, SegmentRemediationReport? Segment = null);

/// <summary>
/// The plan of <c>reparo experiment rnnrepair</c>: the evaluation of RNNRepair (Xie et al., ICML'21) — influence-model
/// build time and query latency on Fashion-MNIST with Reparo's EM beside scikit-learn's, the fidelity of the abstract
/// model's features, mislabel finding against the training-data influence baselines, and sample- and segment-level
/// remediation; the quick plan runs each on subsets with few seeds. Each part is a step for an
/// <see cref="IExperimentStepRunner"/> (here, or on a cluster's workers) with <see cref="RnnRepairExperimentSession.Run"/>.
/// </summary>
public static partial class RnnRepairExperimentPlan
{
    /// <summary>The experiment's name, by which a worker finds its step function.</summary>
    public const string Name = "rnnrepair";

    /// <summary>The text data of the GRU's parts.</summary>
    private const string Text = "wordnet:animal,plant";

    /// <summary>The parts in order.</summary>
    public static IReadOnlyList<RnnRepairPart> Parts(bool quick) =>
    [
        new("speed", "lstm:100"),
        new("fidelity", "lstm:100"),
        new("fidelity", "gru:64"),
        .. (quick ? new[] { new[] { 1, 3 } } : [[1, 3], [2, 4]]).Select(pair => new RnnRepairPart("mislabel", Classes: pair)),
        new("sample"),
        new("segment", "gru:64"),
    ];

    /// <summary>Runs the plan.</summary>
    /// <param name="fashion">Fashion-MNIST, clean.</param>
    /// <param name="dataDir">Folder searched first for data set files (WordNet, the quick mislabel subset).</param>
    /// <param name="models">Where the LSTM and the GRU are trained once and kept (before any part runs).</param>
    /// <param name="quick">The small plan (minutes).</param>
    /// <param name="seed">Seed of the models and the studies.</param>
    /// <param name="runner">Where the parts run (null: here, one after another).</param>
    /// <param name="notes">Hears each part as it ends and, in process, the studies' progress.</param>
    public static RnnRepairResults Run(DataSplits fashion, string? dataDir, ModelCache models, bool quick, int seed, IExperimentStepRunner? runner = null, IProgress<string>? notes = null)
    {
        var clock = Stopwatch.StartNew();
        int epochs = quick ? 1 : 3;
        var files = new Dictionary<string, string>
        {
            ["lstm:100"] = models.LoadOrTrain(ModelCache.FileName("rnnrepair", "lstm:100", epochs, seed), "lstm:100", epochs, fashion, "fashion-mnist", seed).Path,
            ["gru:64"] = models.LoadOrTrain($"rnnrepair-gru-64-wordnet-e{(quick ? 3 : 8)}-s{seed}.reparo", "gru:64", quick ? 3 : 8, DataCatalog.Load(Text, new DataOptions { DataDir = dataDir }), Text, seed).Path,
        };
        IReadOnlyList<RnnRepairPart> parts = Parts(quick);
        var results = new RnnRepairPartResult[parts.Count];
        var session = new RnnRepairExperimentSession(fashion, dataDir, quick, seed, runner is null or InProcessStepRunner ? notes : null);
        (runner ?? InProcessStepRunner.Instance).Run<RnnRepairPart, RnnRepairPartResult>(Name, [.. parts.Select(p => new ExperimentStep<RnnRepairPart>(p, p.Model is null ? null : files[p.Model]))],
            session.Run, (i, result) =>
            {
                results[i] = result;
                notes?.Report($"[{clock.Elapsed.TotalMinutes:F1} min] {parts[i].Name}{(parts[i].Model is null ? "" : $" ({parts[i].Model})")}{(parts[i].Classes is null ? "" : $" classes {string.Join(" vs ", parts[i].Classes!)}")} done");
            });
        return new RnnRepairResults(results.Select(r => r.Speed).OfType<InfluenceBenchmarkReport>().Single(), [.. results.Select(r => r.Fidelity).OfType<FidelitySection>()],
            [.. results.Select(r => r.Mislabel).OfType<MislabelReport>()], results.Select(r => r.Sample).OfType<SampleRemediationReport>().Single(),
            results.Select(r => r.Segment).OfType<SegmentRemediationReport>().Single());
    }
}

/// <summary>
/// The RNNRepair experiment's step function, wherever it runs: one part on Fashion-MNIST (and WordNet for the GRU's),
/// with the part's model when it reads one.
/// </summary>
/// <param name="fashion">Fashion-MNIST, clean.</param>
/// <param name="dataDir">Folder searched first for data set files.</param>
/// <param name="quick">The small plan's settings.</param>
/// <param name="seed">Seed of the studies.</param>
/// <param name="notes">Hears the studies' progress.</param>
public sealed class RnnRepairExperimentSession(DataSplits fashion, string? dataDir, bool quick, int seed, IProgress<string>? notes = null)
{
    /// <summary>Runs <paramref name="part"/>, on the model in <paramref name="modelPath"/> when it reads one.</summary>
    public RnnRepairPartResult Run(RnnRepairPart part, string? modelPath)
    {
        Network? model = modelPath is null ? null : ModelFile.Load(modelPath);
        Network Model() => model ?? throw new ReparoInputException($"the {part.Name} part reads a model and none was given");
        DataSplits Text() => DataCatalog.Load("wordnet:animal,plant", new DataOptions { DataDir = dataDir, Vocabulary = Model().Vocabulary });
        var abstraction = new InfluenceOptions { Abstraction = new AbstractionOptions { Candidates = quick ? [10, 20] : [5, 10, 15, 20, 25, 30, 35, 40], StopAtFirstStable = true, Mixture = new GaussianMixtureOptions(Seed: seed) } };
        switch (part.Name)
        {
            case "speed":
                {
                    // The influence model over all 60 000 training images (quick: 5 000), queries, EM vs scikit-learn.
                    Dataset all = RetrainComparison.Append(fashion.Train, fashion.Validation);
                    if (quick) all = all.Subset(Enumerable.Range(0, 5000).ToArray(), "train+validation (5000)");
                    string vectors = Path.Combine(Path.GetTempPath(), $"reparo-rnnrepair-steps-{Environment.ProcessId}.npy");
                    try
                    {
                        return new(Speed: InfluenceBenchmark.Run(Model(), all, fashion.Test, new InfluenceBenchmarkOptions(quick ? [10, 20] : [5, 10, 15, 20, 25, 30, 35, 40], 100, 100, vectors,
                            InfluenceBenchmark.FindSklearnPython(), seed, Restarts: quick ? 1 : 4), notes));
                    }
                    finally
                    {
                        File.Delete(vectors);
                    }
                }
            case "fidelity" when part.Model == "gru:64":
                {
                    DataSplits text = Text();
                    using InfluenceModel influence = InfluenceModel.Build(Model(), text.Train, abstraction, notes);
                    return new(Fidelity: new FidelitySection(part.Model, "wordnet:animal,plant", influence.Report.K, FidelityCheck.Run(influence, influence.Abstract(text.Test))));
                }
            case "fidelity":
                {
                    // Table 1: linear classifiers on the abstract model's features vs the network.
                    Dataset train = quick ? fashion.Train.Subset(Enumerable.Range(0, 5000).ToArray(), "train (5000)") : fashion.Train;
                    using InfluenceModel influence = InfluenceModel.Build(Model(), train, abstraction, notes);
                    return new(Fidelity: new FidelitySection(part.Model!, "fashion-mnist", influence.Report.K, FidelityCheck.Run(influence, influence.Abstract(fashion.Test))));
                }
            case "mislabel":
                {
                    // Sec. 4.2: 30 % of one class of the pair flipped to the other.
                    int[] pair = part.Classes ?? throw new ReparoInputException("a mislabel part names its class pair");
                    DataSplits data = quick ? DataCatalog.Load("fashion-mnist", new DataOptions { DataDir = dataDir, TrainLimit = 3000 }) : fashion;
                    return new(Mislabel: MislabelStudy.Run(data, new MislabelOptions { Classes = pair, FlipClass = pair[0], Epochs = quick ? 3 : 5, Seed = seed, RestorePercents = quick ? [10] : [10, 20] }, notes));
                }
            case "sample":
                return new(Sample: SampleRemediationStudy.Run(fashion, new SampleRemediationOptions { Seed = seed, Seeds = quick ? 2 : 20, TrainRows = quick ? 2000 : null, MaxFaults = quick ? 20 : null }, notes));
            case "segment":
                return new(Segment: SegmentRemediationStudy.Run(Text(), new SegmentRemediationOptions { Seed = seed, RandomDraws = quick ? 2 : 10, M = quick ? [5, 25] : [5, 15, 25, 35, 45], Seeds = quick ? 1 : 3 }, notes));
            default:
                throw new ReparoInputException($"unknown RNNRepair part '{part.Name}'");
        }
    }
}
