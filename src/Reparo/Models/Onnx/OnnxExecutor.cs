using Onnx;
using static TorchSharp.torch;

namespace Reparo.Models.Onnx;

/// <summary>Runs a list of ONNX nodes in order through <see cref="OnnxOperators"/>, passing values by name.</summary>
internal static class OnnxExecutor
{
    /// <summary>
    /// Runs <paramref name="nodes"/> in order: each node's inputs are looked up in <paramref name="values"/> by name (an
    /// empty name is an omitted optional input) and its outputs are stored there under their names. A node input that
    /// is neither given nor computed earlier is a <see cref="ReparoInputException"/> naming the node and the value.
    /// </summary>
    public static void Run(IReadOnlyList<NodeProto> nodes, int opset, IDictionary<string, Tensor> values)
    {
        foreach (NodeProto node in nodes)
        {
            var inputs = new Tensor?[node.Input.Count];
            for (int i = 0; i < inputs.Length; i++)
            {
                string name = node.Input[i];
                if (name.Length == 0) continue;
                inputs[i] = values.TryGetValue(name, out Tensor? value) ? value
                    : throw new ReparoInputException($"{node.OpType} node '{node.Name}' reads value '{name}', which is neither a graph input nor computed by an earlier node");
            }
            Tensor?[] outputs = OnnxOperators.Run(node, opset, inputs);
            for (int i = 0; i < outputs.Length; i++)
            {
                if (outputs[i] is Tensor output) values[node.Output[i]] = output;
            }
        }
    }
}
