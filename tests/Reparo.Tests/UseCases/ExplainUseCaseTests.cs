using Reparo.Data;
using Reparo.Influence;
using Reparo.Models;
using Reparo.Reporting;
using Reparo.UseCases;
using static TorchSharp.torch;

namespace Reparo.Tests.UseCases;

public class ExplainUseCaseTests
{
    /// <summary>
    /// The neighbours are the truly nearest training samples (every distance recomputed one sample at a time from the
    /// last layer's input), the chosen layer is the argmax of the reported scores, and the probabilities are a distribution.
    /// </summary>
    [Fact]
    public void NeighboursAreNearestAndLayerIsTheArgmax()
    {
        DataSplits splits = DataCatalog.Load("digits");
        Network network = ModelZoo.Create("mlp:16x2", splits.Train, seed: 3);
        Explanation e = ExplainUseCase.Run(new ExplainRequest(network, "m.reparo", splits, 7, Neighbours: 5, Steps: 8));

        using var scope = NewDisposeScope();
        Tensor query = ExplainUseCase.PenultimateFeatures(network, splits.Test.X.narrow(0, 7, 1))[0];
        var brute = Enumerable.Range(0, splits.Train.Count)
            .Select(t => (Index: t, Distance: ExplainUseCase.PenultimateFeatures(network, splits.Train.X.narrow(0, t, 1))[0].sub(query).norm().item<double>()))
            .OrderBy(p => p.Distance).ThenBy(p => p.Index).Take(5).ToArray();
        Assert.Equal(5, e.Neighbours.Count);
        for (int r = 0; r < 5; r++)
        {
            Assert.Equal(r + 1, e.Neighbours[r].Rank);
            Assert.Equal(brute[r].Distance, e.Neighbours[r].Distance, 1e-6);
            Assert.Equal(network.Spec.ClassNames[(int)splits.Train.Y[e.Neighbours[r].TrainIndex].item<long>()], e.Neighbours[r].Label);
        }
        Assert.Equal(brute.Select(b => b.Index).ToHashSet(), e.Neighbours.Select(n => n.TrainIndex).ToHashSet());

        LayerAttributionChoice layer = Assert.IsType<LayerAttributionChoice>(e.EditableLayer);
        Assert.Equal(AffineSites.Of(network).Select(s => s.Name), layer.Scores.Select(s => s.Layer));
        Assert.Equal(layer.Scores.MaxBy(s => s.Score)!.Layer, layer.Layer);
        Assert.All(layer.Scores, s => Assert.True(s.Score >= Math.Abs(s.Sum) - 1e-9));

        Assert.Equal(1.0, e.Probabilities.Sum(p => p.Probability), 1e-6);
        Assert.Equal(e.Probabilities.MaxBy(p => p.Probability)!.Class, e.Prediction);
        Assert.NotNull(e.InputAttribution);
        Assert.Null(e.Influence);
        ReportDocument document = e.ToDocument();
        Assert.Contains(document.Sections, s => s.Heading == "Most editable layer");
    }

    [Fact]
    public void IndexOutsideTheTestSplitIsAnInputError()
    {
        DataSplits splits = DataCatalog.Load("digits");
        Network network = ModelZoo.Create("mlp:16x2", splits.Train, seed: 3);
        var error = Assert.Throws<ReparoInputException>(() => ExplainUseCase.Run(new ExplainRequest(network, "m.reparo", splits, splits.Test.Count)));
        Assert.Contains("outside the test split", error.Message);
    }

    private static readonly InfluenceOptions Influence = new() { Abstraction = new AbstractionOptions { PcaComponents = 3, Candidates = [4], Mixture = new GaussianMixtureOptions(Seed: 2) } };

    /// <summary>A recurrent model with an influence model: the influence part is the model's own query, and the report holds its trace.</summary>
    [Fact]
    public void RecurrentModelsGetTheInfluentialSamplesAndTheFaultStep()
    {
        DataSplits splits = DataCatalog.Load("digits");
        Dataset train = splits.Train.Subset(Enumerable.Range(0, 120).ToArray());
        using Network network = ModelZoo.Create("lstm:8", train, seed: 3);
        using InfluenceModel model = InfluenceModel.Build(network, train, Influence);
        Explanation e = ExplainUseCase.Run(new ExplainRequest(network, "m.reparo", new DataSplits(train, splits.Validation, splits.Test), 4, model, Steps: 4, InfluenceTop: 6));

        SampleQuery answer = model.Query(splits.Test, 4, 6);
        InfluenceSummary influence = Assert.IsType<InfluenceSummary>(e.Influence);
        Assert.Equal(answer.Top.Select(h => h.TrainIndex), influence.Top.Select(t => t.TrainIndex));
        Assert.Equal(model.Segments(answer.Trace).FaultStep, influence.FaultStep);
        Assert.Equal(answer.Trace.Failing, influence.Failing);
        Assert.Equal(4, influence.States);
        Assert.All(e.Neighbours, n => Assert.InRange(n.TrainIndex, 0, 119));
        Assert.Contains(e.ToDocument().Sections, s => s.Heading == "Influence: Trace");
    }

    /// <summary>Token inputs have no input gradient: the input attribution is left out, the rest is explained.</summary>
    [Fact]
    public void TextModelsAreExplainedWithoutInputAttribution()
    {
        Dataset data = TestSupport.RandomTokens(40, length: 7, seed: 5);
        using Network network = ModelZoo.Create("gru:6", data, seed: 1);
        Explanation e = ExplainUseCase.Run(new ExplainRequest(network, "m.reparo", new DataSplits(data, data, data), 3, Steps: 4));
        Assert.Null(e.InputAttribution);
        Assert.NotNull(e.EditableLayer);
        Assert.Equal(0, e.Neighbours[0].Distance, 1e-4); // the input itself is in the training split (float32 features)
        Assert.NotEmpty(e.ToDocument().Sections);
    }

    [Fact]
    public void InfluenceForAFeedForwardModelIsAnInputError()
    {
        DataSplits splits = DataCatalog.Load("digits");
        Dataset train = splits.Train.Subset(Enumerable.Range(0, 120).ToArray());
        using Network lstm = ModelZoo.Create("lstm:8", train, seed: 3);
        using InfluenceModel model = InfluenceModel.Build(lstm, train, Influence);
        Network mlp = ModelZoo.Create("mlp:16x2", splits.Train, seed: 3);
        var error = Assert.Throws<ReparoInputException>(() => ExplainUseCase.Run(new ExplainRequest(mlp, "m.reparo", splits, 0, model)));
        Assert.Contains("no recurrent layer", error.Message);
    }
}
