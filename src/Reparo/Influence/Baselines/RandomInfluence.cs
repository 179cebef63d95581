using System.Diagnostics;
using Reparo.Data;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Influence.Baselines;

/// <summary>
/// The floor every influence method must beat: independent uniform scores in [0, 1) for every training sample from
/// a seeded generator, so the ranking is a random permutation. The same seed gives the same scores for self and test
/// influence alike; the network and the test samples only have their shapes checked.
/// </summary>
public sealed class RandomInfluence(int seed) : ITrainingInfluence
{
    /// <summary>The method's name.</summary>
    public const string MethodName = "random";

    /// <summary>The seed of the scores.</summary>
    public int Seed { get; } = seed;

    /// <inheritdoc />
    public string Name => MethodName;

    /// <inheritdoc />
    public InfluenceScores SelfInfluence(Network network, Dataset train, IProgress<InfluenceProgress>? progress = null, CancellationToken cancellation = default) =>
        Scores(network, train);

    /// <inheritdoc />
    public InfluenceScores TestInfluence(Network network, Dataset train, Tensor testX, long[] testY, IProgress<InfluenceProgress>? progress = null, CancellationToken cancellation = default)
    {
        using var labels = InfluenceCore.TestLabels(network, testX, testY);
        return Scores(network, train);
    }

    /// <summary>Draws one uniform score per training row (the random ranking of RNNRepair's comparison).</summary>
    private InfluenceScores Scores(Network network, Dataset train)
    {
        int[] rows = InfluenceCore.Rows(network, train, null);
        var clock = Stopwatch.StartNew();
        var rng = new Random(Seed);
        double[] scores = [.. rows.Select(_ => rng.NextDouble())];
        return new InfluenceScores(Name, rows, scores, clock.Elapsed.TotalSeconds, new Dictionary<string, double> { ["seed"] = Seed });
    }
}
