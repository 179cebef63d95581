namespace Reparo.Tests.Models;

/// <summary>The ONNX schema Reparo compiles is Debian's, unchanged.</summary>
public sealed class OnnxSchemaTests
{
    [Fact]
    public void TheVendoredSchemaIsDebiansOnnxProto()
    {
        // ./test installs libonnx-dev, which ships the schema the copy was taken from.
        const string debian = "/usr/include/onnx/onnx.proto";
        Assert.True(File.Exists(debian), $"{debian} is missing: install Debian's libonnx-dev");
        Assert.Equal(File.ReadAllBytes(debian), File.ReadAllBytes(Path.Combine(TestSupport.RepoRoot(), "src", "Reparo", "Io", "Onnx", "onnx.proto")));
    }
}
