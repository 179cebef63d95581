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
    public void GridRotatesOverTheFullCircleAndShiftsDiagonallyWithoutZero()
    {
        IReadOnlyList<CandidateTransform> grid = AugmentationCandidates.Grid(new AugmentationOptions(RotationStep: 10));
        Assert.Equal(Enumerable.Range(0, 36).Select(i => -180.0 + 10 * i),
            grid.Where(t => t.Kind == CandidateTransformKind.Rotation).Select(t => t.Amount));
        Assert.Equal([-3.0, -2, -1, 1, 2, 3], grid.Where(t => t.Kind == CandidateTransformKind.Shift).Select(t => t.Amount));
        Assert.Equal(4, AugmentationCandidates.Grid(new AugmentationOptions(RotationStep: 90, MaxShift: 0)).Count);
        Assert.Throws<ReparoInputException>(() => AugmentationCandidates.Grid(new AugmentationOptions(RotationStep: 0)));
    }

    [Fact]
    public void CandidatesAreTheExactImageTransformsOfTheSourceRow()
    {
        Dataset train = Train();
        Tensor before = train.X.clone();
        var options = new AugmentationOptions(RotationStep: 45, MaxShift: 2);

        using CandidateSet set = AugmentationCandidates.Of(train, 1, options);

        Assert.True(train.X.SameAs(before), "the training images changed");
        Assert.Equal([12L, 1, 8, 8], set.Images.shape);
        Assert.Equal(1, set.SourceRow);
        Tensor source = train.X[1].unsqueeze(0);
        for (int i = 0; i < 12; i++)
        {
            CandidateTransform t = set.Transforms[i];
            Tensor expected = t.Kind == CandidateTransformKind.Rotation
                ? ImageTransforms.Rotate(source, t.Amount)
                : ImageTransforms.Translate(source, [(t.Amount, t.Amount)]);
            Assert.True(set.Images[i].unsqueeze(0).allclose(expected, rtol: 0, atol: 1e-6), $"candidate {i} ({t}) is not the exact transform");
        }
        Assert.Equal(new CandidateTransform(CandidateTransformKind.Rotation, 0), set.Transforms[4]);
        Assert.True(set.Images[4].allclose(train.X[1], atol: 1e-5), "the 0° rotation should give the image back");
        Assert.Equal(366, AugmentationCandidates.Grid(new AugmentationOptions()).Count); // the authors' 360 one-degree rotations and 6 diagonal shifts
        Assert.Throws<ReparoInputException>(() => AugmentationCandidates.Of(train, 6, options));
    }

    [Fact]
    public void TheAuthorsRandomBaselineRotatesTheGivenRowsByWholeDegreesInRange()
    {
        Dataset train = Train();
        var options = new AugmentationOptions(RandomMaxDegrees: 30);

        Dataset rows = AugmentationCandidates.RotateEach(train, options, seed: 3);

        Assert.Equal(train.Labels(), rows.Labels());
        Assert.Equal(train.SourceIndices, rows.SourceIndices);
        Assert.True(rows.X.SameAs(AugmentationCandidates.RotateEach(train, options, seed: 3).X));
        Assert.False(rows.X.SameAs(AugmentationCandidates.RotateEach(train, options, seed: 4).X));
        double[] angles = Enumerable.Range(-30, 60).Select(a => (double)a).ToArray();
        for (int i = 0; i < train.Count; i++)
        {
            Tensor rotations = ImageTransforms.Rotate(train.X[i].unsqueeze(0).repeat(angles.Length, 1, 1, 1), angles);
            Assert.True((rotations - rows.X[i]).abs().flatten(1).amax(1).min().item<float>() < 1e-6, $"row {i} is not a whole-degree rotation of itself");
        }
    }
}
