using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Repair.Provable;

/// <summary>
/// The activation pattern each vertex must keep: for every ReLU, +1 (on: pre-activation ≥ 0), -1 (off: ≤ 0) or
/// 0 (pinned to zero); for every max-pool, the chosen input of each window. A vertex takes its region's centroid
/// pattern; a vertex shared by regions whose patterns disagree on a ReLU gets that pre-activation pinned to 0.
/// </summary>
internal sealed class ActivationPatterns
{
    private readonly Dictionary<LayerSite, sbyte[][]> relu = [];
    private readonly Dictionary<LayerSite, int[][]> pool = [];

    /// <summary>The ReLU pattern of a vertex at a top-level layer or, with <paramref name="node"/>, at a node of a block layer.</summary>
    public sbyte[] Relu(int layer, int vertex, int node = -1) => relu[new LayerSite(layer, node)][vertex];

    /// <summary>The max-pool choices (flat input index per output) of a vertex, like <see cref="Relu"/>.</summary>
    public int[] Pool(int layer, int vertex, int node = -1) => pool[new LayerSite(layer, node)][vertex];

    /// <summary>Number of ReLU pre-activations pinned to zero because shared vertices disagree.</summary>
    public int PinnedToZero { get; private set; }

    /// <summary>Patterns for layers [<paramref name="from"/>, <paramref name="to"/>) of <paramref name="network64"/>, ReLUs and max-pools inside ONNX blocks included.</summary>
    /// <param name="network64">The network (float64) whose centroid patterns are taken.</param>
    /// <param name="set">The repair set.</param>
    /// <param name="vertices">All vertices stacked (float64).</param>
    /// <param name="vertexRegion">Each vertex's region.</param>
    /// <param name="from">First layer.</param>
    /// <param name="to">End layer (exclusive).</param>
    public static ActivationPatterns Compute(Network network64, RepairSet set, Tensor vertices, int[] vertexRegion, int from, int to)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor centroids = cat(set.Regions.Select(r => r.Centroid().to(ScalarType.Float64)).ToArray(), 0);
        var patterns = new ActivationPatterns();
        int regions = set.Regions.Count;
        foreach (Activation activation in Activations.Of(network64, centroids, from, to))
        {
            if (activation.Windows is { } windows)
            {
                int[][] choices = RepairVerifier.MaxPoolChoices(activation.Input, windows, -1);
                patterns.pool[activation.Site] = vertexRegion.Select(r => choices[r]).ToArray();
                continue;
            }
            double[] z = activation.Input.reshape(regions, -1).contiguous().data<double>().ToArray();
            int width = z.Length / regions;
            var byRegion = new sbyte[regions][];
            for (int r = 0; r < regions; r++)
            {
                byRegion[r] = new sbyte[width];
                for (int n = 0; n < width; n++) byRegion[r][n] = z[r * width + n] > 0 ? (sbyte)1 : (sbyte)-1;
            }
            patterns.relu[activation.Site] = vertexRegion.Select(r => (sbyte[])byRegion[r].Clone()).ToArray();
        }
        if (!set.IsPointSet) patterns.PinSharedVertices(vertices, vertexRegion);
        return patterns;
    }

    private void PinSharedVertices(Tensor vertices, int[] vertexRegion)
    {
        double[] values = vertices.reshape(vertices.shape[0], -1).contiguous().data<double>().ToArray();
        int width = values.Length / vertexRegion.Length;
        var groups = new Dictionary<string, List<int>>();
        for (int v = 0; v < vertexRegion.Length; v++)
        {
            string key = Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan(v * width, width)));
            if (!groups.TryGetValue(key, out List<int>? list)) groups[key] = list = [];
            list.Add(v);
        }
        foreach (List<int> group in groups.Values.Where(g => g.Select(v => vertexRegion[v]).Distinct().Count() > 1))
        {
            foreach (sbyte[][] layer in relu.Values)
            {
                for (int n = 0; n < layer[group[0]].Length; n++)
                {
                    if (group.Select(v => layer[v][n]).Distinct().Count() <= 1) continue;
                    foreach (int v in group) layer[v][n] = 0;
                    PinnedToZero++;
                }
            }
        }
    }
}
