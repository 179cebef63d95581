using Reparo.Data;
using Reparo.Influence;
using Reparo.Models;
using Reparo.Reporting;
using Reparo.Training;
using Reparo.UseCases;

namespace Reparo.Tests.UseCases;

public class InfluenceUseCaseTests
{
    /// <summary>
    /// Build reports the K it kept among the candidates and writes a file that queries answer from: the query's top
    /// samples are ranked by distance, its trace has one step per image row, and its document is the trace explanation.
    /// </summary>
    [Fact]
    public void BuildWritesAnIndexThatQueriesRankByDistance()
    {
        using var dir = TestSupport.TempFolder();
        Dataset all = TestSupport.RandomImages(70, classes: 2, size: 8, seed: 5);
        var splits = new DataSplits(all.Subset([.. Enumerable.Range(0, 50)]), all.Subset([.. Enumerable.Range(50, 10)]), all.Subset([.. Enumerable.Range(60, 10)]));
        Network network = ModelZoo.Create("lstm:6", splits.Train, seed: 1);
        Trainer.Train(network, splits.Train, null, new TrainingOptions { Epochs = 1, BatchSize = 16, Patience = 0, Seed = 1 });
        var options = new InfluenceOptions { Abstraction = new AbstractionOptions { PcaComponents = 3, Candidates = [3, 5], StabilityThreshold = 0.0, StopAtFirstStable = true, Mixture = new GaussianMixtureOptions(Seed: 2) } };

        InfluenceModelReport built = InfluenceBuildUseCase.Run(new InfluenceBuildRequest(network, dir.File("m.reparo"), splits.Train, dir.File("m.influence"), options));
        Assert.Equal(3, built.K); // θ = 0: the first candidate is stable enough
        Assert.Equal([3], built.Candidates.Select(c => c.K));
        Assert.Equal(50, built.Samples);
        Assert.Equal(50 * 8, built.States);
        Assert.True(File.Exists(dir.File("m.influence")));
        ReportDocument document = built.ToDocument();
        Assert.StartsWith("Influence model of", document.Title);
        Assert.Contains("3 abstract states over 3 PCA components", document.Summary[0]);
        Assert.Contains(document.Sections, s => s.Heading == "Abstraction: K per candidate");

        using InfluenceModel loaded = InfluenceModel.Load(dir.File("m.influence"));
        InfluenceQueryReport answer = InfluenceQueryUseCase.Run(new InfluenceQueryRequest(loaded, "m.influence", splits, 2, 7));
        Assert.Equal(7, answer.Top.Count);
        Assert.Equal(answer.Top.Select(t => t.Distance).Order(), answer.Top.Select(t => t.Distance));
        Assert.Equal(8, answer.Segments.Count);
        Assert.All(answer.Segments, s => Assert.Equal("row", s.Token));
        Assert.Equal(answer.Label != answer.Prediction, answer.Failing);
        Assert.Equal(answer.Explanation.ToDocument().Title, answer.ToDocument().Title);

        Assert.Throws<ReparoInputException>(() => InfluenceQueryUseCase.Run(new InfluenceQueryRequest(loaded, "m.influence", splits, 2, 0)));
        Assert.Throws<ReparoInputException>(() => InfluenceBuildUseCase.Run(new InfluenceBuildRequest(network, dir.File("m.reparo"), splits.Train, dir.File("m.reparo"), options)));
    }
}
