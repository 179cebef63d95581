using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Repair.Editing;

/// <summary>
/// Transplanted pairs kept out of the edits (<see cref="RectifyOptions.HeldBack"/>): they show whether the corruption
/// is gone beyond the pairs edited on. A held-back pair counts as still steered when the network puts its corrupted
/// input in the class the unedited network gave its cleansed pair's corrupted input, and its clean twin elsewhere.
/// </summary>
internal sealed class HeldBackPairs
{
    private Tensor corrupted, clean;
    private long[] labels, steeredTo;

    /// <param name="network">The network before any edit.</param>
    /// <param name="pairsCorrupted">The cleansed pairs' corrupted inputs.</param>
    /// <param name="pairsClean">Their clean twins.</param>
    /// <param name="corrupted">The held-back pairs' corrupted inputs.</param>
    /// <param name="clean">Their clean images.</param>
    /// <param name="labels">Their classes.</param>
    /// <param name="sources">For each, the index of the cleansed pair it was built from.</param>
    public HeldBackPairs(Network network, Tensor pairsCorrupted, Tensor pairsClean, Tensor corrupted, Tensor clean, long[] labels, long[] sources)
    {
        long[] steered = SteeredClasses(network, pairsCorrupted, pairsClean);
        (this.corrupted, this.clean, this.labels, steeredTo) = (corrupted, clean, labels, [.. sources.Select(i => steered[i])]);
    }

    /// <summary>How many pairs are held back.</summary>
    public int Count => labels.Length;

    /// <summary>The held-back pairs the corruption still steers in <paramref name="network"/> (indices into the held-back set).</summary>
    public long[] StillSteered(Network network)
    {
        if (Count == 0) return [];
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor target = tensor(steeredTo, ScalarType.Int64);
        Tensor hit = network.Logits(corrupted).argmax(1).eq(target).logical_and(network.Logits(clean).argmax(1).ne(target)).logical_and(target.ge(0));
        return [.. hit.nonzero().flatten().data<long>()];
    }

    /// <summary>Takes the held-back pairs at <paramref name="rows"/> out of the set and returns them, in the order given.</summary>
    public (Tensor Corrupted, Tensor Clean, long[] Labels) Remove(long[] rows)
    {
        var removing = new HashSet<long>(rows);
        long[] staying = [.. Enumerable.Range(0, Count).Select(i => (long)i).Where(i => !removing.Contains(i))];
        (Tensor takenCorrupted, Tensor takenClean, long[] takenLabels, corrupted, clean, labels) = PairAugmentation.Take(corrupted, clean, labels, rows, staying);
        steeredTo = [.. staying.Select(i => steeredTo[i])];
        return (takenCorrupted, takenClean, takenLabels);
    }

    /// <summary>Per pair, the class the network gives its corrupted input when that differs from its clean twin's, else −1 (the corruption steers nothing).</summary>
    private static long[] SteeredClasses(Network network, Tensor corrupted, Tensor clean)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor to = network.Logits(corrupted).argmax(1), from = network.Logits(clean).argmax(1);
        return [.. to.masked_fill(to.eq(from), -1).data<long>()];
    }
}
