using Reparo.Data;
using Reparo.Remediation;
using static TorchSharp.torch;

namespace Reparo.Tests.Remediation;

public class AugmentationCandidatesTests
{
    /// <summary>Six 8×8 images: rows 0–2 of class 0 with a constant level 0.1, 0.5, 0.9 and rows 3–5 of class 1 with 0.35, 0.6, 0.8, plus a seeded texture.</summary>
    private static Dataset Train()
    {
        TestSupport.Init();
        var generator = new Generator(7);
        Tensor texture = rand([6, 1, 8, 8], generator: generator) * 0.05;
        Tensor levels = tensor(new float[] { 0.1f, 0.5f, 0.9f, 0.35f, 0.6f, 0.8f }).reshape(6, 1, 1, 1);
        return new Dataset("train", levels + texture, tensor(new long[] { 0, 0, 0, 1, 1, 1 }), ["a", "b"], InputKind.Image,
            sourceIndices: [10, 11, 12, 13, 14, 15]);
    }

    private static Tensor Level(float value) => full([1, 8, 8], value);

    [Fact]
    public void NearestOfClassRanksTrueLabelRowsByEuclideanDistance()
    {
        Dataset train = Train();
        Assert.Equal([1, 0, 2], AugmentationCandidates.NearestOfClass(train, Level(0.4f), 0, 3));
        Assert.Equal([2], AugmentationCandidates.NearestOfClass(train, Level(0.8f), 0, 1));
        Assert.Equal(3, AugmentationCandidates.NearestOfClass(train, Level(0.4f), 1, 5).Length);
        Assert.Throws<ReparoInputException>(() => AugmentationCandidates.NearestOfClass(train, Level(0.4f), 2, 1));
        Assert.Throws<ReparoInputException>(() => AugmentationCandidates.NearestOfClass(train, zeros(1, 4, 4), 0, 1));
    }

    [Fact]
    public void GridRotatesOverTheFullCircleAndShiftsDiagonallyWithoutZero()
    {
        IReadOnlyList<CandidateTransform> grid = AugmentationCandidates.Grid(new AugmentationOptions());
        Assert.Equal(Enumerable.Range(0, 36).Select(i => -180.0 + 10 * i),
            grid.Where(t => t.Kind == CandidateTransformKind.Rotation).Select(t => t.Amount));
        Assert.Equal([-3.0, -2, -1, 1, 2, 3], grid.Where(t => t.Kind == CandidateTransformKind.Shift).Select(t => t.Amount));
        Assert.Equal(4, AugmentationCandidates.Grid(new AugmentationOptions(RotationStep: 90, MaxShift: 0)).Count);
        Assert.Throws<ReparoInputException>(() => AugmentationCandidates.Grid(new AugmentationOptions(RotationStep: 0)));
    }

    [Fact]
    public void ForFaultTransformsTheNearestNeighboursWithTheExactImageTransforms()
    {
        Dataset train = Train();
        Tensor before = train.X.clone();
        var options = new AugmentationOptions(Neighbours: 2, RotationStep: 45, MaxShift: 2);

        using CandidateSet set = AugmentationCandidates.ForFault(train, Level(0.4f), 0, options);

        Assert.True(train.X.SameAs(before), "the training images changed");
        Assert.Equal([24L, 1, 8, 8], set.Images.shape);
        Assert.Equal(Enumerable.Repeat(1, 12).Concat(Enumerable.Repeat(0, 12)), set.SourceRows);
        for (int i = 0; i < 24; i++)
        {
            Tensor source = train.X[set.SourceRows[i]].unsqueeze(0);
            CandidateTransform t = set.Transforms[i];
            Tensor expected = t.Kind == CandidateTransformKind.Rotation
                ? ImageTransforms.Rotate(source, t.Amount)
                : ImageTransforms.Translate(source, [(t.Amount, t.Amount)]);
            Assert.True(set.Images[i].unsqueeze(0).allclose(expected, rtol: 0, atol: 1e-6), $"candidate {i} ({t}) is not the exact transform");
        }
        Assert.Equal(new CandidateTransform(CandidateTransformKind.Rotation, 0), set.Transforms[4]);
        Assert.True(set.Images[4].allclose(train.X[1], atol: 1e-5), "the 0° rotation should give the image back");
    }

    [Fact]
    public void ChooseBestKeepsTheTopScoredCandidatePerFaultWithTheTrueLabel()
    {
        Dataset train = Train();
        Dataset faults = new("faults", stack([Level(0.4f), Level(0.3f)]), tensor(new long[] { 0, 1 }), ["a", "b"], InputKind.Image);
        var options = new AugmentationOptions(RotationStep: 90, MaxShift: 1);
        var seen = new List<int>();

        // Fault 0 prefers the candidate with the largest top-left pixel; fault 1 scores all alike, so the first wins.
        AugmentationChoice choice = AugmentationCandidates.ChooseBest(train, faults, options, (f, candidates) =>
        {
            seen.Add(f);
            return f == 0 ? candidates.flatten(1).select(1, 0).to(ScalarType.Float64).data<double>().ToArray() : new double[candidates.shape[0]];
        });

        Assert.Equal([0, 1], seen);
        Assert.Equal([0L, 1], choice.Rows.Labels());
        Assert.Equal([1, 3], choice.Choices.Select(c => c.SourceRow));
        Assert.Equal([11, 13], choice.Rows.SourceIndices);
        using CandidateSet first = AugmentationCandidates.ForFault(train, Level(0.4f), 0, options);
        double[] corner = first.Images.flatten(1).select(1, 0).to(ScalarType.Float64).data<double>().ToArray();
        int best = Array.IndexOf(corner, corner.Max());
        Assert.Equal(first.Transforms[best], choice.Choices[0].Transform);
        Assert.True(choice.Rows.X[0].SameAs(first.Images[best]));
        Assert.Equal(new CandidateTransform(CandidateTransformKind.Rotation, -180), choice.Choices[1].Transform);
        Assert.Throws<ReparoInputException>(() => AugmentationCandidates.ChooseBest(train, faults, options, (_, _) => [1.0]));
    }

    [Fact]
    public void RandomBaselineRotatesSeededTrueLabelSamplesByWholeDegreesInRange()
    {
        Dataset train = Train();
        long[] labels = [0, 1, 1, 0];
        var options = new AugmentationOptions(RandomMaxDegrees: 30);

        Dataset rows = AugmentationCandidates.RandomBaseline(train, labels, options, seed: 3);

        Assert.Equal(labels, rows.Labels());
        Assert.True(rows.X.SameAs(AugmentationCandidates.RandomBaseline(train, labels, options, seed: 3).X));
        Assert.False(rows.X.SameAs(AugmentationCandidates.RandomBaseline(train, labels, options, seed: 4).X));
        long[] trainLabels = train.Labels();
        double[] angles = Enumerable.Range(-30, 60).Select(a => (double)a).ToArray();
        for (int i = 0; i < labels.Length; i++)
        {
            int source = rows.SourceIndices[i] - 10;
            Assert.Equal(labels[i], trainLabels[source]);
            Tensor rotations = ImageTransforms.Rotate(train.X[source].unsqueeze(0).repeat(angles.Length, 1, 1, 1), angles);
            Assert.True((rotations - rows.X[i]).abs().flatten(1).amax(1).min().item<float>() < 1e-6, $"row {i} is not a whole-degree rotation of its source");
        }
    }
}
