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

/// <summary>What the RNNRepair experiment measured (a part not yet run has no section).</summary>
/// <param name="Speed">Influence-model build time and query latency (Sec. 4.1).</param>
/// <param name="Fidelity">Fidelity of the abstract model's features (Table 1).</param>
/// <param name="Mislabel">Mislabel finding (Sec. 4.2), one report per class pair.</param>
/// <param name="Sample">Sample-level remediation (Table 3).</param>
/// <param name="Segment">Segment-level remediation (Table 4).</param>
/// <param name="Seed">Seed of the models and the studies.</param>
/// <param name="Quick">Whether this is the small plan.</param>
/// <param name="Minutes">Minutes spent on the parts, over every resumed run.</param>
/// <param name="Complete">Whether every part of the plan has run.</param>
/// <param name="Runs">When and how long each part ran, in the order they finished.</param>
public sealed record RnnRepairResults(InfluenceBenchmarkReport? Speed, IReadOnlyList<FidelitySection> Fidelity, IReadOnlyList<MislabelReport> Mislabel,
    SampleRemediationReport? Sample, SegmentRemediationReport? Segment, int Seed = 0, bool Quick = false, double Minutes = 0, bool Complete = true,
    IReadOnlyList<RnnRepairPartRun>? Runs = null);

/// <summary>How one part of the RNNRepair experiment ran, for the timing notes.</summary>
/// <param name="Part">The part (<see cref="RnnRepairPart.Label"/>).</param>
/// <param name="LoadAtStart">The machine's 1-minute load average when it started.</param>
/// <param name="Minutes">How long it took.</param>
public sealed record RnnRepairPartRun(string Part, double LoadAtStart, double Minutes);

/// <summary>One part of the RNNRepair experiment.</summary>
/// <param name="Name"><c>speed</c>, <c>fidelity</c>, <c>mislabel</c>, <c>sample</c> or <c>segment</c>.</param>
/// <param name="Model">The model it reads (<c>lstm:100</c>, <c>gru:64</c>), if any; the others train their own.</param>
/// <param name="Classes">The class pair of a mislabel part.</param>
public sealed record RnnRepairPart(string Name, string? Model = null, int[]? Classes = null)
{
    /// <summary>The part as the notes and the results file name it (<c>fidelity (gru:64)</c>, <c>mislabel 1 vs 3</c>).</summary>
    public string Label => Name + (Model is null ? "" : $" ({Model})") + (Classes is null ? "" : $" {string.Join(" vs ", Classes)}");
}

/// <summary>What one part of the RNNRepair experiment measured (the field of its kind is set).</summary>
/// <param name="Speed">The speed part's.</param>
/// <param name="Fidelity">A fidelity part's.</param>
/// <param name="Mislabel">A mislabel part's.</param>
/// <param name="Sample">The sample-level remediation's.</param>
/// <param name="Segment">The segment-level remediation's.</param>
/// <param name="Run">When and how long it ran.</param>
public sealed record RnnRepairPartResult(InfluenceBenchmarkReport? Speed = null, FidelitySection? Fidelity = null, MislabelReport? Mislabel = null,
    SampleRemediationReport? Sample = null, SegmentRemediationReport? Segment = null, RnnRepairPartRun? Run = null);

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

    /// <summary>
    /// The parts in the order they run: the remediation studies (Tables 3 and 4) first, then the speed part, the
    /// fidelity checks and mislabel finding, so an interrupted full run has the longest studies recorded.
    /// </summary>
    public static IReadOnlyList<RnnRepairPart> Parts(bool quick) =>
    [
        new("sample"),
        new("segment", "gru:64"),
        new("speed", "lstm:100"),
        new("fidelity", "lstm:100"),
        new("fidelity", "gru:64"),
        .. (quick ? new[] { new[] { 1, 3 } } : [[1, 3], [2, 4]]).Select(pair => new RnnRepairPart("mislabel", Classes: pair)),
    ];

    /// <summary>Runs the plan.</summary>
    /// <param name="fashion">Fashion-MNIST, clean.</param>
    /// <param name="dataDir">Folder searched first for data set files (WordNet, the quick mislabel subset).</param>
    /// <param name="models">Where the LSTM and the GRU are trained once and kept (before any part that reads them runs).</param>
    /// <param name="quick">The small plan (minutes).</param>
    /// <param name="seed">Seed of the models and the studies.</param>
    /// <param name="runner">Where the parts run (null: here, one after another).</param>
    /// <param name="notes">Hears each part as it ends and, in process, the studies' progress.</param>
    /// <param name="partial">Called with the results so far after every part.</param>
    /// <param name="earlier">An interrupted run of the same plan: its finished parts are kept, not repeated.</param>
    public static RnnRepairResults Run(DataSplits fashion, string? dataDir, ModelCache models, bool quick, int seed, IExperimentStepRunner? runner = null,
        IProgress<string>? notes = null, Action<RnnRepairResults>? partial = null, RnnRepairResults? earlier = null)
    {
        if (earlier is not null && (earlier.Seed != seed || earlier.Quick != quick))
            throw new ReparoInputException($"--resume: the earlier run was {Describe(earlier.Quick, earlier.Seed)}, this one {Describe(quick, seed)}");
        var clock = Stopwatch.StartNew();
        IReadOnlyList<RnnRepairPart> parts = Parts(quick);
        var done = new RnnRepairPartResult?[parts.Count];
        var runs = new List<RnnRepairPartRun>(earlier?.Runs ?? []);
        if (earlier is not null)
            for (int i = 0; i < parts.Count; i++) done[i] = Recorded(earlier, parts[i]);
        RnnRepairResults Results() => new(
            done.Select(r => r?.Speed).OfType<InfluenceBenchmarkReport>().SingleOrDefault(), [.. done.Select(r => r?.Fidelity).OfType<FidelitySection>()],
            [.. done.Select(r => r?.Mislabel).OfType<MislabelReport>()], done.Select(r => r?.Sample).OfType<SampleRemediationReport>().SingleOrDefault(),
            done.Select(r => r?.Segment).OfType<SegmentRemediationReport>().SingleOrDefault(), seed, quick, (earlier?.Minutes ?? 0) + clock.Elapsed.TotalMinutes,
            done.All(r => r is not null), [.. runs]);
        int[] todo = [.. Enumerable.Range(0, parts.Count).Where(i => done[i] is null)];
        // Each model the remaining parts read is trained (or found in the cache) once, before any part runs.
        int epochs = quick ? 1 : 3;
        var files = new Dictionary<string, string>();
        foreach (string model in todo.Select(i => parts[i].Model).OfType<string>().Distinct())
            files[model] = model switch
            {
                "lstm:100" => models.LoadOrTrain(ModelCache.FileName("rnnrepair", "lstm:100", epochs, seed), "lstm:100", epochs, fashion, "fashion-mnist", seed).Path,
                "gru:64" => models.LoadOrTrain($"rnnrepair-gru-64-wordnet-e{(quick ? 3 : 8)}-s{seed}.reparo", "gru:64", quick ? 3 : 8, DataCatalog.Load(Text, new DataOptions { DataDir = dataDir }), Text, seed).Path,
                _ => throw new InvalidOperationException($"no training recipe for {model}"),
            };
        var session = new RnnRepairExperimentSession(fashion, dataDir, quick, seed, runner is null or InProcessStepRunner ? notes : null);
        (runner ?? InProcessStepRunner.Instance).Run<RnnRepairPart, RnnRepairPartResult>(Name,
            [.. todo.Select(i => new ExperimentStep<RnnRepairPart>(parts[i], parts[i].Model is null ? null : files[parts[i].Model!]))], session.Run, (j, result) =>
            {
                done[todo[j]] = result;
                if (result.Run is not null) runs.Add(result.Run);
                notes?.Report($"[{clock.Elapsed.TotalMinutes:F1} min] {parts[todo[j]].Label} done");
                partial?.Invoke(Results());
            });
        return Results();
    }

    private static string Describe(bool quick, int seed) => $"{(quick ? "the quick plan" : "the full plan")} with seed {seed}";

    /// <summary>The result an earlier run recorded for <paramref name="part"/>, or null if it did not run.</summary>
    private static RnnRepairPartResult? Recorded(RnnRepairResults earlier, RnnRepairPart part) => part.Name switch
    {
        "speed" => earlier.Speed is { } speed ? new(Speed: speed) : null,
        "fidelity" => earlier.Fidelity.FirstOrDefault(f => f.Model == part.Model) is { } fidelity ? new(Fidelity: fidelity) : null,
        "mislabel" => earlier.Mislabel.FirstOrDefault(m => m.Options.Classes.SequenceEqual(part.Classes ?? [])) is { } mislabel ? new(Mislabel: mislabel) : null,
        "sample" => earlier.Sample is { } sample ? new(Sample: sample) : null,
        "segment" => earlier.Segment is { } segment ? new(Segment: segment) : null,
        _ => null,
    };
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
        double load = MachineLoad.OneMinute();
        var clock = Stopwatch.StartNew();
        RnnRepairPartResult result = RunPart(part, modelPath);
        return result with { Run = new RnnRepairPartRun(part.Label, load, clock.Elapsed.TotalMinutes) };
    }

    private RnnRepairPartResult RunPart(RnnRepairPart part, string? modelPath)
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
