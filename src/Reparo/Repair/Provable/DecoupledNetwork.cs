using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Repair.Provable;

/// <summary>
/// PRDNN's decoupled network (Sotoudeh and Thakur PLDI'21, §4): an activation channel with the original weights decides
/// every ReLU's on/off state and every max-pool's choice; a value channel with the repaired weights computes the
/// values under those decisions. It is not a plain network of the original architecture (it carries two copies of the
/// weights), which is why APRNN was proposed. Only the repaired layer k differs between the channels, so layers before k
/// (any layers, ONNX blocks included) run once, concretely, and the channels split at k; from k to the class scores every
/// layer must be Linear, Conv2d, ReLU, MaxPool2d or Flatten (<see cref="FirstUnsupported"/>).
/// </summary>
public sealed class DecoupledNetwork : IRepairedModel
{
    private readonly Network activation32, value32, value64;
    private readonly int repairedLayer;
    private Network? activation64;

    /// <summary>
    /// Builds a decoupled network from the original (activation channel) and the repaired weights (value channel, any
    /// precision; copied) that split at layer <paramref name="repairedLayer"/>; a layer from there on that the decoupled
    /// semantics does not cover is a one-line <see cref="ReparoInputException"/>.
    /// </summary>
    public DecoupledNetwork(Network original, Network valueWeights, int repairedLayer)
    {
        if (FirstUnsupported(original, repairedLayer) is NetworkLayer unsupported)
            throw new ReparoInputException($"a decoupled network runs only Linear, Conv2d, ReLU, MaxPool2d and Flatten layers from the repaired layer on, not {unsupported.Name} ({unsupported.Spec.Describe()})");
        activation32 = original;
        this.repairedLayer = repairedLayer;
        value32 = original.Clone();
        value32.CopyWeightsFrom(valueWeights);
        value32.eval();
        value64 = PlainRepairedModel.ToFloat64(valueWeights);
    }

    /// <summary>
    /// The first layer from <paramref name="repairedLayer"/> on that is not Linear, Conv2d, ReLU, MaxPool2d or Flatten (an
    /// ONNX block, a recurrent layer, …), or null; the layers after the class scores (<see cref="Network.ScoreLayerCount"/>,
    /// a trailing Softmax) run on the value channel as they are.
    /// </summary>
    public static NetworkLayer? FirstUnsupported(Network network, int repairedLayer) =>
        network.Layers.Take(network.ScoreLayerCount).Skip(repairedLayer).FirstOrDefault(l => l.Spec is not (LinearSpec or Conv2dSpec or ReluSpec or MaxPool2dSpec or FlattenSpec or BinaryScoresSpec));

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
                default:
                    a = layer.Module.call(a);
                    v = value.Layers[j].Module.call(v);
                    break;
            }
        }
        return v.MoveToOuterDisposeScope();
    }
}
