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
        Assert.DoesNotContain("zero biases", stdout);
        string noBias = dir.File("nobias.onnx");
        File.WriteAllBytes(noBias, Google.Protobuf.MessageExtensions.ToByteArray(OnnxMethodsTests.NoBiasMlp()));
        (code, string noBiasOut, stderr) = CliRunner.Run("inspect", noBias, "--threads", "2");
        Assert.True(code == CliApp.Success, stderr);
        Assert.Contains("fc1.bias, fc2.bias: zero biases the file does not hold", noBiasOut.ReplaceLineEndings(" "));
        string onnxName = Reparo.Models.Onnx.OnnxImporter.Import(model).Spec.SourceNames!["fc3"][0];
        string json = dir.File("r.json");
        (code, _, stderr) = CliRunner.Run("repair", "--method", "ft", "--model", model, "--data", "fashion-mnist", "--test-limit", "500",
            "--train-limit", "1000", "--repair-set", "fog:3:3", "--layer", onnxName, "--json", json, "--threads", "2");
        Assert.True(code is CliApp.Success or CliApp.BadInput, stderr);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal("fc3", doc.RootElement.GetProperty("layer").GetString());
    }

    [Fact]
    public void ClassNamesTravelThroughExportAndNamedFolderDataFitsAnImportedModel()
    {
        TestSupport.Init();
        using TempFolder dir = TestSupport.TempFolder();
        // A zoo model exported records its class names; importing the file reads them back.
        var zoo = Reparo.Models.ModelZoo.Create("mlp:8x2", [1, 4, 4], Reparo.Data.InputKind.Image, ["ant", "bee", "cat"], null, seed: 1);
        string exported = dir.File("zoo.onnx");
        Reparo.Models.ModelFile.Save(zoo, exported);
        Assert.Equal(["ant", "bee", "cat"], Reparo.Models.Onnx.OnnxImporter.Import(exported).Spec.ClassNames);

        // An imported model that names no classes takes image-folder data by its sorted class names (ImageFolder's order).
        ModelProto model = Tiny(op: "Flatten", width: 1);
        TensorShapeProto shape = model.Graph.Input[0].Type.TensorType.Shape;
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = 4 });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = 4 });
        model.Graph.Node[0].Output[0] = "flat";
        model.Graph.Node.Add(new NodeProto { Name = "gemm", OpType = "Gemm", Input = { "flat", "w" }, Output = { "y" } });
        var w = new TensorProto { Name = "w", DataType = 1, RawData = ByteString.CopyFrom(new byte[16 * 2 * 4]) };
        w.Dims.Add(16);
        w.Dims.Add(2);
        model.Graph.Initializer.Add(w);
        string onnx = dir.File("user.onnx");
        File.WriteAllBytes(onnx, model.ToByteArray());
        foreach (string part in new[] { "train", "test" })
            foreach (string cls in new[] { "dog", "cat" })
                for (int i = 0; i < 2; i++)
                    Reparo.Tests.Data.UserDataFiles.Image(Path.Combine(dir.Path, "images", part, cls, $"{i}.png"), 4, 4, (x, y) => new SkiaSharp.SKColor(90, 90, 90));
        string json = dir.File("eval.json");
        (int code, _, string stderr) = CliRunner.Run("eval", "--model", onnx, "--data", $"folder:{Path.Combine(dir.Path, "images")}", "--json", json, "--threads", "2");
        Assert.True(code == CliApp.Success, stderr);
        Assert.True(File.Exists(json));
    }

    [Fact]
    public void AModelEndingInSoftmaxIsRepairedOnItsScoresAndKeepsItsSoftmax()
    {
        TestSupport.Init();
        using TempFolder dir = TestSupport.TempFolder();
        // The PyTorch MLP with a Softmax appended, as an export for deployment has it.
        ModelProto model = OnnxImportTests.MlpWithSoftmax();
        string onnx = dir.File("softmax.onnx");
        File.WriteAllBytes(onnx, model.ToByteArray());
        string[] data = ["--data", "fashion-mnist", "--test-limit", "500", "--train-limit", "1000", "--threads", "2"];

        // Polytopes through the image-rows input layer and the Softmax: the LP's margins are on the scores, the verifier
        // proves the written network affine up to them.
        string repaired = dir.File("repaired.onnx"), json = dir.File("r.json");
        (int code, _, string stderr) = CliRunner.Run(["repair", "--method", "provable", "--model", onnx, "--repair-set", "rotations:-5:5:3:2", "--layer", "fc3",
            "--preserve", "0", "--out", repaired, "--json", json, .. data]);
        Assert.True(code == CliApp.Success, stderr);
        using (var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json)))
        {
            Assert.True(doc.RootElement.GetProperty("verified").GetBoolean());
            Assert.True(doc.RootElement.GetProperty("verified_onnxruntime").GetBoolean());
        }
        using TorchSharp.torch.Tensor probabilities = Reparo.Verification.OnnxRuntimeCheck.Run(repaired, TorchSharp.torch.rand(4, 28, 28));
        Assert.True(probabilities.sum(1).sub(1).abs().max().item<float>() < 1e-5, "the written model lost its Softmax");

        // PRDNN's decoupled network runs the Softmax on its value channel.
        (code, _, stderr) = CliRunner.Run(["repair", "--method", "prdnn", "--model", onnx, "--repair-set", "fog:3:3", "--layer", "fc2", "--json", json, .. data]);
        Assert.True(code == CliApp.Success, stderr);
        using (var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json)))
            Assert.True(doc.RootElement.GetProperty("verified").GetBoolean());
    }

    [Fact]
    public void ABinaryClassifierWithOneOutputIsRepairedAndWrittenBackWithItsOneOutput()
    {
        TestSupport.Init();
        using TempFolder dir = TestSupport.TempFolder();
        string onnx = dir.File("binary.onnx"), csv = dir.File("table.csv");
        File.WriteAllBytes(onnx, OnnxImportTests.Binary(sigmoid: true).ToByteArray());
        var random = new Random(11);
        var lines = new List<string> { "a,b,c,d,label" };
        for (int i = 0; i < 400; i++)
        {
            double[] f = [.. Enumerable.Range(0, 4).Select(_ => random.NextDouble() * 2 - 1)];
            lines.Add(string.Join(",", f.Select(v => v.ToString("F4", System.Globalization.CultureInfo.InvariantCulture))) + (f[0] + 0.5 * f[2] - 0.3 * f[3] > 0 ? ",1" : ",0"));
        }
        File.WriteAllLines(csv, lines);
        string[] common = ["--data", $"csv:{csv}", "--repair-set", "failures:5", "--threads", "2"];
        foreach (string method in new[] { "provable", "lastlayer" })
        {
            string repaired = dir.File($"{method}.onnx"), json = dir.File($"{method}.json");
            (int code, _, string stderr) = CliRunner.Run(["repair", "--method", method, "--model", onnx, "--layer", "fc1", "--out", repaired, "--json", json, .. common]);
            Assert.True(code == CliApp.Success, stderr);
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
            Assert.True(doc.RootElement.GetProperty("verified").GetBoolean(), method);
            Assert.True(doc.RootElement.GetProperty("verified_onnxruntime").GetBoolean(), method);
            // The written file is the user's graph: one output, a probability.
            using TorchSharp.torch.Tensor output = Reparo.Verification.OnnxRuntimeCheck.Run(repaired, TorchSharp.torch.rand(3, 4));
            Assert.Equal(new long[] { 3, 1 }, output.shape);
            Assert.True(output.min().item<float>() >= 0 && output.max().item<float>() <= 1);
        }
        (int exportCode, _, string exportError) = CliRunner.Run("export", "--model", onnx, "--out", dir.File("exported.onnx"));
        Assert.True(exportCode == CliApp.Success, exportError);
    }

    [Fact]
    public void AChannelsLastModelTakesItsOwnLayoutOfDataAndIsWrittenBackVerified()
    {
        TestSupport.Init();
        using TempFolder dir = TestSupport.TempFolder();
        string onnx = dir.File("keras.onnx");
        File.WriteAllBytes(onnx, OnnxImportTests.ChannelsLastModel().ToByteArray());
        // The user's arrays are channels last too, (N, 8, 8, 3), as Keras keeps them.
        var generator = new TorchSharp.torch.Generator(4);
        string npz = Reparo.Tests.Data.UserDataFiles.Npz(dir.File("images.npz"),
            ("x_train", TorchSharp.torch.rand([60, 8, 8, 3], generator: generator)), ("y_train", TorchSharp.torch.arange(60, TorchSharp.torch.ScalarType.Int64).remainder(3)),
            ("x_test", TorchSharp.torch.rand([30, 8, 8, 3], generator: generator)), ("y_test", TorchSharp.torch.arange(30, TorchSharp.torch.ScalarType.Int64).remainder(3)));
        (int code, _, string stderr) = CliRunner.Run("eval", "--model", onnx, "--data", $"npz:{npz}", "--threads", "2");
        Assert.True(code == CliApp.Success, stderr);
        string repaired = dir.File("repaired.onnx"), json = dir.File("r.json");
        (code, _, stderr) = CliRunner.Run("repair", "--method", "provable", "--model", onnx, "--data", $"npz:{npz}", "--repair-set", "failures:3", "--layer", "fc1",
            "--preserve", "0", "--out", repaired, "--json", json, "--threads", "2");
        Assert.True(code == CliApp.Success, stderr);
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
        Assert.True(doc.RootElement.GetProperty("verified").GetBoolean());
        Assert.True(doc.RootElement.GetProperty("verified_onnxruntime").GetBoolean());
    }

    [Fact]
    public void AGraphWithFeaturesBeforeItsLogitsIsRepairedOnTheOutputAskedForAndKeepsBoth()
    {
        TestSupport.Init();
        using TempFolder dir = TestSupport.TempFolder();
        ModelProto model = OnnxImportTests.MlpWithFeaturesFirst();
        string onnx = dir.File("two.onnx"), features = model.Graph.Output[0].Name;
        File.WriteAllBytes(onnx, model.ToByteArray());
        string[] data = ["--data", "fashion-mnist", "--test-limit", "300", "--train-limit", "1000", "--threads", "2"];

        // Read from the first output, the features are 100 "classes": the error names the outputs and the option.
        (int code, _, string stderr) = CliRunner.Run(["eval", "--model", onnx, .. data]);
        Assert.Equal(CliApp.BadInput, code);
        Assert.Contains($"the model has 100 (read from the graph's output '{features}'; --onnx-output reads another: logits)", stderr);

        string repaired = dir.File("repaired.onnx"), json = dir.File("r.json");
        (code, _, stderr) = CliRunner.Run(["repair", "--method", "provable", "--model", onnx, "--onnx-output", "logits", "--repair-set", "fog:3:5", "--layer", "fc3",
            "--preserve", "0", "--out", repaired, "--json", json, .. data]);
        Assert.True(code == CliApp.Success, stderr);
        using (var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json)))
            Assert.True(doc.RootElement.GetProperty("verified_onnxruntime").GetBoolean());
        // The written file keeps both outputs: the features as they were (fc3 follows them), the logits repaired.
        using TorchSharp.torch.Tensor x = TorchSharp.torch.rand(6, 28, 28, generator: new TorchSharp.torch.Generator(1));
        Assert.True(Reparo.Verification.OnnxRuntimeCheck.Run(repaired, x, features).SameAs(Reparo.Verification.OnnxRuntimeCheck.Run(onnx, x, features)));
        Assert.False(Reparo.Verification.OnnxRuntimeCheck.Run(repaired, x, "logits").SameAs(Reparo.Verification.OnnxRuntimeCheck.Run(onnx, x, "logits")));

        // A Reparo model file has no graph outputs to choose from.
        string saved = dir.File("m.reparo");
        Reparo.Models.ModelFile.Save(Reparo.Models.ModelFile.Load(onnx, new Reparo.Models.ModelLoadOptions("logits")), saved);
        (code, _, stderr) = CliRunner.Run(["eval", "--model", saved, "--onnx-output", "logits", .. data]);
        Assert.Equal(CliApp.BadInput, code);
        Assert.Contains("is chosen only for an ONNX model", stderr);
    }
}
