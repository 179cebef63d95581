using Reparo.Data;
using Reparo.Models;
using Reparo.Repair;

namespace Reparo.Tests.Repair;

public class RepairSetSpecTests
{
    private const int N = 40;

    [Fact]
    public void AnyFormTakesTheFirstCorruptedTestImagesWhateverTheModelPredicts()
    {
        // An untrained digits model gets a few of the corrupted images right and most wrong.
        DataSplits splits = DataCatalog.Load("digits");
        Network network = ModelZoo.Create("mlp:16x3", splits.Train, seed: 5);

        RepairProblem any = RepairSetSpec.Build($"gaussian-noise:3:{N}:any", network, splits, 0);
        RepairProblem failures = RepairSetSpec.Build($"gaussian-noise:3:{N}", network, splits, 0);

        IReadOnlyList<RepairRegion> regions = any.RepairSet.Regions;
        Assert.Equal(N, regions.Count);
        Assert.Equal($"gaussian-noise:3:{N}:any", any.RepairSet.Description);
        for (int i = 0; i < N; i++) Assert.True(regions[i].Counterpart!.SameAs(splits.Test.X.narrow(0, i, 1)), $"region {i} is not test image {i}");
        bool[] correct = [.. regions.Select(r => network.Predict(r.Vertices)[0] == r.Label)];
        Assert.Contains(true, correct);
        Assert.Contains(false, correct);
        Assert.All(failures.RepairSet.Regions, r => Assert.NotEqual(r.Label, network.Predict(r.Vertices)[0]));
        Assert.NotEqual(regions.Select(r => r.Id), failures.RepairSet.Regions.Select(r => r.Id));

        // Held out as for the failures form: the clean test set and the rest of the corrupted one, without the repair images.
        int[] repairSources = [.. splits.Test.SourceIndices.Take(N)];
        Assert.Equal(splits.Test.Count - N, any.Drawdown.Count);
        Assert.Equal(splits.Test.Count - N, any.Generalization!.Count);
        Assert.Empty(any.Drawdown.SourceIndices.Intersect(repairSources));
        Assert.Empty(any.Generalization.SourceIndices.Intersect(repairSources));
    }

    [Theory]
    [InlineData("gaussian-noise:3:10:bogus", "'bogus' in 'gaussian-noise:3:10:bogus' should be 'any'")]
    [InlineData("gaussian-noise:3:100000:any", "ask for at most that many")]
    [InlineData("gaussian-noise:3:10:any:more", "unknown repair set")]
    public void BadAnyFormIsAOneLineInputError(string spec, string expected)
    {
        DataSplits splits = DataCatalog.Load("digits");
        Network network = ModelZoo.Create("mlp:16x3", splits.Train, seed: 5);

        string message = Assert.Throws<ReparoInputException>(() => RepairSetSpec.Build(spec, network, splits, 0)).Message;

        Assert.Contains(expected, message);
        Assert.DoesNotContain('\n', message);
    }
}
