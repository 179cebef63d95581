using Reparo.Data;
using Reparo.Influence.Baselines;
using Reparo.Models;
using Reparo.Training;
using static TorchSharp.torch;

namespace Reparo.Tests.Influence.Baselines;

public sealed class RepresenterAndRandomTests
{
    private static (Dataset Train, Network Network) Trained()
    {
        Dataset train = InfluenceTestData.Table(30, seed: 6);
        Network network = ModelZoo.Create("mlp:6x2", train, seed: 1);
        Trainer.Train(network, train, null, new TrainingOptions { Epochs = 3, BatchSize = 8, LearningRate = 0.05, Seed = 2 });
        return (train, network);
    }

    [Fact]
    public void RepresenterValuesAddUpToTheFineTunedLogits()
    {
        (Dataset train, Network network) = Trained();
        var method = new RepresenterPoints(new RepresenterOptions { Lambda = 0.01 });
        using RepresenterFit fit = method.Fit(network, train);
        Assert.True(fit.Stationarity < 1e-9, $"‖∇Φ‖ = {fit.Stationarity}");
        Tensor test = method.Features(network, InfluenceTestData.Table(5, seed: 7).X);
        Tensor logits = fit.Logits(test);
        Tensor sums = fit.Values(test).sum(1L);
        Assert.Equal([5L, 30L, 2L], fit.Values(test).shape);
        double error = sums.sub(logits).abs().max().item<double>(), scale = logits.abs().max().item<double>();
        Assert.True(error <= 1e-8 * scale, $"decomposition off by {error} (logits up to {scale})");
        // Θ = Σ α_i ã_iᵀ, the stationarity condition itself.
        Assert.True(fit.Alpha.t().matmul(fit.Features).sub(fit.Weight).abs().max().item<double>() < 1e-8);
    }

    [Fact]
    public void RepresenterSelfAndTestScoresFollowAlpha()
    {
        (Dataset train, Network network) = Trained();
        var method = new RepresenterPoints();
        using RepresenterFit fit = method.Fit(network, train);
        InfluenceScores self = method.SelfInfluence(network, train);
        long[] labels = train.Labels();
        double[,] alpha = To2D(fit.Alpha);
        for (int i = 0; i < train.Count; i++) Assert.Equal(Math.Abs(alpha[i, labels[i]]), self.Scores[i], 12);
        // One test sample: score_i = (p_t − y_t)·α_i (ã_i·ã_t).
        Tensor testX = train.X.narrow(0, 3, 1);
        InfluenceScores test = method.TestInfluence(network, train, testX, [labels[3]]);
        Tensor a = method.Features(network, testX);
        double[] p = fit.Logits(a).softmax(1).data<double>().ToArray();
        double[] k = fit.Features.matmul(a.t()).squeeze(1).data<double>().ToArray();
        for (int i = 0; i < train.Count; i++)
        {
            double expected = Enumerable.Range(0, 2).Sum(c => (p[c] - (labels[3] == c ? 1 : 0)) * alpha[i, c]) * k[i];
            Assert.Equal(expected, test.Scores[i], 10);
        }
        Assert.True(test.Details["stationarity"] < 1e-9);
    }

    [Fact]
    public void RandomRankingIsSeeded()
    {
        Dataset train = InfluenceTestData.Table(25, seed: 1);
        Network network = InfluenceTestData.LogisticRegression(seed: 1);
        InfluenceScores a = new RandomInfluence(4).SelfInfluence(network, train);
        Assert.Equal(a.Scores, new RandomInfluence(4).TestInfluence(network, train, train.X.narrow(0, 0, 1), [0]).Scores);
        Assert.NotEqual(a.Ranking(), new RandomInfluence(5).SelfInfluence(network, train).Ranking());
        Assert.Equal(Enumerable.Range(0, 25), a.Ranking().Order());
        Assert.All(a.Scores, s => Assert.InRange(s, 0, 1));
    }

    [Fact]
    public void RankingIsDescendingWithTiesByIndexAndNaNLast()
    {
        var scores = new InfluenceScores("x", [2, 5, 7, 9, 11], [0.5, double.NaN, 2, 0.5, 3], 0, new Dictionary<string, double>());
        Assert.Equal([11, 7, 2, 9, 5], scores.Ranking());
    }

    private static double[,] To2D(Tensor t)
    {
        double[] flat = t.data<double>().ToArray();
        int rows = (int)t.shape[0], cols = (int)t.shape[1];
        var result = new double[rows, cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) result[i, j] = flat[i * cols + j];
        return result;
    }
}
