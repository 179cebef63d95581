using Reparo.Data;
using Reparo.Remediation;
using Reparo.Training;
using static TorchSharp.torch;

namespace Reparo.Tests.Remediation;

public class RetrainComparisonTests
{
    /// <summary>
    /// 4×4 images with seeded noise: class 0 has a bright top half, class 1 a bright bottom half; with
    /// <paramref name="corner"/>, only the top-left quarter is bright (it looks like class 0, the base training set
    /// never shows it).
    /// </summary>
    private static Dataset Images(int n, int seed, bool corner = false, long? label = null)
    {
        TestSupport.Init();
        var generator = new Generator((ulong)seed);
        Tensor x = rand([n, 1, 4, 4], generator: generator) * 0.3;
        long[] labels = Enumerable.Range(0, n).Select(i => label ?? i % 2).ToArray();
        for (int i = 0; i < n; i++)
        {
            if (corner) x[i, 0, ..2, ..2].add_(0.7);
            else if (labels[i] == 0) x[i, 0, ..2].add_(0.7);
            else x[i, 0, 2..].add_(0.7);
        }
        return new Dataset($"images{seed}", x, tensor(labels), ["top", "bottom"], InputKind.Image);
    }

    private static RetrainOptions Options(params int[] seeds) =>
        new("mlp:8x2", new TrainingOptions { Epochs = 5, BatchSize = 32, LearningRate = 0.05, Patience = 0 }, seeds);

    [Fact]
    public void ExtraRowsAreTrainedOnAndEachSeedGivesItsOwnDeterministicRun()
    {
        Dataset train = Images(64, seed: 1), test = Images(40, seed: 2);
        Dataset faults = Images(6, seed: 3, corner: true, label: 1), extra = Images(32, seed: 4, corner: true, label: 1);
        Tensor before = train.X.clone();

        RetrainComparisonResult baseline = RetrainComparison.Run(train, null, test, faults, Options(1));
        var reports = new List<RetrainProgress>();
        RetrainComparisonResult repaired = RetrainComparison.Run(train, extra, test, faults, Options(1, 2), progress: new Collect(reports));

        Assert.True(train.X.SameAs(before), "the training images changed");
        Assert.Equal([1, 2], repaired.Runs.Select(r => r.Seed));
        Assert.Equal((64, 96, 6), (baseline.TrainRows, repaired.TrainRows, repaired.FaultCount));
        Assert.All(repaired.Runs, r => Assert.True(r.TestAccuracy > 0.9, $"seed {r.Seed}: test accuracy {r.TestAccuracy}"));
        Assert.All(repaired.Runs, r => Assert.Equal(6, r.FaultsFixed));
        Assert.True(baseline.FaultsFixed.Mean < 6, $"the base training set alone should leave some faults wrong, got {baseline.FaultsFixed}");
        Assert.Equal(repaired.Runs.Average(r => r.TestAccuracy), repaired.TestAccuracy.Mean, 12);
        Assert.Equal(2 * 5 * 3, reports.Count);
        Assert.Equal((1, 2, 1), (reports[0].Run, reports[0].Runs, reports[0].Seed));
        Assert.Equal((2, 2), (reports[^1].Run, reports[^1].Seed));

        RetrainComparisonResult again = RetrainComparison.Run(train, extra, test, faults, Options(2));
        Assert.Equal(repaired.Runs[1] with { Seconds = 0 }, again.Runs[0] with { Seconds = 0 });
    }

    [Fact]
    public void MeanStdUsesTheSampleDeviationAndAppendChecksTheData()
    {
        Assert.Equal(new MeanStd(2, 1), MeanStd.Of([1.0, 2, 3]));
        Assert.Equal(new MeanStd(5, 0), MeanStd.Of([5.0]));

        Dataset train = Images(4, seed: 1), extra = Images(2, seed: 2, corner: true, label: 1);
        Dataset both = RetrainComparison.Append(train, extra);
        Assert.True(both.X.SameAs(cat([train.X, extra.X], 0)));
        Assert.Equal([0L, 1, 0, 1, 1, 1], both.Labels());
        Assert.Throws<ReparoInputException>(() => RetrainComparison.Append(train, TestSupport.RandomImages(2, classes: 2, size: 4)));
        Assert.Throws<ReparoInputException>(() => RetrainComparison.Append(train, Images(2, seed: 1).WithInputs(zeros(2, 1, 2, 8), "wide")));
        Assert.Throws<ReparoInputException>(() => RetrainComparison.Run(train, null, train, train, Options()));
    }

    private sealed class Collect(List<RetrainProgress> into) : IProgress<RetrainProgress>
    {
        public void Report(RetrainProgress value) => into.Add(value);
    }
}
