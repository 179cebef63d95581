using Reparo.Data;
using static TorchSharp.torch;

namespace Reparo.Remediation;

/// <summary>Which transform made an augmentation candidate.</summary>
public enum CandidateTransformKind
{
    /// <summary>A rotation by <see cref="CandidateTransform.Amount"/> degrees (positive turns the picture counter-clockwise).</summary>
    Rotation,

    /// <summary>A diagonal shift by <see cref="CandidateTransform.Amount"/> pixels along both axes (right and down positive).</summary>
    Shift,
}

/// <summary>One transform of the candidate grid.</summary>
/// <param name="Kind">Rotation or shift.</param>
/// <param name="Amount">Degrees of a rotation, pixels of a shift.</param>
public sealed record CandidateTransform(CandidateTransformKind Kind, double Amount);

/// <summary>Settings of <see cref="AugmentationCandidates"/>; the defaults are the authors' (apps/RQ4/datagen.py and repair_mnist_rnn_keras.py).</summary>
/// <param name="RotationStep">Degrees between rotations of the grid −180, −180 + step, … (below 180); the authors: 1.</param>
/// <param name="MaxShift">Diagonal shifts by s = −MaxShift … MaxShift pixels, s ≠ 0, along both axes at once (0: none).</param>
/// <param name="RandomMaxDegrees">The random baseline rotates by a whole number of degrees drawn uniformly from [−RandomMaxDegrees, RandomMaxDegrees).</param>
public sealed record AugmentationOptions(double RotationStep = 1, int MaxShift = 3, int RandomMaxDegrees = 100)
{
    /// <summary>Throws a <see cref="ReparoInputException"/> if a value is out of range.</summary>
    public void Validate()
    {
        if (!(RotationStep > 0 && RotationStep <= 360)) throw new ReparoInputException($"the rotation step must be in (0, 360] degrees, got {RotationStep}");
        if (MaxShift < 0) throw new ReparoInputException($"the largest shift must be zero or positive, got {MaxShift}");
        if (RandomMaxDegrees < 1 || RandomMaxDegrees > 180) throw new ReparoInputException($"the random rotation range must be 1–180 degrees, got {RandomMaxDegrees}");
    }
}

/// <summary>The candidates made from one training row, row i by <see cref="Transforms"/>[i].</summary>
/// <param name="Images">Candidate images (K, C, H, W), owned by the record.</param>
/// <param name="SourceRow">The training row they were made from.</param>
/// <param name="Transforms">For each candidate, the transform applied.</param>
public sealed record CandidateSet(Tensor Images, int SourceRow, IReadOnlyList<CandidateTransform> Transforms) : IDisposable
{
    /// <summary>Frees the images.</summary>
    public void Dispose() => Images.Dispose();
}

/// <summary>
/// The candidate grid of RNNRepair's sample-level remediation (Xie et al., ICML 2021, Algorithm 2 and Table 3; the
/// authors' apps/RQ4/datagen.py): a training image rotated by every step of the full circle and shifted diagonally,
/// and the authors' random baseline, which rotates given images by random whole degrees. Pure data functions: inputs
/// are never modified.
/// </summary>
public static class AugmentationCandidates
{
    /// <summary>Algorithm 2's mutation grid: every rotation of the step, then every non-zero diagonal shift (as the authors' mutator, both axes by s).</summary>
    public static IReadOnlyList<CandidateTransform> Grid(AugmentationOptions options)
    {
        options.Validate();
        var grid = new List<CandidateTransform>();
        for (int i = 0; -180 + i * options.RotationStep < 180; i++) grid.Add(new CandidateTransform(CandidateTransformKind.Rotation, -180 + i * options.RotationStep));
        for (int s = -options.MaxShift; s <= options.MaxShift; s++)
            if (s != 0) grid.Add(new CandidateTransform(CandidateTransformKind.Shift, s));
        return grid;
    }

    /// <summary>Algorithm 2, lines 16–18: the grid applied to training row <paramref name="row"/>, in grid order.</summary>
    public static CandidateSet Of(Dataset train, int row, AugmentationOptions options)
    {
        CheckImages(train);
        if (row < 0 || row >= train.Count) throw new ReparoInputException($"'{train.Name}' has no row {row}");
        IReadOnlyList<CandidateTransform> grid = Grid(options);
        double[] angles = [.. grid.Where(t => t.Kind == CandidateTransformKind.Rotation).Select(t => t.Amount)];
        (double, double)[] shifts = [.. grid.Where(t => t.Kind == CandidateTransformKind.Shift).Select(t => (t.Amount, t.Amount))];
        using var scope = NewDisposeScope();
        Tensor image = train.X[row].unsqueeze(0);
        var parts = new List<Tensor> { ImageTransforms.Rotate(image.repeat(angles.Length, 1, 1, 1), angles) };
        if (shifts.Length > 0) parts.Add(ImageTransforms.Translate(image.repeat(shifts.Length, 1, 1, 1), shifts));
        return new CandidateSet(cat(parts, 0).DetachFromDisposeScope(), row, grid);
    }

    /// <summary>
    /// The authors' sample-level random baseline (repair_mnist_rnn_keras.py, <c>-type 2</c>): each of
    /// <paramref name="rows"/> (their selected samples) rotated by a whole number of degrees drawn with
    /// <paramref name="seed"/> from [−RandomMaxDegrees, RandomMaxDegrees), labels kept.
    /// </summary>
    public static Dataset RotateEach(Dataset rows, AugmentationOptions options, int seed)
    {
        options.Validate();
        CheckImages(rows);
        var rng = new Random(seed);
        double[] angles = [.. Enumerable.Range(0, rows.Count).Select(_ => (double)rng.Next(-options.RandomMaxDegrees, options.RandomMaxDegrees))];
        Tensor x = rows.Count == 0 ? rows.X.clone() : ImageTransforms.Rotate(rows.X, angles);
        return new Dataset($"{rows.Name}+random-rotations", x, rows.Y.clone(), rows.ClassNames, rows.Kind, null, rows.SourceIndices);
    }

    private static void CheckImages(Dataset data)
    {
        if (data.Kind != InputKind.Image) throw new ReparoInputException($"augmentation candidates need images; '{data.Name}' holds {data.Kind.ToString().ToLowerInvariant()}");
    }
}
