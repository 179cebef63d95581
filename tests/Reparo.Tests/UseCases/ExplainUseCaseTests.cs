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

    /// <summary>
    /// A table's input attribution integrates from the training split's mean row (what the attributions add up to is
    /// f(x) − f(mean)), and its top features carry the CSV header's names and the raw values; an image's baseline stays zeros.
    /// </summary>
    [Fact]
    public void ATableIsExplainedFromItsMeanRowWithItsFeaturesNamed()
    {
        using var dir = TestSupport.TempFolder();
        var random = new Random(9);
        var lines = new List<string> { "age,income,debt,label" };
        for (int i = 0; i < 60; i++) lines.Add(FormattableString.Invariant($"{20 + 50 * random.NextDouble():F1},{1000 + 4000 * random.NextDouble():F0},{random.NextDouble():F3},{i % 2}"));
        File.WriteAllLines(dir.File("t.csv"), lines);
        DataSplits splits = DataCatalog.Load($"csv:{dir.File("t.csv")}");
        Network network = ModelZoo.Create("mlp:8x2", splits.Train, seed: 1);
        network.Provenance = network.Provenance with { Preprocessing = InputPreprocessing.Parse("train", null, null, splits.Train) };
        Explanation e = ExplainUseCase.Run(new ExplainRequest(network, "m.reparo", splits, 1, Neighbours: 2, Steps: 16));
        InputAttributionSummary ia = Assert.IsType<InputAttributionSummary>(e.InputAttribution);
        Assert.Equal("training mean", ia.Baseline);
        using Tensor x = splits.Test.X.narrow(0, 1, 1), mean = splits.Train.X.mean([0L], keepdim: true);
        int target = Array.IndexOf([.. network.Spec.ClassNames], ia.Target);
        double expected = network.Scores(x)[0][target].item<float>() - (double)network.Scores(mean)[0][target].item<float>();
        Assert.Equal(expected, ia.Delta!.Value, 4);
        Assert.Equal(3, ia.Top.Count);
        Assert.Equal(new[] { "age", "income", "debt" }.Order(), ia.Top.Select(t => t.Name).Order());
        Assert.All(ia.Top, t => Assert.Equal(splits.Test.X[1][t.Feature].item<float>(), t.Input!.Value, 3));

        DataSplits digits = DataCatalog.Load("digits");
        Explanation image = ExplainUseCase.Run(new ExplainRequest(ModelZoo.Create("mlp:16x2", digits.Train, seed: 3), "m.reparo", digits, 0, Neighbours: 1, Steps: 8));
        Assert.Equal("zeros", image.InputAttribution!.Baseline);
        Assert.StartsWith("(0, ", image.InputAttribution.Top[0].Name, StringComparison.Ordinal);
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
