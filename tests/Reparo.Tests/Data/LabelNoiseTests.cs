using Reparo.Data;
using static TorchSharp.torch;

namespace Reparo.Tests.Data;

public class LabelNoiseTests
{
    private static Dataset Binary() => LabelNoise.BinarySubset(TestSupport.RandomImages(300, classes: 5, size: 4, seed: 9), 1, 3);

    [Fact]
    public void BinarySubsetKeepsTheTwoClassesInOrderRelabelledWithTheirNames()
    {
        Dataset data = TestSupport.RandomImages(120, classes: 5, size: 4, seed: 9);
        long[] labels = data.Labels();
        Dataset binary = LabelNoise.BinarySubset(data, 3, 1);

        int[] rows = Enumerable.Range(0, labels.Length).Where(i => labels[i] is 1 or 3).ToArray();
        Assert.Equal(["c3", "c1"], binary.ClassNames);
        Assert.Equal(rows.Select(i => labels[i] == 3 ? 0L : 1L), binary.Labels());
        Assert.Equal(rows, binary.SourceIndices);
        for (int i = 0; i < rows.Length; i++) Assert.True(binary.X[i].SameAs(data.X[rows[i]]));
        Assert.Throws<ReparoInputException>(() => LabelNoise.BinarySubset(data, 2, 2));
        Assert.Throws<ReparoInputException>(() => LabelNoise.BinarySubset(data, 0, 5));
    }

    [Fact]
    public void FlipChangesTheSeededShareOfOneClassOnlyAndRestoreGivesTheLabelsBack()
    {
        Dataset train = Binary();
        Tensor before = train.Y.clone();
        long[] clean = train.Labels();
        int zeros = clean.Count(l => l == 0);

        NoisyLabels noisy = LabelNoise.Flip(train, fromClass: 0, share: 0.3, seed: 4);

        Assert.True(train.Y.SameAs(before), "the input labels changed");
        Assert.True(noisy.Train.X.SameAs(train.X));
        Assert.Equal((int)Math.Round(0.3 * zeros, MidpointRounding.AwayFromZero), noisy.FlippedRows.Count);
        Assert.Equal(noisy.FlippedRows.Order(), noisy.FlippedRows);
        long[] labels = noisy.Train.Labels();
        var flipped = noisy.FlippedRows.ToHashSet();
        for (int i = 0; i < labels.Length; i++) Assert.Equal(flipped.Contains(i) ? 1L : clean[i], labels[i]);
        Assert.All(noisy.FlippedRows, r => Assert.Equal(0L, clean[r]));
        Assert.Equal(noisy.FlippedRows, LabelNoise.Flip(train, 0, 0.3, seed: 4).FlippedRows);
        Assert.NotEqual(noisy.FlippedRows, LabelNoise.Flip(train, 0, 0.3, seed: 5).FlippedRows);

        int[] half = noisy.FlippedRows.Take(noisy.FlippedRows.Count / 2).Append(labels.Length - 1).ToArray();
        long[] restored = LabelNoise.Restore(noisy, half).Labels();
        for (int i = 0; i < labels.Length; i++) Assert.Equal(half.Contains(i) ? clean[i] : labels[i], restored[i]);
        Assert.Equal(clean, LabelNoise.Restore(noisy, noisy.FlippedRows).Labels());
        Assert.Throws<ReparoInputException>(() => LabelNoise.Restore(noisy, [labels.Length]));
        Assert.Throws<ReparoInputException>(() => LabelNoise.Flip(train, 0, 0, seed: 1));
        Assert.Throws<ReparoInputException>(() => LabelNoise.Flip(TestSupport.RandomImages(20, classes: 3, size: 4), 0, 0.5, seed: 1));
    }

    [Fact]
    public void SymmetricNoiseGivesTheSeededShareAnotherClassDrawnFromAllTheOthers()
    {
        Dataset train = TestSupport.RandomImages(2000, classes: 5, size: 4, seed: 3);
        long[] clean = train.Labels();
        NoisyLabels noisy = LabelNoise.Symmetric(train, 0.2, seed: 8);
        long[] labels = noisy.Train.Labels();
        Assert.Equal(400, noisy.FlippedRows.Count);
        Assert.Equal(noisy.FlippedRows.Order(), noisy.FlippedRows);
        var flipped = noisy.FlippedRows.ToHashSet();
        for (int i = 0; i < clean.Length; i++) Assert.Equal(flipped.Contains(i), labels[i] != clean[i]);
        Assert.Equal(clean, noisy.CleanLabels);
        // Every class's flips go to every other class, about equally (80 to 100 of the 400 each way would be chance).
        int[] offsets = new int[5];
        foreach (int row in noisy.FlippedRows) offsets[(labels[row] - clean[row] + 5) % 5]++;
        Assert.Equal(0, offsets[0]);
        Assert.All(offsets[1..], count => Assert.InRange(count, 70, 130));
        Assert.Equal(noisy.FlippedRows, LabelNoise.Symmetric(train, 0.2, seed: 8).FlippedRows);
        Assert.Equal(labels, LabelNoise.Symmetric(train, 0.2, seed: 8).Train.Labels());
        Assert.NotEqual(noisy.FlippedRows, LabelNoise.Symmetric(train, 0.2, seed: 9).FlippedRows);
        Assert.Throws<ReparoInputException>(() => LabelNoise.Symmetric(train, 0, seed: 1));
    }

    [Fact]
    public void CurveCountsFlipsInTheTopShareWithFloorCutsAndTrapezoidArea()
    {
        // 40 rows, flips at 0, 1 and 39; the ranking puts 0 and 1 first and 39 last.
        int[] ranking = Enumerable.Range(0, 40).ToArray();
        MislabelCurve curve = LabelNoise.Curve(ranking, [0, 1, 39], stepPercent: 25);

        Assert.Equal([25, 50, 75, 100], curve.Points.Select(p => p.Percent));
        Assert.Equal([10, 20, 30, 40], curve.Points.Select(p => p.Examined));
        Assert.Equal([2, 2, 2, 3], curve.Points.Select(p => p.Found));
        Assert.Equal(1.0, curve.Points[^1].Share);
        double s = 2.0 / 3;
        Assert.Equal(0.25 * (s / 2 + s + s + (s + 1) / 2), curve.Area, 12);

        MislabelCurve five = LabelNoise.Curve(Enumerable.Range(0, 30).Reverse().ToArray(), [29]);
        Assert.Equal(20, five.Points.Count);
        Assert.Equal(1, five.Points[0].Examined); // ⌊30 · 5 / 100⌋
        Assert.All(five.Points, p => Assert.Equal(1, p.Found));
        Assert.Throws<ReparoInputException>(() => LabelNoise.Curve([0, 1, 1], [0]));
        Assert.Throws<ReparoInputException>(() => LabelNoise.Curve([0, 1, 2], [5]));
        Assert.Throws<ReparoInputException>(() => LabelNoise.Curve([0, 1, 2], [0], stepPercent: 7));
    }
}
