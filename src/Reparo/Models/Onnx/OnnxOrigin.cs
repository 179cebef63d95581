namespace Reparo.Models.Onnx;

/// <summary>
/// Where an imported network came from: the ONNX file's bytes as read, and which initializer holds each Reparo
/// parameter. Export writes the user's own graph back with only the changed initializers replaced.
/// </summary>
/// <param name="SourcePath">The file the model was imported from.</param>
/// <param name="ModelBytes">The ONNX file's bytes as read (the graph export starts from).</param>
/// <param name="Parameters">Per Reparo parameter name (<c>fc1.weight</c>, <c>block1.conv2.bias</c>), its initializer.</param>
public sealed record OnnxOrigin(string SourcePath, byte[] ModelBytes, IReadOnlyDictionary<string, OnnxParameterBinding> Parameters);

/// <summary>
/// How one Reparo parameter relates to an ONNX initializer: parameter = <see cref="Scale"/> · initializer, transposed
/// first when <see cref="Transposed"/> (Gemm with <c>transB = 0</c>, MatMul weights), so export can invert it exactly.
/// </summary>
/// <param name="Initializer">The initializer's name in the ONNX graph.</param>
/// <param name="Transposed">Whether the parameter is the initializer's transpose (2-D).</param>
/// <param name="Scale">The factor folded into the parameter (Gemm's <c>alpha</c> or <c>beta</c>; 1 otherwise).</param>
public sealed record OnnxParameterBinding(string Initializer, bool Transposed = false, double Scale = 1);
