using Reparo.Data;
using Reparo.Influence.Baselines;
using Reparo.Models;
using Reparo.Reporting;
using static TorchSharp.torch;

namespace Reparo.UseCases;

/// <summary>What <c>reparo influence suspects</c> is asked to do.</summary>
/// <param name="Network">The trained model (its training data is <paramref name="Splits"/>' training split).</param>
/// <param name="ModelPath">The model's file (named in the report).</param>
/// <param name="Splits">The data the model was trained on.</param>
/// <param name="Method">The ranking: one of <see cref="LabelSuspicion.Methods"/>.</param>
/// <param name="Top">How many training samples to list.</param>
public sealed record SuspectsRequest(Network Network, string ModelPath, DataSplits Splits, string Method = LabelSuspicion.DefaultMethod, int Top = 20);

/// <summary>
/// <c>reparo influence suspects</c>: the training samples of the user's own model most likely to carry a wrong label,
/// ranked by <see cref="LabelSuspicion"/>, each named where the data can be found again (an image's file, a table's
/// line) with its label, the model's prediction and the probability the model gives its label.
/// <c>reparo experiment suspects</c> measures the methods against random on symmetric label noise (docs/results/suspects.md).
/// </summary>
public static class SuspectsUseCase
{
    /// <summary>Ranks the training split and lists the <see cref="SuspectsRequest.Top"/> most suspicious samples.</summary>
    public static SuspectsReport Run(SuspectsRequest request, IProgress<InfluenceProgress>? progress = null)
    {
        if (request.Top < 1) throw new ReparoInputException($"--top must be at least 1, got {request.Top}");
        Network network = request.Network;
        Dataset train = request.Splits.Train;
        (long[] predictions, double[] labelProbabilities) = LabelSuspicion.Predict(network, train);
        InfluenceScores scores = LabelSuspicion.Rank(network, train, request.Method, progress);
        var scoreOf = new Dictionary<int, double>(scores.Indices.Count);
        for (int k = 0; k < scores.Indices.Count; k++) scoreOf[scores.Indices[k]] = scores.Scores[k];
        int[] ranking = scores.Ranking();
        IReadOnlyList<string> names = network.Spec.ClassNames;
        long[] labels = train.Labels();
        Suspect[] suspects = [.. ranking[..Math.Min(request.Top, ranking.Length)].Select((row, r) => new Suspect(r + 1, row, train.SourceIndices[row], train.SourceName(row),
            names[(int)labels[row]], names[(int)predictions[row]], labelProbabilities[row], scoreOf[row]))];
        int disagree = Enumerable.Range(0, labels.Length).Count(i => predictions[i] != labels[i]);
        using var noGrad = no_grad();
        return new SuspectsReport(request.ModelPath, train.Name, request.Method, train.Count, disagree, scores.Seconds, scores.Details, suspects)
        {
            Pictures = [.. suspects.Select(s => InputPicture.Thumbnail(train.X[s.TrainIndex], network,
                $"#{s.Rank}: {s.Source} · labelled {s.Label} · predicted {s.Prediction} · p(label) {ReportText.Percent(s.LabelProbability)}"))],
        };
    }
}
