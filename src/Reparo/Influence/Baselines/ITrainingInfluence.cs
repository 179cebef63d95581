using Reparo.Data;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Influence.Baselines;

/// <summary>
/// A training-data influence method: scores training samples of a classifier by how much they shaped it, to find
/// mislabelled samples (<see cref="SelfInfluence"/>) or the training samples behind a test failure
/// (<see cref="TestInfluence"/>). These are the baselines RNNRepair (Xie et al., ICML'21, Sec. 4.2) is compared with.
/// Every implementation is deterministic for a fixed seed and thread count, leaves the network's weights and mode as
/// they were, and orients its scores the same way so one ranking rule serves all of them:
/// <list type="bullet">
/// <item>self-influence: higher = more unusual for the model (a likelier mislabel);</item>
/// <item>test influence: higher = training on the sample raised the test loss more (more to blame for a failure).</item>
/// </list>
/// </summary>
public interface ITrainingInfluence
{
    /// <summary>The method's name (<c>koh-liang</c>, <c>tracin</c>, <c>representer</c>, <c>random</c>).</summary>
    string Name { get; }

    /// <summary>Scores every training sample (or the method's candidates) by its influence on its own loss.</summary>
    /// <param name="network">The trained classifier; its weights and mode are left as they were.</param>
    /// <param name="train">The data it was trained on.</param>
    /// <param name="progress">Optional progress of the long stages.</param>
    /// <param name="cancellation">Stops the work between samples or batches.</param>
    InfluenceScores SelfInfluence(Network network, Dataset train, IProgress<InfluenceProgress>? progress = null, CancellationToken cancellation = default);

    /// <summary>
    /// Scores every training sample (or the method's candidates) by its influence on the mean loss of the test samples
    /// <paramref name="testX"/> under their labels <paramref name="testY"/> (one failing test is a batch of one; RNNRepair
    /// explains a group of failures at once). Influence is linear in the test loss, so a batch's score is the mean of its
    /// samples' scores.
    /// </summary>
    /// <param name="network">The trained classifier; its weights and mode are left as they were.</param>
    /// <param name="train">The data it was trained on.</param>
    /// <param name="testX">Test inputs (M, …).</param>
    /// <param name="testY">Their labels (length M), usually the true labels of misclassified samples.</param>
    /// <param name="progress">Optional progress of the long stages.</param>
    /// <param name="cancellation">Stops the work between samples or batches.</param>
    InfluenceScores TestInfluence(Network network, Dataset train, Tensor testX, long[] testY, IProgress<InfluenceProgress>? progress = null, CancellationToken cancellation = default);
}

/// <summary>Progress of an influence computation.</summary>
/// <param name="Stage">What is being computed (<c>features</c>, <c>hessian</c>, <c>gradients</c>, <c>solves</c>, <c>checkpoints</c>, …).</param>
/// <param name="Done">Units of the stage done.</param>
/// <param name="Total">Units of the stage in all.</param>
public sealed record InfluenceProgress(string Stage, int Done, int Total);

/// <summary>
/// Influence scores of training samples, in float64, with the wall time it took to compute them.
/// </summary>
/// <param name="Method">The method's name.</param>
/// <param name="Indices">The training rows scored, ascending (all rows unless the method was given candidates).</param>
/// <param name="Scores">One score per entry of <paramref name="Indices"/>, oriented as <see cref="ITrainingInfluence"/> says.</param>
/// <param name="Seconds">Wall time of the whole computation (features, Hessians, gradients, solves).</param>
/// <param name="Details">Method-specific figures: iterations, residuals, sample counts, parameter counts.</param>
public sealed record InfluenceScores(string Method, IReadOnlyList<int> Indices, double[] Scores, double Seconds, IReadOnlyDictionary<string, double> Details)
{
    /// <summary>The scored training rows by descending score; equal scores keep ascending row order, NaN comes last.</summary>
    public int[] Ranking() =>
        [.. Enumerable.Range(0, Scores.Length).OrderByDescending(i => Scores[i]).ThenBy(i => Indices[i]).Select(i => Indices[i])];
}
