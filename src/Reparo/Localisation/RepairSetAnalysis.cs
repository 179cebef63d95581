using System.Diagnostics;
using System.Globalization;
using System.Text;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Repair.Provable;
using static TorchSharp.torch;

namespace Reparo.Localisation;

/// <summary>The spread of the repair vertices at one layer's output.</summary>
/// <param name="Layer">The layer's name.</param>
/// <param name="Dimension">Features per vertex at its output (product of the per-sample output shape).</param>
/// <param name="MeanDistance">Mean Euclidean distance over all pairs of vertices (0 for a single vertex).</param>
public sealed record LayerSpread(string Layer, int Dimension, double MeanDistance);

/// <summary>
/// The predicted size of the provable (APRNN) LP that repairs one layer, counted without building or solving it.
/// </summary>
/// <param name="Layer">The repaired layer's name.</param>
/// <param name="Index">The repaired layer's index.</param>
/// <param name="Rows">Constraint rows.</param>
/// <param name="Columns">Variables.</param>
/// <param name="Nonzeros">Nonzero constraint coefficients.</param>
/// <param name="EstimatedBytes">
/// Memory of the LP's own arrays: <see cref="LpSize.BytesPerNonzero"/> per nonzero (8-byte value, 4-byte
/// column index), <see cref="LpSize.BytesPerRow"/> per row (two 8-byte bounds, 4-byte row start) and
/// <see cref="LpSize.BytesPerColumn"/> per column (two 8-byte bounds, 8-byte cost). A solver holds at least
/// one more copy, and the encoder's per-vertex expressions come on top while it builds the LP.
/// </param>
/// <param name="Seconds">Time taken to count (patterns plus the counting walk).</param>
public sealed record LpPrediction(string Layer, int Index, int Rows, int Columns, long Nonzeros, long EstimatedBytes, double Seconds);

/// <summary>What a repair set looks like before any repair: its size, classes, spread, concentration and LP cost.</summary>
public sealed record RepairSetProfile
{
    /// <summary>The repair set's description.</summary>
    public required string Description { get; init; }

    /// <summary>Number of regions.</summary>
    public required int Regions { get; init; }

    /// <summary>Number of vertices over all regions.</summary>
    public required int Vertices { get; init; }

    /// <summary>Whether every region is a single point.</summary>
    public required bool IsPointSet { get; init; }

    /// <summary>Input dimension: the product of the per-sample shape.</summary>
    public required int InputDimension { get; init; }

    /// <summary>Number of distinct required labels.</summary>
    public required int Classes { get; init; }

    /// <summary>Shannon entropy in bits of the regions' labels (0 for one class, log₂ C for C equally frequent classes).</summary>
    public required double LabelEntropyBits { get; init; }

    /// <summary>Mean pairwise Euclidean distance of the vertices at the input (0 for a single vertex).</summary>
    public required double InputMeanDistance { get; init; }

    /// <summary>Mean pairwise distance at the output of every top-level layer, in order.</summary>
    public required IReadOnlyList<LayerSpread> Spread { get; init; }

    /// <summary>
    /// Dimension of the affine hull of the input vertices: the rank of the centred vertex matrix, counting singular values
    /// above <see cref="RepairSetAnalysis.RankTolerance"/> × the largest one (0 when all vertices coincide).
    /// </summary>
    public required int AffineRank { get; init; }

    /// <summary>Principal components needed to explain 95 % of the input vertices' variance (0 when there is none).</summary>
    public required int ComponentsFor95 { get; init; }

    /// <summary>
    /// Share of the vertices that are corners of the convex hull of their projection on the first two principal components
    /// (see <see cref="RepairSetAnalysis.HullVertexShare"/>): near 1, the set is spread out like a shell; small, most
    /// vertices lie inside the cloud.
    /// </summary>
    public required double HullVertexShare { get; init; }

    /// <summary>Predicted size of the provable LP for every candidate layer (see <see cref="RepairSetAnalysis.LpCandidateLayers"/>).</summary>
    public required IReadOnlyList<LpPrediction> Lp { get; init; }

    /// <summary>Seconds the whole analysis took.</summary>
    public double Seconds { get; init; }

    /// <summary>A short Markdown summary: one table of the set's measures, one of the spread per layer and one of the predicted LPs.</summary>
    public string ToMarkdown()
    {
        string F(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
        var s = new StringBuilder();
        s.AppendLine($"Repair set `{Description}`");
        s.AppendLine();
        s.AppendLine("| measure | value |");
        s.AppendLine("|---|---|");
        s.AppendLine($"| regions / vertices | {Regions} / {Vertices}{(IsPointSet ? " (points)" : " (polytopes)")} |");
        s.AppendLine($"| input dimension | {InputDimension} |");
        s.AppendLine($"| classes / label entropy | {Classes} / {F(LabelEntropyBits)} bits |");
        s.AppendLine($"| mean pairwise distance (input) | {F(InputMeanDistance)} |");
        s.AppendLine($"| affine-hull rank / components for 95 % | {AffineRank} / {ComponentsFor95} |");
        s.AppendLine($"| hull-vertex share (2-D PCA) | {F(HullVertexShare)} |");
        s.AppendLine();
        s.AppendLine("| layer | dimension | mean pairwise distance |");
        s.AppendLine("|---|---:|---:|");
        s.AppendLine($"| input | {InputDimension} | {F(InputMeanDistance)} |");
        foreach (LayerSpread l in Spread) s.AppendLine($"| {l.Layer} | {l.Dimension} | {F(l.MeanDistance)} |");
        if (Lp.Count > 0)
        {
            s.AppendLine();
            s.AppendLine("| repaired layer | LP rows | columns | nonzeros | memory (MiB) |");
            s.AppendLine("|---|---:|---:|---:|---:|");
            foreach (LpPrediction p in Lp)
                s.AppendLine($"| {p.Layer} | {p.Rows} | {p.Columns} | {p.Nonzeros} | {F(p.EstimatedBytes / 1048576.0)} |");
        }
        return s.ToString();
    }
}

/// <summary>
/// The repair-set analysis reported before any repair: how many regions and classes, how spread out and how concentrated
/// the vertices are (at the input and after every layer), and how large the provable LP would be for each layer one
/// could repair. Every measurement is taken in float64.
/// </summary>
public static class RepairSetAnalysis
{
    /// <summary>Relative tolerance of the affine-hull rank: singular values ≤ this × the largest one count as zero.</summary>
    public const double RankTolerance = 1e-6;

    /// <summary>Relative tolerance of the 2-D hull: turns with |cross product| ≤ this × extent² count as straight, and points this × extent apart as one.</summary>
    public const double HullTolerance = 1e-9;

    private const int DistanceBlock = 512;

    /// <summary>
    /// Profiles <paramref name="set"/> for <paramref name="network"/> (left unchanged, run in evaluation mode). The cost is
    /// dominated by an SVD of the centred V × D vertex matrix, the V² pairwise distances per layer and one counting walk
    /// per candidate layer (see <see cref="PredictLp"/>).
    /// </summary>
    /// <param name="network">The network to be repaired.</param>
    /// <param name="set">The repair set.</param>
    /// <param name="predictLp">Whether to predict the provable LP's size for every candidate layer.</param>
    public static RepairSetProfile Analyse(Network network, RepairSet set, bool predictLp = true)
    {
        var clock = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        (Tensor vertices32, _, _) = set.Stacked();
        int count = (int)vertices32.shape[0];
        Tensor x = vertices32.reshape(count, -1).to(ScalarType.Float64);
        int dimension = (int)x.shape[1];

        var labels = set.Regions.Select(r => r.Label).ToArray();
        int classes = labels.Distinct().Count();
        double entropy = 0;
        foreach (IGrouping<long, long> g in labels.GroupBy(l => l))
        {
            double p = (double)g.Count() / labels.Length;
            entropy -= p * Math.Log2(p);
        }

        var spread = new List<LayerSpread>();
        network.InEvalMode(() =>
        {
            Tensor h = network.Preprocess(vertices32);
            for (int j = 0; j < network.Layers.Count; j++)
            {
                h = network.Forward(h, j, j + 1);
                spread.Add(new LayerSpread(network.Layers[j].Name, (int)(h.numel() / Math.Max(count, 1)), MeanPairwiseDistance(h)));
            }
            return 0;
        });

        (int rank, int components, double hull) = Concentration(x);
        IReadOnlyList<LpPrediction> lp = predictLp ? LpCandidateLayers(network).Select(k => PredictLp(network, set, k)).ToArray() : [];
        return new RepairSetProfile
        {
            Description = set.Description,
            Regions = set.Regions.Count,
            Vertices = count,
            IsPointSet = set.IsPointSet,
            InputDimension = dimension,
            Classes = classes,
            LabelEntropyBits = entropy,
            InputMeanDistance = MeanPairwiseDistance(x),
            Spread = spread,
            AffineRank = rank,
            ComponentsFor95 = components,
            HullVertexShare = hull,
            Lp = lp,
            Seconds = clock.Elapsed.TotalSeconds,
        };
    }

    /// <summary>
    /// The layers whose provable LP <see cref="PredictLp"/> can size: every top-level Linear or convolution layer followed only by
    /// Linear, convolution, ReLU, MaxPool2d and Flatten layers. The encoder also walks ONNX blocks, but this counter does not, so
    /// layers before a block (and those nested in one) are left out.
    /// </summary>
    /// <param name="network">The network.</param>
    public static IReadOnlyList<int> LpCandidateLayers(Network network)
    {
        var result = new List<int>();
        for (int k = network.ScoreLayerCount - 1; k >= 0; k--)
        {
            LayerSpec spec = network.Layers[k].Spec;
            if (AffineParameters.IsAffine(spec)) result.Add(k);
            if (spec is not (LinearSpec or Conv1dSpec or Conv2dSpec or ReluSpec or MaxPool2dSpec or FlattenSpec or BinaryScoresSpec)) break;
        }
        result.Reverse();
        return result;
    }

    /// <summary>
    /// Mean Euclidean distance over all pairs of rows of <paramref name="points"/> (N, …), flattened per row, computed
    /// exactly in float64 through the Gram identity ‖a − b‖² = ‖a‖² + ‖b‖² − 2 a·b on centred rows, in blocks of rows
    /// (memory O(block · N)); 0 for fewer than two rows.
    /// </summary>
    /// <param name="points">The points, one per row.</param>
    public static double MeanPairwiseDistance(Tensor points)
    {
        long n = points.shape[0];
        if (n < 2) return 0;
        using var scope = NewDisposeScope();
        Tensor x = points.reshape(n, -1).to(ScalarType.Float64);
        x = x - x.mean([0], keepdim: true);
        Tensor norms = (x * x).sum(1);
        double total = 0;
        for (long start = 0; start < n; start += DistanceBlock)
        {
            using var block = NewDisposeScope();
            long size = Math.Min(DistanceBlock, n - start);
            Tensor rows = x.narrow(0, start, size);
            Tensor squared = norms.narrow(0, start, size).unsqueeze(1) + norms.unsqueeze(0) - 2 * rows.matmul(x.t());
            Tensor distances = squared.clamp_min(0).sqrt();
            distances.diagonal(start).zero_();
            total += distances.sum().item<double>();
        }
        return total / (n * (double)(n - 1));
    }

    /// <summary>
    /// Affine-hull rank, principal components for 95 % of the variance and hull-vertex share of the rows of
    /// <paramref name="points"/> (N, …), from one SVD of the centred float64 matrix.
    /// </summary>
    /// <param name="points">The points, one per row.</param>
    public static (int AffineRank, int ComponentsFor95, double HullVertexShare) Concentration(Tensor points)
    {
        using var scope = NewDisposeScope();
        long n = points.shape[0];
        Tensor x = points.reshape(n, -1).to(ScalarType.Float64);
        x = x - x.mean([0], keepdim: true);
        (Tensor u, Tensor s, _) = linalg.svd(x, fullMatrices: false);
        double[] singular = s.data<double>().ToArray();
        double largest = singular.Length == 0 ? 0 : singular.Max();
        int rank = largest == 0 ? 0 : singular.Count(v => v > RankTolerance * largest);
        double variance = singular.Sum(v => v * v);
        int components = 0;
        if (variance > 0)
        {
            double explained = 0;
            while (components < singular.Length && explained < 0.95 * variance) explained += singular[components] * singular[components++];
        }
        var projected = new (double X, double Y)[n];
        double[] scores = (u * s.unsqueeze(0)).contiguous().data<double>().ToArray();
        int width = singular.Length;
        for (int i = 0; i < n; i++)
            projected[i] = (width > 0 ? scores[i * width] : 0, width > 1 ? scores[i * width + 1] : 0);
        return (rank, components, HullVertexShare(projected));
    }

    /// <summary>
    /// Share of <paramref name="points"/> that are corners (extreme points) of their convex hull, by Andrew's monotone
    /// chain. Points on an edge between two corners are not corners; turns with |cross| ≤ <see cref="HullTolerance"/> ×
    /// extent² count as straight. Every point within <see cref="HullTolerance"/> × extent of a corner counts (so all copies
    /// of a repeated corner do). With fewer than three distinct points the hull is the point or the segment itself and
    /// every point is a corner (share 1); collinear points have the two ends as corners.
    /// </summary>
    /// <param name="points">Points in the plane.</param>
    public static double HullVertexShare(IReadOnlyList<(double X, double Y)> points)
    {
        int n = points.Count;
        if (n == 0) return 0;
        if (n <= 2) return 1;
        double extent = Math.Max(points.Max(p => p.X) - points.Min(p => p.X), points.Max(p => p.Y) - points.Min(p => p.Y));
        double crossTolerance = HullTolerance * extent * extent, distanceTolerance = HullTolerance * extent;
        int[] order = Enumerable.Range(0, n).OrderBy(i => points[i].X).ThenBy(i => points[i].Y).ToArray();
        double Cross(int o, int a, int b) =>
            (points[a].X - points[o].X) * (points[b].Y - points[o].Y) - (points[a].Y - points[o].Y) * (points[b].X - points[o].X);
        var hull = new List<int>(2 * n);
        foreach (int i in order)
        {
            while (hull.Count >= 2 && Cross(hull[^2], hull[^1], i) <= crossTolerance) hull.RemoveAt(hull.Count - 1);
            hull.Add(i);
        }
        int lower = hull.Count + 1;
        for (int t = n - 2; t >= 0; t--)
        {
            int i = order[t];
            while (hull.Count >= lower && Cross(hull[^2], hull[^1], i) <= crossTolerance) hull.RemoveAt(hull.Count - 1);
            hull.Add(i);
        }
        hull.RemoveAt(hull.Count - 1);
        int corners = 0;
        for (int i = 0; i < n; i++)
        {
            if (hull.Any(c => Math.Abs(points[c].X - points[i].X) <= distanceTolerance && Math.Abs(points[c].Y - points[i].Y) <= distanceTolerance)) corners++;
        }
        return (double)corners / n;
    }

    /// <summary>
    /// Predicts the size of the main APRNN LP that <see cref="ProvableRepair"/> with default options builds to repair layer
    /// <paramref name="layer"/> (the whole program: rows that wait outside it until a solution violates them included),
    /// without building or solving it. It runs the network in float64, takes the activation
    /// patterns exactly as the repair does, and runs the encoder's own walk in its counting mode
    /// (<c>SymbolicEncoder.Count</c>): one vertex at a time, rows and nonzeros counted instead of stored (memory for one
    /// vertex's expressions and the columns only). For point repair sets the count is the encoder's. For polytope sets
    /// it predicts the main LP only: the repair first solves slice LPs for earlier layers, which are not counted, and which
    /// change the repaired layer's input (zero inputs, which drop weight columns from rows, may differ).
    /// </summary>
    /// <param name="network">The network (float32 or float64; not changed).</param>
    /// <param name="set">The repair set.</param>
    /// <param name="layer">The repaired layer (one of <see cref="LpCandidateLayers"/>).</param>
    public static LpPrediction PredictLp(Network network, RepairSet set, int layer)
    {
        var clock = Stopwatch.StartNew();
        if (!LpCandidateLayers(network).Contains(layer))
            throw new ReparoInputException($"layer {network.Layers[layer].Name} cannot be repaired by the provable LP (it needs a Linear or convolution layer followed only by Linear, convolution, ReLU, MaxPool2d and Flatten)");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using Network network64 = PlainRepairedModel.ToFloat64(network);
        (Tensor vertices32, int[] region, long[] labels) = set.Stacked();
        Tensor vertices64 = vertices32.to(ScalarType.Float64);
        int end = network64.ScoreLayerCount;
        ActivationPatterns patterns = ActivationPatterns.Compute(network64, set, vertices64, region, layer + 1, end);
        LpSize size = SymbolicEncoder.Count(network64, layer, end, vertices64, labels, patterns, ProvableRepair.DefaultEncoding(set.VertexCount));
        return new LpPrediction(network.Layers[layer].Name, layer, size.Rows, size.Cols, size.Nonzeros, size.StorageBytes, clock.Elapsed.TotalSeconds);
    }
}
