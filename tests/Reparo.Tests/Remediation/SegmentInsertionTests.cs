using Reparo.Data;
using Reparo.Remediation;
using static TorchSharp.torch;

namespace Reparo.Tests.Remediation;

public class SegmentInsertionTests
{
    [Fact]
    public void InsertPutsTheTokenAfterTheMatchedRealStepAndKeepsTheLeftPadding()
    {
        long[] sequence = [0, 0, 0, 5, 6, 7];
        Assert.Equal([0, 0, 5, 9, 6, 7], SegmentInsertion.Insert(sequence, 0, 9));
        Assert.Equal([0, 0, 5, 6, 9, 7], SegmentInsertion.Insert(sequence, 1, 9));
        Assert.Equal([0, 0, 5, 6, 7, 9], SegmentInsertion.Insert(sequence, 2, 9));
        Assert.Equal([0, 0, 9, 5, 6, 7], SegmentInsertion.Insert(sequence, -1, 9));
        Assert.Equal([0, 0, 0, 5, 6, 7], sequence);
        Assert.Equal([0, 0, 0, 0, 0, 4], SegmentInsertion.Insert(new long[6], -1, 4));
        Assert.Throws<ReparoInputException>(() => SegmentInsertion.Insert(sequence, 3, 9));
        Assert.Throws<ReparoInputException>(() => SegmentInsertion.Insert(sequence, -2, 9));
        Assert.Throws<ReparoInputException>(() => SegmentInsertion.Insert(sequence, 0, Vocabulary.PadId));
        Assert.Throws<ReparoInputException>(() => SegmentInsertion.Insert([0, 5, 0, 6], 0, 9));
    }

    [Fact]
    public void AFullSequenceDropsItsFirstRealToken()
    {
        long[] full = [2, 3, 4, 5];
        Assert.Equal([3, 9, 4, 5], SegmentInsertion.Insert(full, 1, 9));
        Assert.Equal([3, 4, 5, 9], SegmentInsertion.Insert(full, 3, 9));
        Assert.Equal([9, 3, 4, 5], SegmentInsertion.Insert(full, -1, 9));
        Assert.Equal([2, 3, 4, 5], full);
    }

    [Fact]
    public void InsertAllMakesNewRowsWithTheRowsLabelsAndLeavesTheDataAlone()
    {
        Dataset data = TestSupport.RandomTokens(10, length: 8, seed: 4);
        Tensor before = data.X.clone();
        long[] ids = data.X.data<long>().ToArray(), labels = data.Labels();
        TokenInsertion[] insertions = [new(2, 0, 7), new(5, -1, 8), new(2, 0, 9)];

        Dataset rows = SegmentInsertion.InsertAll(data, insertions);

        Assert.True(data.X.SameAs(before), "the input sequences changed");
        Assert.Equal([3L, 8], rows.X.shape);
        Assert.Equal(insertions.Select(s => labels[s.Row]), rows.Labels());
        Assert.Equal([2, 5, 2], rows.SourceIndices);
        Assert.Same(data.Vocabulary, rows.Vocabulary);
        for (int i = 0; i < insertions.Length; i++)
        {
            long[] expected = SegmentInsertion.Insert(ids.AsSpan(insertions[i].Row * 8, 8), insertions[i].AfterStep, insertions[i].Token);
            Assert.Equal(expected, rows.X[i].data<long>().ToArray());
        }
        Assert.Throws<ReparoInputException>(() => SegmentInsertion.InsertAll(data, [new(10, 0, 7)]));
        Assert.Throws<ReparoInputException>(() => SegmentInsertion.InsertAll(data, [new(0, 0, data.Vocabulary!.Size)]));
    }

    [Fact]
    public void RandomPositionsAreSeededAndStayWithinEachRowsGaps()
    {
        Dataset data = TestSupport.RandomTokens(40, length: 6, seed: 2);
        long[] ids = data.X.data<long>().ToArray();
        TokenInsertion[] matched = Enumerable.Range(0, 40).Select(r => new TokenInsertion(r, 0, 5)).ToArray();

        IReadOnlyList<TokenInsertion> random = SegmentInsertion.RandomPositions(data, matched, seed: 1);

        Assert.Equal(random, SegmentInsertion.RandomPositions(data, matched, seed: 1));
        Assert.NotEqual(random, SegmentInsertion.RandomPositions(data, matched, seed: 2));
        Assert.Equal(matched.Select(m => (m.Row, m.Token)), random.Select(r => (r.Row, r.Token)));
        Assert.All(random, r => Assert.InRange(r.AfterStep, -1, Vocabulary.Length(ids.AsSpan(r.Row * 6, 6)) - 1));
        Assert.Contains(random, r => r.AfterStep == -1);
        Assert.Equal(40, SegmentInsertion.InsertAll(data, random).Count);
    }
}
