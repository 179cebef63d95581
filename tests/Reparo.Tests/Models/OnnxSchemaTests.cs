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
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Reparo.slnx"))) dir = Path.GetDirectoryName(dir);
        Assert.NotNull(dir);
        Assert.Equal(File.ReadAllBytes(debian), File.ReadAllBytes(Path.Combine(dir!, "src", "Reparo", "Io", "Onnx", "onnx.proto")));
    }
}
