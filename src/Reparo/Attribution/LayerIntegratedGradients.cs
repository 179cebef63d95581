using Reparo.Models;
using Reparo.Runtime;
using static TorchSharp.torch;

namespace Reparo.Attribution;

/// <summary>
/// Integrated gradients at a layer, with the path in that layer's output space (Captum's
/// <c>LayerIntegratedGradients</c> with <c>attribute_to_layer_input=False</c>; Sundararajan et al. 2017 applied to the
/// layer's activations, as in Yang et al.'s attribution-guided rectification): with a = the layer's output on the input
/// and a' on the baseline, the attribution is (a − a') ⊙ ∫₀¹ ∂f_t/∂a (a' + α(a − a')) dα, where the path point replaces
/// the layer's output (a forward hook) while the network runs on the input. Values are shaped like the layer's output.
/// <see cref="AttributionResult.Delta"/> is the difference of the target logit at the path's ends, which for a sequential
/// network is f_t(x) − f_t(baseline).
/// </summary>
public sealed class LayerIntegratedGradients : IAttributionMethod
{
    /// <summary>The command-line name.</summary>
    public const string MethodName = "layer-ig";

    /// <summary>Attributes at the module with this dotted name (<c>flatten</c>, <c>conv2</c>, <c>fc1</c>, <c>block1.fc1</c>, …).</summary>
    public LayerIntegratedGradients(string layer) => Layer = layer;

    /// <summary>The dotted module name attributed at.</summary>
    public string Layer { get; }

    /// <inheritdoc />
    public string Name => MethodName;

    /// <inheritdoc />
    public AttributionResult Attribute(Network network, Tensor inputs, long[] targets, AttributionOptions options)
    {
        ModuleTap tap = ModuleTaps.Find(network, Layer);
        return network.InEvalMode(() =>
        {
            using var scope = NewDisposeScope();
            Tensor t = AttributionCore.Targets(network, inputs, targets);
            Tensor baseline = options.Baseline.For(inputs);
            var starts = new List<Tensor>();
            var ends = new List<Tensor>();
            var gradients = new List<Tensor>();
            var delta = new List<double>();
            using ProgressScope shown = WorkProgress.Begin($"{Name} {tap.Name} {inputs.shape[0]} inputs", inputs.shape[0]);
            foreach ((long start, long length) in AttributionCore.Chunks(inputs.shape[0], options.InternalBatchSize))
            {
                Tensor x = inputs.narrow(0, start, length), tc = t.narrow(0, start, length);
                Tensor ax, ab;
                using (no_grad())
                {
                    ax = ModuleTaps.Output(network, tap, x);
                    ab = ModuleTaps.Output(network, tap, baseline.narrow(0, start, length));
                    double[] fx = AttributionCore.TargetLogits(ModuleTaps.RunReplacing(network, tap, x, o => Replace(o, ax)), tc);
                    double[] fb = AttributionCore.TargetLogits(ModuleTaps.RunReplacing(network, tap, x, o => Replace(o, ab)), tc);
                    delta.AddRange(fx.Select((v, i) => v - fb[i]));
                }
                gradients.Add(AttributionCore.PathMeanGradient(ab, ax, tc, options, (points, k) =>
                {
                    Tensor repeated = x.unsqueeze(0).expand([k, .. x.shape]).reshape([k * length, .. x.shape[1..]]);
                    return ModuleTaps.RunReplacing(network, tap, repeated, o => Replace(o, points));
                }));
                starts.Add(ab);
                ends.Add(ax);
                shown.Advance(length);
            }
            AttributionResult result = AttributionCore.PathResult(cat(starts, 0), cat(ends, 0), cat(gradients, 0), [.. delta], tap.Name);
            result.Values.MoveToOuterDisposeScope();
            result.MeanGradient!.MoveToOuterDisposeScope();
            return result;
        });
    }

    private Tensor Replace(Tensor computed, Tensor replacement) =>
        computed.shape.SequenceEqual(replacement.shape)
            ? replacement
            : throw new InvalidOperationException($"layer '{Layer}' produced [{string.Join(",", computed.shape)}] where [{string.Join(",", replacement.shape)}] was expected");
}
