using Reparo.Models;
using Reparo.Models.Onnx;
using static TorchSharp.torch;

namespace Reparo.Repair.Provable;

/// <summary>
/// PRDNN's decoupled network (Sotoudeh and Thakur PLDI'21, §4): an activation channel with the original weights decides
/// every ReLU's on/off state and every max-pool's choice; a value channel with the repaired weights computes the
/// values under those decisions. It is not a plain network of the original architecture (it carries two copies of the
/// weights), which is why APRNN was proposed. Only the repaired layer k differs between the channels, so layers before k
/// (any layers, ONNX blocks included) run once, concretely, and the channels split at k; from k to the class scores every
/// layer must be Linear, Conv1d, Conv2d, ReLU, MaxPool2d, Flatten or a piecewise-linear ONNX block (<see cref="FirstUnsupported"/>),
/// whose leaky ReLUs and Clips take their piece from the activation channel as ReLUs do.
/// </summary>
public sealed class DecoupledNetwork : IRepairedModel
{
    private readonly Network activation32, value32, value64;
    private readonly int repairedLayer;
    private Network? activation64;

    /// <summary>
    /// Builds a decoupled network from the original (activation channel) and the repaired weights (value channel, any
    /// precision; copied) that split at layer <paramref name="repairedLayer"/> (a block holding the repaired module splits
    /// at its start); a layer from there on that the decoupled semantics does not cover is a one-line
    /// <see cref="ReparoInputException"/>.
    /// </summary>
    public DecoupledNetwork(Network original, Network valueWeights, int repairedLayer)
    {
        if (FirstUnsupported(original, repairedLayer) is NetworkLayer unsupported)
            throw new ReparoInputException($"a decoupled network runs only Linear, Conv1d, Conv2d, ReLU, MaxPool2d, Flatten and piecewise-linear ONNX layers from the repaired layer on, not {unsupported.Name} ({unsupported.Spec.Describe()})");
        activation32 = original;
        this.repairedLayer = repairedLayer;
        value32 = original.Clone();
        value32.CopyWeightsFrom(valueWeights);
        value32.eval();
        value64 = PlainRepairedModel.ToFloat64(valueWeights);
    }

    /// <summary>
    /// The first layer from <paramref name="repairedLayer"/> on that is not Linear, Conv1d, Conv2d, ReLU, MaxPool2d, Flatten or an
    /// ONNX block that is piecewise linear in its input (<see cref="SymbolicEncoder.NotPiecewiseLinear"/>), or null; the
    /// layers after the class scores (<see cref="Network.ScoreLayerCount"/>, a trailing Softmax) run on the value channel as
    /// they are.
    /// </summary>
    public static NetworkLayer? FirstUnsupported(Network network, int repairedLayer) =>
        network.Layers.Take(network.ScoreLayerCount).Skip(repairedLayer).FirstOrDefault(l => l.Spec is not (LinearSpec or Conv1dSpec or Conv2dSpec or ReluSpec or MaxPool2dSpec or FlattenSpec or BinaryScoresSpec)
            && !(l.Module is OnnxBlockModule block && SymbolicEncoder.NotPiecewiseLinear(block) is null));

    /// <summary>The value channel's weights (float32).</summary>
    public Network ValueChannel => value32;

    /// <inheritdoc />
    public Network? PlainNetwork => null;

    /// <inheritdoc />
    public string Kind => $"decoupled network (PRDNN): activation channel = original {activation32.Spec.Architecture}, value channel = repaired copy from {activation32.Layers[repairedLayer].Name} on; not a plain network";

    /// <inheritdoc />
    public Tensor Logits(Tensor x, ScalarType dtype)
    {
        Network activation = activation32, value = value32;
        if (dtype == ScalarType.Float64)
        {
            activation = activation64 ??= PlainRepairedModel.ToFloat64(activation32);
            value = value64;
        }
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        activation.eval();
        value.eval();
        Tensor a = activation.LayerInput(x.to(dtype), repairedLayer), v = a;
        for (int j = repairedLayer; j < activation.Layers.Count; j++)
        {
            NetworkLayer layer = activation.Layers[j];
            switch (layer.Spec)
            {
                case ReluSpec:
                    v = v * (a > 0).to(dtype);
                    a = layer.Module.call(a);
                    break;
                case MaxPool2dSpec pool:
                    {
                        (Tensor pooled, Tensor indices) = nn.functional.max_pool2d_with_indices(a, [pool.Kernel, pool.Kernel], [pool.Kernel, pool.Kernel]);
                        v = v.flatten(2).gather(2, indices.flatten(2)).reshape(pooled.shape);
                        a = pooled;
                        break;
                    }
                case OnnxBlockSpec:
                    (a, v) = Block((OnnxBlockModule)layer.Module, (OnnxBlockModule)value.Layers[j].Module, a, v);
                    break;
                default:
                    a = layer.Module.call(a);
                    v = value.Layers[j].Module.call(v);
                    break;
            }
        }
        return v.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Runs an ONNX block on both channels: the activation channel <paramref name="activation"/> as written; the value
    /// channel node by node through <paramref name="value"/>'s modules, where every ReLU, leaky ReLU, Clip and max-pool
    /// takes the piece the activation channel's input is on (the ties broken as <see cref="ActivationPieces"/> breaks them)
    /// and applies it to the value, and every other node (linear, as <see cref="FirstUnsupported"/> requires) runs as is.
    /// </summary>
    private static (Tensor A, Tensor V) Block(OnnxBlockModule activation, OnnxBlockModule value, Tensor a, Tensor v)
    {
        Dictionary<string, Tensor> act = activation.Values(a), val = value.Start(v);
        for (int i = 0; i < value.Nodes.Count; i++)
        {
            Onnx.NodeProto node = value.Nodes[i];
            if (value.Affine(i) is not null || !Activations.HasKinks(node.OpType))
            {
                value.Step(i, val);
                continue;
            }
            Tensor z = act[node.Input[0]], x = val[node.Input[0]];
            Tensor on = z > 0;
            val[node.Output[0]] = node.OpType switch
            {
                "Relu" => x * on.to(x.dtype),
                "LeakyRelu" => where(on, x, x * OnnxAttributes.Float(node, "alpha", 0.01)),
                "PRelu" => where(on, x, x * val[node.Input[1]].to(x.dtype)),
                "Clip" => Clip(node, activation.Spec.Opset, z, x, val),
                _ => MaxPool(node, activation.Spec.Opset, activation.Spec.Name, act, z, x, act[node.Output[0]].shape),
            };
        }
        return (act[activation.Spec.Output], val[value.Spec.Output]);
    }

    /// <summary>A Clip's piece: its lower bound where the activation is at or below it, its upper bound where above that, else the value.</summary>
    private static Tensor Clip(Onnx.NodeProto node, int opset, Tensor z, Tensor x, Dictionary<string, Tensor> values)
    {
        (double lower, double upper) = Activations.ClipBounds(node, opset, name => values[name]);
        Tensor result = x;
        if (double.IsFinite(upper)) result = where(z > upper, full_like(x, upper), result);
        if (double.IsFinite(lower)) result = where(z > lower, result, full_like(x, lower));
        return result;
    }

    /// <summary>An ONNX max node's piece (<see cref="Activations.IsMax"/>): each window's first maximum of the activation channel, read from the value channel.</summary>
    private static Tensor MaxPool(Onnx.NodeProto node, int opset, string block, Dictionary<string, Tensor> values, Tensor z, Tensor x, long[] outputShape)
    {
        long n = z.shape[0];
        int[][] windows = PoolWindows.Of(node, opset, block, name => values[name], [1, .. z.shape[1..]], [1, .. outputShape[1..]]);
        int width = windows.Max(w => w.Length);
        long[] index = new long[windows.Length * width];
        bool[] padding = new bool[index.Length];
        for (int o = 0; o < windows.Length; o++)
            for (int t = 0; t < width; t++)
            {
                padding[o * width + t] = t >= windows[o].Length;
                index[o * width + t] = windows[o][Math.Min(t, windows[o].Length - 1)];
            }
        Tensor flatIndex = tensor(index), pad = tensor(padding).reshape(1, windows.Length, width);
        Tensor candidates = z.reshape(n, -1).index_select(1, flatIndex).reshape(n, windows.Length, width).masked_fill(pad, double.NegativeInfinity);
        Tensor chosen = flatIndex.reshape(1, windows.Length, width).expand(n, -1, -1).gather(2, candidates.argmax(2, keepdim: true)).squeeze(2);
        return x.reshape(n, -1).gather(1, chosen).reshape(outputShape);
    }
}
