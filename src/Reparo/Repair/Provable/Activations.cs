using Reparo.Models;
using Reparo.Models.Onnx;
using static TorchSharp.torch;

namespace Reparo.Repair.Provable;

/// <summary>A place in a network: a top-level layer (<see cref="Node"/> = -1) or one node of an ONNX block layer.</summary>
/// <param name="Layer">Top-level layer index.</param>
/// <param name="Node">Node index within the block layer, or -1 for the layer itself.</param>
/// <param name="Part">Which of a node's activations: a Clip's kink at its lower bound (0) or at its upper bound (1); 0 otherwise.</param>
internal readonly record struct LayerSite(int Layer, int Node = -1, int Part = 0)
{
    /// <summary>Whether the site is a node inside a block.</summary>
    public bool Nested => Node >= 0;

    /// <summary>A top-level layer.</summary>
    public static implicit operator LayerSite(int layer) => new(layer);
}

/// <summary>One ReLU's (or leaky ReLU's) or max-pool's input for a batch.</summary>
/// <param name="Site">Where it is.</param>
/// <param name="Input">Its input, batch first (inside an ONNX block: one flattened row per sample).</param>
/// <param name="Windows">A max-pool's windows (see <see cref="PoolWindows"/>); null for a ReLU.</param>
internal sealed record Activation(LayerSite Site, Tensor Input, int[][]? Windows);

/// <summary>The ReLUs and max-pools of a network, top-level ones and those inside ONNX blocks (leaky ReLUs and Clips among them), with their inputs for one batch.</summary>
internal static class Activations
{
    /// <summary>
    /// Whether an ONNX op is a ReLU or one of its leaky forms (LeakyRelu, PRelu with a fixed slope): two affine pieces
    /// that meet at a pre-activation of 0, the off piece's output being slope · pre-activation (0 for a ReLU).
    /// </summary>
    public static bool IsReluLike(string opType) => opType is "Relu" or "LeakyRelu" or "PRelu";

    /// <summary>Whether an ONNX op has kinks that <see cref="Of"/> reads as units: a ReLU or leaky ReLU, a Clip, a max-pool.</summary>
    public static bool HasKinks(string opType) => IsReluLike(opType) || opType == "Clip" || IsMax(opType);

    /// <summary>Whether an ONNX op takes maxima over windows of its input, as a max-pool: MaxPool, GlobalMaxPool, ReduceMax (<see cref="PoolWindows"/>).</summary>
    public static bool IsMax(string opType) => opType is "MaxPool" or "GlobalMaxPool" or "ReduceMax";

    /// <summary>
    /// A Clip node's bounds (±∞ where it has none): from its attributes before opset 11, from its optional inputs since,
    /// read through <paramref name="value"/>. A Clip (ReLU6 among them) is lower + ReLU(x − lower) − ReLU(x − upper): two
    /// ReLU kinks, each a unit of its own (<see cref="LayerSite.Part"/> 0 and 1).
    /// </summary>
    public static (double Lower, double Upper) ClipBounds(Onnx.NodeProto node, int opset, Func<string, Tensor> value)
    {
        static double Finite(double bound) => Math.Abs(bound) >= float.MaxValue ? double.CopySign(double.PositiveInfinity, bound) : bound;
        if (opset < 11)
            return (Finite(OnnxAttributes.Float(node, "min", double.NegativeInfinity)), Finite(OnnxAttributes.Float(node, "max", double.PositiveInfinity)));
        double Input(int i, double none) => node.Input.Count > i && node.Input[i].Length > 0 ? value(node.Input[i]).to(ScalarType.Float64).item<double>() : none;
        return (Finite(Input(1, double.NegativeInfinity)), Finite(Input(2, double.PositiveInfinity)));
    }

    /// <summary>Every ReLU and max-pool of layers [<paramref name="from"/>, <paramref name="to"/>) in forward order, with its input for <paramref name="x"/> (tensors in the caller's dispose scope).</summary>
    public static IEnumerable<Activation> Of(Network network, Tensor x, int from, int to)
    {
        LayerTrace trace = network.Trace(x);
        for (int j = from; j < to; j++)
        {
            NetworkLayer layer = network.Layers[j];
            switch (layer.Spec)
            {
                case ReluSpec:
                    yield return new Activation(j, trace.InputOf(j), null);
                    break;
                case MaxPool2dSpec pool:
                    yield return new Activation(j, trace.InputOf(j), PoolWindows.Of(pool, trace.InputOf(j).shape[1..]));
                    break;
                case OnnxBlockSpec block:
                    {
                        // One run per sample: inside a block the batch axis may move (attention's (tokens, batch, features)).
                        var module = (OnnxBlockModule)layer.Module;
                        Tensor input = trace.InputOf(j);
                        Dictionary<string, Tensor>[] runs = [.. Enumerable.Range(0, (int)input.shape[0]).Select(s => module.Values(input.narrow(0, s, 1)))];
                        Tensor Flat(string value) => cat([.. runs.Select(r => r[value].reshape(1, -1))], 0);
                        for (int i = 0; i < module.Nodes.Count; i++)
                        {
                            Onnx.NodeProto node = module.Nodes[i];
                            if (IsReluLike(node.OpType)) yield return new Activation(new LayerSite(j, i), Flat(node.Input[0]), null);
                            else if (node.OpType == "Clip")
                            {
                                (double lower, double upper) = ClipBounds(node, block.Opset, name => runs[0][name]);
                                if (double.IsFinite(lower)) yield return new Activation(new LayerSite(j, i, 0), Flat(node.Input[0]).sub(lower), null);
                                if (double.IsFinite(upper)) yield return new Activation(new LayerSite(j, i, 1), Flat(node.Input[0]).sub(upper), null);
                            }
                            else if (IsMax(node.OpType))
                                yield return new Activation(new LayerSite(j, i), Flat(node.Input[0]), PoolWindows.Of(node, block.Opset, block.Name, name => runs[0][name], runs[0][node.Input[0]].shape, runs[0][node.Output[0]].shape));
                        }
                        break;
                    }
            }
        }
    }
}
