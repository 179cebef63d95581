using Reparo.Attribution;
using Reparo.Data;
using Reparo.Influence;
using Reparo.Models;
using Reparo.Repair.Editing;
using Reparo.Reporting;
using static TorchSharp.torch;

namespace Reparo.UseCases;

/// <summary>What <c>reparo explain</c> is asked to do.</summary>
/// <param name="Network">The model.</param>
/// <param name="ModelPath">The model's file (named in the report).</param>
/// <param name="Splits">The model's data splits: the test split holds the input, the training split the neighbours.</param>
/// <param name="Index">The test-split index to explain.</param>
/// <param name="Influence">An influence model of <paramref name="Network"/> (from <c>reparo influence build</c>), for recurrent models; null leaves the influence part out.</param>
/// <param name="Neighbours">How many nearest training samples to list.</param>
/// <param name="Steps">Gauss–Legendre path points of the integrated gradients.</param>
/// <param name="InfluenceTop">How many influential training samples to list.</param>
public sealed record ExplainRequest(Network Network, string ModelPath, DataSplits Splits, int Index, InfluenceModel? Influence = null, int Neighbours = 5,
    int Steps = 32, int InfluenceTop = 10);

/// <summary>
/// <c>reparo explain</c>: why a model predicts what it does for one test input. The choices, for a single input that has
/// no clean twin to edit towards:
/// <list type="bullet">
/// <item>Input attribution: integrated gradients of the predicted class's logit from an all-zero input (the raw input,
/// before the model's preprocessing), left out for token inputs, which have no input gradient.</item>
/// <item>Most editable layer: layer integrated gradients (path from the all-zero input's activations to the input's) of
/// the predicted logit at the output of every Linear/Conv2d, nested ones included (the candidates of rectification
/// and fine-tuning); the layer with the largest Σ |attribution| among those a rank-one edit can act on (no grouped
/// convolution) is chosen. Σ attribution itself is the same at every
/// layer of a sequential network (completeness), so the absolute mass, how much of the decision flows through the
/// layer's units, is what tells layers apart. The rank-one editability score of <c>Repair/Editing/Editability</c>
/// needs a clean twin and key statistics, so it does not apply here.</item>
/// <item>Nearest training neighbours: Euclidean distance between the inputs of the network's last layer (the
/// penultimate layer's activations the classifier reads), flattened, over the whole training split.</item>
/// <item>Influence, when an influence model is given: RNNRepair's sample-level query (temporal-feature distance of
/// abstract traces) and segment-level fault step.</item>
/// </list>
/// </summary>
public static class ExplainUseCase
{
    /// <summary>How the neighbours' space is described.</summary>
    public const string NeighbourSpace = "the input of the network's classifier layer (the penultimate activations)";

    /// <summary>Explains test input <see cref="ExplainRequest.Index"/>.</summary>
    public static Explanation Run(ExplainRequest request)
    {
        Network network = request.Network;
        Dataset test = request.Splits.Test, train = request.Splits.Train;
        int i = request.Index;
        if (i < 0 || i >= test.Count) throw new ReparoInputException($"--index {i} is outside the test split (0–{test.Count - 1})");
        if (request.Neighbours < 0) throw new ReparoInputException($"--neighbours must be at least 0, got {request.Neighbours}");
        if (request.Steps < 1) throw new ReparoInputException($"--steps must be at least 1, got {request.Steps}");
        if (request.Influence is not null && network.RecurrentLayerIndex < 0)
            throw new ReparoInputException($"{request.ModelPath} has no recurrent layer; --influence is for LSTM/GRU models");
        IReadOnlyList<string> names = network.Spec.ClassNames;

        using var scope = NewDisposeScope();
        Tensor x = test.X.narrow(0, i, 1);
        long label = test.Y[i].item<long>();
        Tensor probabilities = network.InEvalMode(() =>
        {
            using var noGrad = no_grad();
            return network.Scores(x).softmax(-1)[0].to(ScalarType.Float64).cpu();
        });
        double[] p = probabilities.data<double>().ToArray();
        long prediction = Array.IndexOf(p, p.Max());
        // A table's reference is its average row (raw zeros may lie far outside the data); an image's is black.
        bool table = test.Kind == InputKind.Features && train.Count > 0;
        var options = new AttributionOptions
        {
            Steps = request.Steps,
            Baseline = table ? AttributionBaseline.MeanOf(train.X) : AttributionBaseline.Zeros,
        };

        InputAttributionSummary? inputAttribution = null;
        byte[]? attributionPng = null;
        if (x.is_floating_point())
        {
            using AttributionResult ig = new IntegratedGradients().Attribute(network, x, [prediction], options);
            Tensor values = ig.Values[0].to(ScalarType.Float64).flatten();
            inputAttribution = new InputAttributionSummary(IntegratedGradients.MethodName, table ? "training mean" : "zeros", request.Steps, names[(int)prediction], values.sum().item<double>(),
                ig.Delta.Length > 0 ? ig.Delta[0] : null, ig.CompletenessGap.Length > 0 ? ig.CompletenessGap[0] : null, values.abs().sum().item<double>(),
                ig.Top(10, input: x, featureNames: request.Splits.FeatureNames));
            attributionPng = Heatmap.Encode(x[0], ig.Values[0]);
        }

        LayerAttributionChoice? layer = ScoreLayers(network, x, prediction, options);

        var neighbours = new List<TrainingNeighbour>();
        if (request.Neighbours > 0 && train.Count > 0)
        {
            Tensor distances = Distances(network, x, train.X);
            int k = Math.Min(request.Neighbours, train.Count);
            (Tensor d, Tensor idx) = distances.topk(k, largest: false);
            double[] dv = d.data<double>().ToArray();
            long[] iv = idx.data<long>().ToArray();
            for (int r = 0; r < k; r++)
            {
                int t = (int)iv[r];
                neighbours.Add(new TrainingNeighbour(r + 1, t, train.SourceIndices[t], train.SourceName(t), names[(int)train.Y[t].item<long>()], dv[r]));
            }
        }

        InfluenceSummary? influence = null;
        InfluenceExplanation? influenceDocument = null;
        if (request.Influence is { } model)
        {
            SampleQuery answer = model.Query(test, i, request.InfluenceTop);
            SegmentAnalysis segments = model.Segments(answer.Trace);
            AbstractTrace trace = answer.Trace;
            int? fault = segments.FaultStep;
            string? faultToken = fault is int f && f < trace.Length ? model.Network.Vocabulary?.TokenOf(trace.Symbols[f]) : null;
            influence = new InfluenceSummary(trace.Failing, fault, faultToken, model.Report.K,
                [.. answer.Top.Select((h, r) => new TrainingNeighbour(r + 1, h.TrainIndex, train.SourceIndices[h.TrainIndex], train.SourceName(h.TrainIndex), names[(int)h.Label], h.Distance))]);
            influenceDocument = InfluenceExplanation.Create(model, test, i, answer, train);
        }

        return new Explanation(request.ModelPath, test.Name, i, test.SourceIndices[i], test.SourceName(i), names[(int)label], names[(int)prediction], label == prediction,
            [.. p.Select((v, c) => new ClassProbability(names[c], v))], inputAttribution, layer, NeighbourSpace, neighbours, influence)
        {
            AttributionPicture = attributionPng,
            InputThumbnail = InputPicture.Thumbnail(x[0], network, $"{test.Name} test sample {test.SourceName(i)} · true: {names[(int)label]} · predicted: {names[(int)prediction]}"),
            NeighbourThumbnails = [.. neighbours.Select(n => InputPicture.Thumbnail(train.X[n.TrainIndex], network, $"#{n.Rank}: training sample {n.Source} · {n.Label} · distance {ReportText.Number(n.Distance)}"))],
            InfluenceDocument = influenceDocument,
        };
    }

    /// <summary>
    /// Layer integrated gradients of <paramref name="target"/>'s logit at every Linear/Conv2d's output; the chosen layer
    /// is the editable one (<see cref="LayerKeys.Editable"/>) with the largest Σ |attribution| (the first of equals).
    /// Null when the network has none.
    /// </summary>
    public static LayerAttributionChoice? ScoreLayers(Network network, Tensor x, long target, AttributionOptions options)
    {
        IReadOnlyList<AffineSite> sites = AffineSites.Of(network);
        if (sites.Count == 0) return null;
        var scores = new List<LayerAttributionScore>();
        foreach (AffineSite site in sites)
        {
            using var scope = NewDisposeScope();
            using AttributionResult result = new LayerIntegratedGradients(site.Name).Attribute(network, x, [target], options);
            Tensor values = result.Values.to(ScalarType.Float64);
            scores.Add(new LayerAttributionScore(site.Name, values.abs().sum().item<double>(), values.sum().item<double>()));
        }
        // A grouped convolution is scored but not chosen: a rank-one edit cannot act on it.
        int editable = sites.Count(LayerKeys.Editable);
        LayerAttributionScore best = (editable > 0 ? scores.Where((_, i) => LayerKeys.Editable(sites[i])) : scores).MaxBy(s => s.Score)!;
        string among = editable == scores.Count || editable == 0 ? "" : $" ({editable} of them editable, the choice among those)";
        return new LayerAttributionChoice(
            $"layer integrated gradients of the predicted logit from an all-zero input, largest Σ |attribution| over {scores.Count} Linear/Conv2d layer{(scores.Count == 1 ? "" : "s")}{among}",
            best.Layer, scores);
    }

    /// <summary>The flattened input of the network's classifier layer (<see cref="Network.ClassifierLayer"/>) for each of <paramref name="inputs"/> (float64, N × F), computed in batches.</summary>
    public static Tensor PenultimateFeatures(Network network, Tensor inputs, int batchSize = 1000)
    {
        using Tensor features = network.LayerInputs(inputs, network.ClassifierLayer, batchSize);
        return features.flatten(1).to(ScalarType.Float64);
    }

    /// <summary>The Euclidean distance from <paramref name="x"/> (one input, batched) to every training input, in <see cref="PenultimateFeatures"/>.</summary>
    public static Tensor Distances(Network network, Tensor x, Tensor training)
    {
        Tensor query = PenultimateFeatures(network, x);
        Tensor features = PenultimateFeatures(network, training);
        return features.sub(query).pow(2).sum(1).sqrt();
    }
}
