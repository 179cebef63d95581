using Reparo.Data;
using Reparo.Influence;
using Reparo.Models;
using Reparo.Training;

namespace Reparo.Tests.Influence;

public sealed class InfluenceModelTests
{
    [Fact]
    public void TokenProfilesStartAtTheFirstRealToken()
    {
        Dataset data = TestSupport.RandomTokens(20, length: 9, seed: 4);
        using Network network = ModelZoo.Create("gru:6", data, seed: 1);
        using RecurrentProfile profile = RecurrentProfile.Collect(network, data, batchSize: 7);
        long[] ids = data.X.data<long>().ToArray();
        for (int i = 0; i < data.Count; i++)
        {
            long[] real = ids.Skip(i * 9).Take(9).SkipWhile(id => id == Vocabulary.PadId).ToArray();
            Assert.Equal(real.Length, profile.Lengths[i]);
            Assert.Equal(real.Select(id => (int)id), profile.Symbols.Skip(profile.Offsets[i]).Take(real.Length));
        }
        Assert.Equal(profile.Lengths.Sum(), profile.StepCount);
        Assert.Equal([profile.StepCount, 6L], profile.States.shape);
        Assert.Equal(network.Predict(data.X), profile.Predictions);
        // The last real step's per-step label is the network's prediction.
        Assert.All(Enumerable.Range(0, data.Count), i => Assert.Equal(profile.Predictions[i], profile.StepLabels[profile.Offsets[i] + profile.Lengths[i] - 1]));
    }

    [Fact]
    public void BuildQuerySaveAndLoadOnATinyDigitsLstm()
    {
        TestSupport.Init();
        DataSplits splits = DataCatalog.Load("digits");
        Dataset train = splits.Train.Subset(Enumerable.Range(0, 300).ToArray());
        Dataset test = splits.Test.Subset(Enumerable.Range(0, 60).ToArray());
        using Network network = ModelZoo.Create("lstm:16", train, seed: 3);
        Trainer.Train(network, train, null, new TrainingOptions { Epochs = 1, BatchSize = 16, LearningRate = 1e-2, Patience = 0, Seed = 1 });
        var options = new InfluenceOptions { Abstraction = new AbstractionOptions { PcaComponents = 4, Candidates = [3, 6], StabilityThreshold = 0.5, Mixture = new GaussianMixtureOptions(Seed: 2) } };
        var messages = new List<string>();
        using InfluenceModel model = InfluenceModel.Build(network, train, options, new Progress<string>(messages.Add));
        InfluenceBuildReport report = model.Report;
        Assert.Equal(8 * 300, report.States);
        Assert.Equal(4, report.Pca);
        Assert.Equal([3, 6], report.Candidates.Select(c => c.K));
        Assert.Contains(report.K, new[] { 3, 6 });
        Assert.Equal(report.K, model.Abstraction.K);
        Assert.True(report.Time.TotalSeconds >= report.Time.ProfileSeconds + report.Time.PcaSeconds + report.Time.MixtureSeconds);
        Assert.True(report.Transitions > 0 && report.Transitions == model.Index.TransitionCount);
        Assert.Equal(train.Labels(), model.Training.Labels);

        SampleQuery query = model.Query(test, 5, top: 10);
        Assert.Equal(10, query.Top.Count);
        Assert.Equal(8, query.Trace.Length);
        Assert.True(query.Top.Zip(query.Top.Skip(1)).All(p => p.First.Distance <= p.Second.Distance));
        Assert.All(query.Top, h => Assert.Equal(train.Labels()[h.TrainIndex], h.Label));
        // A training sample queried against its own model is at distance 0.
        SampleQuery self = model.Query(train, 17, top: 1);
        Assert.Equal(0, self.Top[0].Distance, 6);

        TraceSet testTraces = model.Abstract(test);
        SegmentAnalysis segments = model.Segments(testTraces[5]);
        Assert.Equal(8, segments.Supports.Length);
        double[] scores = model.TransitionScores(Enumerable.Range(0, test.Count).Select(i => testTraces[i]).Where(t => t.Failing));
        Assert.Equal(train.Count, scores.Length);
        FidelityReport fidelity = FidelityCheck.Run(model, testTraces, new FidelityOptions(Steps: 40));
        Assert.Equal(4, fidelity.Rows.Count);
        Assert.Equal(Evaluator.Accuracy(network, test), fidelity.NetworkAccuracy, 9);
        Assert.All(fidelity.Rows, r => Assert.InRange(r.TestAccuracy, 0, 1));
        Assert.True(fidelity.Rows.Single(r => r.Variant == FeatureVariant.All).Agreement > 0.5);
        using TempFolder dir = TestSupport.TempFolder();
        string path = dir.File("digits.infl");
        model.Save(path);
        using (InfluenceModel loaded = InfluenceModel.Load(path))
        {
            SampleQuery again = loaded.Query(test, 5, top: 10);
            Assert.Equal(query.Top, again.Top);
            Assert.Equal(query.Trace.States, again.Trace.States);
            Assert.Equal(report, loaded.Report with { Candidates = report.Candidates });
            Assert.Equal(report.Candidates, loaded.Report.Candidates);
            Assert.Equal(model.Index.TransitionCount, loaded.Index.TransitionCount);
            Assert.Equal(segments.Supports, loaded.Segments(testTraces[5]).Supports);
        }

        byte[] bytes = File.ReadAllBytes(path);
        bytes[^3] ^= 0x5A;
        File.WriteAllBytes(path, bytes);
        var corrupt = Assert.Throws<ReparoInputException>(() => InfluenceModel.Load(path));
        Assert.Contains("checksum", corrupt.Message);
        File.WriteAllBytes(path, bytes[..20]);
        Assert.Throws<ReparoInputException>(() => InfluenceModel.Load(path));
        Assert.Throws<ReparoInputException>(() => InfluenceModel.Load(dir.File("missing.infl")));
    }

    [Fact]
    public void NonRecurrentModelsAreRefused()
    {
        Dataset data = TestSupport.RandomImages(10, size: 8);
        using Network network = ModelZoo.Create("mlp:8x2", data, seed: 1);
        var e = Assert.Throws<ReparoInputException>(() => InfluenceModel.Build(network, data));
        Assert.Contains("recurrent", e.Message);
    }
}
