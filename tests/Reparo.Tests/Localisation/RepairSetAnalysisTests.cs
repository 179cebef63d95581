using Reparo.Data;
using Reparo.Localisation;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Repair.Provable;
using static TorchSharp.torch;

namespace Reparo.Tests.Localisation;

public class RepairSetAnalysisTests
{
    private static readonly string[] Classes = ["a", "b", "c"];

    private static RepairSet Points(Tensor rows, long[] labels) =>
        new(Enumerable.Range(0, (int)rows.shape[0]).Select(i => new RepairRegion(rows.narrow(0, i, 1).to(ScalarType.Float32).clone(), labels[i], $"p{i}")).ToArray(), "test points");

    private static Network FeatureMlp(int features) =>
        ModelZoo.Create("mlp:8x2", [features], InputKind.Features, Classes, null, 1);

    /// <summary>The encoder's whole LP with ProvableRepair's default (APRNN) options, on the unchanged network.</summary>
    private static LpSize EncodedSize(Network network, RepairSet set, int layer)
    {
        using var scope = NewDisposeScope();
        using Network network64 = PlainRepairedModel.ToFloat64(network);
        (Tensor vertices, int[] region, long[] labels) = set.Stacked();
        Tensor vertices64 = vertices.to(ScalarType.Float64);
        int end = network64.Layers.Count;
        ActivationPatterns patterns = ActivationPatterns.Compute(network64, set, vertices64, region, layer + 1, end);
        var defaults = new ProvableRepairOptions();
        var options = new EncodingOptions
        {
            Bound = defaults.Bound,
            Epsilon = defaults.Epsilon,
            LaterBiases = true,
            SignMargin = defaults.SignMargin,
            LazySignRows = defaults.ConstraintGeneration,
            LogitChangeWeight = defaults.LogitChangeWeight,
            ComposeLaterLayers = true,
        };
        // The whole program: rows that wait outside the LP until violated included.
        return SymbolicEncoder.Encode(network64, layer, end, vertices64, labels, patterns, options).Full().Size;
    }

    private static void AssertPredictionsExact(Network network, RepairSet set, int expectedCandidates)
    {
        IReadOnlyList<int> candidates = RepairSetAnalysis.LpCandidateLayers(network);
        Assert.Equal(expectedCandidates, candidates.Count);
        foreach (int k in candidates)
        {
            LpPrediction predicted = RepairSetAnalysis.PredictLp(network, set, k);
            LpSize actual = EncodedSize(network, set, k);
            Assert.True(actual == new LpSize(predicted.Rows, predicted.Columns, predicted.Nonzeros), $"layer {network.Layers[k].Name}: predicted {predicted}, encoded {actual}");
            Assert.Equal(predicted.Nonzeros * 12 + predicted.Rows * 20L + predicted.Columns * 24L, predicted.EstimatedBytes);
        }
    }

    [Fact]
    public void AffineSubspaceHasItsRankAndFewComponents()
    {
        TestSupport.Init();
        using var scope = NewDisposeScope();
        var generator = new Generator(7);
        Tensor basis = randn([3, 20], ScalarType.Float64, generator: generator);
        Tensor offset = randn([1, 20], ScalarType.Float64, generator: generator) * 5;
        Tensor x = randn([40, 3], ScalarType.Float64, generator: generator).matmul(basis) + offset;
        RepairSet set = Points(x, Enumerable.Range(0, 40).Select(i => (long)(i % 2)).ToArray());

        RepairSetProfile profile = RepairSetAnalysis.Analyse(FeatureMlp(20), set);

        Assert.Equal(3, profile.AffineRank);
        Assert.InRange(profile.ComponentsFor95, 1, 3);
        Assert.Equal((40, 40, 20, true), (profile.Regions, profile.Vertices, profile.InputDimension, profile.IsPointSet));
        Assert.Equal(2, profile.Classes);
        Assert.Equal(1.0, profile.LabelEntropyBits, 12);
        Assert.Equal(FeatureMlp(20).Layers.Count, profile.Spread.Count);
        Assert.Equal(3, profile.Spread[^1].Dimension);
        Assert.Equal(2, profile.Lp.Count); // mlp:8x2 has two Linear layers
        Assert.Contains("affine-hull rank", profile.ToMarkdown());

        // A full-rank cloud for contrast.
        (int rank, _, _) = RepairSetAnalysis.Concentration(randn([40, 20], ScalarType.Float64, generator: generator));
        Assert.Equal(20, rank);
    }

    [Fact]
    public void HullShareCountsOnlyTheSquaresCorners()
    {
        TestSupport.Init();
        using var scope = NewDisposeScope();
        double[][] plane =
        [
            [-1, -1], [1, -1], [1, 1], [-1, 1], // corners
            [0, 0], [0.3, -0.2], [0.5, 0.5], // interior
            [1, 0], [0, -1], [-1, 0.5], [0.25, 1], // on edges
        ];
        // Embed the plane in R^6 along two orthonormal directions, away from the origin.
        var generator = new Generator(3);
        (Tensor q, _) = linalg.qr(randn([6, 2], ScalarType.Float64, generator: generator));
        Tensor points = tensor(plane.SelectMany(p => p).ToArray(), ScalarType.Float64).reshape(plane.Length, 2).matmul(q.t()) + 4;

        (int rank, int components, double share) = RepairSetAnalysis.Concentration(points);

        Assert.Equal(2, rank);
        Assert.Equal(2, components);
        Assert.Equal(4.0 / plane.Length, share, 12);
    }

    [Fact]
    public void HullShareDegenerateCases()
    {
        Assert.Equal(1.0, RepairSetAnalysis.HullVertexShare([(2, 3)]));
        Assert.Equal(1.0, RepairSetAnalysis.HullVertexShare([(0, 0), (1, 1)]));
        Assert.Equal(1.0, RepairSetAnalysis.HullVertexShare([(1, 1), (1, 1), (1, 1)]));
        // Collinear: only the two ends are corners.
        Assert.Equal(2.0 / 5, RepairSetAnalysis.HullVertexShare([(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]), 12);
        // A repeated corner counts every copy; the triangle's edge midpoint does not count.
        Assert.Equal(4.0 / 5, RepairSetAnalysis.HullVertexShare([(0, 0), (0, 0), (4, 0), (0, 4), (2, 0)]), 12);
    }

    [Fact]
    public void LabelEntropyOfKnownDistributions()
    {
        TestSupport.Init();
        using var scope = NewDisposeScope();
        Tensor x = rand([4, 2], ScalarType.Float64, generator: new Generator(1));
        Network network = FeatureMlp(2);

        RepairSetProfile balanced = RepairSetAnalysis.Analyse(network, Points(x, [0, 1, 0, 1]), predictLp: false);
        RepairSetProfile single = RepairSetAnalysis.Analyse(network, Points(x, [2, 2, 2, 2]), predictLp: false);
        RepairSetProfile skewed = RepairSetAnalysis.Analyse(network, Points(x, [0, 0, 1, 2]), predictLp: false);

        Assert.Equal((2, 1.0), (balanced.Classes, balanced.LabelEntropyBits));
        Assert.Equal((1, 0.0), (single.Classes, single.LabelEntropyBits));
        Assert.Equal(3, skewed.Classes);
        Assert.Equal(1.5, skewed.LabelEntropyBits, 12);
        Assert.Empty(balanced.Lp);
    }

    [Fact]
    public void SpreadOfA345Triangle()
    {
        TestSupport.Init();
        using var scope = NewDisposeScope();
        Tensor triangle = tensor(new double[] { 0, 0, 3, 0, 0, 4 }).reshape(3, 2);

        Assert.Equal(4.0, RepairSetAnalysis.MeanPairwiseDistance(triangle), 10);
        Assert.Equal(0.0, RepairSetAnalysis.MeanPairwiseDistance(triangle.narrow(0, 0, 1)));

        RepairSetProfile profile = RepairSetAnalysis.Analyse(FeatureMlp(2), Points(triangle, [0, 1, 2]), predictLp: false);
        Assert.Equal(4.0, profile.InputMeanDistance, 6);
        Assert.All(profile.Spread, s => Assert.True(s.MeanDistance >= 0 && double.IsFinite(s.MeanDistance)));

        // Many points in blocks: the Gram identity agrees with the direct pairwise computation.
        Tensor cloud = randn([700, 5], ScalarType.Float64, generator: new Generator(2)) * 3 + 100;
        double[] c = cloud.data<double>().ToArray();
        double direct = 0;
        for (int i = 0; i < 700; i++)
            for (int j = 0; j < 700; j++)
                direct += Math.Sqrt(Enumerable.Range(0, 5).Sum(d => (c[i * 5 + d] - c[j * 5 + d]) * (c[i * 5 + d] - c[j * 5 + d])));
        direct /= 700.0 * 699;
        Assert.Equal(direct, RepairSetAnalysis.MeanPairwiseDistance(cloud), 11);
    }

    [Fact]
    public void PredictedLpMatchesTheEncoderOnAnMlp()
    {
        TestSupport.Init();
        using var scope = NewDisposeScope();
        Network network = ModelZoo.Create("mlp:8x3", [1, 4, 4], InputKind.Image, Classes, null, 5);
        var generator = new Generator(11);
        Tensor x = rand([5, 1, 4, 4], generator: generator);
        x[0, 0, 0] = zeros(4); // exact zeros drop weight columns from layer k's rows
        RepairSet points = Points(x, [0, 1, 2, 0, 1]);
        AssertPredictionsExact(network, points, 3);

        // Polytopes: the main LP of the unchanged network (no slices) is predicted exactly too.
        RepairSet polytopes = new(
        [
            new RepairRegion(rand([3, 1, 4, 4], generator: generator), 1, "q0"),
            new RepairRegion(rand([4, 1, 4, 4], generator: generator), 2, "q1"),
        ], "polytopes");
        AssertPredictionsExact(network, polytopes, 3);

        // Through the public repair: its reported LP size for the last layer.
        int last = RepairSetAnalysis.LpCandidateLayers(network)[^1];
        var data = new Dataset("held-out", x, tensor(new long[] { 0, 1, 2, 0, 1 }), Classes, InputKind.Image);
        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = network.Layers[last].Name }).Repair(new RepairProblem(network, points, data, null));
        LpPrediction predicted = RepairSetAnalysis.PredictLp(network, points, last);
        Assert.Equal(result.LpSize, new LpSize(predicted.Rows, predicted.Columns, predicted.Nonzeros));
    }

    [Fact]
    public void PredictedLpMatchesTheEncoderOnConvolutions()
    {
        TestSupport.Init();
        using var scope = NewDisposeScope();
        var generator = new Generator(13);
        Network cnn = ModelZoo.Create("cnn", [1, 8, 8], InputKind.Image, Classes, null, 2);
        RepairSet points = Points(rand([3, 1, 8, 8], generator: generator), [0, 1, 2]);
        AssertPredictionsExact(cnn, points, 4);

        // A convolution straight into a max-pool: the pool's rows merge layer k's expressions (shared weights cancel).
        var spec = new NetworkSpec("custom", [1, 4, 4], InputKind.Image, Classes,
            [new Conv2dSpec("c1", 1, 2, 3, 1, 1), new MaxPool2dSpec("p1", 2), new FlattenSpec("flatten"), new LinearSpec("fc", 8, 3)]);
        manual_seed(4);
        var network = new Network(spec);
        network.eval();
        Tensor x = rand([3, 1, 4, 4], generator: generator);
        x[1] = ones(1, 4, 4); // equal inputs at every tap: window differences cancel to few entries
        AssertPredictionsExact(network, Points(x, [2, 0, 1]), 2);
    }

    [Fact]
    public void CandidatesStopAtLayersTheEncoderCannotWalk()
    {
        TestSupport.Init();
        Network mlp = ModelZoo.Create("mlp:8x3", [1, 4, 4], InputKind.Image, Classes, null, 5);
        Assert.Equal([1, 3, 5], RepairSetAnalysis.LpCandidateLayers(mlp));
        Network resnet = ModelZoo.Create("resnet", [1, 8, 8], InputKind.Image, Classes, null, 5);
        Assert.Equal([resnet.Layers.Count - 1], RepairSetAnalysis.LpCandidateLayers(resnet));
        RepairSet set = Points(rand([2, 64], ScalarType.Float64).reshape(2, 1, 8, 8), [0, 1]);
        Assert.Throws<ReparoInputException>(() => RepairSetAnalysis.PredictLp(resnet, set, 0));
    }
}
