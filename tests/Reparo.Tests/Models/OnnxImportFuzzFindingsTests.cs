using Reparo.Data;
using Reparo.Models;
using Reparo.Models.Onnx;

namespace Reparo.Tests.Models;

/// <summary>ONNX files that reparo fuzz onnx found crashing the importer; each must be a one-line input error.</summary>
public sealed class OnnxImportFuzzFindingsTests
{
    [Fact]
    public void AMatMulWhoseShapesDisagreeIsAnInputErrorNotAnAbort()
    {
        // Case 347 of `reparo fuzz onnx --seed 1`: one bit flipped in a weight's dimension; LibTorchSharp's matmul
        // aborted the process on the shape mismatch (1x8 and 3x8).
        TestSupport.Init();
        using Network mlp = ModelZoo.Create("mlp:8x2", [4], InputKind.Features, ["a", "b", "c"], null, 1);
        byte[] bytes = OnnxExporter.Export(mlp);
        bytes[219] ^= 1 << 2;
        string message = Assert.Throws<ReparoInputException>(() => OnnxImporter.Import(bytes, "fuzz.onnx", null, new OnnxImportOptions())).Message;
        Assert.Contains("cannot be multiplied", message);
        Assert.DoesNotContain('\n', message);
    }
}
