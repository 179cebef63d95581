using Google.Protobuf;
using Onnx;
using Reparo.Cli;
using Reparo.Tests.Models;

namespace Reparo.Tests.Cli;

/// <summary>ONNX files through the command line: bad ones are one line and exit 2 with nothing written; names work as --layer.</summary>
public sealed class OnnxCliTests
{
    /// <summary>A one-node model x (N, 64) → y, digits-shaped, for the bad-input cases to break.</summary>
    private static ModelProto Tiny(int opset = 13, string op = "Relu", long width = 64) => OnnxImportTests.Tiny(opset, op, width);

    private static ModelProto WithInitializer(TensorProto initializer)
    {
        ModelProto model = Tiny(op: "Add");
        model.Graph.Node[0].Input.Add(initializer.Name);
        model.Graph.Initializer.Add(initializer);
        return model;
    }

    public static TheoryData<string, string> BadFiles() => new()
    {
        { "truncated", "not an ONNX model" },
        { "text", "not an ONNX model" },
        { "unsupported-op", "unsupported ONNX operators: Frobnicate at n0" },
        { "external-outside", "outside the model's folder" },
        { "tensor-larger-than-file", "declares 1000000 elements" },
        { "opset-8", "opset 8 is outside" },
        { "opset-22", "opset 22 is outside" },
        { "unresolved-shape", "cannot be resolved" },
    };

    private static byte[] Bytes(string kind)
    {
        switch (kind)
        {
            case "truncated":
                byte[] good = File.ReadAllBytes(Path.Combine(OnnxImportTests.Fixture("mlp"), "model.onnx"));
                return good[..(good.Length / 3)];
            case "text":
                return "this is not an ONNX file\n"u8.ToArray();
            case "unsupported-op":
                return Tiny(op: "Frobnicate").ToByteArray();
            case "external-outside":
                {
                    var b = new TensorProto { Name = "b", DataType = 1, DataLocation = TensorProto.Types.DataLocation.External };
                    b.Dims.Add(64);
                    b.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "../../etc/passwd" });
                    return WithInitializer(b).ToByteArray();
                }
            case "tensor-larger-than-file":
                {
                    var b = new TensorProto { Name = "b", DataType = 1, RawData = ByteString.CopyFrom(new byte[256]) };
                    b.Dims.Add(1_000_000);
                    return WithInitializer(b).ToByteArray();
                }
            case "opset-8":
                return Tiny(opset: 8).ToByteArray();
            case "opset-22":
                return Tiny(opset: 22).ToByteArray();
            default:
                return Tiny(width: 0).ToByteArray();
        }
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void ABadOnnxFileIsOneLineExitTwoAndNothingWritten(string kind, string expected)
    {
        using TempFolder dir = TestSupport.TempFolder();
        string model = dir.File("model.onnx");
        byte[] bytes = Bytes(kind);
        File.WriteAllBytes(model, bytes);
        string output = dir.File("fixed.onnx"), json = dir.File("report.json");
        foreach (string[] args in new[]
        {
            new[] { "inspect", model, "--json", json },
            ["repair", "--method", "provable", "--model", model, "--data", "digits", "--repair-set", "fog:3:5", "--layer", "fc1", "--out", output, "--json", json],
            ["export", "--model", model, "--out", output, "--json", json],
        })
        {
            (int code, string stdout, string stderr) = CliRunner.Run([.. args, "--threads", "2"]);
            Assert.True(code == CliApp.BadInput, $"{args[0]} on {kind}: exit {code}: {stderr}{stdout}");
            string line = stderr.Trim();
            Assert.DoesNotContain('\n', line);
            Assert.Contains(expected, line);
            Assert.False(File.Exists(output), $"{args[0]} on {kind} wrote {output}");
            Assert.False(File.Exists(json), $"{args[0]} on {kind} wrote {json}");
            Assert.Equal(bytes, File.ReadAllBytes(model));
        }
    }

    [Fact]
    public void InspectListsOnnxNamesAndRepairAcceptsThemAsLayer()
    {
        TestSupport.Init();
        using TempFolder dir = TestSupport.TempFolder();
        string model = Path.Combine(OnnxImportTests.Fixture("mlp"), "model.onnx");
        (int code, string stdout, string stderr) = CliRunner.Run("inspect", model, "--threads", "2");
        Assert.True(code == CliApp.Success, stderr);
        Assert.Contains("fc2", stdout);
        Assert.Contains("ONNX nodes and initializers", stdout);
        string onnxName = Reparo.Models.Onnx.OnnxImporter.Import(model).Spec.SourceNames!["fc3"][0];
        string json = dir.File("r.json");
        (code, _, stderr) = CliRunner.Run("repair", "--method", "ft", "--model", model, "--data", "fashion-mnist", "--test-limit", "500",
            "--train-limit", "1000", "--repair-set", "fog:3:3", "--layer", onnxName, "--json", json, "--threads", "2");
        Assert.True(code is CliApp.Success or CliApp.BadInput, stderr);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal("fc3", doc.RootElement.GetProperty("layer").GetString());
    }
}
