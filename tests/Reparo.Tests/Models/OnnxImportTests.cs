using Google.Protobuf;
using Onnx;
using Reparo.Experiments;
using Reparo.Io.Onnx;
using Reparo.Models;
using Reparo.Models.Onnx;
using Reparo.Verification;
using static TorchSharp.torch;

namespace Reparo.Tests.Models;

/// <summary>ONNX import: the PyTorch-exported fixtures reproduce their reference outputs; bad files are one-line errors.</summary>
public sealed class OnnxImportTests
{
    /// <summary>The fixtures folder beside the checkout (../shared/fixtures/onnx); CI lays shared/ beside its clone too.</summary>
    internal static string Fixture(string name)
    {
        string path = Path.GetFullPath(Path.Combine(TestSupport.RepoRoot(), "..", "shared", "fixtures", "onnx", name));
        Assert.True(Directory.Exists(path), $"ONNX fixture folder {path} is missing");
        return path;
    }

    /// <summary>The fixture's reference input and PyTorch's logits for it.</summary>
    internal static (Tensor Input, Tensor Output) Reference(string name) =>
        OnnxFixtureStudy.ReadReference(Path.Combine(Fixture(name), "reference.json"));

    [Theory]
    [InlineData("mlp", "rows,flatten1,fc1,relu1,fc2,relu2,fc3")]
    [InlineData("cnn", "conv1,relu1,pool1,conv2,relu2,pool2,flatten1,fc1,relu3,fc2")]
    [InlineData("lstm", "rows,lstm1,fc1")]
    [InlineData("gru", "rows,gru1,fc1")]
    [InlineData("resnet", null)]
    [InlineData("vit", null)]
    public void FixturesReproducePyTorchWithin1e5(string name, string? layers)
    {
        TestSupport.Init();
        Network network = OnnxImporter.Import(Path.Combine(Fixture(name), "model.onnx"));
        (Tensor input, Tensor expected) = Reference(name);
        Tensor got = network.Logits(input.reshape([input.shape[0], .. network.Spec.InputShape]));
        double difference = got.sub(expected).abs().max().item<float>();
        Assert.True(difference <= 1e-5, $"{name}: max |Reparo − PyTorch| = {difference:G3}");
        if (layers is not null) Assert.Equal(layers, string.Join(",", network.Layers.Select(l => l.Name)));
        Assert.NotNull(network.OnnxOrigin);
    }

    [Fact]
    public void RecurrentFixturesBecomeReparoRecurrentLayers()
    {
        TestSupport.Init();
        foreach (string name in new[] { "lstm", "gru" })
        {
            Network network = OnnxImporter.Import(Path.Combine(Fixture(name), "model.onnx"));
            Assert.Equal(1, network.RecurrentLayerIndex);
            (Tensor input, _) = Reference(name);
            input = input.unsqueeze(1);
            RecurrentSteps steps = network.Steps(input);
            Assert.Equal(new long[] { 8, 28, 64 }, steps.HiddenStates.shape);
            // The last step's prediction is the network's own output.
            Assert.True(steps.StepLogits.select(1, -1).allclose(network.Logits(input), 1e-5, 1e-6));
        }
    }

    [Fact]
    public void ResidualAndAttentionBlocksKeepTheirAffineLayersReachable()
    {
        TestSupport.Init();
        Network resnet = OnnxImporter.Import(Path.Combine(Fixture("resnet"), "model.onnx"));
        IReadOnlyList<AffineSite> sites = AffineSites.Of(resnet);
        Assert.Contains(sites, s => s.Name.StartsWith("block", StringComparison.Ordinal) && s.AsConvolution is not null);
        Network vit = OnnxImporter.Import(Path.Combine(Fixture("vit"), "model.onnx"));
        Assert.True(AffineSites.Of(vit).Count(s => s.AsLinear is not null) >= 4, "the transformer's projections and feed-forward layers are Linear sites");
    }

    [Fact]
    public void LayersAnswerToTheirOnnxNodeAndInitializerNames()
    {
        TestSupport.Init();
        Network network = OnnxImporter.Import(Path.Combine(Fixture("mlp"), "model.onnx"));
        string[] names = network.Spec.SourceNames!["fc2"];
        Assert.NotEmpty(names);
        foreach (string onnxName in names) Assert.Equal(network.LayerIndex("fc2"), network.LayerIndex(onnxName));
        Assert.Contains(names, n => n.EndsWith("weight", StringComparison.Ordinal));
    }

    [Fact]
    public void ImportedModelSurvivesAReparoModelFileRoundTrip()
    {
        TestSupport.Init();
        using TempFolder temp = TestSupport.TempFolder();
        foreach (string name in new[] { "vit", "resnet" })
        {
            Network network = OnnxImporter.Import(Path.Combine(Fixture(name), "model.onnx"));
            string path = temp.File($"{name}.reparo");
            ModelFile.Save(network, path);
            Network loaded = ModelFile.Load(path);
            (Tensor input, _) = Reference(name);
            Assert.True(network.Logits(input).SameAs(loaded.Logits(input)));
            Assert.Equal(network.Spec.SourceNames!.Keys.Order(), loaded.Spec.SourceNames!.Keys.Order());
        }
    }

    // ---- exports with a fixed batch of one (no dynamic_axes) ----

    /// <summary>The fixture's graph with its input and output batch fixed at one, as torch.onnx.export writes it without dynamic_axes.</summary>
    private static ModelProto FixedBatch(string name) =>
        WithBatch(ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(Fixture(name), "model.onnx"))), 1);

    /// <summary><paramref name="model"/> with the batch of its inputs and outputs fixed at <paramref name="batch"/>.</summary>
    private static ModelProto WithBatch(ModelProto model, long batch)
    {
        foreach (ValueInfoProto value in model.Graph.Input.Concat(model.Graph.Output))
            value.Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimValue = batch };
        return model;
    }

    /// <summary>A float initializer of the given shape, its values uniform in [−<paramref name="half"/>, <paramref name="half"/>) from <paramref name="random"/>.</summary>
    internal static TensorProto UniformFloats(string name, Random random, double half, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.Add(dims);
        for (long i = 0; i < dims.Aggregate(1L, (a, d) => a * d); i++) t.FloatData.Add((float)(random.NextDouble() * 2 * half - half));
        return t;
    }

    /// <summary>
    /// <paramref name="model"/> as <c>model.double()</c> exports it: every float initializer, Constant and
    /// ConstantOfShape value, graph input and output in float64.
    /// </summary>
    internal static ModelProto AsFloat64(ModelProto model)
    {
        static TensorProto Doubles(TensorProto t)
        {
            using Tensor v = OnnxTensors.ToTorch(t, "test", null);
            var d = new TensorProto { Name = t.Name, DataType = (int)TensorProto.Types.DataType.Double };
            d.Dims.Add(t.Dims);
            d.DoubleData.Add(v.to(ScalarType.Float64).flatten().data<double>().ToArray());
            return d;
        }
        const int Float = (int)TensorProto.Types.DataType.Float;
        foreach (TensorProto t in model.Graph.Initializer.Where(t => t.DataType == Float).ToList())
            model.Graph.Initializer[model.Graph.Initializer.IndexOf(t)] = Doubles(t);
        foreach (AttributeProto a in model.Graph.Node.Where(n => n.OpType is "Constant" or "ConstantOfShape").SelectMany(n => n.Attribute).Where(a => a.T is { DataType: Float }))
            a.T = Doubles(a.T);
        foreach (ValueInfoProto v in model.Graph.Input.Concat(model.Graph.Output)) v.Type.TensorType.ElemType = (int)TensorProto.Types.DataType.Double;
        model.Graph.ValueInfo.Clear();
        return model;
    }

    /// <summary>
    /// A float64 export (<c>model.double()</c>) is probed as the file computes, in float64, and computed in float32: the
    /// MLP reproduces PyTorch's logits and ONNX Runtime's float64 run within 1e-5 (the LSTM and the convolutions import
    /// too, though ONNX Runtime has no float64 LSTM or Conv on the CPU).
    /// </summary>
    [Theory]
    [InlineData("mlp")]
    [InlineData("lstm")]
    [InlineData("cnn")]
    public void AFloat64ExportIsComputedInFloat32(string name)
    {
        TestSupport.Init();
        using TempFolder temp = TestSupport.TempFolder();
        string path = temp.File("double.onnx");
        File.WriteAllBytes(path, AsFloat64(ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(Fixture(name), "model.onnx")))).ToByteArray());
        Network network = OnnxImporter.Import(path);
        Assert.All(network.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        (Tensor input, Tensor expected) = Reference(name);
        Tensor batch = input.reshape([input.shape[0], .. network.Spec.InputShape]);
        Assert.True(network.Logits(batch).sub(expected).abs().max().item<float>() <= 1e-5, "Reparo differs from PyTorch");
        if (name != "mlp") return;
        Tensor runtime = OnnxRuntimeCheck.Run(path, batch);
        Assert.Equal(ScalarType.Float64, runtime.dtype);
        Assert.True(runtime.to(ScalarType.Float32).sub(expected).abs().max().item<float>() <= 1e-5, "ONNX Runtime differs from PyTorch");
    }

    /// <summary>
    /// The PyTorch MLP with a Softmax (or <paramref name="op"/>: LogSoftmax, as <c>F.log_softmax</c> in a model's forward
    /// exports) over the classes appended to its logits, as an export for deployment has it.
    /// </summary>
    internal static ModelProto MlpWithSoftmax(string op = "Softmax")
    {
        ModelProto model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(Fixture("mlp"), "model.onnx")));
        string output = model.Graph.Output[0].Name;
        model.Graph.Node[^1].Output[0] = "scores";
        model.Graph.Node.Add(new NodeProto
        {
            Name = "probabilities",
            OpType = op,
            Input = { "scores" },
            Output = { output },
            Attribute = { new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 } },
        });
        return model;
    }

    /// <summary>Imports <paramref name="model"/> and checks it against the fixture's PyTorch logits, in Reparo and in ONNX Runtime.</summary>
    private static Network ImportsAndReproduces(ModelProto model, string fixture)
    {
        using TempFolder temp = TestSupport.TempFolder();
        string path = temp.File("fixed.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        Network network = OnnxImporter.Import(path);
        (Tensor input, Tensor expected) = Reference(fixture);
        Tensor got = network.Logits(input.reshape([input.shape[0], .. network.Spec.InputShape]));
        Assert.True(got.sub(expected).abs().max().item<float>() <= 1e-5, "Reparo's batch differs from PyTorch");
        // ONNX Runtime runs the fixed-batch file sample by sample (8 inputs, batch 1).
        Tensor runtime = OnnxRuntimeCheck.Run(path, input.reshape([input.shape[0], .. network.Spec.InputShape]));
        Assert.Equal(expected.shape, runtime.shape);
        Assert.True(runtime.sub(expected).abs().max().item<float>() <= 1e-5, "ONNX Runtime's rows differ from PyTorch");
        return network;
    }

    [Fact]
    public void AFixedBatchReshapeTargetIsFreedAndChecked()
    {
        TestSupport.Init();
        ModelProto model = FixedBatch("mlp");
        NodeProto flatten = model.Graph.Node.First(n => n.OpType == "Flatten");
        flatten.OpType = "Reshape";
        flatten.Attribute.Clear();
        flatten.Input.Add("folded_shape");
        var shape = new TensorProto { Name = "folded_shape", DataType = (int)TensorProto.Types.DataType.Int64 };
        shape.Dims.Add(2);
        shape.Int64Data.Add([1, 784]);
        model.Graph.Initializer.Add(shape);
        Network network = ImportsAndReproduces(model, "mlp");
        Assert.Contains("fixed batch of one: 1 Reshape target rewritten", network.Provenance!.History[0]);
    }

    [Fact]
    public void AFixedBatchRecurrentModelWithAFoldedZeroStateRuns()
    {
        TestSupport.Init();
        ModelProto model = FixedBatch("lstm");
        NodeProto lstm = model.Graph.Node.First(n => n.OpType == "LSTM");
        var zeros = new TensorProto { Name = "h0", DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(new byte[64 * 4]) };
        zeros.Dims.Add([1, 1, 64]);
        model.Graph.Initializer.Add(zeros);
        lstm.Input[5] = "h0";
        lstm.Input[6] = "h0";
        ImportsAndReproduces(model, "lstm");
    }

    [Fact]
    public void AFixedBatchThatCannotBeFreedIsRefusedWithTheReexportHint()
    {
        TestSupport.Init();
        ModelProto model = Tiny(op: "Concat");
        model.Graph.Input[0].Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimValue = 1 };
        model.Graph.Node[0].Input.Add("token");
        model.Graph.Node[0].Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        var token = new TensorProto { Name = "token", DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(new byte[4 * 4]) };
        token.Dims.Add([1, 4]);
        model.Graph.Initializer.Add(token);
        string message = Fails(model.ToByteArray());
        Assert.Contains("exported with a fixed batch of one", message);
        Assert.Contains("dynamic_axes={'x': {0: 'batch'}}", message);
    }

    [Fact]
    public void OnnxRuntimeRunsAFixedBatchOfTwoInRunsOfTwo()
    {
        TestSupport.Init();
        ModelProto model = WithBatch(Tiny(op: "Relu"), 2);
        Tensor x = arange(-6f, 6f).reshape(3, 4);
        Tensor y = OnnxRuntimeCheck.Run(model.ToByteArray(), x);
        Assert.Equal(new long[] { 3, 4 }, y.shape);
        Assert.True(y.eq(x.relu()).all().item<bool>());
    }

    [Theory]
    [InlineData("Softmax")]
    [InlineData("LogSoftmax")]
    public void ATrailingSoftmaxOrLogSoftmaxIsImportedAndItsScoresAreTheLogits(string op)
    {
        TestSupport.Init();
        ModelProto model = MlpWithSoftmax(op);
        Network network = OnnxImporter.Import(model.ToByteArray(), "normalised.onnx", null, new OnnxImportOptions());
        Network plain = OnnxImporter.Import(Path.Combine(Fixture("mlp"), "model.onnx"));
        Assert.Equal(plain.Layers.Count, network.ScoreLayerCount);
        (Tensor input, Tensor expected) = Reference("mlp");
        input = input.reshape([input.shape[0], .. network.Spec.InputShape]);
        Assert.True(network.Scores(input).sub(expected).abs().max().item<float>() <= 1e-5, "the scores are not the plain model's logits");
        Tensor runtime = OnnxRuntimeCheck.Run(model.ToByteArray(), network.GraphInput(input));
        Assert.True(network.GraphOutput(input).sub(runtime).abs().max().item<float>() <= 1e-5, $"the {op} output differs from ONNX Runtime's");
        Assert.Equal(plain.Predict(input), network.Predict(input));
    }

    // ---- graphs with several outputs ----

    /// <summary>The PyTorch MLP also returning its last hidden features (100 wide), listed before its logits, as <c>return features, logits</c> exports.</summary>
    internal static ModelProto MlpWithFeaturesFirst()
    {
        ModelProto model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(Fixture("mlp"), "model.onnx")));
        string features = model.Graph.Node.Last(n => n.OpType == "Relu").Output[0];
        model.Graph.Output.Insert(0, Value(features, 100));
        return model;
    }

    [Fact]
    public void AGraphWithSeveralOutputsIsReadFromTheOneAskedForAndNamesTheOthers()
    {
        TestSupport.Init();
        ModelProto model = MlpWithFeaturesFirst();
        string logits = model.Graph.Output[1].Name, features = model.Graph.Output[0].Name;
        Network first = OnnxImporter.Import(model.ToByteArray(), "two.onnx", null, new OnnxImportOptions());
        Assert.Equal(100, first.ClassCount);
        Assert.Contains($"reads output '{features}' of 2 (the others: {logits})", first.Provenance.History[0]);

        Network network = OnnxImporter.Import(model.ToByteArray(), "two.onnx", null, new OnnxImportOptions { Output = logits });
        Assert.Equal(logits, network.OnnxOrigin!.Output);
        Assert.Equal([features], network.OnnxOrigin.OtherOutputs);
        (Tensor input, Tensor expected) = Reference("mlp");
        input = input.reshape([input.shape[0], .. network.Spec.InputShape]);
        Assert.True(network.Logits(input).sub(expected).abs().max().item<float>() <= 1e-5, "the logits output does not reproduce PyTorch");
        Tensor runtime = OnnxRuntimeCheck.Run(model.ToByteArray(), network.GraphInput(input), logits);
        Assert.True(runtime.sub(expected).abs().max().item<float>() <= 1e-5, "ONNX Runtime was not read from the output asked for");

        var error = Assert.Throws<ReparoInputException>(() => OnnxImporter.Import(model.ToByteArray(), "two.onnx", null, new OnnxImportOptions { Output = "scores" }));
        Assert.Equal($"two.onnx: the graph has no output 'scores'; its outputs: {features}, {logits}", error.Message);
    }

    // ---- binary classifiers with one output ----

    /// <summary>
    /// A 4-8-1 ReLU network with one output (class 1 when it is above 0), as a binary classifier trained with
    /// BCEWithLogitsLoss exports; <paramref name="sigmoid"/> appends the Sigmoid a deployment export adds.
    /// </summary>
    internal static ModelProto Binary(bool sigmoid)
    {
        var model = new ModelProto { IrVersion = 7, Graph = new GraphProto { Name = "binary" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        model.Graph.Input.Add(Value("x", 4));
        model.Graph.Output.Add(Value("y", 1));
        var random = new Random(7);
        model.Graph.Initializer.Add([UniformFloats("w1", random, 1, 8, 4), UniformFloats("b1", random, 1, 8), UniformFloats("w2", random, 1, 1, 8), UniformFloats("b2", random, 1, 1)]);
        AttributeProto transposed = new() { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 };
        model.Graph.Node.Add(new NodeProto { Name = "fc1", OpType = "Gemm", Input = { "x", "w1", "b1" }, Output = { "h" }, Attribute = { transposed } });
        model.Graph.Node.Add(new NodeProto { Name = "relu", OpType = "Relu", Input = { "h" }, Output = { "r" } });
        model.Graph.Node.Add(new NodeProto { Name = "fc2", OpType = "Gemm", Input = { "r", "w2", "b2" }, Output = { sigmoid ? "z" : "y" }, Attribute = { transposed } });
        if (sigmoid) model.Graph.Node.Add(new NodeProto { Name = "probability", OpType = "Sigmoid", Input = { "z" }, Output = { "y" } });
        return model;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AOneOutputBinaryClassifierGetsTwoClassScoresAheadOfItsSigmoid(bool sigmoid)
    {
        TestSupport.Init();
        ModelProto model = Binary(sigmoid);
        Network network = OnnxImporter.Import(model.ToByteArray(), "binary.onnx", null, new OnnxImportOptions());
        Assert.Equal(2, network.ClassCount);
        Assert.Equal(sigmoid ? "fc1,relu1,fc2,binary,sigmoid1" : "fc1,relu1,fc2,binary", string.Join(",", network.Layers.Select(l => l.Name)));
        Assert.Equal(2, network.ClassifierLayer);
        Tensor x = randn(32, 4, generator: new Generator(3));
        Tensor runtime = OnnxRuntimeCheck.Run(model.ToByteArray(), x);
        Assert.True(network.GraphOutput(x).sub(runtime).abs().max().item<float>() < 1e-6, "the graph's own output differs from ONNX Runtime's");
        // Scores ±z/2: softmax gives [1 − σ(z), σ(z)], the prediction is class 1 exactly where the file says so.
        Tensor z = network.LayerInput(x, 3).detach(), scores = network.Scores(x).detach();
        Assert.True(scores.sub(cat([z.mul(-0.5), z.mul(0.5)], 1)).abs().max().item<float>() < 1e-7);
        Tensor probability = sigmoid ? runtime : runtime.sigmoid();
        Assert.True(scores.softmax(1).select(1, 1).sub(probability.squeeze(1)).abs().max().item<float>() < 1e-6);
        Assert.Equal(probability.squeeze(1).gt(0.5).to(ScalarType.Int64).data<long>().ToArray(), network.Predict(x));
    }

    // ---- channels-last images (Keras through tf2onnx) ----

    /// <summary>(N, 8, 8, 3) → Transpose to NCHW → Conv 3→2 (3×3) → ReLU → Flatten → Gemm 72→3, as tf2onnx writes a Keras model.</summary>
    internal static ModelProto ChannelsLastModel()
    {
        var model = new ModelProto { IrVersion = 7, Graph = new GraphProto { Name = "keras" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        foreach (long d in new long[] { 8, 8, 3 }) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        model.Graph.Input.Add(new ValueInfoProto { Name = "image", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } });
        model.Graph.Output.Add(Value("y", 3));
        var random = new Random(5);
        model.Graph.Initializer.Add([UniformFloats("k", random, 0.5, 2, 3, 3, 3), UniformFloats("kb", random, 0.5, 2), UniformFloats("w", random, 0.5, 3, 72), UniformFloats("b", random, 0.5, 3)]);
        model.Graph.Node.Add(new NodeProto { Name = "to_nchw", OpType = "Transpose", Input = { "image" }, Output = { "nchw" }, Attribute = { new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 0, 3, 1, 2 } } } });
        model.Graph.Node.Add(new NodeProto { Name = "conv", OpType = "Conv", Input = { "nchw", "k", "kb" }, Output = { "c" } });
        model.Graph.Node.Add(new NodeProto { Name = "relu", OpType = "Relu", Input = { "c" }, Output = { "r" } });
        model.Graph.Node.Add(new NodeProto { Name = "flat", OpType = "Flatten", Input = { "r" }, Output = { "f" } });
        model.Graph.Node.Add(new NodeProto { Name = "dense", OpType = "Gemm", Input = { "f", "w", "b" }, Output = { "y" }, Attribute = { new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 } } });
        return model;
    }

    [Fact]
    public void AChannelsLastImageModelReadsReparosImagesAndOnnxRuntimeGetsItsOwnLayout()
    {
        TestSupport.Init();
        ModelProto model = ChannelsLastModel();
        Network network = OnnxImporter.Import(model.ToByteArray(), "keras.onnx", null, new OnnxImportOptions());
        Assert.Equal(new long[] { 3, 8, 8 }, network.Spec.InputShape);
        Assert.IsType<ChannelsLastSpec>(network.Layers[0].Spec);
        Tensor images = rand(4, 3, 8, 8, generator: new Generator(2));
        Tensor runtime = OnnxRuntimeCheck.Run(model.ToByteArray(), network.GraphInput(images));
        Assert.True(runtime.sub(network.Logits(images)).abs().max().item<float>() < 1e-5, "ONNX Runtime, fed the graph's own layout, differs from Reparo");
    }

    // ---- bad input: one line each ----

    /// <summary>A one-node model x (N, width) → y.</summary>
    internal static ModelProto Tiny(int opset = 13, string op = "Relu", long width = 4)
    {
        var model = new ModelProto { IrVersion = 7, Graph = new GraphProto { Name = "g" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        model.Graph.Input.Add(Value("x", width));
        model.Graph.Output.Add(Value("y", width));
        model.Graph.Node.Add(new NodeProto { Name = "n0", OpType = op, Input = { "x" }, Output = { "y" } });
        return model;
    }

    internal static ValueInfoProto Value(string name, long width)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        shape.Dim.Add(width > 0 ? new TensorShapeProto.Types.Dimension { DimValue = width } : new TensorShapeProto.Types.Dimension { DimParam = "W" });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }

    private static string Fails(byte[] bytes, string fileName = "m.onnx", Action<string>? prepare = null)
    {
        using TempFolder temp = TestSupport.TempFolder();
        string path = temp.File(fileName);
        File.WriteAllBytes(path, bytes);
        prepare?.Invoke(temp.Path);
        var error = Assert.Throws<ReparoInputException>(() => OnnxImporter.Import(path));
        Assert.DoesNotContain('\n', error.Message);
        return error.Message;
    }

    [Fact]
    public void TruncatedOrForeignFilesAreOneLine()
    {
        TestSupport.Init();
        byte[] good = File.ReadAllBytes(Path.Combine(Fixture("mlp"), "model.onnx"));
        Assert.Contains("not an ONNX model", Fails(good[..(good.Length / 2)]));
        Assert.Contains("not an ONNX model", Fails("just some text, not protobuf"u8.ToArray()));
    }

    [Fact]
    public void UnsupportedOpsAreAllNamedWithTheirNodes()
    {
        TestSupport.Init();
        ModelProto model = Tiny();
        model.Graph.Node.Clear();
        model.Graph.Node.Add(new NodeProto { Name = "a", OpType = "Frobnicate", Input = { "x" }, Output = { "t" } });
        model.Graph.Node.Add(new NodeProto { Name = "b", OpType = "Frobnicate", Input = { "t" }, Output = { "u" } });
        model.Graph.Node.Add(new NodeProto { Name = "c", OpType = "Zap", Input = { "u" }, Output = { "y" } });
        string message = Fails(model.ToByteArray());
        Assert.Contains("Frobnicate at a, b", message);
        Assert.Contains("Zap at c", message);
    }

    [Fact]
    public void OpsetOutsideTheRangeIsRefused()
    {
        TestSupport.Init();
        Assert.Contains("opset 8", Fails(Tiny(opset: 8).ToByteArray()));
        Assert.Contains("opset 22", Fails(Tiny(opset: 22).ToByteArray()));
    }

    [Fact]
    public void AnInputShapeThatCannotBeResolvedIsRefused()
    {
        TestSupport.Init();
        Assert.Contains("cannot be resolved", Fails(Tiny(width: 0).ToByteArray()));
    }

    [Fact]
    public void ATensorLargerThanTheFileIsRefused()
    {
        TestSupport.Init();
        ModelProto model = Tiny(op: "Add");
        model.Graph.Node[0].Input.Add("b");
        var b = new TensorProto { Name = "b", DataType = 1, RawData = ByteString.CopyFrom(new byte[16]) };
        b.Dims.Add(1_000_000_000);
        model.Graph.Initializer.Add(b);
        Assert.Contains("declares 1000000000 elements", Fails(model.ToByteArray()));
    }

    [Fact]
    public void ExternalDataMustStayInTheModelsFolder()
    {
        TestSupport.Init();
        ModelProto model = Tiny(op: "Add");
        model.Graph.Node[0].Input.Add("b");
        var b = new TensorProto { Name = "b", DataType = 1, DataLocation = TensorProto.Types.DataLocation.External };
        b.Dims.Add(4);
        b.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "../outside.bin" });
        model.Graph.Initializer.Add(b);
        Assert.Contains("outside the model's folder", Fails(model.ToByteArray()));
    }
}
