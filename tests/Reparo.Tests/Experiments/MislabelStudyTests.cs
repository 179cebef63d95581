using Reparo.Data;
using Reparo.Experiments;
using Reparo.Tests.Cli;

namespace Reparo.Tests.Experiments;

public sealed class MislabelStudyTests
{
    /// <summary>Digits 3 vs 8 (8×8 images, rows as steps), 40 % of the 3s flipped, a tiny LSTM, every method.</summary>
    private static MislabelOptions Options() => new()
    {
        Classes = [3, 8],
        FlipClass = 3,
        Share = 0.4,
        Architecture = "lstm:16",
        Epochs = 8,
        BatchSize = 64,
        LearningRate = 2e-2,
        Seed = 3,
        RestorePercents = [],
        RetrainSeeds = [1],
        Damping = 5,
        HessianSamples = 50,
        CgIterations = 5,
        States = 8,
        CurveStep = 10,
    };

    /// <summary>
    /// Without damping, conjugate gradient on the LSTM's indefinite Hessian meets negative curvature; the study raises the
    /// damping past what that curvature calls for, retries, and reports the damping it used and how many attempts it took.
    /// </summary>
    [Fact]
    public void ConjugateGradientRaisesTheDampingOnNegativeCurvature()
    {
        TestSupport.Init();
        DataSplits digits = DataCatalog.Load("digits");
        MislabelReport report = MislabelStudy.Run(digits, Options() with { Methods = ["kl-cg"], Damping = 0 });
        MislabelMethod cg = Assert.Single(report.Methods);
        Assert.True(cg.Details["attempts"] >= 2, $"attempts {cg.Details["attempts"]}");
        Assert.True(cg.Details["damping"] > 0, $"damping {cg.Details["damping"]}");
        Assert.Equal(report.Flips, cg.Flips.Points[^1].Found);

        // With the damping it settled on, one attempt suffices.
        MislabelReport settled = MislabelStudy.Run(digits, Options() with { Methods = ["kl-cg"], Damping = cg.Details["damping"] });
        Assert.Equal(1, Assert.Single(settled.Methods).Details["attempts"]);
    }

    [Fact]
    public void StudyRanksEveryRowCountsFlipsAndIsDeterministic()
    {
        TestSupport.Init();
        DataSplits digits = DataCatalog.Load("digits");
        MislabelReport report = MislabelStudy.Run(digits, Options());
        Assert.Equal(MislabelOptions.AllMethods, report.Methods.Select(m => m.Method));
        Assert.True(report.Flips > 0 && report.InfluentialFlips <= report.Flips && report.TargetTests > 0, $"{report.Flips} {report.InfluentialFlips} {report.TargetTests}");
        foreach (MislabelMethod m in report.Methods)
        {
            Assert.Equal(Enumerable.Range(1, 10).Select(i => 10 * i), m.Flips.Points.Select(p => p.Percent));
            Assert.True(m.Flips.Points.Zip(m.Flips.Points.Skip(1)).All(p => p.First.Found <= p.Second.Found), m.Method);
            Assert.Equal(report.Flips, m.Flips.Points[^1].Found);
            Assert.Equal(1.0, m.Flips.Points[^1].Share);
            Assert.InRange(m.Flips.Area, 0, 1);
            Assert.Empty(m.Restores);
        }
        Assert.Null(report.NothingRestored);

        // Same seed: the same curves; restoring the flips found in the top 20 % and retraining.
        MislabelReport again = MislabelStudy.Run(digits, Options() with { Methods = ["rnnrepair", "random"], RestorePercents = [20] });
        foreach (MislabelMethod m in again.Methods)
        {
            MislabelMethod first = report.Methods.First(r => r.Method == m.Method);
            Assert.Equal(first.Flips.Points, m.Flips.Points);
            Assert.Equal(first.Flips.Area, m.Flips.Area);
            MislabelRestore restore = Assert.Single(m.Restores);
            Assert.Equal(m.Flips.Points.First(p => p.Percent == 20).Found, restore.Restored);
            Assert.InRange(restore.TargetsFixed.Mean, 0, again.TargetTests);
        }
        Assert.Equal(0, again.NothingRestored!.Restored);
        Assert.Equal(again.Flips, again.AllRestored!.Restored);
        string markdown = again.ToMarkdown();
        Assert.Contains("| rnnrepair |", markdown);
        Assert.Contains("all flips restored", markdown);
    }

    [Fact]
    public void BadOptionValuesAreOneLineInputErrors()
    {
        Assert.Throws<ReparoInputException>(() => (Options() with { FlipClass = 5 }).Validate());
        Assert.Throws<ReparoInputException>(() => (Options() with { Methods = ["tracin"] }).Validate());
        (int code, _, string err) = CliRunner.Run("influence", "mislabel", "--data", "digits", "--classes", "3,8", "--flip-class", "3", "--methods", "rnnrepair,nope");
        Assert.Equal(2, code);
        Assert.Contains("unknown method 'nope'", err);
        Assert.Single(err.Trim().Split('\n'));
        (int share, _, string shareErr) = CliRunner.Run("influence", "mislabel", "--data", "digits", "--classes", "3,x");
        Assert.Equal(2, share);
        Assert.Contains("--classes", shareErr);
    }
}
