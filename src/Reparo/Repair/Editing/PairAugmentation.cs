using Reparo.Data;
using static TorchSharp.torch;

namespace Reparo.Repair.Editing;

/// <summary>
/// Reparo's extension of one-pair rectification: a cleansed pair shows what the corruption did, so it can be carried
/// over to other clean images the user already holds (the held-out split). Where the pair differs on at most
/// <see cref="LocalShare"/> of the pixels (a patch trigger, an artifact, a null block) those pixels are copied from the
/// corrupted input; otherwise (a blended, global corruption) the pair's difference is added. Each new pair is (that
/// image corrupted, the image itself) with the image's own label.
/// </summary>
public static class PairAugmentation
{
    /// <summary>Largest share of differing pixels still treated as a local corruption.</summary>
    public const double LocalShare = 0.25;

    /// <summary>
    /// The given pairs followed by <paramref name="perPair"/> transplanted pairs for each, built on images of
    /// <paramref name="pool"/> chosen by <paramref name="seed"/> (shapes must match).
    /// </summary>
    public static (Tensor Corrupted, Tensor Clean, long[] Labels) Augment(Tensor corrupted, Tensor clean, long[] labels, Dataset pool, int perPair, int seed)
    {
        if (perPair < 0) throw new ReparoInputException($"augmentation needs a non-negative count, got {perPair}");
        if (perPair == 0) return (corrupted, clean, labels);
        if (!pool.SampleShape.SequenceEqual(corrupted.shape[1..])) throw new ReparoInputException("augmentation images differ in shape from the pairs");
        if (pool.Count < perPair) throw new ReparoInputException($"augmentation needs {perPair} images, the pool has {pool.Count}");
        var rng = new Random(seed);
        long[] poolLabels = pool.Labels();
        var corruptedParts = new List<Tensor> { corrupted };
        var cleanParts = new List<Tensor> { clean };
        var allLabels = new List<long>(labels);
        for (int i = 0; i < corrupted.shape[0]; i++)
        {
            int[] chosen = [.. Enumerable.Range(0, pool.Count).OrderBy(_ => rng.Next()).Take(perPair)];
            Tensor images = pool.X.index_select(0, tensor(chosen.Select(c => (long)c).ToArray()));
            Tensor difference = corrupted[i].sub(clean[i]);
            Tensor mask = difference.abs().gt(1e-6);
            double share = mask.to(ScalarType.Float64).mean().item<double>();
            Tensor moved = share <= LocalShare
                ? where(mask.unsqueeze(0), corrupted[i].unsqueeze(0).expand_as(images), images)
                : images.add(difference.unsqueeze(0)).clamp(0, 1);
            corruptedParts.Add(moved);
            cleanParts.Add(images);
            allLabels.AddRange(chosen.Select(c => poolLabels[c]));
        }
        return (cat(corruptedParts, 0), cat(cleanParts, 0), [.. allLabels]);
    }
}
