using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Repair.Editing;

/// <summary>
/// The second moment C = E[k kᵀ] of a layer's keys over data (Yang et al., CVPR'26, Sec. 3: the metric of the rank-one
/// edit), estimated in float64 with a ridge term λ·tr(C)/d·I so it is invertible; kept per (layer, key kind) so each is
/// estimated once per run.
/// </summary>
public sealed class KeyStatistics : IDisposable
{
    private readonly Dictionary<(string Site, KeyKind Kind), Tensor> moments = [];
    private readonly Network network;
    private readonly Tensor inputs;

    /// <summary>Statistics of <paramref name="network"/>'s keys over <paramref name="inputs"/> (e.g. clean training images).</summary>
    /// <param name="network">The model (the weights before a layer shape its keys, so an edit makes later layers' statistics stale: see <see cref="Invalidate"/>).</param>
    /// <param name="inputs">The inputs the moments are taken over.</param>
    /// <param name="ridge">λ, relative to the mean eigenvalue tr(C)/d.</param>
    /// <param name="batchSize">Inputs per forward pass.</param>
    public KeyStatistics(Network network, Tensor inputs, double ridge = 1e-3, int batchSize = 500)
    {
        if (!(ridge > 0) || !double.IsFinite(ridge)) throw new ReparoInputException($"the ridge must be positive, got {ridge}");
        this.network = network;
        this.inputs = inputs;
        Ridge = ridge;
        BatchSize = batchSize;
    }

    /// <summary>λ, relative to the mean eigenvalue of C.</summary>
    public double Ridge { get; }

    /// <summary>Inputs per forward pass.</summary>
    public int BatchSize { get; }

    /// <summary>C (d × d, float64, ridge included) for the layer's keys; computed on first use.</summary>
    public Tensor SecondMoment(AffineSite site, KeyKind kind)
    {
        Prepare([site], kind);
        return moments[(site.Name, LayerKeys.Resolve(site, kind))];
    }

    /// <summary>Estimates the moments of every listed layer not yet known, in one pass over the inputs.</summary>
    public void Prepare(IEnumerable<AffineSite> sites, KeyKind kind)
    {
        (AffineSite Site, KeyKind Kind)[] missing = [.. sites.Select(s => (s, LayerKeys.Resolve(s, kind))).Where(m => !moments.ContainsKey((m.Item1.Name, m.Item2)))];
        if (missing.Length == 0) return;
        foreach (((AffineSite site, KeyKind resolved), Tensor c) in missing.Zip(Estimate(missing))) moments[(site.Name, resolved)] = c;
    }

    /// <summary>
    /// Forgets the moments of the layers after <paramref name="edited"/> in <paramref name="order"/> (forward order):
    /// their keys depend on the edited weights; the edited layer's own keys and earlier layers' do not.
    /// </summary>
    public void Invalidate(AffineSite edited, IReadOnlyList<AffineSite> order)
    {
        int at = order.ToList().FindIndex(s => s.Name == edited.Name);
        if (at < 0) throw new ArgumentException($"layer '{edited.Name}' is not in the given order");
        var later = new HashSet<string>(order.Skip(at + 1).Select(s => s.Name));
        foreach (var key in moments.Keys.Where(k => later.Contains(k.Site)).ToList())
        {
            moments[key].Dispose();
            moments.Remove(key);
        }
    }

    /// <summary>Σ k kᵀ / M (+ ridge) for each layer, with one forward hook per layer so each batch runs once.</summary>
    private Tensor[] Estimate((AffineSite Site, KeyKind Kind)[] layers)
    {
        var sums = new Tensor?[layers.Length];
        var counts = new long[layers.Length];
        bool wasTraining = network.training;
        network.eval();
        var hooks = layers.Select((layer, i) => layer.Site.Module.register_forward_hook((_, input, output) =>
        {
            Tensor keys = LayerKeys.Keys(layer.Site, layer.Kind, input);
            counts[i] += keys.shape[0];
            Tensor part = keys.t().matmul(keys);
            if (sums[i] is null) sums[i] = part.DetachFromDisposeScope();
            else sums[i]!.add_(part);
            return output;
        })).ToList();
        try
        {
            using var noGrad = no_grad();
            for (long start = 0; start < inputs.shape[0]; start += BatchSize)
            {
                using var scope = NewDisposeScope();
                network.call(inputs.narrow(0, start, Math.Min(BatchSize, inputs.shape[0] - start)));
            }
        }
        finally
        {
            hooks.ForEach(h => h.remove());
            network.train(wasTraining);
        }
        var result = new Tensor[layers.Length];
        for (int i = 0; i < layers.Length; i++)
        {
            Tensor sum = sums[i] is { } found && counts[i] > 0 ? found : throw new ReparoInputException("key statistics need at least one input that reaches every layer");
            sum.div_(counts[i]);
            long d = sum.shape[0];
            double scale = sum.diagonal().sum().item<double>() / d;
            sum.add_(eye(d, dtype: ScalarType.Float64).mul(Ridge * Math.Max(scale, 1e-12)));
            result[i] = sum;
        }
        return result;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (Tensor t in moments.Values) t.Dispose();
        moments.Clear();
    }
}
