using Reparo.Data;
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
}
