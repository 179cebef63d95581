using Reparo.Data;
using static TorchSharp.torch;

namespace Reparo.Repair.Editing;

/// <summary>
/// Reparo's extension of one-pair rectification: a cleansed pair shows what the corruption did, so it can be carried
/// over to other clean images the user already holds (the held-out split). Where the pair differs on at most
/// <see cref="LocalShare"/> of the pixels (a patch trigger, an artifact, a null block) those pixels are copied from the
/// corrupted input. Otherwise the corruption is global and read as a blend c = (1 − v)·x + v·P of the clean image x with
/// a pattern P (Chen et al. 2017): v is estimated as the smallest weight under which the implied pattern
/// P = (c − (1 − v)·x) / v stays within [0, 1] at every pixel (<see cref="BlendWeight"/>), and another image x′ becomes
/// (1 − v)·x′ + v·P = c + (1 − v)·(x′ − x). Each new pair is (that image corrupted, the image itself) with the image's own label.
/// </summary>
public static class PairAugmentation
{
    /// <summary>Largest share of differing pixels still treated as a local corruption.</summary>
    public const double LocalShare = 0.25;

    /// <summary>
    /// The given pairs followed by <paramref name="perPair"/> transplanted pairs for each (as many as the pool holds, if
    /// fewer), built on distinct images of <paramref name="pool"/> chosen by <paramref name="seed"/> (shapes must match).
    /// </summary>
    public static (Tensor Corrupted, Tensor Clean, long[] Labels) Augment(Tensor corrupted, Tensor clean, long[] labels, Dataset pool, int perPair, int seed)
    {
        if (perPair < 0) throw new ReparoInputException($"augmentation needs a non-negative count, got {perPair}");
        if (perPair == 0) return (corrupted, clean, labels);
        if (!pool.SampleShape.SequenceEqual(corrupted.shape[1..])) throw new ReparoInputException("augmentation images differ in shape from the pairs");
        if (pool.Count == 0) throw new ReparoInputException("augmentation needs held-out images, the pool is empty");
        perPair = Math.Min(perPair, pool.Count);
        var rng = new Random(seed);
        long[] poolLabels = pool.Labels();
        var corruptedParts = new List<Tensor> { corrupted };
        var cleanParts = new List<Tensor> { clean };
        var allLabels = new List<long>(labels);
        for (int i = 0; i < corrupted.shape[0]; i++)
        {
            int[] chosen = [.. Enumerable.Range(0, pool.Count).OrderBy(_ => rng.Next()).Take(perPair)];
            Tensor images = pool.X.index_select(0, tensor(chosen.Select(c => (long)c).ToArray()));
            Tensor moved = IsLocal(corrupted[i], clean[i], out Tensor mask)
                ? where(mask.unsqueeze(0), corrupted[i].unsqueeze(0).expand_as(images), images)
                : images.sub(clean[i].unsqueeze(0)).mul(1 - BlendWeight(corrupted[i], clean[i])).add(corrupted[i].unsqueeze(0)).clamp(0, 1);
            corruptedParts.Add(moved);
            cleanParts.Add(images);
            allLabels.AddRange(chosen.Select(c => poolLabels[c]));
        }
        return (cat(corruptedParts, 0), cat(cleanParts, 0), [.. allLabels]);
    }

    /// <summary>
    /// <see cref="Augment"/> with <paramref name="perPair"/> + <paramref name="heldBack"/> transplants per pair, split: the
    /// given pairs and the first <paramref name="perPair"/> transplants of each are the pairs to edit on (the same as
    /// <see cref="Augment"/>'s with <paramref name="perPair"/>), the other transplants, on other images, are held back
    /// (with the index of the pair each was built from).
    /// </summary>
    public static (Tensor Corrupted, Tensor Clean, long[] Labels, Tensor HeldBackCorrupted, Tensor HeldBackClean, long[] HeldBackLabels, long[] HeldBackSources) AugmentAndHoldBack(
        Tensor corrupted, Tensor clean, long[] labels, Dataset pool, int perPair, int heldBack, int seed)
    {
        if (heldBack < 0) throw new ReparoInputException($"held-back pairs need a non-negative count, got {heldBack}");
        long pairs = corrupted.shape[0];
        (Tensor allCorrupted, Tensor allClean, long[] allLabels) = Augment(corrupted, clean, labels, pool, perPair + heldBack, seed);
        long each = (allLabels.Length - pairs) / Math.Max(pairs, 1), edited = Math.Min(perPair, each);
        var edit = new List<long>();
        var held = new List<long>();
        var sources = new List<long>();
        for (long i = 0; i < pairs; i++) edit.Add(i);
        for (long i = 0; i < pairs; i++)
            for (long j = 0; j < each; j++)
            {
                if (j < edited) { edit.Add(pairs + i * each + j); continue; }
                held.Add(pairs + i * each + j);
                sources.Add(i);
            }
        (Tensor c, Tensor x, long[] l, Tensor heldCorrupted, Tensor heldClean, long[] heldLabels) = Take(allCorrupted, allClean, allLabels, [.. edit], [.. held]);
        return (c, x, l, heldCorrupted, heldClean, heldLabels, [.. sources]);
    }

    /// <summary>Splits pairs by row: those at <paramref name="first"/> and those at <paramref name="second"/>, each in the order given.</summary>
    internal static (Tensor, Tensor, long[], Tensor, Tensor, long[]) Take(Tensor corrupted, Tensor clean, long[] labels, long[] first, long[] second)
    {
        Tensor a = tensor(first, ScalarType.Int64), b = tensor(second, ScalarType.Int64);
        return (corrupted.index_select(0, a), clean.index_select(0, a), [.. first.Select(i => labels[i])],
            corrupted.index_select(0, b), clean.index_select(0, b), [.. second.Select(i => labels[i])]);
    }

    /// <summary>
    /// The blend weight v of a global corruption c of x: the smallest v in (0, 1] with (c − (1 − v)·x) / v in [0, 1] at every
    /// pixel, i.e. the largest of (c − x) / (1 − x) where c &gt; x and (x − c) / x where c &lt; x. Exact when the pattern
    /// reaches 0 or 1 somewhere; 1 (the corrupted image itself, whatever x′) when nothing smaller explains the pair.
    /// </summary>
    public static double BlendWeight(Tensor corrupted, Tensor clean)
    {
        using var scope = NewDisposeScope();
        Tensor c = corrupted.to(ScalarType.Float64), x = clean.to(ScalarType.Float64);
        Tensor up = c.sub(x).div(x.neg().add(1).clamp_min(1e-12)).masked_fill(c.le(x.add(1e-6)), 0);
        Tensor down = x.sub(c).div(x.clamp_min(1e-12)).masked_fill(c.ge(x.sub(1e-6)), 0);
        return Math.Clamp(Math.Max(up.max().item<double>(), down.max().item<double>()), 1e-6, 1);
    }

    /// <summary>
    /// Each pair's local corruption moved elsewhere on its clean twin: the bounding box of the differing pixels placed at
    /// the other cells of a 3 × 3 grid of placements (the four corners and edge centres, at the box's own distance from the
    /// nearer edge, and the centre) that do not overlap where it was, its differing pixels copied there. Returns the moved images and, row for row, the clean twin each was
    /// built on. Pairs whose corruption is global (more than <see cref="LocalShare"/> of the pixels differ) or whose
    /// inputs are not images (C × H × W) give none.
    /// </summary>
    public static (Tensor Moved, Tensor Bases) Relocate(Tensor corrupted, Tensor clean)
    {
        using var scope = NewDisposeScope();
        var moved = new List<Tensor>();
        var bases = new List<Tensor>();
        if (corrupted.dim() == 4)
        {
            long height = corrupted.shape[2], width = corrupted.shape[3];
            for (long i = 0; i < corrupted.shape[0]; i++)
            {
                if (!IsLocal(corrupted[i], clean[i], out Tensor mask)) continue;
                Tensor pixels = mask.any(0); // H × W
                long[] rows = [.. pixels.any(1).nonzero().flatten().data<long>()], columns = [.. pixels.any(0).nonzero().flatten().data<long>()];
                if (rows.Length == 0) continue;
                long top = rows[0], left = columns[0], boxHeight = rows[^1] - top + 1, boxWidth = columns[^1] - left + 1;
                Tensor patch = corrupted[i][.., TensorIndex.Slice(top, top + boxHeight), TensorIndex.Slice(left, left + boxWidth)];
                Tensor patchMask = mask[.., TensorIndex.Slice(top, top + boxHeight), TensorIndex.Slice(left, left + boxWidth)];
                foreach (long r in Placements(height, top, boxHeight))
                    foreach (long c in Placements(width, left, boxWidth))
                    {
                        if (r < top + boxHeight && top < r + boxHeight && c < left + boxWidth && left < c + boxWidth) continue;
                        Tensor image = clean[i].clone();
                        Tensor window = image[.., TensorIndex.Slice(r, r + boxHeight), TensorIndex.Slice(c, c + boxWidth)];
                        window.copy_(where(patchMask, patch, window));
                        moved.Add(image.unsqueeze(0));
                        bases.Add(clean[i].unsqueeze(0));
                    }
            }
        }
        if (moved.Count == 0) return (zeros([0, .. corrupted.shape[1..]]).MoveToOuterDisposeScope(), zeros([0, .. corrupted.shape[1..]]).MoveToOuterDisposeScope());
        return (cat(moved, 0).MoveToOuterDisposeScope(), cat(bases, 0).MoveToOuterDisposeScope());
    }

    /// <summary>The pixels where the pair differs, and whether they are at most <see cref="LocalShare"/> of the image (a local corruption).</summary>
    private static bool IsLocal(Tensor corrupted, Tensor clean, out Tensor mask)
    {
        mask = corrupted.sub(clean).abs().gt(1e-6);
        return mask.to(ScalarType.Float64).mean().item<double>() <= LocalShare;
    }

    /// <summary>Near edge, centre, far edge along one side, the edges at the box's own distance from the nearer edge (mirrored).</summary>
    private static long[] Placements(long side, long start, long box)
    {
        long margin = Math.Min(start, side - start - box);
        return [.. new[] { margin, (side - box) / 2, side - box - margin }.Distinct()];
    }
}
