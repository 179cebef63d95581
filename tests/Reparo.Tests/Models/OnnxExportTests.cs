using System.Text.Json;
using Google.Protobuf;
using Onnx;
using Reparo.Cli;
using Reparo.Data;
using Reparo.Io.Onnx;
using Reparo.Models;
using Reparo.Models.Onnx;
using Reparo.Tests.Cli;
using Reparo.Verification;
using static TorchSharp.torch;

namespace Reparo.Tests.Models;

public class OnnxExportTests
{
    private static readonly string[] Classes = ["a", "b", "c"];

    private static (Network Network, Tensor Inputs) ZooModel(string architecture)
    {
        TestSupport.Init();
        var generator = new Generator(7);
        if (architecture.StartsWith("text:") || architecture.EndsWith("@tokens"))
        {
            string arch = architecture.Replace("@tokens", "");
            Dataset tokens = TestSupport.RandomTokens(5, length: 6, classes: 3);
            Network textModel = ModelZoo.Create(arch, tokens.SampleShape, InputKind.Tokens, Classes, tokens.Vocabulary, seed: 3);
            // The last row is all padding: the mean embedding's divisor must stay 1.
            Tensor ids = cat([tokens.X, zeros([1, 6], ScalarType.Int64)], 0);
            return (textModel, ids);
        }
        long[] shape = architecture.StartsWith("mlp") ? [2, 4, 4] : [2, 8, 8];
        Network network = ModelZoo.Create(architecture, shape, architecture.StartsWith("mlp") ? InputKind.Features : InputKind.Image, Classes, null, seed: 3);
        return (network, rand([4, .. shape], generator: generator));
    }

    /// <summary>
    /// Torch's logits in evaluation mode with autograd on: libtorch's no-grad LSTM path (used by <see cref="Network.Logits"/>)
    /// disagrees with its own autograd path and with a hand-written LSTM by up to 1e-1 here, so it is not the reference.
    /// </summary>
    internal static Tensor TorchReference(Network network, Tensor inputs) => network.InEvalMode(() => network.forward(inputs).detach());

    /// <summary>Every architecture family of the zoo, on images and (recurrent and text models) on tokens.</summary>
    public static TheoryData<string> ZooArchitectures => ["mlp:16x3", "cnn", "resnet", "lstm:8", "gru:8", "vit", "text:8", "lstm:8@tokens", "gru:8@tokens"];

    [Theory]
    [MemberData(nameof(ZooArchitectures))]
    public void ZooModelRunsInOnnxRuntimeAsInTorch(string architecture)
    {
        (Network network, Tensor inputs) = ZooModel(architecture);
        byte[] bytes = OnnxExporter.Export(network);
        using Tensor expected = TorchReference(network, inputs);
        using Tensor actual = OnnxRuntimeCheck.Run(bytes, inputs);
        Assert.Equal(expected.shape, actual.shape);
        double difference = actual.sub(expected).abs().max().item<float>();
        Assert.True(difference <= 1e-5, $"max |ORT − torch| = {difference}");

        ModelProto model = ModelProto.Parser.ParseFrom(bytes);
        Assert.Equal(17, model.OpsetImport.Single().Version);
        Assert.Equal(8, model.IrVersion);
        Assert.Equal("reparo", model.ProducerName);
        Assert.Equal("input", model.Graph.Input.Single().Name);
        Assert.Equal("N", model.Graph.Input.Single().Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Equal("logits", model.Graph.Output.Single().Name);
        // Every layer's output is produced by a node named after the layer.
        foreach (NetworkLayer layer in network.Layers) Assert.Contains(model.Graph.Node, n => n.Name == layer.Name);
        Assert.Equal(bytes, OnnxExporter.Export(network));
    }

    [Theory]
    [MemberData(nameof(ZooArchitectures))]
    public void ZooModelReimportsAsTheSameFunction(string architecture)
    {
        (Network network, Tensor inputs) = ZooModel(architecture);
        using Network imported = OnnxImporter.Import(OnnxExporter.Export(network), "exported.onnx", null, new OnnxImportOptions());
        using Tensor expected = TorchReference(network, inputs);
        using Tensor actual = TorchReference(imported, inputs);
        double difference = actual.sub(expected).abs().max().item<float>();
        Assert.True(difference <= 1e-5, $"max |imported − original| = {difference}");
    }

    [Fact]
    public void ZooInitializersCarryReparoNames()
    {
        (Network network, _) = ZooModel("cnn");
        ModelProto model = ModelProto.Parser.ParseFrom(OnnxExporter.Export(network));
        TensorProto weight = model.Graph.Initializer.Single(i => i.Name == "fc1.weight");
        using Tensor stored = OnnxTensors.ToTorch(weight, "test", null);
        Assert.True(stored.eq(network.Layers[network.LayerIndex("fc1")].AsLinear!.weight!).all().item<bool>());
        Assert.Equal(["conv1", "conv2", "fc1", "fc2"], model.Graph.Node.Where(n => n.OpType is "Conv" or "Gemm").Select(n => n.Name).Order().ToArray());
    }

    [Fact]
    public void SavingToAnOnnxPathWritesOnnx()
    {
        (Network network, Tensor inputs) = ZooModel("mlp:16x3");
        using var dir = TestSupport.TempFolder();
        ModelFile.Save(network, dir.File("m.onnx"));
        Assert.Equal(OnnxExporter.Export(network), File.ReadAllBytes(dir.File("m.onnx")));
        long[] labels = network.Predict(inputs);
        double[] margins = OnnxRuntimeCheck.Margins(dir.File("m.onnx"), inputs, labels);
        Assert.All(margins, m => Assert.True(m >= 0));
        using Tensor logits = TorchReference(network, inputs);
        for (int i = 0; i < labels.Length; i++)
        {
            float[] row = logits[i].data<float>().ToArray();
            float other = row.Where((_, c) => c != labels[i]).Max();
            Assert.Equal(row[labels[i]] - other, margins[i], 1e-5);
        }
    }

    /// <summary>
    /// A small user graph: Y = Gemm(Relu(Gemm(X, W1, B1, alpha 0.5, beta 0.7, transB 0)), W2, B2, transB 1), with doc
    /// strings, metadata and a W1 stored as float_data.
    /// </summary>
    private static ModelProto UserModel()
    {
        var generator = new Generator(11);
        Tensor w1 = randn([4, 3], generator: generator), b1 = randn([3], generator: generator);
        Tensor w2 = randn([2, 3], generator: generator), b2 = randn([2], generator: generator);
        var graph = new GraphProto { Name = "user-graph", DocString = "the user's own graph" };
        TensorProto w1Proto = new() { Name = "W1", DataType = (int)TensorProto.Types.DataType.Float, DocString = "first weights" };
        w1Proto.Dims.AddRange([4, 3]);
        w1Proto.FloatData.AddRange(w1.data<float>().ToArray());
        graph.Initializer.Add(w1Proto);
        graph.Initializer.Add(OnnxTensors.FromTorch(b1, "B1"));
        graph.Initializer.Add(OnnxTensors.FromTorch(w2, "W2"));
        graph.Initializer.Add(OnnxTensors.FromTorch(b2, "B2"));
        NodeProto Gemm(string name, string[] inputs, string output, long transB, float alpha, float beta)
        {
            var node = new NodeProto { Name = name, OpType = "Gemm", DocString = $"user node {name}" };
            node.Input.AddRange(inputs);
            node.Output.Add(output);
            node.Attribute.Add(new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = transB });
            node.Attribute.Add(new AttributeProto { Name = "alpha", Type = AttributeProto.Types.AttributeType.Float, F = alpha });
            node.Attribute.Add(new AttributeProto { Name = "beta", Type = AttributeProto.Types.AttributeType.Float, F = beta });
            return node;
        }
        graph.Node.Add(Gemm("dense_a", ["X", "W1", "B1"], "ha", 0, 0.5f, 0.7f));
        var relu = new NodeProto { Name = "act", OpType = "Relu" };
        relu.Input.Add("ha");
        relu.Output.Add("hr");
        graph.Node.Add(relu);
        graph.Node.Add(Gemm("dense_b", ["hr", "W2", "B2"], "Y", 1, 1f, 1f));
        ValueInfoProto Value(string name, long width)
        {
            var type = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = new TensorShapeProto() };
            type.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
            type.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = width });
            return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = type } };
        }
        graph.Input.Add(Value("X", 4));
        graph.Output.Add(Value("Y", 2));
        var model = new ModelProto { IrVersion = 7, ProducerName = "someone-else", ProducerVersion = "4.2", DocString = "a user model", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "author", Value = "user" });
        return model;
    }

    private static Network ImportedByHand(ModelProto model, string path)
    {
        var spec = new NetworkSpec("imported", [4], InputKind.Features, ["y0", "y1"],
            [new LinearSpec("fc1", 4, 3), new ReluSpec("relu1"), new LinearSpec("fc2", 3, 2)]);
        var network = new Network(spec);
        Tensor Init(string name) => OnnxTensors.ToTorch(model.Graph.Initializer.Single(i => i.Name == name), path, null);
        using (no_grad())
        {
            network.Layers[0].AsLinear!.weight!.copy_(Init("W1").t().mul(0.5));
            network.Layers[0].AsLinear!.bias!.copy_(Init("B1").mul(0.7));
            network.Layers[2].AsLinear!.weight!.copy_(Init("W2"));
            network.Layers[2].AsLinear!.bias!.copy_(Init("B2"));
        }
        network.OnnxOrigin = new OnnxOrigin(path, model.ToByteArray(), new Dictionary<string, OnnxParameterBinding>
        {
            ["fc1.weight"] = new("W1", Transposed: true, Scale: 0.5),
            ["fc1.bias"] = new("B1", Scale: 0.7f),
            ["fc2.weight"] = new("W2"),
            ["fc2.bias"] = new("B2"),
        });
        return network;
    }

    [Fact]
    public void AnUnchangedImportedModelIsWrittenBackAsParsed()
    {
        TestSupport.Init();
        ModelProto model = UserModel();
        Network network = ImportedByHand(model, "user.onnx");
        OnnxExport export = OnnxExporter.Build(network);
        Assert.Empty(export.ReplacedInitializers);
        Assert.Equal(13, export.Opset);
        Assert.Equal(model.ToByteArray(), export.Bytes);
    }

    [Fact]
    public void AChangedImportedWeightReplacesOnlyItsInitializer()
    {
        TestSupport.Init();
        ModelProto model = UserModel();
        Network network = ImportedByHand(model, "user.onnx");
        using (no_grad()) network.Layers[0].AsLinear!.weight![1, 2].add_(0.25f);

        OnnxExport export = OnnxExporter.Build(network);
        Assert.Equal(["W1"], export.ReplacedInitializers);
        ModelProto written = ModelProto.Parser.ParseFrom(export.Bytes);
        TensorProto w1 = written.Graph.Initializer.Single(i => i.Name == "W1");
        Assert.Equal([4L, 3L], w1.Dims);
        Assert.Equal((int)TensorProto.Types.DataType.Float, w1.DataType);
        Assert.Equal("first weights", w1.DocString);
        Assert.True(w1.HasRawData);
        Assert.Empty(w1.FloatData);
        using Tensor stored = OnnxTensors.ToTorch(w1, "written", null);
        using Tensor expectedW1 = network.Layers[0].AsLinear!.weight!.detach().t().div(0.5);
        Assert.True(stored.eq(expectedW1).all().item<bool>());

        // Put the original initializer back: the rest of the model is exactly the user's.
        int at = written.Graph.Initializer.IndexOf(w1);
        written.Graph.Initializer[at] = model.Graph.Initializer.Single(i => i.Name == "W1");
        Assert.Equal(model, written);
        Assert.Equal(model.Graph.Node, written.Graph.Node);
        Assert.Equal(model.MetadataProps, written.MetadataProps);

        Tensor inputs = randn([5, 4], generator: new Generator(2));
        using Tensor expected = TorchReference(network, inputs);
        using Tensor actual = OnnxRuntimeCheck.Run(export.Bytes, inputs);
        Assert.True(actual.sub(expected).abs().max().item<float>() <= 1e-5);
    }

    [Fact]
    public void AWeightHeldByAConstantNodeIsWrittenBackThere()
    {
        TestSupport.Init();
        // The PyTorch MLP with every initializer moved into a Constant node, as some exporters write weights.
        ModelProto model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(OnnxImportTests.Fixture("mlp"), "model.onnx")));
        TensorProto[] weights = [.. model.Graph.Initializer];
        model.Graph.Initializer.Clear();
        for (int i = 0; i < weights.Length; i++)
            model.Graph.Node.Insert(i, new NodeProto
            {
                Name = $"const_{weights[i].Name}",
                OpType = "Constant",
                Output = { weights[i].Name },
                Attribute = { new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = weights[i] } },
            });
        Network network = OnnxImporter.Import(model.ToByteArray(), "constants.onnx", null, new OnnxImportOptions());
        using (no_grad()) network.Layers.Single(l => l.Name == "fc2").AsLinear!.weight![3, 7].add_(0.5f);
        OnnxExport export = OnnxExporter.Build(network);
        Assert.Single(export.ReplacedInitializers);
        Assert.Empty(ModelProto.Parser.ParseFrom(export.Bytes).Graph.Initializer);
        Tensor inputs = rand([6, 28, 28], generator: new Generator(5));
        using Tensor expected = network.Logits(inputs.unsqueeze(1));
        using Tensor actual = OnnxRuntimeCheck.Run(export.Bytes, inputs);
        Assert.True(actual.sub(expected).abs().max().item<float>() <= 1e-5);
    }

    [Fact]
    public void AnUnboundParameterIsRefused()
    {
        TestSupport.Init();
        ModelProto model = UserModel();
        Network network = ImportedByHand(model, "user.onnx");
        var bindings = network.OnnxOrigin!.Parameters.Where(p => p.Key != "fc2.bias").ToDictionary();
        Tensor bias = network.named_parameters().Single(p => p.name == "fc2.bias").parameter;
        network.OnnxOrigin = network.OnnxOrigin with
        {
            Parameters = bindings,
            UnboundDigests = new Dictionary<string, string> { ["fc2.bias"] = OnnxOrigin.Digest(bias) },
        };
        // Unchanged, an unbound parameter does not stop export; changed, it cannot be written back.
        Assert.Empty(OnnxExporter.Build(network).ReplacedInitializers);
        using (no_grad()) bias.add_(1);
        var error = Assert.Throws<ReparoInputException>(() => OnnxExporter.Build(network));
        Assert.Contains("'fc2.bias' changed but is held by no single initializer", error.Message);
        network.OnnxOrigin = network.OnnxOrigin with { UnboundDigests = null };
        using (no_grad()) bias.sub_(1);
        Assert.Contains("'fc2.bias' changed", Assert.Throws<ReparoInputException>(() => OnnxExporter.Build(network)).Message);
    }

    [Fact]
    public void ExportCommandWritesCheckedOnnxAndNeverOverwritesItsInput()
    {
        (Network network, _) = ZooModel("lstm:8@tokens");
        using var dir = TestSupport.TempFolder();
        string modelPath = dir.File("m.reparo");
        ModelFile.Save(network, modelPath);
        byte[] modelBytes = File.ReadAllBytes(modelPath);

        (int code, string output, string err) = CliRunner.Run("export", "--model", modelPath, "--out", dir.File("m.onnx"), "--json", "-");
        Assert.True(code == CliApp.Success, err);
        using JsonDocument json = JsonDocument.Parse(output);
        Assert.Equal(17, json.RootElement.GetProperty("opset").GetInt32());
        Assert.Equal("zoo", json.RootElement.GetProperty("source").GetString());
        Assert.Equal(0, json.RootElement.GetProperty("initializers_replaced").GetArrayLength());
        Assert.InRange(json.RootElement.GetProperty("max_abs_difference").GetDouble(), 0, 1e-5);
        Assert.Equal(OnnxExporter.Export(ModelFile.Load(modelPath)), File.ReadAllBytes(dir.File("m.onnx")));

        (code, output, err) = CliRunner.Run("export", "--model", modelPath, "--out", Path.Combine(dir.Path, ".", "m.reparo"));
        Assert.Equal(CliApp.BadInput, code);
        Assert.Equal("", output);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("would overwrite the input", err);
        File.CreateSymbolicLink(dir.File("link.onnx"), modelPath);
        (code, _, err) = CliRunner.Run("export", "--model", modelPath, "--out", dir.File("link.onnx"));
        Assert.Equal(CliApp.BadInput, code);
        Assert.Contains("would overwrite the input", err);
        Assert.Equal(modelBytes, File.ReadAllBytes(modelPath));
        Assert.Equal(modelPath, new FileInfo(dir.File("link.onnx")).LinkTarget);
    }
}
