using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Reparo.Data;

/// <summary>The data poisonings Reparo can apply.</summary>
public enum PoisonKind
{
    /// <summary>BadNets (Gu et al.): a 3×3 white patch in a corner; poisoned images are relabelled to the target class.</summary>
    BadNets,

    /// <summary>Blended trigger (Chen et al. 2017): x' = (1 − v)·x + v·P with a fixed random pattern P; relabelled to the target.</summary>
    Blend,

    /// <summary>Spurious correlation: a small bright square added to most images of one class; labels unchanged.</summary>
    Spurious,

    /// <summary>
    /// BlockMNIST-style feature leakage (Shah et al., NeurIPS 2021): every image is stacked with a non-discriminative
    /// "null block" above or below it; labels unchanged.
    /// </summary>
    Block,
}

/// <summary>Where a trigger or artifact is stamped (one pixel from the borders).</summary>
public enum Corner
{
    /// <summary>Bottom-right (BadNets' default).</summary>
    BottomRight,

    /// <summary>Bottom-left.</summary>
    BottomLeft,

    /// <summary>Top-left (the spurious artifact's default).</summary>
    TopLeft,

    /// <summary>Top-right.</summary>
    TopRight,
}

/// <summary>
/// A poisoning as data, parsed from <c>badnets:RATE:TARGET</c>, <c>blend:RATE:TARGET[:VISIBILITY]</c>,
/// <c>spurious:RATE:CLASS</c> or <c>block[:SEED]</c>. <see cref="ToString"/> gives the canonical spec back.
/// </summary>
/// <param name="Kind">Which poisoning.</param>
/// <param name="Rate">Trojans: share of the training images poisoned; spurious: share of <see cref="Class"/>'s images given the artifact; block: 1.</param>
/// <param name="Class">Trojans: the target class; spurious: the class that carries the artifact; block: -1.</param>
/// <param name="Visibility">Blend: the weight v of the pattern (default 0.5).</param>
/// <param name="Seed">Block: seed of the per-sample null-block placement (kept with the model, so evaluation rebuilds the same images).</param>
public sealed record PoisonSpec(PoisonKind Kind, double Rate, int Class, double Visibility = 0.5, int Seed = 0)
{
    /// <summary>The specifications <see cref="Parse"/> understands, for help texts.</summary>
    public const string SpecHelp = "badnets:RATE:TARGET | blend:RATE:TARGET[:VISIBILITY] | spurious:RATE:CLASS | block[:SEED]";

    /// <summary>Parses a poison spec; a malformed one is a <see cref="ReparoInputException"/> that shows the expected forms.</summary>
    public static PoisonSpec Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new ReparoInputException($"no poison given; expected {SpecHelp}");
        string[] parts = spec.Trim().ToLowerInvariant().Split(':');
        string Error(string why) => $"bad poison '{spec}': {why}; expected {SpecHelp}";
        double Rate(string text)
        {
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double rate) || !(rate > 0 && rate <= 1))
                throw new ReparoInputException(Error($"rate must be in (0, 1], got '{text}'"));
            return rate;
        }
        int Class(string text) => int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int c) && c >= 0
            ? c : throw new ReparoInputException(Error($"class must be a non-negative integer, got '{text}'"));
        switch (parts[0])
        {
            case "badnets" or "spurious":
                if (parts.Length != 3) throw new ReparoInputException(Error($"{parts[0]} takes a rate and a class"));
                return new PoisonSpec(parts[0] == "badnets" ? PoisonKind.BadNets : PoisonKind.Spurious, Rate(parts[1]), Class(parts[2]));
            case "blend":
                if (parts.Length is < 3 or > 4) throw new ReparoInputException(Error("blend takes a rate, a target and optionally a visibility"));
                double visibility = 0.5;
                if (parts.Length == 4 && (!double.TryParse(parts[3], NumberStyles.Float, CultureInfo.InvariantCulture, out visibility) || !(visibility > 0 && visibility <= 1)))
                    throw new ReparoInputException(Error($"visibility must be in (0, 1], got '{parts[3]}'"));
                return new PoisonSpec(PoisonKind.Blend, Rate(parts[1]), Class(parts[2]), visibility);
            case "block":
                if (parts.Length > 2) throw new ReparoInputException(Error("block takes at most a seed"));
                int seed = 0;
                if (parts.Length == 2 && !int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out seed))
                    throw new ReparoInputException(Error($"seed must be an integer, got '{parts[1]}'"));
                return new PoisonSpec(PoisonKind.Block, 1, -1, Seed: seed);
            default:
                throw new ReparoInputException(Error($"unknown poison '{parts[0]}'"));
        }
    }

    /// <summary>True for the Trojans (BadNets and blend), which relabel poisoned images to a target class.</summary>
    public bool IsTrojan => Kind is PoisonKind.BadNets or PoisonKind.Blend;

    /// <summary>Where the trigger or artifact goes unless told otherwise: bottom-right for Trojans, top-left for the spurious artifact.</summary>
    public Corner DefaultCorner => Kind == PoisonKind.Spurious ? Corner.TopLeft : Corner.BottomRight;

    /// <summary>Checks the spec against data with <paramref name="classCount"/> classes.</summary>
    public void Validate(int classCount)
    {
        if (Kind != PoisonKind.Block && (Class < 0 || Class >= classCount))
            throw new ReparoInputException($"poison '{this}': class {Class} is not one of the data's classes 0–{classCount - 1}");
    }

    /// <summary>The canonical spec, such as <c>badnets:0.1:0</c>, <c>blend:0.1:0:0.5</c> or <c>block:0</c>.</summary>
    public override string ToString() => Kind switch
    {
        PoisonKind.BadNets => Invariant($"badnets:{Rate}:{Class}"),
        PoisonKind.Blend => Invariant($"blend:{Rate}:{Class}:{Visibility}"),
        PoisonKind.Spurious => Invariant($"spurious:{Rate}:{Class}"),
        _ => Invariant($"block:{Seed}"),
    };

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Poisoned splits and which rows were poisoned.</summary>
/// <param name="Splits">Trojans and spurious: training and validation poisoned alike, test clean; block: all three transformed.</param>
/// <param name="Spec">The poisoning applied.</param>
/// <param name="PoisonedTrainRows">Rows of <c>Splits.Train</c> that carry the trigger or artifact (block: all).</param>
/// <param name="PoisonedValidationRows">Rows of <c>Splits.Validation</c> that carry it (block: all).</param>
public sealed record PoisonedData(DataSplits Splits, PoisonSpec Spec, IReadOnlyList<int> PoisonedTrainRows, IReadOnlyList<int> PoisonedValidationRows)
{
    /// <summary>How many images were poisoned: training plus validation (block: every image of the three splits).</summary>
    public int Poisoned => PoisonedTrainRows.Count + PoisonedValidationRows.Count + (Spec.Kind == PoisonKind.Block ? Splits.Test.Count : 0);
}

/// <summary>
/// Cleansed pairs: the same images with and without the corruption (trigger, artifact or null block).
/// Row i of <see cref="Corrupted"/> and <see cref="Clean"/> show the same sample; the tensors are owned by the record.
/// </summary>
/// <param name="Corrupted">The corrupted images (N, C, H, W).</param>
/// <param name="Clean">Their clean twins.</param>
/// <param name="Labels">The true labels.</param>
/// <param name="SourceIds">Each pair's sample id (its index in the file it was read from).</param>
public sealed record CleansedPairs(Tensor Corrupted, Tensor Clean, long[] Labels, int[] SourceIds);

/// <summary>
/// Poisonings as pure functions of (inputs, seed): inputs are never modified and values stay in [0, 1]. Triggers and
/// artifacts are fixed (the blend pattern comes from a fixed generator); which images are poisoned comes from the seed,
/// and a block image's null-block placement from (the spec's seed, its sample id), so it is the same in every subset.
/// </summary>
public static class Poisoning
{
    /// <summary>Side of the BadNets patch.</summary>
    public const int PatchSize = 3;

    /// <summary>Side of the spurious artifact.</summary>
    public const int ArtifactSize = 4;

    /// <summary>Seed of the blend pattern's generator (the pattern is fixed, so training and evaluation share it).</summary>
    public const int BlendPatternSeed = 1_2017;

    /// <summary>
    /// Poisons <paramref name="splits"/>. Trojans: round(rate·N) images of the training part (and likewise of the
    /// validation part), chosen by <paramref name="seed"/> among those whose label is not the target, get the trigger
    /// and the target label. Spurious: round(rate·n) of the class's n images get the artifact. Test stays clean.
    /// Block: every image of the three parts is block-transformed.
    /// </summary>
    public static PoisonedData Apply(DataSplits splits, PoisonSpec spec, int seed)
    {
        CheckImages(splits.Train, spec);
        if (spec.Kind == PoisonKind.Block)
        {
            var blocked = new DataSplits(Block(splits.Train, spec), Block(splits.Validation, spec), Block(splits.Test, spec));
            return new PoisonedData(blocked, spec, Enumerable.Range(0, splits.Train.Count).ToArray(), Enumerable.Range(0, splits.Validation.Count).ToArray());
        }
        (Dataset train, int[] trainRows) = Poison(splits.Train, spec, Mix(seed, 1));
        (Dataset validation, int[] validationRows) = Poison(splits.Validation, spec, Mix(seed, 2));
        return new PoisonedData(new DataSplits(train, validation, splits.Test), spec, trainRows, validationRows);
    }

    /// <summary>The rows one part would get poisoned and the poisoned part (see <see cref="Apply"/>).</summary>
    private static (Dataset Data, int[] Rows) Poison(Dataset data, PoisonSpec spec, int seed)
    {
        CheckImages(data, spec);
        long[] labels = data.Labels();
        int[] candidates = Enumerable.Range(0, data.Count)
            .Where(i => spec.Kind == PoisonKind.Spurious ? labels[i] == spec.Class : labels[i] != spec.Class).ToArray();
        int count = (int)Math.Round(spec.Rate * (spec.Kind == PoisonKind.Spurious ? candidates.Length : data.Count), MidpointRounding.AwayFromZero);
        if (count > candidates.Length)
            throw new ReparoInputException($"poison '{spec}': {count} of {data.Count} images of '{data.Name}' should be poisoned but only {candidates.Length} are not of class {spec.Class}");
        new Random(seed).Shuffle(candidates);
        int[] rows = [.. candidates[..count].Order()];
        using var scope = NewDisposeScope();
        var selected = new bool[data.Count];
        foreach (int r in rows) selected[r] = true;
        Tensor chosen = tensor(selected).reshape(data.Count, 1, 1, 1);
        Tensor x = where(chosen, Stamp(data.X, spec), data.X);
        Tensor y = data.Y.clone();
        if (spec.IsTrojan) y = where(chosen.flatten(), tensor((long)spec.Class), y);
        return (new Dataset($"{data.Name}+{spec}", x, y, data.ClassNames, data.Kind, data.Vocabulary, data.SourceIndices), rows);
    }

    /// <summary>
    /// Every image with the trigger (BadNets, blend) or the artifact (spurious) applied; labels are not touched here.
    /// <paramref name="corner"/> moves the BadNets patch or the artifact (default <see cref="PoisonSpec.DefaultCorner"/>);
    /// the blend pattern covers the whole image, so it has no corner.
    /// </summary>
    public static Tensor Stamp(Tensor images, PoisonSpec spec, Corner? corner = null)
    {
        ImageTransforms.CheckImages(images);
        long c = images.shape[1], h = images.shape[2], w = images.shape[3];
        using var scope = NewDisposeScope();
        // An explicit Scalar, alive until after the native call: an implicit one can be finalised by the garbage collector
        // while libtorch still reads it (seen as "Expected false to be true" from Scalar::toFloat).
        using Scalar white = 1f.ToScalar();
        Tensor result = spec.Kind switch
        {
            PoisonKind.BadNets => images.masked_fill(SquareMask(h, w, PatchSize, corner ?? spec.DefaultCorner), white),
            PoisonKind.Spurious => images.masked_fill(SquareMask(h, w, ArtifactSize, corner ?? spec.DefaultCorner), white),
            PoisonKind.Blend when corner is null or Corner.BottomRight =>
                images.mul(1 - spec.Visibility).add(BlendPattern(c, h, w).to(images.dtype).mul(spec.Visibility)),
            PoisonKind.Blend => throw new ReparoInputException("the blend trigger covers the whole image; it has no corner"),
            _ => throw new ReparoInputException($"poison '{spec}' has no trigger to stamp; use Poisoning.Block"),
        };
        return result.clamp(0, 1).MoveToOuterDisposeScope();
    }

    /// <summary>A boolean (1, 1, H, W) mask of a square of side <paramref name="size"/> one pixel from the corner's borders.</summary>
    public static Tensor SquareMask(long height, long width, int size, Corner corner)
    {
        if (height < size + 2 || width < size + 2) throw new ReparoInputException($"a {size}×{size} trigger with a 1-pixel margin needs images of at least {size + 2}×{size + 2}, got {height}×{width}");
        long top = corner is Corner.TopLeft or Corner.TopRight ? 1 : height - 1 - size;
        long left = corner is Corner.TopLeft or Corner.BottomLeft ? 1 : width - 1 - size;
        var mask = new bool[height * width];
        for (long y = top; y < top + size; y++)
            for (long x = left; x < left + size; x++) mask[y * width + x] = true;
        return tensor(mask).reshape(1, 1, height, width);
    }

    /// <summary>The blend trigger's fixed pattern (C, H, W), uniform in [0, 1] from <see cref="BlendPatternSeed"/>.</summary>
    public static Tensor BlendPattern(long channels, long height, long width)
    {
        var rng = new Random(BlendPatternSeed);
        var pattern = new float[channels * height * width];
        for (int i = 0; i < pattern.Length; i++) pattern[i] = (float)rng.NextDouble();
        return tensor(pattern).reshape(channels, height, width);
    }

    /// <summary>
    /// The Trojan or spurious evaluation set: the images of <paramref name="test"/> whose label is not the spec's class,
    /// with the trigger or artifact applied at <paramref name="corner"/>; labels kept (the true ones).
    /// </summary>
    public static Dataset TriggeredTest(Dataset test, PoisonSpec spec, Corner? corner = null)
    {
        Dataset others = OtherClasses(test, spec);
        using var scope = NewDisposeScope();
        string suffix = corner is Corner c && c != spec.DefaultCorner ? $"@{c.ToString().ToLowerInvariant()}" : "";
        return others.WithInputs(Stamp(others.X, spec, corner), $"{test.Name}+{spec}{suffix}");
    }

    /// <summary>
    /// Cleansed pairs from <paramref name="source"/> (pass the validation split, clean or as <see cref="Apply"/> returned
    /// it): <paramref name="n"/> images chosen by <paramref name="seed"/>. Trojans and spurious: images whose label is
    /// not the spec's class, with and without the trigger or artifact. Block: block images and the same with the null
    /// block blanked to zeros.
    /// </summary>
    public static CleansedPairs Pairs(PoisonSpec spec, Dataset source, int n, int seed, Corner? corner = null)
    {
        if (n < 1) throw new ReparoInputException($"the number of pairs must be positive, got {n}");
        CheckImages(source, spec);
        Dataset pool = spec.Kind == PoisonKind.Block ? (IsBlocked(source, spec) ? source : Block(source, spec)) : OtherClasses(source, spec);
        if (n > pool.Count) throw new ReparoInputException($"poison '{spec}': {n} pairs asked for but '{source.Name}' has only {pool.Count} suitable images");
        int[] rows = DataCatalog.Permutation(pool.Count, Mix(seed, 3))[..n];
        Array.Sort(rows);
        Dataset chosen = pool.Subset(rows);
        using var scope = NewDisposeScope();
        Tensor corrupted, clean;
        if (spec.Kind == PoisonKind.Block)
        {
            corrupted = chosen.X.clone();
            clean = chosen.X.mul(NullBlockMask(chosen, spec).to(chosen.X.dtype).neg().add(1));
        }
        else
        {
            corrupted = Stamp(chosen.X, spec, corner);
            clean = chosen.X.clone();
        }
        return new CleansedPairs(corrupted.DetachFromDisposeScope(), clean.DetachFromDisposeScope(), chosen.Labels(), [.. chosen.SourceIndices]);
    }

    /// <summary>Block-transforms a dataset: (N, C, H, W) → (N, C, 2H, W), each image stacked with the null block (see <see cref="Block(Tensor, PoisonSpec, IReadOnlyList{int})"/>).</summary>
    public static Dataset Block(Dataset data, PoisonSpec spec)
    {
        CheckImages(data, spec);
        using var scope = NewDisposeScope();
        Tensor x = Block(data.X, spec, data.SourceIndices);
        return new Dataset($"{data.Name}+{spec}", x, data.Y.clone(), data.ClassNames, data.Kind, data.Vocabulary, data.SourceIndices);
    }

    /// <summary>
    /// BlockMNIST's construction: each image (C, H, W) becomes (C, 2H, W), the image in one half and the
    /// <see cref="NullBlock"/> in the other; whether the null block is on top is drawn per sample from (the spec's
    /// seed, the sample's id).
    /// </summary>
    public static Tensor Block(Tensor images, PoisonSpec spec, IReadOnlyList<int> sampleIds)
    {
        ImageTransforms.CheckImages(images);
        if (sampleIds.Count != images.shape[0]) throw new ArgumentException($"{sampleIds.Count} sample ids for {images.shape[0]} images");
        long n = images.shape[0], c = images.shape[1], h = images.shape[2], w = images.shape[3];
        using var scope = NewDisposeScope();
        Tensor onTop = tensor(sampleIds.Select(id => NullBlockOnTop(spec, id)).ToArray()).reshape(n, 1, 1, 1);
        Tensor nullBlock = NullBlock(h, w).to(images.dtype).expand(n, c, h, w);
        Tensor top = where(onTop, nullBlock, images), bottom = where(onTop, images, nullBlock);
        return cat([top, bottom], 2).MoveToOuterDisposeScope();
    }

    /// <summary>Whether sample <paramref name="sampleId"/>'s null block goes above the image (else below).</summary>
    public static bool NullBlockOnTop(PoisonSpec spec, int sampleId) => new Random(Mix(Mix(spec.Seed, 4), sampleId)).Next(2) == 0;

    /// <summary>
    /// The null block (1, 1, H, W): a hollow square outline of ones (inset ⌊min(H, W)/4⌋, stroke ⌈min(H, W)/14⌉) on
    /// zeros — the same for every class, so it carries no information about the label.
    /// </summary>
    public static Tensor NullBlock(long height, long width)
    {
        long side = Math.Min(height, width), inset = side / 4, stroke = Math.Max(1, (side + 13) / 14);
        var pattern = new float[height * width];
        for (long y = inset; y < height - inset; y++)
            for (long x = inset; x < width - inset; x++)
            {
                bool edge = y < inset + stroke || y >= height - inset - stroke || x < inset + stroke || x >= width - inset - stroke;
                if (edge) pattern[y * width + x] = 1;
            }
        return tensor(pattern).reshape(1, 1, height, width);
    }

    /// <summary>The null-block region of block images (N, 1, 2H, W): 1 on each sample's null block, 0 on its real image.</summary>
    public static Tensor NullBlockMask(Dataset blockData, PoisonSpec spec)
    {
        if (blockData.X.dim() != 4 || blockData.X.shape[2] % 2 != 0) throw new ReparoInputException($"'{blockData.Name}' does not hold block images (N, C, 2H, W)");
        return NullBlockMask(spec, blockData.SourceIndices, blockData.X.shape[2] / 2, blockData.X.shape[3]);
    }

    /// <summary>The null-block region (N, 1, 2H, W) for samples with these ids and original images of H×W.</summary>
    public static Tensor NullBlockMask(PoisonSpec spec, IReadOnlyList<int> sampleIds, long height, long width)
    {
        var mask = new float[sampleIds.Count * 2 * height * width];
        long half = height * width;
        for (int i = 0; i < sampleIds.Count; i++)
        {
            long start = i * 2 * half + (NullBlockOnTop(spec, sampleIds[i]) ? 0 : half);
            Array.Fill(mask, 1f, (int)start, (int)half);
        }
        return tensor(mask).reshape(sampleIds.Count, 1, 2 * height, width);
    }

    /// <summary>
    /// Feature leakage per sample: the share of |attribution| on the null block, Σ|a|·mask / Σ|a| (NaN where the
    /// attribution is all zero). <paramref name="attributions"/> is (N, C, 2H, W), <paramref name="mask"/> from <see cref="NullBlockMask(Dataset, PoisonSpec)"/>.
    /// </summary>
    public static double[] Leakage(Tensor attributions, Tensor mask)
    {
        using var scope = NewDisposeScope();
        Tensor magnitude = attributions.abs().to(ScalarType.Float64);
        Tensor onNull = magnitude.mul(mask.to(ScalarType.Float64)).flatten(1).sum(1);
        Tensor total = magnitude.flatten(1).sum(1);
        return onNull.div(total).data<double>().ToArray();
    }

    /// <summary>The images of <paramref name="data"/> whose label is not the spec's class (the ones a trigger or artifact can flip).</summary>
    public static Dataset OtherClasses(Dataset data, PoisonSpec spec)
    {
        if (spec.Kind == PoisonKind.Block) throw new ReparoInputException($"poison '{spec}' has no trigger; evaluate block models on Poisoning.Block(test)");
        CheckImages(data, spec);
        long[] labels = data.Labels();
        return data.Subset(Enumerable.Range(0, data.Count).Where(i => labels[i] != spec.Class).ToArray());
    }

    /// <summary>Whether a dataset already holds block images of this spec (each sample's null half equals the null block).</summary>
    private static bool IsBlocked(Dataset data, PoisonSpec spec)
    {
        long height = data.X.shape[2];
        if (height % 2 != 0 || data.Count == 0) return false;
        using var scope = NewDisposeScope();
        Tensor mask = NullBlockMask(data, spec).to(data.X.dtype);
        Tensor expected = Block(zeros(data.Count, data.X.shape[1], height / 2, data.X.shape[3], dtype: data.X.dtype), spec, data.SourceIndices);
        return data.X.mul(mask).eq(expected).all().item<bool>();
    }

    private static void CheckImages(Dataset data, PoisonSpec spec)
    {
        if (data.Kind != InputKind.Image || data.X.dim() != 4)
            throw new ReparoInputException($"poisonings apply to images; '{data.Name}' holds {data.Kind.ToString().ToLowerInvariant()}");
        spec.Validate(data.ClassCount);
    }

    private static int Mix(int seed, int part)
    {
        unchecked
        {
            uint h = 2166136261;
            foreach (int value in new[] { seed, part })
            {
                h = (h ^ (uint)value) * 16777619;
                h ^= h >> 13;
            }
            return (int)(h & 0x7fffffff);
        }
    }
}
