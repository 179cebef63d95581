using static TorchSharp.torch;

namespace Reparo.Data;

/// <summary>
/// A training set with some labels flipped, and which. The clean labels stay with the record, so chosen rows can be
/// given their labels back (<see cref="LabelNoise.Restore"/>).
/// </summary>
/// <param name="Train">The training set with the flipped labels.</param>
/// <param name="FlippedRows">Rows of <paramref name="Train"/> whose label was flipped, ascending (the ground truth of mislabel finding).</param>
/// <param name="FromClass">The class whose labels were flipped; −1 for symmetric noise (<see cref="LabelNoise.Symmetric"/>), every class.</param>
/// <param name="ToClass">The class they were flipped to; −1 for symmetric noise, each to a random other class.</param>
/// <param name="CleanLabels">Every row's label before flipping.</param>
public sealed record NoisyLabels(Dataset Train, IReadOnlyList<int> FlippedRows, int FromClass, int ToClass, IReadOnlyList<long> CleanLabels);

/// <summary>One point of the mislabel-finding curve.</summary>
/// <param name="Percent">Share of the training set examined, in percent.</param>
/// <param name="Examined">Rows examined: the top ⌊N·percent/100⌋ of the ranking.</param>
/// <param name="Found">Flipped rows among them.</param>
/// <param name="Share">Found divided by the number of flipped rows.</param>
public sealed record MislabelPoint(int Percent, int Examined, int Found, double Share);

/// <summary>How fast a ranking of training rows finds the flipped labels.</summary>
/// <param name="Points">One point per examined share, ascending.</param>
/// <param name="Area">
/// Area under the share-found curve over the examined fraction, by the trapezoid rule from (0, 0) through every point
/// (1 for a ranking that puts every flip first when the points start at the flip rate or below, 0.5 on average for a random one).
/// </param>
public sealed record MislabelCurve(IReadOnlyList<MislabelPoint> Points, double Area);

/// <summary>
/// The data set-up of RNNRepair's mislabel finding (Xie et al., ICML 2021, Sec. 4.3 and Fig. 4; the authors'
/// apps/RQ3/dataclean_bin.py): a two-class subset, a share of one class's training labels flipped to the other class,
/// the flipped rows kept as ground truth, and the curve of flips found in the top x % of a ranking.
/// </summary>
public static class LabelNoise
{
    /// <summary>
    /// Sec. 4.3's binary task: the rows of <paramref name="data"/> labelled <paramref name="first"/> or
    /// <paramref name="second"/> (in their order), relabelled 0 and 1, with those two class names.
    /// </summary>
    public static Dataset BinarySubset(Dataset data, int first, int second)
    {
        if (first < 0 || first >= data.ClassCount || second < 0 || second >= data.ClassCount)
            throw new ReparoInputException($"classes {first} and {second} must be among '{data.Name}''s classes 0–{data.ClassCount - 1}");
        if (first == second) throw new ReparoInputException($"a binary subset needs two different classes, got {first} twice");
        long[] labels = data.Labels();
        int[] rows = Enumerable.Range(0, labels.Length).Where(i => labels[i] == first || labels[i] == second).ToArray();
        using var index = tensor(rows.Select(i => (long)i).ToArray());
        long[] binary = rows.Select(i => labels[i] == first ? 0L : 1L).ToArray();
        return new Dataset($"{data.Name}[{data.ClassNames[first]}|{data.ClassNames[second]}]", data.X.index_select(0, index), tensor(binary),
            [data.ClassNames[first], data.ClassNames[second]], data.Kind, data.Vocabulary, rows.Select(i => data.SourceIndices[i]).ToArray());
    }

    /// <summary>Sec. 4.3's binary task on all three splits (see <see cref="BinarySubset(Dataset, int, int)"/>).</summary>
    public static DataSplits BinarySubset(DataSplits splits, int first, int second) => new(
        BinarySubset(splits.Train, first, second), BinarySubset(splits.Validation, first, second), BinarySubset(splits.Test, first, second));

    /// <summary>
    /// Sec. 4.3's label noise: round(<paramref name="share"/>·n) of the n rows labelled <paramref name="fromClass"/>,
    /// chosen by <paramref name="seed"/>, get the label <paramref name="toClass"/> (by default the other class of a
    /// two-class set). Inputs and the other rows are unchanged; <paramref name="train"/> itself is not modified.
    /// </summary>
    public static NoisyLabels Flip(Dataset train, int fromClass, double share, int seed, int? toClass = null)
    {
        int to = toClass ?? (train.ClassCount == 2 ? 1 - fromClass : throw new ReparoInputException($"'{train.Name}' has {train.ClassCount} classes; say which class the flipped labels go to"));
        if (fromClass < 0 || fromClass >= train.ClassCount || to < 0 || to >= train.ClassCount)
            throw new ReparoInputException($"classes {fromClass} and {to} must be among '{train.Name}''s classes 0–{train.ClassCount - 1}");
        if (fromClass == to) throw new ReparoInputException($"labels of class {fromClass} cannot be flipped to the same class");
        if (!(share > 0 && share <= 1)) throw new ReparoInputException($"the flipped share must be in (0, 1], got {share}");
        long[] clean = train.Labels();
        int[] candidates = Enumerable.Range(0, clean.Length).Where(i => clean[i] == fromClass).ToArray();
        int count = (int)Math.Round(share * candidates.Length, MidpointRounding.AwayFromZero);
        new Random(seed).Shuffle(candidates);
        int[] flipped = candidates.Take(count).Order().ToArray();
        long[] noisy = (long[])clean.Clone();
        foreach (int row in flipped) noisy[row] = to;
        Dataset dataset = train.WithLabels(tensor(noisy), FormattableString.Invariant($"{train.Name}+flipped({fromClass}->{to}:{share})"));
        return new NoisyLabels(dataset, flipped, fromClass, to, clean);
    }

    /// <summary>
    /// Symmetric label noise, the usual model of annotation errors: round(<paramref name="share"/>·n) of the n rows,
    /// chosen by <paramref name="seed"/>, each get a label drawn uniformly from the other classes. Inputs and the other
    /// rows are unchanged; <paramref name="train"/> itself is not modified.
    /// </summary>
    public static NoisyLabels Symmetric(Dataset train, double share, int seed)
    {
        if (!(share > 0 && share <= 1)) throw new ReparoInputException($"the flipped share must be in (0, 1], got {share}");
        if (train.ClassCount < 2) throw new ReparoInputException($"'{train.Name}' has one class; there is no other label to flip to");
        long[] clean = train.Labels();
        int[] rows = [.. Enumerable.Range(0, clean.Length)];
        var random = new Random(seed);
        random.Shuffle(rows);
        int[] flipped = [.. rows.Take((int)Math.Round(share * rows.Length, MidpointRounding.AwayFromZero)).Order()];
        long[] noisy = (long[])clean.Clone();
        foreach (int row in flipped) noisy[row] = (clean[row] + 1 + random.Next(train.ClassCount - 1)) % train.ClassCount;
        Dataset dataset = train.WithLabels(tensor(noisy), FormattableString.Invariant($"{train.Name}+symmetric-noise({share})"));
        return new NoisyLabels(dataset, flipped, -1, -1, clean);
    }

    /// <summary>
    /// The repair step of Sec. 4.3: the noisy training set with the clean labels given back to
    /// <paramref name="rows"/> (rows that were never flipped keep their label, which is already the clean one).
    /// </summary>
    public static Dataset Restore(NoisyLabels noisy, IReadOnlyList<int> rows)
    {
        long[] labels = noisy.Train.Labels();
        foreach (int row in rows)
        {
            if (row < 0 || row >= labels.Length) throw new ReparoInputException($"row {row} is not in '{noisy.Train.Name}' (0–{labels.Length - 1})");
            labels[row] = noisy.CleanLabels[row];
        }
        return noisy.Train.WithLabels(tensor(labels), $"{noisy.Train.Name}+restored({rows.Count})");
    }

    /// <summary>
    /// Fig. 4's measure: for x = <paramref name="stepPercent"/>, 2·<paramref name="stepPercent"/>, …, 100, how many of
    /// <paramref name="flippedRows"/> are among the top ⌊N·x/100⌋ rows of <paramref name="ranking"/> (most suspicious
    /// first) and which share of all flips that is. The ranking orders every training row, so N is its length.
    /// </summary>
    public static MislabelCurve Curve(IReadOnlyList<int> ranking, IReadOnlyCollection<int> flippedRows, int stepPercent = 5)
    {
        int n = ranking.Count;
        if (stepPercent < 1 || stepPercent > 100 || 100 % stepPercent != 0) throw new ReparoInputException($"the step must divide 100, got {stepPercent} %");
        if (flippedRows.Count == 0) throw new ReparoInputException("no flipped rows to find");
        var ranked = ranking.ToHashSet();
        if (ranked.Count != n) throw new ReparoInputException("the ranking names a row twice");
        var flipped = flippedRows.ToHashSet();
        if (!flipped.IsSubsetOf(ranked)) throw new ReparoInputException("the ranking leaves out some flipped rows; it must order every training row");
        var points = new List<MislabelPoint>();
        int examined = 0, found = 0;
        double area = 0, lastFraction = 0, lastShare = 0;
        for (int percent = stepPercent; percent <= 100; percent += stepPercent)
        {
            int top = (int)((long)n * percent / 100);
            for (; examined < top; examined++)
                if (flipped.Contains(ranking[examined])) found++;
            double share = (double)found / flipped.Count;
            points.Add(new MislabelPoint(percent, top, found, share));
            area += (percent / 100.0 - lastFraction) * (share + lastShare) / 2;
            (lastFraction, lastShare) = (percent / 100.0, share);
        }
        return new MislabelCurve(points, area);
    }
}
