using Reparo.Data;
using Reparo.Experiments;
using Reparo.Localisation;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Reporting;
using static TorchSharp.torch;

namespace Reparo.Tests.Localisation;

public class LayerHeuristicsTests
{
    private static readonly string[] Layers = ["fc1", "fc2", "fc3"];

    /// <summary>features 4 → fc1 → relu1 → fc2 → relu2 → fc3 (→ 2 classes), every layer set by hand.</summary>
    private static Network Mlp(Func<string, (double[,] Weight, double[] Bias)> parameters)
    {
        TestSupport.Init();
        var network = new Network(new NetworkSpec("custom", [4], InputKind.Features, ["a", "b"],
            [new LinearSpec("fc1", 4, 4), new ReluSpec("relu1"), new LinearSpec("fc2", 4, 4), new ReluSpec("relu2"), new LinearSpec("fc3", 4, 2)]));
        using var noGrad = no_grad();
        foreach (string name in Layers)
        {
            (double[,] w, double[] b) = parameters(name);
            AffineSite site = AffineSites.Find(network, name);
            site.Weight.copy_(tensor(w).to(ScalarType.Float32));
            site.Bias!.copy_(tensor(b).to(ScalarType.Float32));
        }
        network.eval();
        return network;
    }

    private static double[,] Identity(int n, double scale = 1)
    {
        var m = new double[n, n];
        for (int i = 0; i < n; i++) m[i, i] = scale;
        return m;
    }

    private static double[,] Readout(double scale = 1) => new double[,] { { scale, -scale, scale, -scale }, { -scale, scale, -scale, scale } };

    /// <summary>Eight positive points with their labels, and (optionally) counterparts that differ from them in the last feature only.</summary>
    private static RepairSet Points(bool counterparts = false)
    {
        var rng = new Random(3);
        var regions = new List<RepairRegion>();
        for (int i = 0; i < 8; i++)
        {
            float[] x = [.. Enumerable.Range(0, 4).Select(_ => (float)(1 + rng.NextDouble()))];
            float[] clean = [.. x];
            clean[3] -= 0.8f;
            regions.Add(new RepairRegion(tensor(x).reshape(1, 4), i % 2, $"p{i}", counterparts ? tensor(clean).reshape(1, 4) : null));
        }
        return new RepairSet(regions, "hand-made points");
    }

    private static string Pick(string heuristic, Network network, RepairSet set, IReadOnlyList<string>? candidates = null, Tensor? statistics = null) =>
        LayerHeuristics.Choose(LayerHeuristics.Find(heuristic), new LayerChoiceContext(network, set, candidates ?? Layers, statistics)).Layer;

    /// <summary>
    /// Scaling fc2 by c and fc3 by 1/c keeps the function (ReLU is positively homogeneous) but makes fc2's activations c
    /// times larger: the activation heuristics must follow the scale, and with c &lt; 1 the gradient one must pick fc2.
    /// </summary>
    [Fact]
    public void ActivationVarianceAndGradientFollowAFunctionPreservingRescale()
    {
        Network Scaled(double c) => Mlp(name => name switch
        {
            "fc1" => (Identity(4), [0.1, 0.1, 0.1, 0.1]),
            "fc2" => (Identity(4, c), [0, 0, 0, 0]),
            _ => (Readout(1 / c), [0, 0]),
        });
        RepairSet set = Points();
        Network large = Scaled(100), small = Scaled(0.01);
        Assert.Equal("fc2", Pick("activation", large, set));
        Assert.Equal("fc2", Pick("variance", large, set));
        Assert.NotEqual("fc2", Pick("activation", small, set));
        Assert.Equal("fc2", Pick("gradient", small, set));
        Assert.NotEqual("fc2", Pick("gradient", large, set));
        // Same function either way.
        (Tensor x, _, _) = set.Stacked();
        Assert.True(large.Logits(x).allclose(small.Logits(x), rtol: 1e-3, atol: 1e-3));
    }

    /// <summary>
    /// fc1 adds a large offset and fc2 removes it: the counterparts' difference is a large share of fc2's output and a
    /// tiny share of fc1's and fc3's (fc3 adds a large bias). Every representation is alike at fc1 (the offset dominates).
    /// </summary>
    [Fact]
    public void ChangeFindsTheLayerWhereTheCorruptionShowsAndSimilarityTheOneWhereAllLookAlike()
    {
        Network network = Mlp(name => name switch
        {
            "fc1" => (Identity(4), [1000, 1000, 1000, 1000]),
            "fc2" => (Identity(4), [-1000, -1000, -1000, -1000]),
            _ => (Readout(), [1000, 1000]),
        });
        RepairSet set = Points(counterparts: true);
        Assert.Equal("fc2", Pick("change", network, set));
        Assert.Equal("fc1", Pick("similarity", network, set));
        Assert.Throws<ReparoInputException>(() => Pick("change", network, Points(counterparts: false)));
    }

    [Fact]
    public void PositionRulesPickTheirLayers()
    {
        Network mlp = Mlp(name => name == "fc3" ? (Readout(), [0, 0]) : (Identity(4), [0, 0, 0, 0]));
        RepairSet set = Points();
        Assert.Equal("fc1", Pick("first-linear", mlp, set));
        Assert.Equal("fc2", Pick("penultimate", mlp, set));
        Network cnn = ModelZoo.Create("cnn", [1, 8, 8], InputKind.Image, ["a", "b"], null, 1);
        var images = new RepairSet([new RepairRegion(rand(1, 1, 8, 8), 0, "i0"), new RepairRegion(rand(1, 1, 8, 8), 1, "i1")], "images");
        IReadOnlyList<string> sites = LayerHeuristics.Candidates(cnn, "edit");
        Assert.Equal(["conv1", "conv2", "fc1", "fc2"], sites);
        Assert.Equal("fc1", Pick("first-linear", cnn, images, sites));
        Assert.Equal("fc1", Pick("penultimate", cnn, images, sites));
    }

    /// <summary>
    /// Editability measures attribution, not scale: rescaling fc2 by c and fc3 by 1/c (the same function) must leave
    /// every layer's score and the pick unchanged, where the activation heuristic's pick moves with c (see above). A pair
    /// that differs in a feature the network ignores gives every layer zero (nothing to attribute).
    /// </summary>
    [Fact]
    public void EditabilityIsInvariantToAFunctionPreservingRescale()
    {
        Network Scaled(double c, double readFeature3) => Mlp(name =>
        {
            double[,] w = Identity(4, name == "fc2" ? c : 1);
            w[3, 3] = name == "fc1" ? readFeature3 : w[3, 3];
            w[0, 3] = name == "fc1" ? readFeature3 : w[0, 3];
            return name == "fc3" ? (Readout(1 / c), [0, 0]) : (w, [0.1, 0.1, 0.1, 0.1]);
        });
        RepairSet set = Points(counterparts: true);
        using Tensor statistics = rand(200, 4).add(1);
        LayerChoice Choose(Network n) => LayerHeuristics.Choose(LayerHeuristics.Find("editability"), new LayerChoiceContext(n, set, Layers, statistics));
        LayerChoice small = Choose(Scaled(0.1, 1)), large = Choose(Scaled(10, 1));
        Assert.Equal(small.Layer, large.Layer);
        foreach ((LayerScore a, LayerScore b) in small.Scores.Zip(large.Scores)) Assert.Equal(a.Score, b.Score, 2e-2 * Math.Max(1, Math.Abs(a.Score)));
        Assert.True(small.Scores.Max(s => s.Score) > 0);
        Assert.All(Choose(Scaled(1, 0)).Scores, s => Assert.Equal(0, s.Score));
    }

    /// <summary>
    /// The step trade-off picks the layer whose changed weights the clean inputs do not use. In the first network the
    /// failures live in features 2–3 and the clean inputs in 0–1, and fc1 mixes them: at fc1 only the failures' columns
    /// (and the bias) move, while fc2 and fc3 see both mixed. In the second both overlap at the input and fc2's ReLUs
    /// route them apart with a margin: fc2 may change the rows only the failures switch on, and the clean outputs do not
    /// move at all. The network is restored bit for bit.
    /// </summary>
    [Fact]
    public void TradeOffPicksTheLayerWhoseChangeTheCleanInputsDoNotSee()
    {
        var rng = new Random(5);
        float U(double low, double high) => (float)(low + (high - low) * rng.NextDouble());
        Tensor Rows(int n, Func<int, float[]> row) => stack([.. Enumerable.Range(0, n).Select(i => tensor(row(i)))]);
        RepairSet Failures(Func<float[]> point) => new([.. Enumerable.Range(0, 8).Select(i => new RepairRegion(tensor(point()).reshape(1, 4), i % 2, $"p{i}"))], "failures");
        double[,] mix = { { 1, 0.5, 1, 0.5 }, { 0.5, 1, 0.5, 1 }, { 1, 0.5, 0.5, 1 }, { 0.5, 1, 1, 0.5 } };
        Network mixing = Mlp(name => name switch { "fc1" => (mix, [0, 0, 0, 0]), "fc2" => (Identity(4), [0, 0, 0, 0]), _ => (Readout(), [0, 0]) });
        using Tensor cleanApart = Rows(200, _ => [U(1, 2), U(1, 2), 0, 0]);
        RepairSet apart = Failures(() => [0, 0, U(1, 2), U(1, 2)]);
        Assert.Equal("fc1", Pick("trade-off", mixing, apart, statistics: cleanApart));

        double[,] gate = { { 1, 0, -1, 0 }, { 0, 1, 0, -1 }, { -1, 0, 1, 0 }, { 0, -1, 0, 1 } };
        Network routing = Mlp(name => name switch { "fc1" => (Identity(4), [0, 0, 0, 0]), "fc2" => (gate, [0, 0, 0, 0]), _ => (Readout(), [0, 0]) });
        using Tensor cleanOverlap = Rows(200, _ => [U(1, 2), U(1, 2), U(0, 0.3), U(0, 0.3)]);
        RepairSet overlap = Failures(() => [U(0, 0.3), U(0, 0.3), U(1, 2), U(1, 2)]);
        Tensor[] before = [.. routing.parameters().Select(p => p.detach().clone())];
        LayerChoice choice = LayerHeuristics.Choose(LayerHeuristics.Find("trade-off"), new LayerChoiceContext(routing, overlap, Layers, cleanOverlap));
        Assert.Equal("fc2", choice.Layer);
        Assert.All(choice.Scores, s => Assert.True(double.IsFinite(s.Score)));
        Assert.All(routing.parameters().Zip(before), pair => Assert.True(pair.First.detach().eq(pair.Second).all().item<bool>()));
        Assert.Throws<ReparoInputException>(() => Pick("trade-off", routing, overlap));
    }

    [Fact]
    public void LpBudgetTakesTheEarliestAffordableLayer()
    {
        TestSupport.Init();
        Network network = ModelZoo.Create("mlp:100x3", [1, 28, 28], InputKind.Image, ["a", "b"], null, 2);
        var set = new RepairSet([.. Enumerable.Range(0, 12).Select(i => new RepairRegion(rand(1, 1, 28, 28), i % 2, $"p{i}"))], "random");
        long[] nonzeros = [.. RepairSetAnalysis.LpCandidateLayers(network).Select(i => RepairSetAnalysis.PredictLp(network, set, i).Nonzeros)];
        string pick = Pick("lp-budget", network, set);
        int first = Array.FindIndex(nonzeros, n => n <= 1_500_000);
        Assert.Equal(Layers[first], pick);
        Assert.True(nonzeros[0] > 1_500_000, "the test needs fc1 over the budget");
    }

    [Fact]
    public void SpearmanHandlesTiesAndConstants()
    {
        Assert.Equal(1, RankCorrelation.Spearman([1, 2, 3], [10, 20, 30]), 12);
        Assert.Equal(-1, RankCorrelation.Spearman([1, 2, 3], [3, 2, 1]), 12);
        Assert.Equal(Math.Sqrt(3) / 2, RankCorrelation.Spearman([1, 1, 2], [1, 2, 3]), 12);
        Assert.True(double.IsNaN(RankCorrelation.Spearman([1, 1, 1], [1, 2, 3])));
        Assert.Equal("rotations:-10:10:3:25", InformedRepairStudy.WithSize("rotations:-10:10:3", 25));
        Assert.Equal("rotations:-10:10:3:25:fog:2", InformedRepairStudy.WithSize("rotations:-10:10:3:fog:2", 25));
        Assert.Equal("fog:3:10", InformedRepairStudy.WithSize("fog:3", 10));
    }

    /// <summary>
    /// On a tiny digits model the study's brute force must name the layer that really repairs best: every layer is
    /// repaired again independently here, and the best of those (highest efficacy, then lowest drawdown) must be the
    /// study's, with the same measurements.
    /// </summary>
    [Fact]
    public void BruteForceReturnsTheTrulyBestLayer()
    {
        DataSplits splits = DataCatalog.Load("digits");
        Network network = ModelZoo.Create("mlp:16x3", splits.Train, seed: 5);
        var options = new InformedRepairOptions
        {
            RepairSets = ["gaussian-noise:3"],
            Sizes = [6],
            Methods = ["ft"],
            Heuristics = LayerHeuristics.All,
            Settings = new RepairSettings { MaxSteps = 400, LearningRate = 1e-2 },
        };
        StudyReport report = InformedRepairStudy.Run(network, splits, options);
        StudyCase study = Assert.Single(report.Cases);
        RepairProblem problem = RepairSetSpec.Build("gaussian-noise:3:6", network, splits, 0);
        var outcomes = Layers.Select(layer =>
        {
            RepairResult result = RepairMethods.Create("ft", options.Settings with { Layer = layer }).Repair(problem);
            return (Layer: layer, Metrics: RepairMetrics.Compute(problem, result));
        }).ToArray();
        var best = outcomes.OrderByDescending(o => o.Metrics.Efficacy).ThenBy(o => o.Metrics.Drawdown).First();
        Assert.Equal(best.Layer, study.BestLayer);
        foreach ((string layer, RepairMetrics m) in outcomes)
        {
            LayerRun run = study.Layers.Single(l => l.Layer == layer);
            Assert.Equal(m.Efficacy, run.Efficacy, 9);
            Assert.Equal(m.Drawdown, run.Drawdown, 9);
        }
        Assert.True(outcomes.Select(o => o.Metrics.Drawdown).Distinct().Count() > 1, "the layers should differ, or the test proves nothing");
        // Every heuristic is judged against that best; a pick at the best layer has zero regret and is within tolerance.
        foreach (HeuristicOutcome h in study.Heuristics.Where(h => h.Pick == study.BestLayer))
        {
            Assert.Equal(0, h.DrawdownRegret, 12);
            Assert.True(h.WithinTolerance);
        }
        Assert.InRange(report.AutoWithin10PctShare, 0, 1);
    }
}
