using Reparo.Data;
using Reparo.Experiments;
using Reparo.Influence;
using Reparo.Remediation;
using Reparo.Training;

namespace Reparo.Tests.Experiments;

public sealed class SegmentRemediationStudyTests
{
    // Test trace (truth 1, predicted 0): states 3, 4, 5, 6, 7 with step labels 1, 1, 1, 0, 0 and symbols 10..14; fault step 3.
    private static readonly AbstractTrace Test = new([3, 4, 5, 6, 7], [1, 1, 1, 0, 0], [10, 11, 12, 13, 14], 0, 1);

    [Fact]
    public void FaultyTokenIsTheSymbolReadRightAfterTheFaultStep()
    {
        Assert.Equal((3, 13L), SegmentRemediationStudy.FaultyToken(Test));
        Assert.Null(SegmentRemediationStudy.FaultyToken(Test with { Prediction = 1 }));
        // Never predicting the truth: fault step 0 (the virtual start), no token.
        Assert.Null(SegmentRemediationStudy.FaultyToken(Test with { StepLabels = [0, 0, 0, 0, 0] }));
    }

    [Fact]
    public void MostSimilarFindsTheLongestSuffixEndingAtTheFaultStepAndInsertsAfterIt()
    {
        // The training trace holds the test's transitions into steps 2 and 3 (4→5 on symbol 12, from 3→4 on 11) at its
        // steps 4 and 5, but not the one into step 1 (from the start): L = 2, the token goes after 0-based step 4.
        var train = new AbstractTrace([9, 9, 3, 4, 5, 2], [1, 1, 1, 1, 1, 1], [20, 21, 22, 11, 12, 23], 1, 1);
        Assert.Equal(new SegmentMatch(2, 4), SegmentRemediationStudy.MostSimilar(Test, 3, train));
        // The whole prefix occurs from the start: L = 3, after 0-based step 2; the first occurrence wins.
        var full = new AbstractTrace([3, 4, 5, 3, 4, 5], [1, 1, 1, 1, 1, 1], [10, 11, 12, 10, 11, 12], 1, 1);
        Assert.Equal(new SegmentMatch(3, 2), SegmentRemediationStudy.MostSimilar(Test, 3, full));
        // Another symbol breaks the match; with none left the token goes after the first step reaching (state 5, label 1).
        var other = new AbstractTrace([8, 4, 5, 6], [0, 1, 1, 1], [30, 31, 32, 33], 1, 1);
        Assert.Equal(new SegmentMatch(0, 2), SegmentRemediationStudy.MostSimilar(Test, 3, other));
        var never = new AbstractTrace([8, 8], [0, 0], [30, 31], 0, 0);
        Assert.Equal(new SegmentMatch(0, -1), SegmentRemediationStudy.MostSimilar(Test, 3, never));
    }

    [Fact]
    public void ReplaceModifiesTheNamedRowsInPlaceOfTheOriginals()
    {
        Dataset data = TestSupport.RandomTokens(4, length: 6, seed: 3);
        long[] before = data.X.contiguous().data<long>().ToArray();
        Dataset changed = SegmentRemediationStudy.Replace(data, [new TokenInsertion(1, 0, 5), new TokenInsertion(1, 0, 6)]);
        Assert.Equal(data.Count, changed.Count);
        Assert.Equal(before, data.X.contiguous().data<long>().ToArray());
        long[] row = before.AsSpan(6, 6).ToArray();
        long[] once = SegmentInsertion.Insert(row, 0, 5);
        Assert.Equal(SegmentInsertion.Insert(once, 0, 6), changed.X[1].data<long>().ToArray());
        Assert.Equal(before.AsSpan(0, 6).ToArray(), changed.X[0].data<long>().ToArray());
        Assert.Equal(data.Labels(), changed.Labels());
    }

    [Fact]
    public void TinyRunReportsEveryMAndIsDeterministic()
    {
        Dataset all = TestSupport.RandomTokens(160, length: 6, seed: 5);
        var splits = new DataSplits(all.Subset(Enumerable.Range(0, 100).ToArray()), all.Subset(Enumerable.Range(100, 10).ToArray()), all.Subset(Enumerable.Range(110, 50).ToArray()));
        var options = new SegmentRemediationOptions
        {
            Architecture = "gru:8",
            Training = new TrainingOptions { Epochs = 2, BatchSize = 50, LearningRate = 1e-2, Patience = 0 },
            M = [1, 3],
            RandomDraws = 1,
            Seeds = 1,
            Influence = new InfluenceOptions { Abstraction = new AbstractionOptions { PcaComponents = 3, Candidates = [4], StopAtFirstStable = true } },
        };
        SegmentRemediationReport a = SegmentRemediationStudy.Run(splits, options);
        SegmentRemediationReport b = SegmentRemediationStudy.Run(splits, options);
        Assert.Equal([1, 3], a.Rows.Select(r => r.M));
        Assert.NotEmpty(a.Targets);
        Assert.True(a.Failures >= a.Targets.Count);
        Assert.All(a.Targets, t => Assert.True(t.Label != t.Prediction && t.Candidates > 0 && t.Token >= 2));
        Assert.All(a.Rows, r => Assert.InRange(r.GuidedFixed.Mean, 0, 1));
        Assert.All(a.Rows, r => Assert.InRange(r.MatchedRandomFixed.Mean, 0, 1));
        Assert.Equal(a.Targets, b.Targets);
        Assert.Equal(a.Rows, b.Rows);
        string markdown = a.ToMarkdown();
        Assert.Contains("| 3 |", markdown);
        Assert.Contains("acc1", markdown);
        Assert.Contains("fixed, authors' random", markdown);
    }
}
