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

    /// <summary>
    /// The ReLU pattern of a vertex at a top-level layer or, with <paramref name="node"/>, at a node of a block layer
    /// (<paramref name="part"/>: which of a Clip's two kinks, <see cref="LayerSite.Part"/>).
    /// </summary>
    public sbyte[] Relu(int layer, int vertex, int node = -1, int part = 0) => relu[new LayerSite(layer, node, part)][vertex];

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
            var pieces = new ActivationPieces(activation, regions);
            if (activation.Windows is not null)
            {
                int[][] choices = [.. Enumerable.Range(0, regions).Select(r => Enumerable.Range(0, pieces.Units).Select(o => pieces.Piece(r, o)).ToArray())];
                patterns.pool[activation.Site] = vertexRegion.Select(r => choices[r]).ToArray();
                continue;
            }
            var byRegion = new sbyte[regions][];
            for (int r = 0; r < regions; r++)
            {
                byRegion[r] = new sbyte[pieces.Units];
                for (int n = 0; n < pieces.Units; n++) byRegion[r][n] = pieces.Piece(r, n) == ActivationPieces.On ? (sbyte)1 : (sbyte)-1;
            }
            patterns.relu[activation.Site] = vertexRegion.Select(r => (sbyte[])byRegion[r].Clone()).ToArray();
        }
        if (!set.IsPointSet) patterns.PinSharedVertices(vertices, vertexRegion);
        return patterns;
    }

    /// <summary>
    /// Whether vertex <paramref name="vertex"/> is certainly on its required piece of every unit of the activation at
    /// <paramref name="site"/>, read from <paramref name="pieces"/> with guard band <paramref name="band"/>: a ReLU's
    /// on or off piece (both for a pre-activation pinned to 0, which must then be exactly 0), a max-pool's chosen element.
    /// </summary>
    public bool HeldBy(ActivationPieces pieces, LayerSite site, int vertex, double band)
    {
        if (pool.TryGetValue(site, out int[][]? choices))
            return Enumerable.Range(0, pieces.Units).All(o => pieces.Certain(vertex, o, choices[vertex][o], band));
        sbyte[] pattern = relu[site][vertex];
        return Enumerable.Range(0, pieces.Units).All(n =>
            (pattern[n] == -1 || pieces.Certain(vertex, n, ActivationPieces.On, band)) && (pattern[n] == 1 || pieces.Certain(vertex, n, ActivationPieces.Off, band)));
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
