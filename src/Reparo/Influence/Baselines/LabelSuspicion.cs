using Reparo.Data;
using Reparo.Models;
using Reparo.Training;

namespace Reparo.Influence.Baselines;

/// <summary>
/// Ranks a trained model's training samples by how likely their labels are wrong: self-influence at the final weights,
/// the only weights a model file holds (<c>reparo influence suspects</c>):
/// <list type="bullet">
/// <item><c>representer</c> (Yeh et al., NeurIPS'18): the last layer refitted as an L2-regularised logistic
/// regression on the penultimate features; a sample's score is its representer value for its own label, which is
/// (1 − p(label)) of the refitted layer over 2λn.</item>
/// <item><c>tracin-self</c> (Pruthi et al., NeurIPS'20) at the final weights only: ‖∇ℓ‖² of the last layer (TracIn sums
/// this over training checkpoints, which a model file does not have).</item>
/// <item><c>kl-last</c> (Koh &amp; Liang, ICML'17) over the last layer: gᵀ H⁻¹ g, with the exact last-layer Hessian.</item>
/// <item><c>loss</c>: the cross-entropy of the sample's own label, −log p(label), the plain baseline.</item>
/// </list>
/// </summary>
public static class LabelSuspicion
{
    /// <summary>The default method.</summary>
    public const string DefaultMethod = "representer";

    /// <summary>The methods <see cref="Rank"/> takes.</summary>
    public static readonly IReadOnlyList<string> Methods = ["representer", "tracin-self", "kl-last", "loss"];

    /// <summary>Scores every row of <paramref name="train"/> by <paramref name="method"/> at the network's current weights, higher = more suspicious.</summary>
    public static InfluenceScores Rank(Network network, Dataset train, string method, IProgress<InfluenceProgress>? progress = null)
    {
        if (method == "loss")
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            double[] probabilities = Predict(network, train).LabelProbabilities;
            return new InfluenceScores("loss", [.. Enumerable.Range(0, train.Count)], [.. probabilities.Select(p => -Math.Log(p))], clock.Elapsed.TotalSeconds,
                new Dictionary<string, double>());
        }
        using TrainingCheckpoint? final = method == "tracin-self" ? TrainingCheckpoint.Capture(network, new EpochRecord(0, double.NaN, null, 1.0, 0)) : null;
        ITrainingInfluence influence = method switch
        {
            "representer" => new RepresenterPoints(),
            "tracin-self" => new TracIn([final!]),
            "kl-last" => new KohLiangInfluence(new KohLiangOptions { Solver = KohLiangSolver.LastLayerExact }),
            _ => throw new ReparoInputException($"unknown method '{method}'; expected {string.Join(", ", Methods)}"),
        };
        return influence.SelfInfluence(network, train, progress);
    }

    /// <summary>The model's prediction for every row of <paramref name="data"/> and the probability it gives the row's label.</summary>
    public static (long[] Predictions, double[] LabelProbabilities) Predict(Network network, Dataset data)
    {
        double[][] probabilities = Evaluator.Probabilities(network, data);
        long[] labels = data.Labels();
        long[] predictions = [.. probabilities.Select(p => (long)Array.IndexOf(p, p.Max()))];
        return (predictions, [.. probabilities.Select((p, i) => p[labels[i]])]);
    }
}
