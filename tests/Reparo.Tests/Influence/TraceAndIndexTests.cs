using Reparo.Influence;
using static TorchSharp.torch;

namespace Reparo.Tests.Influence;

public sealed class TraceAndIndexTests
{
    /// <summary>Three hand-made training traces over K = 3 states and 2 labels; symbols 0 except trace 2.</summary>
    private static TraceSet HandMade() => new(
        lengths: [3, 2, 3],
        states: [1, 2, 3, /**/ 1, 2, /**/ 1, 2, 2],
        stepLabels: [0, 0, 1, /**/ 0, 0, /**/ 0, 0, 0],
        symbols: [0, 0, 0, /**/ 0, 0, /**/ 5, 0, 0],
        predictions: [1, 0, 0],
        labels: [0, 0, 0]);

    [Fact]
    public void IndexCountsEveryTransitionOncePerSample()
    {
        InfluenceIndex index = InfluenceIndex.Build(HandMade());
        // (0,0,0,0,1) in traces 0 and 1; trace 2 reads symbol 5 first.
        Assert.Equal([0, 1], index.Samples(new Transition(0, 0, 0, 0, 1)));
        Assert.Equal([2], index.Samples(new Transition(0, 0, 5, 0, 1)));
        Assert.Equal([0, 1, 2], index.Samples(new Transition(1, 0, 0, 0, 2)));
        Assert.Equal(1, index.Support(new Transition(2, 0, 0, 1, 3)));
        // Trace 2 holds (2,0,0,0,2) once as a sample although it is a self-loop.
        Assert.Equal([2], index.Samples(new Transition(2, 0, 0, 0, 2)));
        Assert.Equal(0, index.Support(new Transition(3, 1, 0, 0, 1)));
        Assert.Equal(5, index.TransitionCount);

        InfluenceIndex symbolFree = InfluenceIndex.Build(HandMade(), ignoreSymbols: true);
        Assert.Equal([0, 1, 2], symbolFree.Samples(new Transition(0, 0, 5, 0, 1)));
        Assert.Equal(4, symbolFree.TransitionCount);

        Assert.Equal([0, 1, 2], index.SamplesReaching(0, 2));
        Assert.Equal([0], index.SamplesReaching(1, 3));
        Assert.Empty(index.SamplesReaching(0, 0));
        Assert.Equal([0, 1], index.SamplesContainingAll([new Transition(0, 0, 0, 0, 1), new Transition(1, 0, 0, 0, 2)]));
        Assert.Equal([0], index.SamplesContainingAll([new Transition(0, 0, 0, 0, 1), new Transition(2, 0, 0, 1, 3)]));
    }

    [Theory]
    [InlineData(new[] { 0, 0, 0 }, 0, null)]          // correct: no fault
    [InlineData(new[] { 1, 1, 1 }, 1, 0)]             // never right: the virtual start
    [InlineData(new[] { 0, 0, 2, 1 }, 1, 2)]          // leaves the truth at step 2, through another wrong label
    [InlineData(new[] { 0, 1, 0, 1 }, 1, 3)]          // the last time it is right counts
    [InlineData(new[] { 2, 0, 1 }, 1, 2)]
    public void FaultStepIsTheLastStepStillPredictingTheTruth(int[] stepLabels, long prediction, int? fault)
    {
        var trace = new AbstractTrace(Enumerable.Range(1, stepLabels.Length).ToArray(), stepLabels, new int[stepLabels.Length], prediction, 0);
        Assert.Equal(fault, trace.FaultStep());
        Assert.Equal([0, .. trace.States], trace.Path());
    }

    [Fact]
    public void SegmentAnalysisFindsTheFaultyTransitionAndItsSupport()
    {
        InfluenceIndex index = InfluenceIndex.Build(HandMade());
        AbstractTrace failing = HandMade()[0];
        SegmentAnalysis analysis = SegmentInfluence.Analyse(failing, index);
        Assert.Equal(2, analysis.FaultStep);
        Assert.Equal(2, analysis.PreFlipState);
        Assert.Equal(0, analysis.PreFlipLabel);
        Assert.Equal(new Transition(2, 0, 0, 1, 3), analysis.FaultyTransition);
        Assert.Equal(1, analysis.FaultySupport);
        Assert.Equal([2, 3, 1], analysis.Supports);
        Assert.Equal(3, analysis.SamplesReachingPreFlipState);

        SegmentAnalysis correct = SegmentInfluence.Analyse(HandMade()[1], index);
        Assert.Null(correct.FaultStep);
        Assert.Null(correct.FaultyTransition);
        Assert.Equal([2, 3], correct.Supports);
    }

    [Fact]
    public void TransitionScoresFollowTheDocumentedRule()
    {
        TraceSet traces = HandMade();
        InfluenceIndex index = InfluenceIndex.Build(traces);
        // Query = trace 0: transitions A=(0,0,0,0,1) in {0,1}, B=(1,0,0,0,2) in {0,1,2}, C=(2,0,0,1,3) in {0}.
        double[] all = SegmentInfluence.TransitionScores([traces[0]], index, 3);
        Assert.Equal(3.0 / 3, all[0], 12);
        Assert.Equal(2.0 / 3, all[1], 12);
        Assert.Equal(1.0 / 3, all[2], 12);
        double[] faulty = SegmentInfluence.TransitionScores([traces[0], traces[1]], index, 3, TransitionScope.Faulty);
        Assert.Equal([1.0, 0, 0], faulty);
    }

    [Fact]
    public void StabilityFollowsTheAuthorsAverage()
    {
        // State 1: labels 0,0,1 → 2/3; state 2: 1,1 → 1; state 3 unvisited (left out); start state counts 1.
        StabilitySummary s = StateAbstraction.Stability([1, 1, 1, 2, 2], [0, 0, 1, 1, 1], k: 3, classes: 2);
        Assert.Equal((1 + 2.0 / 3 + 1) / 3, s.Mean, 12);
        Assert.Equal(2.0 / 3, s.Min, 12);
        Assert.Equal(1, s.Max, 12);
    }

    [Fact]
    public void KSelectionPicksTheFirstStableCandidateAndLogsEveryOne()
    {
        TestSupport.Init();
        // Four separated clusters, each with its own label: two states mix two labels each, four are pure.
        var generator = new Generator(9);
        float[][] centres = [[-6, -6], [-6, 6], [6, -6], [6, 6]];
        var parts = new List<Tensor>();
        var labels = new List<int>();
        var rng = new Random(3);
        for (int c = 0; c < 4; c++)
        {
            parts.Add(randn([150, 2], generator: generator).mul(0.4).add(tensor(centres[c])));
            for (int i = 0; i < 150; i++) labels.Add(c);
        }
        Tensor x = cat(parts, 0);
        int[] stepLabels = labels.ToArray();
        var options = new AbstractionOptions { Candidates = [2, 4, 6], StabilityThreshold = 0.9, Mixture = new GaussianMixtureOptions(Seed: 1) };
        StateSelection selection = StateAbstraction.Select(x, stepLabels, 4, options);
        Assert.Equal(4, selection.Mixture.Components);
        Assert.True(selection.ReachedThreshold);
        Assert.Equal([2, 4, 6], selection.Candidates.Select(c => c.K));
        Assert.True(selection.Candidates[0].MeanStability < 0.9);
        Assert.Equal(1.0, selection.Candidates[1].MeanStability, 6);
        Assert.All(selection.Candidates, c => Assert.True(double.IsFinite(c.Bic)));
        Assert.True(selection.Candidates[1].Bic < selection.Candidates[0].Bic);
        Assert.Equal(600, selection.States.Length);

        // Labels mixed inside every cluster: nothing reaches θ = 1, so the most stable candidate is taken.
        int[] mixed = Enumerable.Range(0, 600).Select(i => (i + rng.Next(2)) % 2).ToArray();
        StateSelection fallback = StateAbstraction.Select(x, mixed, 2, options with { StabilityThreshold = 1, Candidates = [2, 4] });
        Assert.False(fallback.ReachedThreshold);
        Assert.Contains("no candidate reaches", fallback.Explanation);
        Assert.Equal(fallback.Candidates.MaxBy(c => c.MeanStability)!.K, fallback.Mixture.Components);

        // Fitted on a sample of 100 of the 600 vectors, the same four states come out, and every vector gets its state.
        var sampled = options with { FitSample = 100 };
        using (Tensor? sample = StateAbstraction.FitSample(x, sampled))
        {
            Assert.NotNull(sample);
            Assert.Equal(100, sample.shape[0]);
            using Tensor? again = StateAbstraction.FitSample(x, sampled);
            Assert.True(sample.eq(again!).all().item<bool>(), "the sample is drawn with the mixture's seed");
            float[] values = sample.data<float>().ToArray();
            Assert.Equal(100, Enumerable.Range(0, 100).Select(i => (values[2 * i], values[2 * i + 1])).Distinct().Count());
        }
        Assert.Null(StateAbstraction.FitSample(x, options with { FitSample = 600 }));
        Assert.Null(StateAbstraction.FitSample(x, options with { FitSample = 0 }));
        StateSelection fromSample = StateAbstraction.Select(x, stepLabels, 4, sampled);
        Assert.Equal(4, fromSample.Mixture.Components);
        Assert.Equal(600, fromSample.States.Length);
        Assert.Equal(1.0, fromSample.Candidates[1].MeanStability, 6);

        // Swept on 120 of the 600 vectors: the candidates are compared there, the chosen K is fitted again and measured
        // on every vector; one candidate alone is never sampled.
        StateSelection swept = StateAbstraction.Select(x, stepLabels, 4, options with { SweepSample = 120 });
        Assert.Equal(4, swept.Mixture.Components);
        Assert.Equal(600, swept.States.Length);
        Assert.Contains("the sweep on 120 of 600 step vectors", swept.Explanation);
        Assert.Equal(1.0, swept.Chosen.MeanStability, 6);
        Assert.Equal(swept.Mixture.Bic(x), swept.Chosen.Bic, 9);
        Assert.NotEqual(swept.Candidates[1].Bic, swept.Chosen.Bic);
        StateSelection single = StateAbstraction.Select(x, stepLabels, 4, options with { SweepSample = 120, Candidates = [4] });
        Assert.DoesNotContain("the sweep on", single.Explanation);
        Assert.Equal(single.Candidates[0], single.Chosen);
    }

    [Fact]
    public void SampleDistancesMatchTheAuthorsFormula()
    {
        TestSupport.Init();
        TraceSet training = HandMade();
        var abstraction = new StateAbstraction(new Pca([0, 0], [1, 0, 0, 1], [1, 1]), new GaussianMixture([0.3, 0.3, 0.4], [0, 0, 1, 1, 2, 2], [1, 1, 1, 1, 1, 1]),
            StateAbstraction.CountVisits(training.States, training.StepLabels, 3, 2), 2);
        using var similarity = new SampleInfluence(training, abstraction);
        AbstractTrace[] queries =
        [
            new([1, 2, 2], [0, 0, 0], [0, 0, 0], 0, 0),
            new([3], [1], [0], 1, 0),
            new([2, 3, 1, 1, 2], [0, 1, 1, 0, 0], [0, 0, 0, 0, 0], 0, 0),
        ];
        foreach (AbstractTrace q in queries)
        {
            double[] expected = Enumerable.Range(0, training.Count).Select(i => Naive(q, training[i], abstraction)).ToArray();
            double[] actual = similarity.Distances(q);
            for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 5);
        }
        // Query 0 equals training trace 2: distance 0, nearest first.
        (IReadOnlyList<InfluenceHit> hits, _) = similarity.Top(queries[0], 2);
        Assert.Equal(2, hits[0].TrainIndex);
        Assert.Equal(0, hits[0].Distance, 6);
        Assert.Equal(0, hits[0].Label);
        Assert.Equal(2, hits.Count);
    }

    /// <summary>The authors' calculate_similarity_list for one pair: pad both with zero steps, normalise, mean |difference|.</summary>
    private static double Naive(AbstractTrace a, AbstractTrace b, StateAbstraction abstraction)
    {
        int length = Math.Max(3, Math.Max(a.Length, b.Length));
        int width = 2 + abstraction.ClassCount;
        double[] Row(AbstractTrace t, int step)
        {
            var row = new double[width];
            int state = step < t.Length ? t.States[step] : 0, label = step < t.Length ? t.StepLabels[step] : 0;
            row[0] = (state + 1.0) / (abstraction.K + 2);
            row[1] = (label + 1.0) / (abstraction.ClassCount + 1);
            if (state > 0) Array.Copy(abstraction.Confidence(state), 0, row, 2, abstraction.ClassCount);
            return row;
        }
        double sum = 0;
        for (int step = 0; step < length; step++) sum += Row(a, step).Zip(Row(b, step)).Sum(p => Math.Abs(p.First - p.Second));
        return sum / (length * width);
    }
}
