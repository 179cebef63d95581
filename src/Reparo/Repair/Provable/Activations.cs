using Reparo.Models;
using Reparo.Models.Onnx;
using static TorchSharp.torch;

namespace Reparo.Repair.Provable;

/// <summary>A place in a network: a top-level layer (<see cref="Node"/> = -1) or one node of an ONNX block layer.</summary>
/// <param name="Layer">Top-level layer index.</param>
/// <param name="Node">Node index within the block layer, or -1 for the layer itself.</param>
internal readonly record struct LayerSite(int Layer, int Node = -1)
{
    /// <summary>Whether the site is a node inside a block.</summary>
    public bool Nested => Node >= 0;

    /// <summary>A top-level layer.</summary>
    public static implicit operator LayerSite(int layer) => new(layer);
}

/// <summary>One ReLU's or max-pool's input for a batch.</summary>
/// <param name="Site">Where it is.</param>
/// <param name="Input">Its input (batch first).</param>
/// <param name="Windows">A max-pool's windows (see <see cref="PoolWindows"/>); null for a ReLU.</param>
internal sealed record Activation(LayerSite Site, Tensor Input, int[][]? Windows);

/// <summary>The ReLUs and max-pools of a network, top-level ones and those inside ONNX blocks, with their inputs for one batch.</summary>
internal static class Activations
{
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
                        Dictionary<string, Tensor> values = ((OnnxBlockModule)layer.Module).Values(trace.InputOf(j));
                        IReadOnlyList<Onnx.NodeProto> nodes = ((OnnxBlockModule)layer.Module).Nodes;
                        for (int i = 0; i < nodes.Count; i++)
                        {
                            Onnx.NodeProto node = nodes[i];
                            if (node.OpType == "Relu") yield return new Activation(new LayerSite(j, i), values[node.Input[0]], null);
                            else if (node.OpType == "MaxPool")
                                yield return new Activation(new LayerSite(j, i), values[node.Input[0]], PoolWindows.Of(node, block.Name, values[node.Input[0]].shape, values[node.Output[0]].shape));
                        }
                        break;
                    }
            }
        }
    }
}
