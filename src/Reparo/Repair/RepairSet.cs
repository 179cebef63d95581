using Reparo.Data;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Repair;

/// <summary>
/// One thing to repair: a point (one vertex) or a V-polytope (the convex hull of its vertices); every input in it
/// must be classified as <see cref="Label"/>.
/// </summary>
/// <param name="Vertices">The vertices, (V, …sample shape), float32.</param>
/// <param name="Label">The required class.</param>
/// <param name="Id">A stable name, e.g. <c>test#1234</c> or <c>test#1234@rot</c>.</param>
/// <param name="Counterpart">
/// The clean or original input the failure came from, (1, …sample shape), when there is one: the uncorrupted image of a
/// fog or rotation failure, the image without its Trojan trigger. Rank-one edits map the failure onto it and the
/// change-based layer heuristic measures how far the failure moved from it.
/// </param>
public sealed record RepairRegion(Tensor Vertices, long Label, string Id, Tensor? Counterpart = null)
{
    /// <summary>Number of vertices (1 for a point).</summary>
    public int VertexCount => (int)Vertices.shape[0];

    /// <summary>The mean of the vertices, (1, …sample shape).</summary>
    public Tensor Centroid() => Vertices.mean([0], keepdim: true);
}

/// <summary>The regions a repair must fix, all for the same network input shape.</summary>
public sealed class RepairSet
{
    /// <summary>Creates a repair set; every region must have the same sample shape.</summary>
    public RepairSet(IReadOnlyList<RepairRegion> regions, string description)
    {
        if (regions.Count == 0) throw new ReparoInputException($"the repair set '{description}' is empty");
        long[] shape = regions[0].Vertices.shape[1..];
        foreach (RepairRegion r in regions)
        {
            if (r.VertexCount < 1) throw new ReparoInputException($"region {r.Id} has no vertices");
            if (!r.Vertices.shape[1..].SequenceEqual(shape)) throw new ReparoInputException($"region {r.Id} has another input shape than the others");
            if (r.Vertices.dtype != ScalarType.Float32 && r.Vertices.dtype != ScalarType.Float64) throw new ReparoInputException("repair inputs must be floating point");
            if (r.Vertices.isnan().any().item<bool>() || r.Vertices.isinf().any().item<bool>()) throw new ReparoInputException($"region {r.Id} holds NaN or infinite values");
            if (r.Counterpart is { } c && !(c.shape.Length == shape.Length + 1 && c.shape[0] == 1 && c.shape[1..].SequenceEqual(shape)))
                throw new ReparoInputException($"region {r.Id}'s counterpart should be one input of the regions' shape");
        }
        RejectContradictions(regions);
        Regions = regions;
        Description = description;
    }

    /// <summary>One input asked to be two classes (the same vertex, bitwise in float32 as <see cref="InputKey"/> compares, in regions of different labels) can never be repaired: an input error naming both.</summary>
    private static void RejectContradictions(IReadOnlyList<RepairRegion> regions)
    {
        var seen = new Dictionary<InputKey, RepairRegion>();
        foreach (RepairRegion region in regions)
        {
            foreach (InputKey key in InputKey.Rows(region.Vertices))
            {
                if (seen.TryGetValue(key, out RepairRegion? other) && other.Label != region.Label)
                    throw new ReparoInputException($"the repair set asks for one input to be class {other.Label} (region {other.Id}) and class {region.Label} (region {region.Id}): no model can do both");
                seen.TryAdd(key, region);
            }
        }
    }

    /// <summary>The regions.</summary>
    public IReadOnlyList<RepairRegion> Regions { get; }

    /// <summary>How the set was chosen, e.g. <c>fog:3:100</c>.</summary>
    public string Description { get; }

    /// <summary>Whether every region is a single point.</summary>
    public bool IsPointSet => Regions.All(r => r.VertexCount == 1);

    /// <summary>Whether every region has its clean <see cref="RepairRegion.Counterpart"/>.</summary>
    public bool HasCounterparts => Regions.All(r => r.Counterpart is not null);

    /// <summary>Total number of vertices.</summary>
    public int VertexCount => Regions.Sum(r => r.VertexCount);

    /// <summary>All vertices stacked, (total V, …), with each vertex's region index and label.</summary>
    public (Tensor Vertices, int[] Region, long[] Labels) Stacked()
    {
        var region = new List<int>();
        var labels = new List<long>();
        for (int r = 0; r < Regions.Count; r++)
        {
            for (int v = 0; v < Regions[r].VertexCount; v++)
            {
                region.Add(r);
                labels.Add(Regions[r].Label);
            }
        }
        return (cat(Regions.Select(r => r.Vertices.to(ScalarType.Float32)).ToArray(), 0), region.ToArray(), labels.ToArray());
    }

    /// <summary>
    /// Every vertex's clean counterpart, stacked in the order of <see cref="Stacked"/> (a region's counterpart repeated
    /// for each of its vertices); throws when a region has none.
    /// </summary>
    public Tensor StackedCounterparts()
    {
        if (!HasCounterparts) throw new ReparoInputException($"the repair set '{Description}' has no clean counterparts (they come with corruption, rotation and trojan repair sets)");
        return cat(Regions.Select(r => r.Counterpart!.to(ScalarType.Float32).expand([r.VertexCount, .. r.Counterpart!.shape[1..]])).ToArray(), 0);
    }

    /// <summary>A repair set of single points from a dataset's rows, optionally with the rows' clean counterparts (same row order).</summary>
    public static RepairSet FromPoints(Dataset data, IReadOnlyList<int> rows, string description, Dataset? counterparts = null)
    {
        long[] labels = data.Labels();
        return new RepairSet(rows.Select(i => new RepairRegion(data.X.narrow(0, i, 1).clone(), labels[i], $"{data.Name}#{data.SourceName(i)}",
            counterparts?.X.narrow(0, i, 1).clone())).ToArray(), description);
    }
}

/// <summary>
/// Everything a repair method needs: the network, the regions to fix, and held-out data to measure the cost
/// (drawdown on clean data) and the benefit beyond the repair set (generalisation on data like the failures).
/// </summary>
/// <param name="Network">The network to repair (never modified; methods return a repaired copy).</param>
/// <param name="RepairSet">What must be fixed.</param>
/// <param name="Drawdown">Clean held-out data, disjoint from the repair set.</param>
/// <param name="Generalization">Held-out data of the same kind as the failures, disjoint from the repair set (may be absent).</param>
public sealed record RepairProblem(Network Network, RepairSet RepairSet, Dataset Drawdown, Dataset? Generalization)
{
    /// <summary>
    /// Seconds <see cref="RepairSetSpec.Build"/> took to build the problem (0 when it was built otherwise); a problem
    /// reused for several repairs (a study's seeds and variants) reports its one build in each.
    /// </summary>
    public double BuildSeconds { get; init; }
}
