using Reparo.Data;
using Reparo.Runtime;
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

/// <summary>Settings of <see cref="AugmentationCandidates"/>.</summary>
/// <param name="Neighbours">How many nearest training samples of the fault's true label are transformed.</param>
/// <param name="RotationStep">Degrees between rotations of the grid −180, −180 + step, … (below 180).</param>
/// <param name="MaxShift">Diagonal shifts by s = −MaxShift … MaxShift pixels, s ≠ 0, along both axes at once (0: none).</param>
/// <param name="RandomMaxDegrees">The random baseline rotates by a whole number of degrees drawn uniformly from [−RandomMaxDegrees, RandomMaxDegrees).</param>
public sealed record AugmentationOptions(int Neighbours = 1, double RotationStep = 10, int MaxShift = 3, int RandomMaxDegrees = 100)
{
    /// <summary>Throws a <see cref="ReparoInputException"/> if a value is out of range.</summary>
    public void Validate()
    {
        if (Neighbours < 1) throw new ReparoInputException($"at least one neighbour is needed, got {Neighbours}");
        if (!(RotationStep > 0 && RotationStep <= 360)) throw new ReparoInputException($"the rotation step must be in (0, 360] degrees, got {RotationStep}");
        if (MaxShift < 0) throw new ReparoInputException($"the largest shift must be zero or positive, got {MaxShift}");
        if (RandomMaxDegrees < 1 || RandomMaxDegrees > 180) throw new ReparoInputException($"the random rotation range must be 1–180 degrees, got {RandomMaxDegrees}");
    }
}

/// <summary>The candidates for one fault, row i made from training row <see cref="SourceRows"/>[i] by <see cref="Transforms"/>[i].</summary>
/// <param name="Images">Candidate images (K, C, H, W), owned by the record.</param>
/// <param name="SourceRows">For each candidate, the training row it was made from.</param>
/// <param name="Transforms">For each candidate, the transform applied.</param>
public sealed record CandidateSet(Tensor Images, IReadOnlyList<int> SourceRows, IReadOnlyList<CandidateTransform> Transforms) : IDisposable
{
    /// <summary>Frees the images.</summary>
    public void Dispose() => Images.Dispose();
}

/// <summary>The candidate kept for one fault.</summary>
/// <param name="Fault">The fault's row in the faults set.</param>
/// <param name="SourceRow">The training row the candidate was made from.</param>
/// <param name="Transform">The transform applied.</param>
/// <param name="Score">Its score (the highest among the fault's candidates).</param>
public sealed record ChosenCandidate(int Fault, int SourceRow, CandidateTransform Transform, double Score);

/// <summary>The kept candidates as training rows (labelled with their faults' true labels) and how each was made.</summary>
/// <param name="Rows">One row per fault, in the faults' order; source indices are those of the training rows used.</param>
/// <param name="Choices">How each row was made.</param>
public sealed record AugmentationChoice(Dataset Rows, IReadOnlyList<ChosenCandidate> Choices);

/// <summary>
/// The sample-level remediation of RNNRepair (Xie et al., ICML 2021, Sec. 4.4, Algorithm 2 and Table 3; the authors'
/// apps/RQ4/datagen.py): for a mispredicted test input, take the nearest training samples of its true label and
/// rotate and shift them into candidates; a scoring function (influence, elsewhere) keeps the best candidate per fault,
/// which is added to the training set. The random baseline adds as many randomly rotated random samples of the same
/// labels. Pure data functions: inputs are never modified.
/// </summary>
public static class AugmentationCandidates
{
    /// <summary>
    /// Algorithm 2, line 16: the <paramref name="count"/> training rows labelled <paramref name="label"/> nearest to
    /// <paramref name="input"/> (Euclidean distance in input space), nearest first, ties by row.
    /// </summary>
    public static int[] NearestOfClass(Dataset train, Tensor input, long label, int count)
    {
        CheckImages(train);
        if (!input.shape.SequenceEqual(train.SampleShape)) throw new ReparoInputException($"the input has shape [{string.Join(",", input.shape)}]; '{train.Name}' holds [{string.Join(",", train.SampleShape)}]");
        if (count < 1) throw new ReparoInputException($"at least one neighbour is needed, got {count}");
        long[] labels = train.Labels();
        int[] rows = Enumerable.Range(0, labels.Length).Where(i => labels[i] == label).ToArray();
        if (rows.Length == 0) throw new ReparoInputException($"'{train.Name}' has no sample labelled {label}");
        using var scope = NewDisposeScope();
        Tensor candidates = train.X.index_select(0, tensor(rows.Select(r => (long)r).ToArray())).flatten(1).to(ScalarType.Float64);
        double[] distances = (candidates - input.flatten().to(ScalarType.Float64)).square().sum(1L).data<double>().ToArray();
        // OrderBy is stable and the rows ascend, so equal distances keep row order.
        return Enumerable.Range(0, rows.Length).OrderBy(i => distances[i]).Take(count).Select(i => rows[i]).ToArray();
    }

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

    /// <summary>Algorithm 2, lines 16–18: the grid applied to each of the fault's nearest true-label training samples (neighbour by neighbour, then grid order).</summary>
    public static CandidateSet ForFault(Dataset train, Tensor fault, long trueLabel, AugmentationOptions options)
    {
        IReadOnlyList<CandidateTransform> grid = Grid(options);
        int[] neighbours = NearestOfClass(train, fault, trueLabel, options.Neighbours);
        double[] angles = grid.Where(t => t.Kind == CandidateTransformKind.Rotation).Select(t => t.Amount).ToArray();
        (double, double)[] shifts = grid.Where(t => t.Kind == CandidateTransformKind.Shift).Select(t => (t.Amount, t.Amount)).ToArray();
        using var scope = NewDisposeScope();
        var parts = new List<Tensor>();
        foreach (int row in neighbours)
        {
            Tensor image = train.X[row].unsqueeze(0);
            parts.Add(ImageTransforms.Rotate(image.repeat(angles.Length, 1, 1, 1), angles));
            if (shifts.Length > 0) parts.Add(ImageTransforms.Translate(image.repeat(shifts.Length, 1, 1, 1), shifts));
        }
        Tensor images = cat(parts, 0).DetachFromDisposeScope();
        return new CandidateSet(images, neighbours.SelectMany(r => Enumerable.Repeat(r, grid.Count)).ToArray(),
            neighbours.SelectMany(_ => grid).ToArray());
    }

    /// <summary>
    /// Algorithm 2, lines 19–22: per fault (row of <paramref name="faults"/>, labelled with its true label), the
    /// candidate that <paramref name="score"/> (given the fault's row and its candidates, returning one score per
    /// candidate, higher is better) ranks first; ties go to the earlier candidate.
    /// </summary>
    public static AugmentationChoice ChooseBest(Dataset train, Dataset faults, AugmentationOptions options, Func<int, Tensor, double[]> score)
    {
        CheckImages(faults);
        long[] labels = faults.Labels();
        var choices = new List<ChosenCandidate>();
        var images = new List<Tensor>();
        using var scope = NewDisposeScope();
        using ProgressScope shown = WorkProgress.Begin("augmentation candidates", faults.Count);
        for (int f = 0; f < faults.Count; f++)
        {
            using var faultScope = NewDisposeScope();
            using CandidateSet candidates = ForFault(train, faults.X[f], labels[f], options);
            double[] scores = score(f, candidates.Images);
            if (scores.Length != candidates.SourceRows.Count) throw new ReparoInputException($"the score gave {scores.Length} values for {candidates.SourceRows.Count} candidates of fault {f}");
            if (scores.Any(double.IsNaN)) throw new ReparoInputException($"the score of a candidate for fault {f} is NaN");
            int best = 0;
            for (int i = 1; i < scores.Length; i++)
                if (scores[i] > scores[best]) best = i;
            images.Add(candidates.Images[best].clone().MoveToOuterDisposeScope());
            choices.Add(new ChosenCandidate(f, candidates.SourceRows[best], candidates.Transforms[best], scores[best]));
            shown.Advance();
        }
        Tensor x = images.Count > 0 ? stack(images) : NoImages(train);
        var rows = new Dataset($"{train.Name}+augmented({faults.Count})", x, tensor(labels), train.ClassNames, train.Kind, null,
            choices.Select(c => train.SourceIndices[c.SourceRow]).ToArray());
        return new AugmentationChoice(rows, choices);
    }

    /// <summary>
    /// Table 3's random baseline: for each label of <paramref name="labels"/>, a training sample of that label drawn
    /// by <paramref name="seed"/> and rotated by a random whole number of degrees in [−RandomMaxDegrees, RandomMaxDegrees).
    /// </summary>
    public static Dataset RandomBaseline(Dataset train, IReadOnlyList<long> labels, AugmentationOptions options, int seed)
    {
        options.Validate();
        CheckImages(train);
        long[] trainLabels = train.Labels();
        Dictionary<long, int[]> byLabel = Enumerable.Range(0, trainLabels.Length).GroupBy(r => trainLabels[r]).ToDictionary(g => g.Key, g => g.ToArray());
        var rng = new Random(seed);
        var rows = new int[labels.Count];
        var angles = new double[labels.Count];
        for (int i = 0; i < labels.Count; i++)
        {
            if (!byLabel.TryGetValue(labels[i], out int[]? pool)) throw new ReparoInputException($"'{train.Name}' has no sample labelled {labels[i]}");
            rows[i] = pool[rng.Next(pool.Length)];
            angles[i] = rng.Next(-options.RandomMaxDegrees, options.RandomMaxDegrees);
        }
        using var scope = NewDisposeScope();
        Tensor x = rows.Length == 0
            ? NoImages(train)
            : ImageTransforms.Rotate(train.X.index_select(0, tensor(rows.Select(r => (long)r).ToArray())), angles);
        return new Dataset($"{train.Name}+random-rotations({labels.Count})", x, tensor(labels.ToArray()), train.ClassNames, train.Kind, null,
            rows.Select(r => train.SourceIndices[r]).ToArray());
    }

    private static Tensor NoImages(Dataset train)
    {
        long[] shape = [0, .. train.SampleShape];
        return empty(shape, dtype: train.X.dtype);
    }

    private static void CheckImages(Dataset data)
    {
        if (data.Kind != InputKind.Image) throw new ReparoInputException($"augmentation candidates need images; '{data.Name}' holds {data.Kind.ToString().ToLowerInvariant()}");
    }
}
