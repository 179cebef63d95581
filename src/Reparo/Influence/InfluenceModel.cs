using System.Diagnostics;
using Reparo.Data;
using Reparo.Models;
using Reparo.Runtime;
using Reparo.Training;
using static TorchSharp.torch;

namespace Reparo.Influence;

/// <summary>How an influence model is built.</summary>
public sealed record InfluenceOptions
{
    /// <summary>PCA, candidate K, θ and the mixture fit.</summary>
    public AbstractionOptions Abstraction { get; init; } = new();

    /// <summary>Samples per forward pass while profiling.</summary>
    public int BatchSize { get; init; } = 1000;

    /// <summary>
    /// A memory budget in bytes (null: none). Before profiling, the build counts the training data's steps and refuses,
    /// with advice, when the profile (a float32 hidden state, a label and a symbol per step), its PCA projection and one
    /// step-by-state table of the largest candidate K (float32) would together exceed it: a lower bound on the build's memory.
    /// </summary>
    public long? MaxMemoryBytes { get; init; }
}

/// <summary>Where the time of <see cref="InfluenceModel.Build"/> went.</summary>
/// <param name="ProfileSeconds">Running the network over the training data.</param>
/// <param name="PcaSeconds">Fitting the PCA and projecting every step vector.</param>
/// <param name="MixtureSeconds">The whole K sweep and the chosen K's fit on every vector (each candidate's share is in <see cref="CandidateState.Seconds"/>).</param>
/// <param name="IndexSeconds">Building the transition index and the similarity tables.</param>
/// <param name="TotalSeconds">All of it.</param>
public sealed record InfluenceTimings(double ProfileSeconds, double PcaSeconds, double MixtureSeconds, double IndexSeconds, double TotalSeconds);

/// <summary>What <see cref="InfluenceModel.Build"/> chose and measured.</summary>
/// <param name="K">Number of abstract states chosen.</param>
/// <param name="Pca">PCA components kept.</param>
/// <param name="MeanStability">Mean state stability of the chosen K on every step vector.</param>
/// <param name="Bic">BIC of the chosen mixture on every step vector.</param>
/// <param name="States">Number of profiled hidden states (step vectors) the abstraction was fitted to.</param>
/// <param name="Samples">Number of training samples.</param>
/// <param name="Transitions">Distinct transitions in the index.</param>
/// <param name="ReachedThreshold">Whether the chosen K reaches θ.</param>
/// <param name="Selection">One line saying why this K.</param>
/// <param name="Candidates">Every candidate K with its BIC, stability and time.</param>
/// <param name="Time">Time split of the build.</param>
public sealed record InfluenceBuildReport(int K, int Pca, double MeanStability, double Bic, long States, int Samples, int Transitions,
    bool ReachedThreshold, string Selection, IReadOnlyList<CandidateState> Candidates, InfluenceTimings Time);

/// <summary>The answer to a sample-level query.</summary>
/// <param name="Trace">The query input's abstract trace.</param>
/// <param name="Top">The closest training samples, nearest first.</param>
/// <param name="SearchMilliseconds">Time of the distance computation and ranking (profiling the input not included).</param>
public sealed record SampleQuery(AbstractTrace Trace, IReadOnlyList<InfluenceHit> Top, double SearchMilliseconds);

/// <summary>
/// RNNRepair's influence model (Xie et al., ICML'21, Sec. 3): a recurrent network's abstract model (PCA + GMM states,
/// K chosen by stability), the abstract traces and temporal features of its training data, and the transition index —
/// everything needed to answer, for a new input, which training samples influence it (sample level), which support its
/// transitions (transition level) and where its prediction went wrong (segment level). Saved to and loaded from one
/// file (<see cref="InfluenceModelFile"/>) that embeds the network.
/// </summary>
public sealed class InfluenceModel : IDisposable
{
    private readonly bool ownsNetwork;
    private InfluenceIndex? symbolFree;

    /// <summary>A model from its parts (as built or read from a file).</summary>
    public InfluenceModel(Network network, StateAbstraction abstraction, TraceSet training, InfluenceIndex index, InfluenceBuildReport report,
        string trainingData, bool ownsNetwork)
    {
        if (index.IgnoresSymbols) throw new ArgumentException("the model's index keys transitions with their symbols");
        if (network.ClassCount != abstraction.ClassCount) throw new ArgumentException($"the network has {network.ClassCount} classes, the abstraction {abstraction.ClassCount}");
        Network = network;
        Abstraction = abstraction;
        Training = training;
        Index = index;
        Report = report;
        TrainingData = trainingData;
        this.ownsNetwork = ownsNetwork;
        Similarity = new SampleInfluence(training, abstraction);
    }

    /// <summary>The recurrent network the model describes (new inputs are profiled with it).</summary>
    public Network Network { get; }

    /// <summary>PCA, mixture and visit counts.</summary>
    public StateAbstraction Abstraction { get; }

    /// <summary>Abstract traces of the training data (ids are positions in it).</summary>
    public TraceSet Training { get; }

    /// <summary>The transition index over the training traces, symbols included.</summary>
    public InfluenceIndex Index { get; }

    /// <summary>The precomputed sample-level search over the training traces.</summary>
    public SampleInfluence Similarity { get; }

    /// <summary>Choices and timings of the build.</summary>
    public InfluenceBuildReport Report { get; private set; }

    /// <summary>Name of the dataset the model was built on.</summary>
    public string TrainingData { get; }

    /// <summary>Refuses a build whose profile, PCA projection and largest state table would need more than <paramref name="budget"/> bytes.</summary>
    private static void RefuseOverBudget(Network network, Dataset train, AbstractionOptions abstraction, long budget)
    {
        if (network.RecurrentLayerIndex < 0) return; // Collect explains what is wrong
        long steps = RecurrentProfile.StepLengths(network, train).Sum(l => (long)l);
        int hidden = ((RecurrentSpec)network.Spec.Layers[network.RecurrentLayerIndex]).Hidden;
        long atLeast = checked(steps * (4L * hidden + 8 + 4L * abstraction.PcaComponents + 4L * abstraction.Candidates.Max()));
        if (atLeast > budget)
            throw new ReparoInputException(FormattableString.Invariant(
                $"the influence model of {train.Count:N0} samples ({steps:N0} steps of {hidden} hidden units) needs at least {atLeast / 1073741824.0:F2} GiB, above --max-memory {budget / 1073741824.0:F2} GiB: use fewer training samples (--train-limit), fewer PCA components or a smaller largest K"));
    }

    /// <summary>
    /// Builds the influence model of <paramref name="network"/> (recurrent) over <paramref name="train"/>: profiling,
    /// PCA, the K sweep, traces and the index (Sec. 3.1–3.3). The network is referenced, not copied: it must not change
    /// while the model is used.
    /// </summary>
    public static InfluenceModel Build(Network network, Dataset train, InfluenceOptions? options = null, IProgress<string>? progress = null)
    {
        options ??= new InfluenceOptions();
        options.Abstraction.Validate();
        Trainer.CheckCompatible(network, train);
        var total = Stopwatch.StartNew();
        var watch = Stopwatch.StartNew();
        if (options.MaxMemoryBytes is long budget) RefuseOverBudget(network, train, options.Abstraction, budget);
        using ProgressScope shown = WorkProgress.Begin("influence model", 4);
        shown.Describe("profiling");
        progress?.Report($"profiling {train.Count} samples");
        using RecurrentProfile profile = RecurrentProfile.Collect(network, train, options.BatchSize);
        if (profile.StepCount < 2) throw new ReparoInputException($"'{train.Name}' gives {profile.StepCount} steps; the abstraction needs at least two");
        double profileSeconds = watch.Elapsed.TotalSeconds;

        watch.Restart();
        shown.Advance();
        shown.Describe("PCA");
        progress?.Report($"PCA of {profile.StepCount} hidden states");
        Pca pca;
        using (Tensor? sample = StateAbstraction.FitSample(profile.States, options.Abstraction)) pca = Pca.Fit(sample ?? profile.States, options.Abstraction.PcaComponents);
        using Tensor reduced = pca.Transform(profile.States);
        double pcaSeconds = watch.Elapsed.TotalSeconds;

        watch.Restart();
        shown.Advance();
        shown.Describe("state abstraction");
        StateSelection selection = StateAbstraction.Select(reduced, profile.StepLabels, profile.ClassCount, options.Abstraction, progress);
        double mixtureSeconds = watch.Elapsed.TotalSeconds;

        watch.Restart();
        shown.Advance();
        shown.Describe("transition index");
        progress?.Report("indexing transitions");
        var abstraction = new StateAbstraction(pca, selection.Mixture,
            StateAbstraction.CountVisits(selection.States, profile.StepLabels, selection.Mixture.Components, profile.ClassCount), profile.ClassCount);
        var traces = new TraceSet(profile.Lengths, selection.States, profile.StepLabels, profile.Symbols, profile.Predictions, profile.Labels);
        InfluenceIndex index = InfluenceIndex.Build(traces);
        CandidateState chosen = selection.Chosen;
        var report = new InfluenceBuildReport(chosen.K, pca.ComponentCount, chosen.MeanStability, chosen.Bic, profile.StepCount, traces.Count,
            index.TransitionCount, selection.ReachedThreshold, selection.Explanation, selection.Candidates,
            new InfluenceTimings(profileSeconds, pcaSeconds, mixtureSeconds, 0, 0));
        var model = new InfluenceModel(network, abstraction, traces, index, report, train.Name, ownsNetwork: false);
        model.Report = report with { Time = report.Time with { IndexSeconds = watch.Elapsed.TotalSeconds, TotalSeconds = total.Elapsed.TotalSeconds } };
        shown.Advance();
        return model;
    }

    /// <summary>Reads a model written by <see cref="Save"/>; a defect is a one-line <see cref="ReparoInputException"/>.</summary>
    public static InfluenceModel Load(string path) => InfluenceModelFile.Read(path);

    /// <summary>Writes the model (network included) to <paramref name="path"/> atomically.</summary>
    public void Save(string path) => InfluenceModelFile.Write(this, path);

    /// <summary>Profiles <paramref name="data"/> with the network and abstracts it with the stored PCA and mixture.</summary>
    public TraceSet Abstract(Dataset data, int batchSize = 1000)
    {
        Trainer.CheckCompatible(Network, data);
        using RecurrentProfile profile = RecurrentProfile.Collect(Network, data, batchSize);
        return TraceSet.From(profile, Abstraction);
    }

    /// <summary>Sample-level influence (Sec. 3.3) of input <paramref name="index"/> of <paramref name="data"/>: the <paramref name="top"/> closest training samples.</summary>
    public SampleQuery Query(Dataset data, int index, int top = 100)
    {
        if (index < 0 || index >= data.Count) throw new ReparoInputException($"index {index} is outside '{data.Name}' (0–{data.Count - 1})");
        AbstractTrace trace = Abstract(data.Subset([index]))[0];
        (IReadOnlyList<InfluenceHit> hits, double milliseconds) = Similarity.Top(trace, top);
        return new SampleQuery(trace, hits, milliseconds);
    }

    /// <summary>The transition index with or without symbols (the symbol-free one is built on first use; for image rows both are the same).</summary>
    public InfluenceIndex TransitionIndex(bool ignoreSymbols = false)
    {
        if (!ignoreSymbols || Network.Spec.InputKind != InputKind.Tokens) return Index;
        return symbolFree ??= InfluenceIndex.Build(Training, ignoreSymbols: true);
    }

    /// <summary>Segment-level influence (Sec. 3.3) of <paramref name="trace"/>: fault step, pre-flip state and transition supports.</summary>
    public SegmentAnalysis Segments(AbstractTrace trace, bool ignoreSymbols = false) => SegmentInfluence.Analyse(trace, TransitionIndex(ignoreSymbols));

    /// <summary>Transition influence score of every training sample for <paramref name="inputs"/> (Sec. 4.2; see <see cref="SegmentInfluence.TransitionScores"/>).</summary>
    public double[] TransitionScores(IEnumerable<AbstractTrace> inputs, TransitionScope scope = TransitionScope.All, bool ignoreSymbols = false) =>
        SegmentInfluence.TransitionScores(inputs, TransitionIndex(ignoreSymbols), Training.Count, scope);

    /// <inheritdoc />
    public void Dispose()
    {
        Similarity.Dispose();
        if (ownsNetwork) Network.Dispose();
    }
}
