using Reparo.Data;
using Reparo.Experiments;
using Reparo.Influence;
using Reparo.Remediation;
using Reparo.Training;

namespace Reparo.Tests.Experiments;

public sealed class SampleRemediationStudyTests
{
    [Fact]
    public void TinyRunFollowsTheAuthorsProtocolAndIsDeterministic()
    {
        TestSupport.Init();
        DataSplits splits = DataCatalog.Load("digits", new DataOptions());
        var options = new SampleRemediationOptions
        {
            Classes = [3, 8],
            Architecture = "lstm:8",
            CheckpointEpochs = 2,
            Training = new TrainingOptions { BatchSize = 16, LearningRate = 1e-2, Patience = 0 },
            Seeds = 2,
            MaxFaults = 3,
            Augmentation = new AugmentationOptions(RotationStep: 90, MaxShift: 1),
            Influence = new InfluenceOptions { Abstraction = new AbstractionOptions { PcaComponents = 3, Candidates = [4], StopAtFirstStable = true } },
        };
        SampleRemediationReport a = SampleRemediationStudy.Run(splits, options);
        SampleRemediationReport b = SampleRemediationStudy.Run(splits, options);
        Assert.Equal(["original", "influence", "random", "pool-random", "neighbour"], a.Conditions.Select(c => c.Condition));
        // One sample per checkpoint and fault (where both neighbours exist), the same count in every added arm.
        Assert.InRange(a.Faults, 1, 3);
        Assert.InRange(a.Choices.Count, 1, 2 * a.Faults);
        Assert.Equal([0, a.Choices.Count, a.Choices.Count, a.Choices.Count, a.Choices.Count], a.Conditions.Select(c => c.AddedRows));
        Assert.All(a.Conditions, c => Assert.Equal(2, c.Result.Runs.Count));
        Assert.All(a.Conditions.SelectMany(c => c.Result.Runs), r => Assert.Equal(2, r.Epochs)); // retrained as long as the original
        Assert.Equal(2, a.CheckpointAccuracies.Count);
        Assert.Equal(2, a.AbstractStates.Count);
        Assert.Equal(6, a.CandidatesPerFault);
        Assert.All(a.Choices, c => Assert.True(c.Distance >= 0 && c.Epoch is 1 or 2 && c.TargetRow != c.SourceRow));
        long[] trainLabels = LabelNoise.BinarySubset(splits, 3, 8).Train.Labels();
        Assert.All(a.Choices, c => Assert.Equal(c.Label, trainLabels[c.SourceRow]));
        Assert.All(a.Choices, c => Assert.NotEqual(c.Label, trainLabels[c.TargetRow]));
        Assert.Equal(a.Choices, b.Choices);
        Assert.Equal(a.Conditions.Select(c => c.Result.Runs.Select(r => (r.TestAccuracy, r.FaultsFixed)).ToArray()),
            b.Conditions.Select(c => c.Result.Runs.Select(r => (r.TestAccuracy, r.FaultsFixed)).ToArray()));
        string markdown = a.ToMarkdown();
        Assert.Contains("rotated at random (the authors' baseline)", markdown);
        Assert.Contains("accuracy − original's (points)", markdown);
    }

    [Fact]
    public void TheChosenCandidateIsTheClosestInTemporalFeatures()
    {
        Dataset train = TestSupport.RandomImages(40, classes: 2, size: 8, seed: 6);
        using var network = Reparo.Models.ModelZoo.Create("lstm:6", train, 1);
        using InfluenceModel influence = InfluenceModel.Build(network, train,
            new InfluenceOptions { Abstraction = new AbstractionOptions { PcaComponents = 2, Candidates = [3], StopAtFirstStable = true } });
        AbstractTrace fault = influence.Abstract(train.Subset([0]))[0];
        double[] distances = SampleRemediationStudy.CandidateDistances(influence, fault, train.X.narrow(0, 0, 5), train.Labels()[0], train);
        Assert.Equal(5, distances.Length);
        // The first candidate is the fault itself: distance 0, the smallest.
        Assert.Equal(0, distances[0], 6);
        Assert.All(distances, d => Assert.True(d >= 0));
    }
}
