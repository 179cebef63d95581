using Reparo.Runtime;
using static TorchSharp.torch;

namespace Reparo.Influence;

/// <summary>How hidden states become abstract states.</summary>
public sealed record AbstractionOptions
{
    /// <summary>Principal components kept before clustering (the authors use 10).</summary>
    public int PcaComponents { get; init; } = 10;

    /// <summary>Candidate numbers of abstract states K, tried in this order.</summary>
    public IReadOnlyList<int> Candidates { get; init; } = [5, 10, 15, 20, 25, 30, 35, 40];

    /// <summary>θ: the first candidate whose mean state stability reaches it is chosen.</summary>
    public double StabilityThreshold { get; init; } = 0.72;

    /// <summary>Stops the sweep at the first candidate reaching θ instead of fitting (and logging) every candidate.</summary>
    public bool StopAtFirstStable { get; init; }

    /// <summary>How each mixture is fitted.</summary>
    public GaussianMixtureOptions Mixture { get; init; } = new();

    /// <summary>
    /// Most step vectors the PCA and each candidate's mixture are fitted on: with more, a uniform sample drawn with the
    /// mixture's seed (every vector is still projected, assigned its state and counted in the stability and the BIC);
    /// 0 fits on every vector. A sample of this size pins the 10-dimensional means, variances and weights far more
    /// tightly than their spread across EM's starts, and makes the sweep's cost independent of the training set's size.
    /// </summary>
    public int FitSample { get; init; } = 200_000;

    /// <summary>
    /// Most step vectors the K sweep works on when it tries more than one candidate: each candidate's mixture is fitted,
    /// and its BIC and stability measured, on a uniform sample of this size (drawn with the mixture's seed, a subset of
    /// the <see cref="FitSample"/> draw); the chosen K is then fitted again on the <see cref="FitSample"/> and applied to
    /// every vector. 0 sweeps on every vector. The sweep only compares candidates, and 50,000 vectors are thousands per
    /// state; the full-size fit is paid once, for the K kept.
    /// </summary>
    public int SweepSample { get; init; } = 50_000;

    /// <summary>Throws a <see cref="ReparoInputException"/> if a value is out of range.</summary>
    public void Validate()
    {
        if (PcaComponents < 1) throw new ReparoInputException($"PCA components must be at least 1, got {PcaComponents}");
        if (Candidates.Count == 0) throw new ReparoInputException("give at least one candidate number of abstract states");
        if (Candidates.Any(k => k < 1)) throw new ReparoInputException($"numbers of abstract states must be positive, got {string.Join(",", Candidates)}");
        if (FitSample < 0) throw new ReparoInputException($"the fitting sample must be 0 (every vector) or positive, got {FitSample}");
        if (SweepSample < 0) throw new ReparoInputException($"the sweep sample must be 0 (every vector) or positive, got {SweepSample}");
        if (!(StabilityThreshold >= 0 && StabilityThreshold <= 1)) throw new ReparoInputException($"the stability threshold must lie in [0, 1], got {StabilityThreshold}");
        Mixture.Validate();
    }
}

/// <summary>One candidate K of the sweep: its mixture's BIC and how label-stable its states are.</summary>
/// <param name="K">Number of abstract states.</param>
/// <param name="Bic">BIC of the mixture on the training step vectors (scikit-learn's formula).</param>
/// <param name="MeanStability">Mean over states of the share of a state's visits with its most frequent label (see <see cref="StateAbstraction.Stability"/>).</param>
/// <param name="MinStability">The least stable state's share.</param>
/// <param name="MaxStability">The most stable state's share.</param>
/// <param name="Iterations">EM iterations.</param>
/// <param name="Converged">Whether EM converged before its iteration limit.</param>
/// <param name="Seconds">Time to fit and evaluate this candidate.</param>
public sealed record CandidateState(int K, double Bic, double MeanStability, double MinStability, double MaxStability, int Iterations, bool Converged, double Seconds);

/// <summary>Mean, least and largest state stability.</summary>
/// <param name="Mean">Mean over the virtual start state and every visited state.</param>
/// <param name="Min">Smallest.</param>
/// <param name="Max">Largest.</param>
public sealed record StabilitySummary(double Mean, double Min, double Max);

/// <summary>The outcome of the K sweep.</summary>
/// <param name="Mixture">The chosen mixture.</param>
/// <param name="States">Abstract state (1..K) of every step vector the sweep was run on.</param>
/// <param name="Candidates">Every candidate tried, in order (measured on the sweep's sample when it had one).</param>
/// <param name="ReachedThreshold">Whether the chosen K reaches θ (otherwise it is the most stable candidate).</param>
/// <param name="Explanation">One line saying why this K was chosen.</param>
/// <param name="Chosen">The chosen mixture measured on every step vector.</param>
public sealed record StateSelection(GaussianMixture Mixture, int[] States, IReadOnlyList<CandidateState> Candidates, bool ReachedThreshold, string Explanation, CandidateState Chosen);

/// <summary>
/// The abstract model of a recurrent network (Xie et al., ICML'21, Sec. 3.1): PCA of the hidden states, a diagonal
/// GMM whose components are the abstract states 1..K (0 is the virtual start state every trace leaves from), and how
/// often the training traces visit each state with each per-step label, which gives the confidence vectors
/// P(label | state) of the temporal features.
/// </summary>
public sealed class StateAbstraction
{
    /// <summary>An abstraction from its parts; <paramref name="visitCounts"/> is K × C row-major (states 1..K).</summary>
    public StateAbstraction(Pca pca, GaussianMixture mixture, long[] visitCounts, int classCount)
    {
        if (mixture.Dimension != pca.ComponentCount) throw new ArgumentException($"the mixture is over {mixture.Dimension} dimensions but the PCA keeps {pca.ComponentCount}");
        if (visitCounts.Length != mixture.Components * classCount) throw new ArgumentException($"visit counts need {mixture.Components}×{classCount} entries, got {visitCounts.Length}");
        Pca = pca;
        Mixture = mixture;
        VisitCounts = visitCounts;
        ClassCount = classCount;
    }

    /// <summary>The projection applied before clustering.</summary>
    public Pca Pca { get; }

    /// <summary>The mixture whose components are the abstract states.</summary>
    public GaussianMixture Mixture { get; }

    /// <summary>Training visits of state s (1..K) with per-step label c at <c>(s − 1)·C + c</c>.</summary>
    public long[] VisitCounts { get; }

    /// <summary>Number of classes C.</summary>
    public int ClassCount { get; }

    /// <summary>Number of abstract states K (the start state 0 not counted).</summary>
    public int K => Mixture.Components;

    /// <summary>Abstract state (1..K) of every hidden state (S × H).</summary>
    public int[] Assign(Tensor hiddenStates)
    {
        if (hiddenStates.shape[0] == 0) return [];
        using var scope = NewDisposeScope();
        return Mixture.Predict(Pca.Transform(hiddenStates)).Select(c => (int)c + 1).ToArray();
    }

    /// <summary>P(label | state) from the training visits (Sec. 3.2, the confidence of a temporal feature); uniform for a state no training step visits.</summary>
    public double[] Confidence(int state)
    {
        if (state < 1 || state > K) throw new ArgumentOutOfRangeException(nameof(state), $"abstract states are 1..{K}, got {state}");
        long total = 0;
        for (int c = 0; c < ClassCount; c++) total += VisitCounts[(state - 1) * ClassCount + c];
        return Enumerable.Range(0, ClassCount).Select(c => total == 0 ? 1.0 / ClassCount : (double)VisitCounts[(state - 1) * ClassCount + c] / total).ToArray();
    }

    /// <summary>Visit counts of states 1..K by per-step label (K × C), from step states and labels.</summary>
    public static long[] CountVisits(int[] states, int[] labels, int k, int classes)
    {
        var counts = new long[k * classes];
        for (int i = 0; i < states.Length; i++) counts[(states[i] - 1) * classes + labels[i]]++;
        return counts;
    }

    /// <summary>
    /// State stability as the authors' code computes it (<c>GMM.evaluate_labels</c>): for every state the share of its
    /// training visits that carry its most frequent per-step label, averaged without weights over the states, the
    /// virtual start state included with share 1. A state no step visits has no share and is left out of the mean
    /// (the authors' code would give NaN).
    /// </summary>
    public static StabilitySummary Stability(int[] states, int[] labels, int k, int classes)
    {
        long[] counts = CountVisits(states, labels, k, classes);
        var shares = new List<double> { 1.0 };
        for (int s = 0; s < k; s++)
        {
            long total = 0, best = 0;
            for (int c = 0; c < classes; c++)
            {
                total += counts[s * classes + c];
                best = Math.Max(best, counts[s * classes + c]);
            }
            if (total > 0) shares.Add((double)best / total);
        }
        return new StabilitySummary(shares.Average(), shares.Min(), shares.Max());
    }

    /// <summary>
    /// The rows of <paramref name="vectors"/> to fit on: null when there are at most <see cref="AbstractionOptions.FitSample"/>
    /// (fit on all), else that many distinct rows, in their original order, drawn with the mixture's seed.
    /// </summary>
    public static Tensor? FitSample(Tensor vectors, AbstractionOptions options)
    {
        long[]? rows = SampleRows(vectors.shape[0], options.FitSample, options.Mixture.Seed);
        if (rows is null) return null;
        using Tensor index = tensor(rows);
        return vectors.index_select(0, index);
    }

    /// <summary>
    /// <paramref name="size"/> distinct row numbers of <paramref name="count"/>, ascending, drawn with <paramref name="seed"/>
    /// (a partial Fisher–Yates shuffle, so a smaller draw with the same seed is a subset of a larger one); null when
    /// <paramref name="size"/> is 0 or covers every row.
    /// </summary>
    private static long[]? SampleRows(long count, int size, int seed)
    {
        if (size == 0 || count <= size) return null;
        var rng = new Random(seed);
        int[] order = [.. Enumerable.Range(0, checked((int)count))];
        for (int i = 0; i < size; i++)
        {
            int j = rng.Next(i, order.Length);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return [.. order.Take(size).Order().Select(i => (long)i)];
    }

    /// <summary>
    /// Semantics-guided choice of K (Sec. 3.1; the authors' <c>build_abst_model.py</c> sweep): fits a mixture for every
    /// candidate K, logs its BIC and mean stability, and takes the first K whose mean stability reaches θ; if none does,
    /// the most stable candidate (the explanation says so). With more than one candidate and more step vectors than
    /// <see cref="AbstractionOptions.SweepSample"/>, the candidates are compared on that sample and the chosen K is fitted
    /// again on the <see cref="AbstractionOptions.FitSample"/>; the chosen mixture assigns every vector its state.
    /// </summary>
    public static StateSelection Select(Tensor reduced, int[] stepLabels, int classes, AbstractionOptions options, IProgress<string>? progress = null)
    {
        options.Validate();
        if (reduced.shape[0] != stepLabels.Length) throw new ArgumentException($"{reduced.shape[0]} step vectors but {stepLabels.Length} labels");
        long[]? sweepRows = options.Candidates.Count > 1 ? SampleRows(reduced.shape[0], options.SweepSample, options.Mixture.Seed) : null;
        using Tensor? sweepIndex = sweepRows is null ? null : tensor(sweepRows);
        using Tensor? sweepVectors = sweepIndex is null ? null : reduced.index_select(0, sweepIndex);
        int[] sweepLabels = sweepRows is null ? stepLabels : [.. sweepRows.Select(r => stepLabels[r])];
        var log = new List<CandidateState>();
        (GaussianMixture Mixture, CandidateState Measured, int[] States)? chosen = null, mostStable = null;
        using ProgressScope shown = WorkProgress.Begin("state mixtures", options.Candidates.Count + (sweepRows is null ? 0 : 1));
        foreach (int k in options.Candidates)
        {
            shown.Describe($"K = {k}");
            (GaussianMixture mixture, CandidateState measured, int[] states) = FitAndMeasure(sweepVectors ?? reduced, sweepLabels, k, classes, options, progress);
            log.Add(measured);
            progress?.Report($"K = {k}: BIC {measured.Bic:G6}, mean stability {measured.MeanStability:F4}{(sweepRows is null ? "" : $" (on {sweepRows.Length} step vectors)")}");
            shown.Advance();
            if (mostStable is null || measured.MeanStability > mostStable.Value.Measured.MeanStability) mostStable = (mixture, measured, states);
            if (chosen is null && measured.MeanStability >= options.StabilityThreshold)
            {
                chosen = (mixture, measured, states);
                if (options.StopAtFirstStable) break;
            }
        }
        (GaussianMixture best, CandidateState bestMeasured, int[] bestStates) = chosen ?? mostStable!.Value;
        string sampled = sweepRows is null ? "" : $" (the sweep on {sweepRows.Length:N0} of {stepLabels.Length:N0} step vectors)";
        string explanation = chosen is not null
            ? $"K = {best.Components} is the first candidate with mean stability {bestMeasured.MeanStability:F4} ≥ θ = {options.StabilityThreshold}{sampled}"
            : $"no candidate reaches θ = {options.StabilityThreshold}; K = {best.Components} is the most stable ({bestMeasured.MeanStability:F4}){sampled}";
        if (sweepRows is null) return new StateSelection(best, bestStates, log, chosen is not null, explanation, bestMeasured);
        shown.Describe($"K = {best.Components} on every vector");
        (GaussianMixture final, CandidateState finalMeasured, int[] finalStates) = FitAndMeasure(reduced, stepLabels, best.Components, classes, options, progress);
        shown.Advance();
        return new StateSelection(final, finalStates, log, chosen is not null, explanation, finalMeasured);
    }

    /// <summary>
    /// Fits a <paramref name="k"/>-state mixture to <paramref name="vectors"/> (to the <see cref="AbstractionOptions.FitSample"/>
    /// of them) and measures its BIC and state stability on all of them.
    /// </summary>
    private static (GaussianMixture Mixture, CandidateState Measured, int[] States) FitAndMeasure(Tensor vectors, int[] labels, int k, int classes,
        AbstractionOptions options, IProgress<string>? progress)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using Tensor? sample = FitSample(vectors, options);
        progress?.Report($"fitting a {k}-state mixture to {(sample is null ? "" : $"{sample.shape[0]} of ")}{labels.Length} step vectors");
        GaussianMixture mixture = GaussianMixture.Fit(sample ?? vectors, k, options.Mixture);
        int[] states = [.. mixture.Predict(vectors).Select(c => (int)c + 1)];
        StabilitySummary stability = Stability(states, labels, k, classes);
        double bic = mixture.Bic(vectors);
        return (mixture, new CandidateState(k, bic, stability.Mean, stability.Min, stability.Max, mixture.Iterations, mixture.Converged, watch.Elapsed.TotalSeconds), states);
    }
}
