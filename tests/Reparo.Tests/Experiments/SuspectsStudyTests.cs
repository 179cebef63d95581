using Reparo.Data;
using Reparo.Experiments;

namespace Reparo.Tests.Experiments;

/// <summary>The suspects study on a small noisy Fashion-MNIST set, and its results file.</summary>
public class SuspectsStudyTests
{
    public SuspectsStudyTests() => TestSupport.Init();

    [Fact]
    public void EveryMethodRanksTheNoisySetAndTheLossFindsFarMoreFlipsThanRandom()
    {
        DataSplits clean = DataCatalog.Load("fashion-mnist");
        SuspectsStudyReport report = SuspectsStudy.Run(clean, [0, 1], "mlp:32x2", 3, 1500, 0.1, "./reparo experiment suspects --threads 1", 1);
        Assert.Equal([0, 1], report.Runs.Select(r => r.Seed));
        foreach (SuspectsRun run in report.Runs)
        {
            Assert.Equal(1350, run.TrainRows);
            Assert.Equal(135, run.Flipped);
            Assert.Equal(SuspectsStudy.Compared, run.Methods.Select(m => m.Method));
            SuspectsMethodResult Of(string method) => run.Methods.Single(m => m.Method == method);
            Assert.InRange(Of("random").Flips.Area, 0.35, 0.65);
            // A chance ranking puts 10 % flips among the top n; the loss of a model trained on 90 % right labels puts far more.
            Assert.True(Of("loss").PrecisionAtFlips > 0.4, $"seed {run.Seed}: loss precision {Of("loss").PrecisionAtFlips}");
            Assert.True(Of("representer").Flips.Area > Of("random").Flips.Area + 0.2);
            Assert.All(run.Methods, m => Assert.Equal(20, m.Flips.Points.Count));
            Assert.All(run.Methods, m => Assert.InRange(m.RetrainedTestAccuracy, 0.3, 1));
            Assert.InRange(run.OracleTestAccuracy, 0.3, 1);
        }
        string text = SuspectsStudy.ToMarkdown(report, "suspects.json");
        Assert.Contains("| method | seeds | found in top 5 % |", text);
        Assert.Contains("| test accuracy retrained without the top n |", text);
        Assert.Contains("retrained (same seed) without exactly the flipped rows:", text);
        Assert.Contains("| representer | 2 |", text);
        Assert.Contains("| random | 2 |", text);
        Assert.Contains("[suspects.json](data/suspects.json)", text);
        Assert.Contains("135 of 1350 training labels for seed 0", text);
        Assert.Throws<ReparoInputException>(() => SuspectsStudy.Run(clean, [0], "mlp:32x2", 1, 50, 0.1, "x", 1));
    }
}
