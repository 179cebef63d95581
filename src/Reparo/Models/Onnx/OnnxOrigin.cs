namespace Reparo.Models.Onnx;

/// <summary>
/// Where an imported network came from: the ONNX file's bytes as read, and which initializer holds each Reparo
/// parameter. Export writes the user's own graph back with only the changed initializers replaced.
/// </summary>
/// <param name="SourcePath">The file the model was imported from.</param>
/// <param name="ModelBytes">The ONNX file's bytes as read (the graph export starts from).</param>
/// <param name="Parameters">Per Reparo parameter name (<c>fc1.weight</c>, <c>block1.conv2.bias</c>), its initializer.</param>
/// <param name="UnboundDigests">
/// Per parameter that no single initializer holds as is (an LSTM's gate-reordered weights, the zero bias of a Gemm
/// without one), the SHA-256 of its bytes at import: export writes the graph only while these are unchanged.
/// </param>
public sealed record OnnxOrigin(string SourcePath, byte[] ModelBytes, IReadOnlyDictionary<string, OnnxParameterBinding> Parameters,
    IReadOnlyDictionary<string, string>? UnboundDigests = null)
{
    /// <summary>
    /// The tensor Reparo reads as the class scores (null: the graph's first output): a graph output, or the value inside
    /// the graph that <see cref="OutputName"/> is made from (the probabilities under skl2onnx's ZipMap).
    /// </summary>
    public string? Output { get; init; }

    /// <summary>The graph output the scores belong to (null: <see cref="Output"/>).</summary>
    public string? OutputName { get; init; }

    /// <summary>
    /// Whether the class names were given at import (<see cref="OnnxImportOptions.ClassNames"/>) rather than read from
    /// the file: a written-back file then records them in its metadata (<c>reparo.classes</c>).
    /// </summary>
    public bool RecordsClassNames { get; init; }

    /// <summary>The graph's other outputs (kept in a written-back file, never read).</summary>
    public IReadOnlyList<string> OtherOutputs { get; init; } = [];

    /// <summary>The SHA-256 (hex) of a parameter's bytes, as <see cref="UnboundDigests"/> records it.</summary>
    public static string Digest(TorchSharp.torch.Tensor value)
    {
        using TorchSharp.torch.Tensor contiguous = value.detach().cpu().contiguous();
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(contiguous.bytes));
    }
}

/// <summary>
/// How one Reparo parameter relates to an ONNX initializer: parameter = <see cref="Scale"/> · initializer, transposed
/// first when <see cref="Transposed"/> (Gemm with <c>transB = 0</c>, MatMul weights), so export can invert it exactly.
/// </summary>
/// <param name="Initializer">The initializer's name in the ONNX graph, or the output of the Constant node whose value holds the tensor.</param>
/// <param name="Transposed">Whether the parameter is the initializer's transpose (2-D).</param>
/// <param name="Scale">The factor folded into the parameter (Gemm's <c>alpha</c> or <c>beta</c>; 1 otherwise).</param>
/// <param name="AddsBiasTo">
/// For the bias of a Conv, Gemm or MatMul node that has none in the file (a PyTorch layer with <c>bias=False</c>): that
/// node's output. The parameter starts at zero and <see cref="Initializer"/> is a fresh name; once the bias is no longer
/// zero, export adds it as the node's bias input (Conv, Gemm) or as an Add after it (MatMul).
/// </param>
public sealed record OnnxParameterBinding(string Initializer, bool Transposed = false, double Scale = 1, string? AddsBiasTo = null);
