using System.Diagnostics;
using static TorchSharp.torch;

namespace Reparo.Influence;

/// <summary>One training sample ranked by how close its temporal features are to a query's.</summary>
/// <param name="TrainIndex">Position of the sample in the training data the model was built on.</param>
/// <param name="Label">Its (training) label.</param>
/// <param name="Distance">Mean absolute difference of the normalised, padded temporal features (smaller = more influential).</param>
public sealed record InfluenceHit(int TrainIndex, long Label, double Distance);

/// <summary>
/// Sample-level influence (Xie et al., ICML'21, Sec. 3.3): the training samples whose temporal features are closest to
/// an input's, with the distance of the authors' <c>calculate_similarity_list</c> — traces zero-padded at the end to a
/// common length T, state ids normalised as (s + 1)/(K + 2), labels as (l + 1)/(C + 1), confidences as they are, then
/// the mean absolute difference over all T × (2 + C) entries. Because a step's confidence vector is a function of its
/// state, the distance decomposes into a table G over (state, label) codes — G[a, b] is the summed absolute difference
/// of the two steps' normalised features — so one query is one gather over the training set's N × T codes and a matrix-vector sum.
/// </summary>
public sealed class SampleInfluence : IDisposable
{
    private readonly Tensor table;
    private readonly Tensor flatIndex;
    private readonly Tensor stepOnes;
    private readonly long[] labels;
    private readonly int classes;
    private readonly int width;

    /// <summary>Prepares the training side: the code table and every training trace's padded codes.</summary>
    public SampleInfluence(TraceSet training, StateAbstraction abstraction)
    {
        classes = abstraction.ClassCount;
        width = 2 + classes;
        labels = training.Labels;
        MaxLength = training.MaxLength;
        int k = abstraction.K;
        // Code s·C + l for state s (0 = padding) and label l; padding is state 0, label 0, confidence 0 as zero-padding gives.
        int codes = (k + 1) * classes;
        var state = new double[codes];
        var label = new double[codes];
        var confidence = new double[codes * classes];
        for (int s = 0; s <= k; s++)
        {
            double[] p = s == 0 ? new double[classes] : abstraction.Confidence(s);
            for (int l = 0; l < classes; l++)
            {
                int code = s * classes + l;
                state[code] = (s + 1.0) / (k + 2);
                label[code] = (l + 1.0) / (classes + 1);
                Array.Copy(p, 0, confidence, code * classes, classes);
            }
        }
        using (var scope = NewDisposeScope())
        {
            Tensor st = tensor(state), lb = tensor(label), cf = tensor(confidence).reshape(codes, classes);
            Tensor g = st.unsqueeze(1).sub(st.unsqueeze(0)).abs()
                .add(lb.unsqueeze(1).sub(lb.unsqueeze(0)).abs())
                .add(cf.unsqueeze(1).sub(cf.unsqueeze(0)).abs().sum(2));
            table = g.to(ScalarType.Float32).contiguous().DetachFromDisposeScope();
        }
        int t = Math.Max(1, MaxLength);
        var index = new int[(long)training.Count * t];
        for (int i = 0; i < training.Count; i++)
        {
            int offset = training.Offsets[i];
            for (int step = 0; step < t; step++)
            {
                int code = step < training.Lengths[i] ? training.States[offset + step] * classes + training.StepLabels[offset + step] : 0;
                index[(long)i * t + step] = code * t + step;
            }
        }
        flatIndex = tensor(index).DetachFromDisposeScope();
        stepOnes = ones(t).DetachFromDisposeScope();
    }

    /// <summary>The longest training trace (the padded length of the training side).</summary>
    public int MaxLength { get; }

    /// <summary>Distance of <paramref name="query"/> to every training sample (float64 per sample).</summary>
    public double[] Distances(AbstractTrace query)
    {
        using var scope = NewDisposeScope();
        return DistanceTensor(query).to(ScalarType.Float64).data<double>().ToArray();
    }

    /// <summary>
    /// The <paramref name="top"/> training samples closest to <paramref name="query"/>, nearest first (ties by index),
    /// and the milliseconds the search took. The n-th smallest distance comes from <c>topk</c>; every sample at most that
    /// far is then ordered by (distance, index), so ties are broken the same way on every run.
    /// </summary>
    public (IReadOnlyList<InfluenceHit> Hits, double Milliseconds) Top(AbstractTrace query, int top)
    {
        if (top < 1) throw new ReparoInputException($"--top must be at least 1, got {top}");
        var watch = Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        Tensor distances = DistanceTensor(query);
        int n = (int)Math.Min(top, distances.shape[0]);
        float bound = distances.topk(n, largest: false).values.max().item<float>();
        float[] all = distances.data<float>().ToArray();
        var candidates = new List<int>(n);
        for (int i = 0; i < all.Length; i++)
        {
            if (all[i] <= bound) candidates.Add(i);
        }
        InfluenceHit[] hits = candidates.OrderBy(i => all[i]).Take(n).Select(i => new InfluenceHit(i, labels[i], all[i])).ToArray();
        return (hits, watch.Elapsed.TotalMilliseconds);
    }

    /// <summary>The distance to every training sample: gather G over the padded codes, sum each row, divide by T·(2 + C).</summary>
    private Tensor DistanceTensor(AbstractTrace query)
    {
        int t = (int)stepOnes.shape[0];
        int length = Math.Max(t, query.Length);
        var codes = new long[t];
        for (int step = 0; step < Math.Min(t, query.Length); step++) codes[step] = query.States[step] * classes + query.StepLabels[step];
        // Query steps beyond the longest training trace meet padding in every training sample: one constant.
        double beyond = 0;
        if (query.Length > t)
        {
            float[] padRow = table[0].data<float>().ToArray();
            for (int step = t; step < query.Length; step++) beyond += padRow[query.States[step] * classes + query.StepLabels[step]];
        }
        Tensor summed = table.index_select(1, tensor(codes)).flatten().index_select(0, flatIndex).reshape(-1, t).mv(stepOnes);
        return summed.add_(beyond).div_((double)length * width);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        table.Dispose();
        flatIndex.Dispose();
        stepOnes.Dispose();
    }
}
