using Reparo.Data;
using Reparo.Experiments;
using Reparo.Influence;
using Reparo.Remediation;
using Reparo.Training;

namespace Reparo.Tests.Experiments;

public sealed class SampleRemediationStudyTests
{
    [Fact]
    public void TinyRunComparesThreeConditionsAndIsDeterministic()
    {
        Dataset all = TestSupport.RandomImages(150, classes: 2, size: 8, seed: 4);
        var splits = new DataSplits(all.Subset(Enumerable.Range(0, 100).ToArray()), all.Subset(Enumerable.Range(100, 10).ToArray()), all.Subset(Enumerable.Range(110, 40).ToArray()));
        var options = new SampleRemediationOptions
        {
            Classes = null,
            Architecture = "lstm:8",
            CheckpointEpochs = 2,
            Training = new TrainingOptions { Epochs = 1, BatchSize = 50, Patience = 0 },
            Seeds = 2,
            MaxFaults = 3,
            Augmentation = new AugmentationOptions(RotationStep: 90, MaxShift: 1),
            Influence = new InfluenceOptions { Abstraction = new AbstractionOptions { PcaComponents = 3, Candidates = [4], StopAtFirstStable = true } },
        };
        SampleRemediationReport a = SampleRemediationStudy.Run(splits, options);
        SampleRemediationReport b = SampleRemediationStudy.Run(splits, options);
        Assert.Equal(["original", "influence", "random"], a.Conditions.Select(c => c.Condition));
        Assert.Equal([0, a.Faults, a.Faults], a.Conditions.Select(c => c.AddedRows));
        Assert.All(a.Conditions, c => Assert.Equal(2, c.Result.Runs.Count));
        Assert.Equal(2, a.CheckpointAccuracies.Count);
        Assert.InRange(a.Faults, 1, 3);
        Assert.Equal(6, a.CandidatesPerFault);
        Assert.Equal(a.Faults, a.Choices.Count);
        Assert.All(a.Choices, c => Assert.True(c.Distance >= 0));
        Assert.Equal(a.Choices, b.Choices);
        Assert.Equal(a.Conditions.Select(c => c.Result.Runs.Select(r => (r.TestAccuracy, r.FaultsFixed)).ToArray()),
            b.Conditions.Select(c => c.Result.Runs.Select(r => (r.TestAccuracy, r.FaultsFixed)).ToArray()));
        Assert.Contains("random rotations", a.ToMarkdown());
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
