using Reparo.Data;
using Reparo.Models;
using Reparo.Reporting;
using Reparo.UseCases;
using static TorchSharp.torch;

namespace Reparo.Tests.UseCases;

public class SuspectsUseCaseTests
{
    public SuspectsUseCaseTests() => TestSupport.Init();

    /// <summary>
    /// A last layer too large for an exact Hessian (10 classes × 2000 inputs: 3 GiB as float64) is one line for the
    /// Hessian methods before any large allocation, and the loss and TracIn still rank it.
    /// </summary>
    [Fact]
    public void ALastLayerTooLargeForItsHessianIsOneLineAndTheLossStillRanks()
    {
        var generator = new Generator(5);
        var data = new Dataset("wide", rand([40, 2000], generator: generator), arange(40, ScalarType.Int64).remainder(10),
            [.. Enumerable.Range(0, 10).Select(c => $"c{c}")], InputKind.Features);
        var splits = new DataSplits(data, data, data);
        Network network = ModelZoo.Create("mlp:8x1", data, 0);
        foreach (string method in new[] { "representer", "kl-last" })
        {
            string message = Assert.Throws<ReparoInputException>(() => SuspectsUseCase.Run(new SuspectsRequest(network, "wide.reparo", splits, method))).Message;
            Assert.Contains("20010 parameters (10 classes × 2000 inputs and a bias)", message);
            Assert.Contains("rank by the loss or by TracIn", message);
        }
        foreach (string method in new[] { "loss", "tracin-self" })
        {
            SuspectsReport report = SuspectsUseCase.Run(new SuspectsRequest(network, "wide.reparo", splits, method, Top: 5));
            Assert.Equal(5, report.Suspects.Count);
            Assert.Equal(40, report.TrainCount);
            // The names fall back to the source index, and the scores come sorted.
            Assert.All(report.Suspects, s => Assert.Equal(s.SourceIndex.ToString(), s.Source));
            Assert.Equal(report.Suspects.Select(s => s.Score).OrderDescending(), report.Suspects.Select(s => s.Score));
        }
        // The loss is −log p(label), so the first suspect is the row whose label the model finds least likely.
        SuspectsReport byLoss = SuspectsUseCase.Run(new SuspectsRequest(network, "wide.reparo", splits, "loss", Top: 40));
        Assert.Equal(byLoss.Suspects.Min(s => s.LabelProbability), byLoss.Suspects[0].LabelProbability);
        Assert.All(byLoss.Suspects, s => Assert.Equal(-Math.Log(s.LabelProbability), s.Score, 9));
    }
}
