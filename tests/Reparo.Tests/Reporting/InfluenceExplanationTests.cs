using Reparo.Data;
using Reparo.Influence;
using Reparo.Models;
using Reparo.Reporting;
using static TorchSharp.torch;

namespace Reparo.Tests.Reporting;

public sealed class InfluenceExplanationTests
{
    private static readonly InfluenceOptions Options = new() { Abstraction = new AbstractionOptions { PcaComponents = 3, Candidates = [4], Mixture = new GaussianMixtureOptions(Seed: 2) } };

    [Fact]
    public void TheTraceCarriesStatesLabelsAndTheConfidencesOfTheStepLogits()
    {
        TestSupport.Init();
        DataSplits splits = DataCatalog.Load("digits");
        Dataset train = splits.Train.Subset(Enumerable.Range(0, 120).ToArray());
        using Network network = ModelZoo.Create("lstm:8", train, seed: 3);
        using InfluenceModel model = InfluenceModel.Build(network, train, Options);
        SampleQuery answer = model.Query(splits.Test, 4, top: 6);
        InfluenceExplanation explanation = InfluenceExplanation.Create(model, splits.Test, 4, answer, train);

        Assert.Equal(8, explanation.Steps.Count);
        Assert.Equal(answer.Trace.States, explanation.Steps.Select(s => s.State));
        Assert.Equal(answer.Trace.StepLabels.Select(l => (long)l), explanation.Steps.Select(s => s.Label));
        // Without gradients, as the influence model profiles (TorchSharp's LSTM gives slightly different values with them).
        using Tensor probabilities = network.InEvalMode(() =>
        {
            using var noGrad = no_grad();
            return network.Steps(splits.Test.X.narrow(0, 4, 1)).StepLogits.softmax(-1);
        });
        // Each step's per-step label is the argmax of that step's probabilities, and the confidence is that probability.
        Assert.All(explanation.Steps, s => Assert.Equal(probabilities[0, s.Step - 1].max().item<float>(), s.Confidence, 6));
        Assert.All(explanation.Steps, s => Assert.Null(s.Token));

        ReportDocument document = explanation.ToDocument();
        Assert.Equal(["Input", "Trace", "Influential training samples"], document.Sections.Select(s => s.Heading));
        ReportTable neighbours = document.Sections[2].Blocks.OfType<ReportTable>().Single();
        Assert.Equal(answer.Top.Select(h => train.SourceIndices[h.TrainIndex].ToString()), neighbours.Rows.Select(r => r[1]));
        using var dir = TestSupport.TempFolder();
        ReportFile.Write(dir.File("influence.html"), document);
        Browser.AssertRendersCleanly(dir.File("influence.html"), minimumImages: 7);
    }

    [Fact]
    public void TextInputsShowTheirTokensStepByStep()
    {
        Dataset data = TestSupport.RandomTokens(40, length: 7, seed: 5);
        using Network network = ModelZoo.Create("gru:6", data, seed: 1);
        using InfluenceModel model = InfluenceModel.Build(network, data, Options);
        SampleQuery answer = model.Query(data, 3, top: 3);
        InfluenceExplanation explanation = InfluenceExplanation.Create(model, data, 3, answer, data);

        string[] tokens = [.. data.X[3].data<long>().ToArray().Where(id => id != Vocabulary.PadId).Select(id => data.Vocabulary!.Tokens[(int)id])];
        Assert.Equal(tokens, explanation.Steps.Select(s => s.Token));
        ReportDocument document = explanation.ToDocument();
        Assert.Equal(string.Join(' ', tokens), Assert.Single(document.Sections[0].Blocks.OfType<ReportGallery>().Single().Items).Text);
        Assert.Equal(["step", "token", "state", "label", "confidence"], document.Sections[1].Blocks.OfType<ReportTable>().Single().Header);
    }
}
