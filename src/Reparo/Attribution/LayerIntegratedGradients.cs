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
/// network is f_t(x) − f_t(baseline). A layer whose output does not lead with the batch (an ONNX transformer's
/// (tokens, batch, features) activations, as PyTorch exports them) is attributed all the same: its batch axis is found
/// by running it on the chunk twice over, and the values come batch first.
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
            BatchLayout? layout = null;
            using ProgressScope shown = WorkProgress.Begin($"{Name} {tap.Name} {inputs.shape[0]} inputs", inputs.shape[0]);
            foreach ((long start, long length) in AttributionCore.Chunks(inputs.shape[0], options.InternalBatchSize))
            {
                Tensor x = inputs.narrow(0, start, length), tc = t.narrow(0, start, length);
                Tensor ax, ab;
                using (no_grad())
                {
                    Tensor output = ModuleTaps.Output(network, tap, x), atBaseline = ModuleTaps.Output(network, tap, baseline.narrow(0, start, length));
                    // The layout is the layer's, whatever the batch: found on the first chunk.
                    layout ??= BatchLayout.Find(Layer, output, ModuleTaps.Output(network, tap, cat([x, baseline.narrow(0, start, length)], 0)), length);
                    ax = layout.ToBatchFirst(output);
                    ab = layout.ToBatchFirst(atBaseline);
                    double[] fx = AttributionCore.TargetLogits(ModuleTaps.RunReplacing(network, tap, x, o => Replace(o, ax, layout)), tc);
                    double[] fb = AttributionCore.TargetLogits(ModuleTaps.RunReplacing(network, tap, x, o => Replace(o, ab, layout)), tc);
                    delta.AddRange(fx.Select((v, i) => v - fb[i]));
                }
                gradients.Add(AttributionCore.PathMeanGradient(ab, ax, tc, options, (points, k) =>
                {
                    Tensor repeated = x.unsqueeze(0).expand([k, .. x.shape]).reshape([k * length, .. x.shape[1..]]);
                    return ModuleTaps.RunReplacing(network, tap, repeated, o => Replace(o, points, layout));
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

    /// <summary><paramref name="replacement"/> (batch first) laid out as the layer's <paramref name="computed"/> output, in its place.</summary>
    private Tensor Replace(Tensor computed, Tensor replacement, BatchLayout layout)
    {
        Tensor laid = layout.FromBatchFirst(replacement, computed.shape);
        return laid.shape.SequenceEqual(computed.shape) && replacement.shape[0] * layout.Other == computed.shape[layout.Axis]
            ? laid
            : throw new InvalidOperationException($"layer '{Layer}' produced [{string.Join(",", computed.shape)}] where [{string.Join(",", replacement.shape)}] (batch first) was expected");
    }

    /// <summary>
    /// Where a layer's output holds the batch: axis <paramref name="Axis"/>, alone (<paramref name="Other"/> = 1) or folded
    /// with another factor of size Other, outside it (<paramref name="BatchInner"/> false: index batch·Other + j) or inside
    /// it (index j·batch + n, as an ONNX transformer's (tokens·batch, features) rows).
    /// </summary>
    private sealed record BatchLayout(int Axis, long Other, bool BatchInner)
    {
        /// <summary>
        /// The layout of <paramref name="once"/> (the output for a chunk of <paramref name="batch"/> inputs x), from
        /// <paramref name="twice"/> (the output for x followed by as many other inputs): the one axis that doubles, and
        /// for a folded one the order under which twice's first half is once.
        /// </summary>
        public static BatchLayout Find(string layer, Tensor once, Tensor twice, long batch)
        {
            int[] grown = once.shape.Length != twice.shape.Length ? []
                : [.. Enumerable.Range(0, once.shape.Length).Where(d => twice.shape[d] != once.shape[d])];
            if (grown.Length == 1 && twice.shape[grown[0]] == 2 * once.shape[grown[0]] && once.shape[grown[0]] % batch == 0)
            {
                int axis = grown[0];
                long other = once.shape[axis] / batch;
                if (other == 1) return new BatchLayout(axis, 1, false);
                foreach (bool inner in new[] { false, true })
                {
                    var layout = new BatchLayout(axis, other, inner);
                    if (layout.ToBatchFirst(twice).narrow(0, 0, batch).allclose(layout.ToBatchFirst(once), rtol: 1e-4, atol: 1e-5)) return layout;
                }
            }
            throw new ReparoInputException($"layer '{layer}' has no batch axis in its output ([{string.Join(",", once.shape)}] for a batch of {batch}, [{string.Join(",", twice.shape)}] for twice as many), so it cannot be attributed to; choose another layer");
        }

        /// <summary>The output <paramref name="output"/> with its batch first (a folded axis split in two).</summary>
        public Tensor ToBatchFirst(Tensor output)
        {
            if (Other == 1) return output.movedim([Axis], [0]);
            long batch = output.shape[Axis] / Other;
            long[] split = BatchInner ? [Other, batch] : [batch, Other];
            return output.reshape([.. output.shape[..Axis], .. split, .. output.shape[(Axis + 1)..]]).movedim([Axis + (BatchInner ? 1 : 0)], [0]);
        }

        /// <summary>The inverse of <see cref="ToBatchFirst"/>: <paramref name="batchFirst"/> laid out with <paramref name="shape"/>.</summary>
        public Tensor FromBatchFirst(Tensor batchFirst, long[] shape) =>
            Other == 1 ? batchFirst.movedim([0], [Axis]) : batchFirst.movedim([0], [Axis + (BatchInner ? 1 : 0)]).reshape(shape);
    }
}
