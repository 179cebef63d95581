using Reparo.Data;
using Reparo.Influence.Baselines;
using Reparo.Models;
using Reparo.Training;

namespace Reparo.Tests.Influence.Baselines;

public sealed class TracInTests
{
    /// <summary>A small MLP trained for three epochs on the table, with a checkpoint at the end of every epoch.</summary>
    private static (Dataset Train, Network Network, List<TrainingCheckpoint> Checkpoints) Trained()
    {
        Dataset train = InfluenceTestData.Table(30, seed: 5);
        Network network = ModelZoo.Create("mlp:6x2", train, seed: 1);
        var checkpoints = new List<TrainingCheckpoint>();
        Trainer.Train(network, train, null, new TrainingOptions { Epochs = 3, BatchSize = 8, LearningRate = 0.05, Seed = 2 },
            epochEnded: (n, epoch) => checkpoints.Add(TrainingCheckpoint.Capture(n, epoch)));
        return (train, network, checkpoints);
    }

    [Fact]
    public void FactorisedLastLayerEqualsAutogradGradientDotProducts()
    {
        (Dataset train, Network network, List<TrainingCheckpoint> checkpoints) = Trained();
        Assert.Equal(3, checkpoints.Count);
        var factorised = new TracIn(checkpoints);
        var direct = new TracIn(checkpoints, new TracInOptions { Gradients = TracInGradients.LastLayerAutograd });
        InfluenceScores self = factorised.SelfInfluence(network, train);
        AssertRelative(self.Scores, direct.SelfInfluence(network, train).Scores);
        var testX = train.X.narrow(0, 0, 3);
        long[] testY = [1, 0, 1];
        InfluenceScores test = factorised.TestInfluence(network, train, testX, testY);
        AssertRelative(test.Scores, direct.TestInfluence(network, train, testX, testY).Scores);
        Assert.Equal(3, test.Details["checkpoints"]);
        Assert.Equal(2 * 7, test.Details["parameters"]);
        checkpoints.ForEach(c => c.Dispose());
    }

    [Fact]
    public void AllParameterSelfInfluenceIncludesTheLastLayersShare()
    {
        (Dataset train, Network network, List<TrainingCheckpoint> checkpoints) = Trained();
        var candidates = new[] { 4, 0, 9 };
        InfluenceScores last = new TracIn(checkpoints, new TracInOptions { Candidates = candidates }).SelfInfluence(network, train);
        InfluenceScores all = new TracIn(checkpoints, new TracInOptions { Gradients = TracInGradients.AllParametersAutograd, Candidates = candidates }).SelfInfluence(network, train);
        Assert.Equal([0, 4, 9], all.Indices);
        for (int k = 0; k < 3; k++) Assert.True(all.Scores[k] >= last.Scores[k] * (1 - 1e-5), $"{all.Scores[k]} < {last.Scores[k]}");
        Assert.Equal(network.ParameterCount, all.Details["parameters"]);
        checkpoints.ForEach(c => c.Dispose());
    }

    [Fact]
    public void OneCheckpointOfTheFinalWeightsIsTheLearningRateTimesTheSquaredGradient()
    {
        (Dataset train, Network network, List<TrainingCheckpoint> checkpoints) = Trained();
        // With one checkpoint at rate η, TracIn's self-influence is η‖∇L‖²: twice the rate, twice the score.
        var single = new TracIn([checkpoints[^1]]).SelfInfluence(network, train).Scores;
        using var doubled = TrainingCheckpoint.Capture(network, new EpochRecord(3, 0, null, 2 * checkpoints[^1].LearningRate, 0));
        var twice = new TracIn([doubled]).SelfInfluence(network, train).Scores;
        for (int i = 0; i < single.Length; i++) Assert.Equal(2 * single[i], twice[i], 1e-9 * Math.Max(1, twice[i]));
        Assert.Contains("at least one training checkpoint", Assert.Throws<ReparoInputException>(() => new TracIn([])).Message);
        checkpoints.ForEach(c => c.Dispose());
    }

    private static void AssertRelative(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5 * Math.Max(Math.Abs(expected[i]), 1e-6), $"row {i}: {expected[i]} vs {actual[i]}");
    }
}
