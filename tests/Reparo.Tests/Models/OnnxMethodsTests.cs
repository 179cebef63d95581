using System.Text.Json;
using Google.Protobuf;
using Reparo.Attribution;
using Reparo.Data;
using Reparo.Influence;
using Reparo.Models;
using Reparo.Models.Onnx;
using Reparo.Repair;
using Reparo.Repair.Provable;
using Reparo.Tests.Cli;
using Reparo.Tests.Data;
using Reparo.Verification;
using static TorchSharp.torch;

namespace Reparo.Tests.Models;

/// <summary>Reparo's methods on models PyTorch exported: attribution, edits inside blocks, influence, rectification with the user's pairs.</summary>
public sealed class OnnxMethodsTests
{
    private static Network Import(string name) => OnnxImporter.Import(Path.Combine(OnnxImportTests.Fixture(name), "model.onnx"));

    private static DataSplits FashionMnist(int train = 600, int test = 300) =>
        DataCatalog.Load("fashion-mnist", new DataOptions { TrainLimit = train, TestLimit = test });

    /// <summary>
    /// PyTorch's transformer runs on (tokens, batch, features): the attention's input projection gives (16, N, 96), its
    /// output projection, a Gemm, (16·N, 32) with the batch inside the token rows, the feed-forward's first MatMul
    /// (16, N, 64). Each is attributed per input, batch first, with many path points per pass (the tokens used to be
    /// taken for the batch, which failed as soon as a pass held more than one path point).
    /// </summary>
    [Theory]
    [InlineData("block1.fc1", 96)]
    [InlineData("block1.fc2", 32)]
    [InlineData("/enc/linear1/MatMul", 64)]
    public void LayerIntegratedGradientsIsCompleteAtALayerNestedInTheAttentionBlock(string layer, int features)
    {
        TestSupport.Init();
        Network vit = Import("vit");
        (Tensor input, _) = OnnxImportTests.Reference("vit");
        long[] targets = vit.Predict(input.narrow(0, 0, 3));
        string site = vit.Spec.ResolveName(layer);
        AttributionResult result = AttributionMethods.Create(LayerIntegratedGradients.MethodName, site)
            .Attribute(vit, input.narrow(0, 0, 3), targets, new AttributionOptions { Steps = 64, InternalBatchSize = 256 });
        Assert.Equal([3L, 16, features], result.Values.shape);
        // Completeness: the attributions at the layer add up to f(x) − f(baseline), sample by sample.
        double[] sums = result.Sums();
        for (int i = 0; i < 3; i++)
            Assert.True(Math.Abs(sums[i] - result.Delta[i]) <= 1e-2 * Math.Max(1, Math.Abs(result.Delta[i])), $"sample {i}: Σ = {sums[i]}, Δf = {result.Delta[i]}");
        Assert.Equal(site, result.Layer);
    }

    [Fact]
    public void AnEditInsideTheTransformersFeedForwardIsWrittenBackIntoTheUsersGraph()
    {
        TestSupport.Init();
        Network vit = Import("vit");
        DataSplits data = FashionMnist();
        RepairProblem problem = RepairSetSpec.Build("fog:3:3", vit, data, seed: 0);
        RepairResult result = RepairMethods.Create("edit", new RepairSettings { Layer = "/enc/linear1/MatMul", Seed = 0, StatisticsInputs = RepairMethods.StatisticsInputs(data.Train) }).Repair(problem);
        Network repaired = result.Model!.PlainNetwork!;
        repaired.OnnxOrigin = vit.OnnxOrigin;
        OnnxExport export = OnnxExporter.Build(repaired);
        // Only the edited layer's weight moved: the replaced initializer is the one block3.fc3 was imported from.
        string site = vit.Spec.ResolveName("/enc/linear1/MatMul");
        Assert.StartsWith("block", site);
        Assert.NotEmpty(export.ReplacedInitializers);
        Assert.All(export.ReplacedInitializers, name => Assert.Contains(name, vit.Spec.SourceNames![site]));
        using Tensor check = data.Test.X.narrow(0, 0, 50);
        using Tensor ours = repaired.Logits(check);
        using Tensor runtime = OnnxRuntimeCheck.Run(export.Bytes, check);
        Assert.True(runtime.sub(ours).abs().max().item<float>() <= 1e-5);
    }

    /// <summary>The PyTorch MLP with a Softmax appended to its logits (<see cref="OnnxImportTests.MlpWithSoftmax"/>), imported.</summary>
    private static Network MlpWithSoftmax() =>
        OnnxImporter.Import(OnnxImportTests.MlpWithSoftmax().ToByteArray(), "softmax.onnx", null, new OnnxImportOptions());

    // ---- leaky ReLUs (LeakyRelu, PRelu): piecewise linear for provable repair ----

    /// <summary>
    /// x (N, <paramref name="widths"/>[0]) → Gemm → <paramref name="activation"/> → … → Gemm, each activation a LeakyRelu
    /// (α = 0.2), a PRelu (one slope per feature in [0.05, 0.45)) or a Clip to [−0.2, 0.3]; <paramref name="weights"/> sets every Gemm's weights
    /// and biases in order (null: seeded uniform).
    /// </summary>
    private static Onnx.ModelProto LeakyMlp(string activation, long[] widths, float[][]? weights = null)
    {
        var model = new Onnx.ModelProto { IrVersion = 7, Graph = new Onnx.GraphProto { Name = "leaky" } };
        model.OpsetImport.Add(new Onnx.OperatorSetIdProto { Domain = "", Version = 13 });
        model.Graph.Input.Add(OnnxImportTests.Value("x", widths[0]));
        model.Graph.Output.Add(OnnxImportTests.Value("y", widths[^1]));
        var random = new Random(3);
        string h = "x";
        for (int l = 0; l + 1 < widths.Length; l++)
        {
            Onnx.TensorProto w = OnnxImportTests.UniformFloats($"w{l}", random, 0.8, widths[l + 1], widths[l]), b = OnnxImportTests.UniformFloats($"b{l}", random, 0.3, widths[l + 1]);
            if (weights is not null)
            {
                w.FloatData.Clear();
                b.FloatData.Clear();
                w.FloatData.Add(weights[2 * l]);
                b.FloatData.Add(weights[2 * l + 1]);
            }
            model.Graph.Initializer.Add([w, b]);
            string z = l + 2 == widths.Length ? "y" : $"z{l}";
            model.Graph.Node.Add(new Onnx.NodeProto { Name = $"gemm{l}", OpType = "Gemm", Input = { h, w.Name, b.Name }, Output = { z }, Attribute = { new Onnx.AttributeProto { Name = "transB", Type = Onnx.AttributeProto.Types.AttributeType.Int, I = 1 } } });
            if (z == "y") break;
            h = $"a{l}";
            var node = new Onnx.NodeProto { Name = $"act{l}", OpType = activation, Input = { z }, Output = { h } };
            if (activation == "LeakyRelu") node.Attribute.Add(new Onnx.AttributeProto { Name = "alpha", Type = Onnx.AttributeProto.Types.AttributeType.Float, F = 0.2f });
            else if (activation == "Clip")
            {
                // Bounds −0.2 and 0.3 (ReLU6's form with bounds that inputs reach on both sides), as opset 11+ inputs.
                if (l == 0) model.Graph.Initializer.Add([new Onnx.TensorProto { Name = "lower", DataType = 1, FloatData = { -0.2f } }, new Onnx.TensorProto { Name = "upper", DataType = 1, FloatData = { 0.3f } }]);
                node.Input.Add(["lower", "upper"]);
            }
            else
            {
                Onnx.TensorProto slope = OnnxImportTests.UniformFloats($"slope{l}", random, 0.2, widths[l + 1]);
                for (int i = 0; i < slope.FloatData.Count; i++) slope.FloatData[i] += 0.25f;
                model.Graph.Initializer.Add(slope);
                node.Input.Add(slope.Name);
            }
            model.Graph.Node.Add(node);
        }
        return model;
    }

    [Fact]
    public void APolytopeAcrossALeakyReluKinkIsRejectedAndOneOnOneSideIsProven()
    {
        // fc1 = I, leaky slope 0.2; fc2: y = (h1 + 1, 0). Both ends of the segment (1, 0) → (−1, 0) are class a
        // (h1 = 1 and −0.2), but the segment crosses neuron 1's kink, so its vertices prove nothing about it.
        TestSupport.Init();
        Onnx.ModelProto model = LeakyMlp("LeakyRelu", [2, 2, 2], [[1, 0, 0, 1], [0, 0], [1, 0, 0, 0], [1, 0]]);
        Network network = OnnxImporter.Import(model.ToByteArray(), "leaky.onnx", null, new OnnxImportOptions());
        RegionCheck across = RepairVerifier.Verify(new PlainRepairedModel(network), new RepairSet([new RepairRegion(tensor(new float[] { 1, 0, -1, 0 }).reshape(2, 2), 0, "across")], "s")).Regions[0];
        Assert.True(across.MarginFloat32 > 0 && across.MarginFloat64 > 0);
        Assert.False(across.LinearOnRegion);
        Assert.False(across.Passed);
        RegionCheck off = RepairVerifier.Verify(new PlainRepairedModel(network), new RepairSet([new RepairRegion(tensor(new float[] { -1, 0, -2, 0 }).reshape(2, 2), 0, "off")], "s")).Regions[0];
        Assert.True(off is { LinearOnRegion: true, Passed: true }, off.ToString());
    }

    [Fact]
    public void APolytopeAcrossAClipsUpperBoundIsRejectedAndOneBetweenItsBoundsIsProven()
    {
        // fc1 = I, Clip to [−0.2, 0.3]; fc2: y = (h1 + 1, 0). The segment (0, 0) → (1, 0) crosses the upper bound of
        // neuron 1 (both ends class a); (0, 0) → (0.25, 0) stays between the bounds.
        TestSupport.Init();
        Onnx.ModelProto model = LeakyMlp("Clip", [2, 2, 2], [[1, 0, 0, 1], [0, 0], [1, 0, 0, 0], [1, 0]]);
        Network network = OnnxImporter.Import(model.ToByteArray(), "clip.onnx", null, new OnnxImportOptions());
        RegionCheck Check(float end) => RepairVerifier.Verify(new PlainRepairedModel(network), new RepairSet([new RepairRegion(tensor(new float[] { 0, 0, end, 0 }).reshape(2, 2), 0, "segment")], "s")).Regions[0];
        RegionCheck across = Check(1);
        Assert.True(across.MarginFloat32 > 0 && across.MarginFloat64 > 0);
        Assert.False(across.LinearOnRegion);
        Assert.True(Check(0.25f) is { LinearOnRegion: true, Passed: true });
    }

    [Fact]
    public void ClipBoundsComeFromAttributesBeforeOpset11AndFromInputsSince()
    {
        TestSupport.Init();
        Onnx.AttributeProto Float(string name, float value) => new() { Name = name, Type = Onnx.AttributeProto.Types.AttributeType.Float, F = value };
        var relu6 = new Onnx.NodeProto { OpType = "Clip", Input = { "x" }, Attribute = { Float("min", 0), Float("max", 6) } };
        Assert.Equal((0.0, 6.0), Activations.ClipBounds(relu6, 9, _ => throw new InvalidOperationException("opset 9 reads no inputs")));
        // Clip-6's defaults are the float range's ends: no bound at all.
        var lowest = new Onnx.NodeProto { OpType = "Clip", Input = { "x" }, Attribute = { Float("min", float.MinValue) } };
        Assert.Equal((double.NegativeInfinity, double.PositiveInfinity), Activations.ClipBounds(lowest, 9, _ => throw new InvalidOperationException()));
        // Opset 11 on: optional inputs, an empty name for a missing one.
        var inputs = new Onnx.NodeProto { OpType = "Clip", Input = { "x", "", "hi" } };
        Assert.Equal((double.NegativeInfinity, 0.5), Activations.ClipBounds(inputs, 13, name => name == "hi" ? tensor(0.5f) : throw new InvalidOperationException(name)));
    }

    [Theory]
    [InlineData("LeakyRelu")]
    [InlineData("PRelu")]
    [InlineData("Clip")]
    public void ProvableRepairEncodesLeakyReluPReluAndClipForPointsAndPolytopes(string activation)
    {
        TestSupport.Init();
        Onnx.ModelProto model = LeakyMlp(activation, [4, 8, 8, 3]);
        Network network = OnnxImporter.Import(model.ToByteArray(), "leaky.onnx", null, new OnnxImportOptions());
        Assert.Equal("fc1,act1,fc2,act2,fc3", string.Join(",", network.Layers.Select(l => l.Name)).Replace(activation.ToLowerInvariant(), "act", StringComparison.Ordinal));
        using Tensor x = randn(8, 4, generator: new Generator(5));
        if (activation == "Clip")
        {
            // Inputs on all three pieces at the Clip after the repaired layer.
            using Tensor z = network.LayerInput(x, network.LayerIndex("fc3") - 1);
            Assert.True(z.lt(-0.2).any().item<bool>() && z.gt(0.3).any().item<bool>() && z.gt(-0.2).logical_and(z.lt(0.3)).any().item<bool>());
        }
        long[] predicted = network.Predict(x);
        // Six points and one segment, each required to be the class after the predicted one.
        var regions = Enumerable.Range(0, 6).Select(i => new RepairRegion(x.narrow(0, i, 1), (predicted[i] + 1) % 3, $"p{i}")).ToList();
        regions.Add(new RepairRegion(x.narrow(0, 6, 2), (predicted[6] + 1) % 3, "segment"));
        var set = new RepairSet(regions, "leaky");
        (Tensor stacked, _, long[] labels) = set.Stacked();
        var problem = new RepairProblem(network, set, new Dataset("held-out", stacked, tensor(labels), network.Spec.ClassNames, network.Spec.InputKind), null);

        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = "fc2" }).Repair(problem);

        Assert.True(result.Verified, string.Join(Environment.NewLine, [result.Message, .. result.Notes]));
        Assert.True(result.Verification!.Regions[^1].LinearOnRegion, "the segment is not proven affine through the leaky ReLUs");
        // The LP's margin ε is reached exactly by the network as written: the LP computed the off neurons' slope · z,
        // not a ReLU's 0 (which would leave the true margins somewhere else).
        Assert.Equal(result.Epsilon!.Value, result.Verification.MinMarginFloat64, 6);
    }

    /// <summary>
    /// The first <paramref name="count"/> of <paramref name="x"/> as repair points, each required to be the class after the
    /// one predicted (of 3), with the points themselves as the held-out set.
    /// </summary>
    private static (RepairProblem Problem, RepairSet Set) NextClassProblem(Network network, Tensor x, int count)
    {
        long[] predicted = network.Predict(x);
        var set = new RepairSet([.. Enumerable.Range(0, count).Select(i => new RepairRegion(x.narrow(0, i, 1), (predicted[i] + 1) % 3, $"p{i}"))], "points");
        (Tensor stacked, _, long[] labels) = set.Stacked();
        return (new RepairProblem(network, set, new Dataset("held-out", stacked, tensor(labels), network.Spec.ClassNames, network.Spec.InputKind), null), set);
    }

    /// <summary>
    /// A graph <paramref name="name"/> with no nodes yet that reads float <paramref name="input"/> of shape (N, <paramref name="dims"/>)
    /// and writes the scores y (N, 3).
    /// </summary>
    private static Onnx.ModelProto ClassifierGraph(string name, string input, long[] dims, int opset = 13, int irVersion = 7)
    {
        var model = new Onnx.ModelProto { IrVersion = irVersion, Graph = new Onnx.GraphProto { Name = name } };
        model.OpsetImport.Add(new Onnx.OperatorSetIdProto { Domain = "", Version = opset });
        var shape = new Onnx.TensorShapeProto();
        shape.Dim.Add(new Onnx.TensorShapeProto.Types.Dimension { DimParam = "N" });
        foreach (long d in dims) shape.Dim.Add(new Onnx.TensorShapeProto.Types.Dimension { DimValue = d });
        model.Graph.Input.Add(new Onnx.ValueInfoProto { Name = input, Type = new Onnx.TypeProto { TensorType = new Onnx.TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } });
        model.Graph.Output.Add(OnnxImportTests.Value("y", 3));
        return model;
    }

    /// <summary>
    /// PRDNN through ONNX layers with kinks: (N, 1, 6, 6) → Conv 1→2 (3×3, pad 1, biases −1.2 and −0.8) → MaxPool (3×3,
    /// stride 2, pad 1, so an ONNX layer of its own) → LeakyRelu (0.2) → Clip (−0.1, 1) → Flatten → Gemm 18→3, repaired
    /// at the Conv; inputs reach both pieces of the leaky ReLU and all three of the Clip.
    /// The value channel takes every piece from the activation channel (the leaky ReLU's slope, the pool's choice, the
    /// Clip's bound or pass-through), the repair verifies, and the LP's margin ε is what the decoupled network as run
    /// computes, so the encoder and the run agree on every piece; with no weight changed it is the original network.
    /// </summary>
    [Fact]
    public void PrdnnRepairsThroughLeakyReluMaxPoolAndClipLayers()
    {
        TestSupport.Init();
        Onnx.ModelProto model = ClassifierGraph("kinks", "image", [1, 6, 6]);
        var random = new Random(5);
        model.Graph.Initializer.Add([OnnxImportTests.UniformFloats("k", random, 0.8, 2, 1, 3, 3), new Onnx.TensorProto { Name = "kb", DataType = 1, Dims = { 2 }, FloatData = { -1.2f, -0.8f } },
            OnnxImportTests.UniformFloats("w", random, 0.8, 3, 18), OnnxImportTests.UniformFloats("b", random, 0.3, 3),
            new Onnx.TensorProto { Name = "lower", DataType = 1, FloatData = { -0.1f } }, new Onnx.TensorProto { Name = "upper", DataType = 1, FloatData = { 1f } }]);
        Onnx.AttributeProto Ints(string name, params long[] values) => new() { Name = name, Type = Onnx.AttributeProto.Types.AttributeType.Ints, Ints = { values } };
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "conv", OpType = "Conv", Input = { "image", "k", "kb" }, Output = { "c" }, Attribute = { Ints("pads", 1, 1, 1, 1) } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "pool", OpType = "MaxPool", Input = { "c" }, Output = { "p" }, Attribute = { Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1) } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "leaky", OpType = "LeakyRelu", Input = { "p" }, Output = { "l" }, Attribute = { new Onnx.AttributeProto { Name = "alpha", Type = Onnx.AttributeProto.Types.AttributeType.Float, F = 0.2f } } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "clip", OpType = "Clip", Input = { "l", "lower", "upper" }, Output = { "q" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "flat", OpType = "Flatten", Input = { "q" }, Output = { "f" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "fc", OpType = "Gemm", Input = { "f", "w", "b" }, Output = { "y" }, Attribute = { new Onnx.AttributeProto { Name = "transB", Type = Onnx.AttributeProto.Types.AttributeType.Int, I = 1 } } });
        Network network = OnnxImporter.Import(model.ToByteArray(), "kinks.onnx", null, new OnnxImportOptions());
        Assert.Equal(3, network.Layers.Count(l => l.Spec is OnnxBlockSpec));
        using Tensor x = randn(8, 1, 6, 6, generator: new Generator(3));
        Assert.True(network.Logits(x).sub(OnnxRuntimeCheck.Run(model.ToByteArray(), x)).abs().max().item<float>() < 1e-5);
        // Inputs on both pieces of the leaky ReLU and on all three of the Clip.
        using Tensor z = network.LayerInput(x, 2), q = network.LayerInput(x, 3);
        Assert.True(z.lt(0).any().item<bool>() && z.gt(0).any().item<bool>());
        Assert.True(q.lt(-0.1).any().item<bool>() && q.gt(1).any().item<bool>() && q.gt(-0.1).logical_and(q.lt(1)).any().item<bool>());

        (RepairProblem problem, _) = NextClassProblem(network, x, 6);
        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = "conv1", Variant = LpRepairVariant.Prdnn }).Repair(problem);

        Assert.True(result.Verified, string.Join(Environment.NewLine, [result.Message, .. result.Notes]));
        Assert.Equal(result.Epsilon!.Value, result.Verification!.MinMarginFloat64, 6);
        var unchanged = new DecoupledNetwork(network, network, 0);
        Assert.True(unchanged.Logits(x, ScalarType.Float64).sub(network.Logits(x).to(ScalarType.Float64)).abs().max().item<double>() < 1e-5);
    }

    /// <summary>
    /// A depthwise-separable CNN as MobileNet-style exports have it: (N, 1, 8, 8) → Conv 1→4 (3×3, pad 1) → Relu →
    /// depthwise Conv (group 4) → Relu → pointwise Conv 4→8 (1×1) → Relu → GlobalAveragePool → Flatten → Gemm 8→3.
    /// </summary>
    private static Onnx.ModelProto DepthwiseCnn()
    {
        Onnx.ModelProto model = ClassifierGraph("separable", "image", [1, 8, 8]);
        var random = new Random(9);
        model.Graph.Initializer.Add([OnnxImportTests.UniformFloats("k1", random, 0.6, 4, 1, 3, 3), OnnxImportTests.UniformFloats("kd", random, 0.6, 4, 1, 3, 3),
            OnnxImportTests.UniformFloats("kp", random, 0.6, 8, 4, 1, 1), OnnxImportTests.UniformFloats("w", random, 0.6, 3, 8), OnnxImportTests.UniformFloats("b", random, 0.3, 3)]);
        Onnx.AttributeProto Ints(string name, params long[] values) => new() { Name = name, Type = Onnx.AttributeProto.Types.AttributeType.Ints, Ints = { values } };
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "conv", OpType = "Conv", Input = { "image", "k1" }, Output = { "c1" }, Attribute = { Ints("pads", 1, 1, 1, 1) } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "relu1", OpType = "Relu", Input = { "c1" }, Output = { "r1" } });
        model.Graph.Node.Add(new Onnx.NodeProto
        {
            Name = "depthwise",
            OpType = "Conv",
            Input = { "r1", "kd" },
            Output = { "c2" },
            Attribute = { Ints("pads", 1, 1, 1, 1), new Onnx.AttributeProto { Name = "group", Type = Onnx.AttributeProto.Types.AttributeType.Int, I = 4 } }
        });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "relu2", OpType = "Relu", Input = { "c2" }, Output = { "r2" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "pointwise", OpType = "Conv", Input = { "r2", "kp" }, Output = { "c3" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "relu3", OpType = "Relu", Input = { "c3" }, Output = { "r3" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "pool", OpType = "GlobalAveragePool", Input = { "r3" }, Output = { "g" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "flat", OpType = "Flatten", Input = { "g" }, Output = { "f" } });
        model.Graph.Node.Add(new Onnx.NodeProto
        {
            Name = "fc",
            OpType = "Gemm",
            Input = { "f", "w", "b" },
            Output = { "y" },
            Attribute = { new Onnx.AttributeProto { Name = "transB", Type = Onnx.AttributeProto.Types.AttributeType.Int, I = 1 } }
        });
        return model;
    }

    /// <summary>
    /// A depthwise convolution is a layer of its own (a Conv2d with one group per channel): inspect counts its weights,
    /// the provable LP repairs it (each output channel's weights meet only its own input channel) and encodes it after
    /// the first convolution, the verifier proves every point on the network as written, and the file written back
    /// carries the new depthwise weights under their own initializer, which ONNX Runtime runs to the same scores.
    /// </summary>
    [Fact]
    public void ADepthwiseConvolutionIsARepairableLayerThatRunsAndIsWrittenBackAsTheFileSays()
    {
        TestSupport.Init();
        Onnx.ModelProto model = DepthwiseCnn();
        Network network = OnnxImporter.Import(model.ToByteArray(), "separable.onnx", null, new OnnxImportOptions());
        using Tensor x = rand(16, 1, 8, 8, generator: new Generator(2));
        Tensor runtime = OnnxRuntimeCheck.Run(model.ToByteArray(), x);
        Assert.True(network.Logits(x).sub(runtime).abs().max().item<float>() < 1e-5, "the depthwise convolution differs from ONNX Runtime's");
        Conv2dSpec depthwise = Assert.IsType<Conv2dSpec>(network.Layers.Single(l => l.Spec is Conv2dSpec { Groups: > 1 }).Spec);
        Assert.Equal((4, 4, 4), (depthwise.In, depthwise.Out, depthwise.Groups));
        // 4·1·3·3 + 4 (first conv) + 4·1·3·3 + 4 (depthwise) + 8·4 + 8 (pointwise) + 3·8 + 3 (classifier).
        Assert.Equal(40 + 40 + 40 + 27, network.Summarize().Sum(l => l.Parameters));

        (RepairProblem problem, RepairSet set) = NextClassProblem(network, x, 4);
        string[] convs = [.. AffineSites.Of(network).Where(site => site.AsConvolution is not null).Select(site => site.Name)];
        Assert.Equal(3, convs.Length);
        foreach (string layer in convs)
        {
            RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = layer }).Repair(problem);
            Assert.True(result.Verified, $"{layer}: {result.Message}");
            Assert.Equal(result.Epsilon!.Value, result.Verification!.MinMarginFloat64, 6);
            Network repaired = result.Model!.PlainNetwork!;
            OnnxExport export = OnnxExporter.Build(repaired);
            Assert.Contains(layer == depthwise.Name ? "kd" : layer == convs[0] ? "k1" : "kp", export.ReplacedInitializers);
            Assert.True(RepairVerifier.VerifyInOnnxRuntime(export.Bytes, repaired, set).Verified, $"{layer}: ONNX Runtime disagrees with the written file");
        }
        // PRDNN's decoupled network runs the depthwise layer's value channel with its repaired weights.
        RepairResult prdnn = new ProvableRepair(new ProvableRepairOptions { Layer = depthwise.Name, Variant = LpRepairVariant.Prdnn }).Repair(problem);
        Assert.True(prdnn.Verified, prdnn.Message);
        // A rank-one edit cannot act on it, so the edit's layer choice passes it over.
        Assert.DoesNotContain(depthwise.Name, Reparo.Localisation.LayerHeuristics.Candidates(network, "edit"));
        Assert.Contains(depthwise.Name, Reparo.Localisation.LayerHeuristics.Candidates(network, "ft"));
    }

    /// <summary>
    /// A 1-D CNN as PyTorch's Conv1d exports it (signals, or text after an embedding): (N, 2, 12) → Conv 2→4 (k3, pad 1)
    /// → Relu → MaxPool (k2) → Conv 4→4 (k3, pads 2 and 0, group 2) → Relu → GlobalAveragePool → Flatten → Gemm 4→3.
    /// </summary>
    private static Onnx.ModelProto Cnn1d()
    {
        Onnx.ModelProto model = ClassifierGraph("signal", "signal", [2, 12]);
        var random = new Random(6);
        model.Graph.Initializer.Add([OnnxImportTests.UniformFloats("k1", random, 0.6, 4, 2, 3), OnnxImportTests.UniformFloats("b1", random, 0.2, 4),
            OnnxImportTests.UniformFloats("k2", random, 0.6, 4, 2, 3), OnnxImportTests.UniformFloats("b2", random, 0.2, 4),
            OnnxImportTests.UniformFloats("w", random, 0.6, 3, 4), OnnxImportTests.UniformFloats("b", random, 0.3, 3)]);
        Onnx.AttributeProto Ints(string name, params long[] values) => new() { Name = name, Type = Onnx.AttributeProto.Types.AttributeType.Ints, Ints = { values } };
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "conv", OpType = "Conv", Input = { "signal", "k1", "b1" }, Output = { "c1" }, Attribute = { Ints("pads", 1, 1) } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "relu1", OpType = "Relu", Input = { "c1" }, Output = { "r1" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "pool", OpType = "MaxPool", Input = { "r1" }, Output = { "p" }, Attribute = { Ints("kernel_shape", 2), Ints("strides", 2) } });
        model.Graph.Node.Add(new Onnx.NodeProto
        {
            Name = "causal",
            OpType = "Conv",
            Input = { "p", "k2", "b2" },
            Output = { "c2" },
            Attribute = { Ints("pads", 2, 0), new Onnx.AttributeProto { Name = "group", Type = Onnx.AttributeProto.Types.AttributeType.Int, I = 2 } }
        });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "relu2", OpType = "Relu", Input = { "c2" }, Output = { "r2" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "gap", OpType = "GlobalAveragePool", Input = { "r2" }, Output = { "g" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "flat", OpType = "Flatten", Input = { "g" }, Output = { "f" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "fc", OpType = "Gemm", Input = { "f", "w", "b" }, Output = { "y" }, Attribute = { new Onnx.AttributeProto { Name = "transB", Type = Onnx.AttributeProto.Types.AttributeType.Int, I = 1 } } });
        return model;
    }

    /// <summary>
    /// A 1-D CNN runs as ONNX Runtime runs it; its convolutions are layers (a symmetric one Reparo's own Conv1d, the
    /// asymmetric grouped one a Conv1d module inside an ONNX block); a rank-one edit's patch keys and the weight as a
    /// matrix give the layer's outputs back; provable repair at each convolution verifies, ε being what the network as
    /// written computes, and the written file carries the new weights; PRDNN through the 1-D max-pool verifies too.
    /// </summary>
    [Fact]
    public void A1dCnnIsImportedAndEveryMethodReachesItsConvolutions()
    {
        TestSupport.Init();
        Onnx.ModelProto model = Cnn1d();
        Network network = OnnxImporter.Import(model.ToByteArray(), "signal.onnx", null, new OnnxImportOptions());
        // A (C, L) input per sample is read as Reparo's (1, C, L) image, which its rows layer hands the graph as (C, L).
        using Tensor x = randn(12, 1, 2, 12, generator: new Generator(4));
        Assert.True(network.Logits(x).sub(OnnxRuntimeCheck.Run(model.ToByteArray(), network.GraphInput(x))).abs().max().item<float>() < 1e-5, "the 1-D CNN differs from ONNX Runtime's");
        Assert.IsType<Conv1dSpec>(network.Layers.Single(l => l.Name == "conv1").Spec);
        AffineSite[] convs = [.. AffineSites.Of(network).Where(s => s.AsConvolution is not null)];
        Assert.Equal(2, convs.Length);
        Assert.All(convs, c => Assert.IsType<TorchSharp.Modules.Conv1d>(c.Module));

        // Keys and values: W · patch + b is the layer's output at every position.
        AffineSite first = convs[0];
        (_, Tensor input, Tensor output) = AffineSites.Capture(network, first, x);
        Tensor keys = Reparo.Repair.Editing.LayerKeys.Keys(first, Reparo.Repair.Editing.KeyKind.Patch, input);
        Tensor recomputed = keys.matmul(Reparo.Repair.Editing.LayerKeys.Matrix(first, Reparo.Repair.Editing.KeyKind.Patch).t()).add(first.Bias!.to(ScalarType.Float64));
        Assert.True(recomputed.sub(Reparo.Repair.Editing.LayerKeys.Values(first, output)).abs().max().item<double>() < 1e-5);
        Assert.True(AffineSites.ScoresWithWeight(network, first, x, first.Weight).sub(network.Scores(x)).abs().max().item<float>() < 1e-6);

        (RepairProblem problem, RepairSet set) = NextClassProblem(network, x, 4);
        foreach (AffineSite site in convs)
        {
            RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = site.Name }).Repair(problem);
            Assert.True(result.Verified, $"{site.Name}: {result.Message}");
            Assert.Equal(result.Epsilon!.Value, result.Verification!.MinMarginFloat64, 6);
            Network repaired = result.Model!.PlainNetwork!;
            OnnxExport export = OnnxExporter.Build(repaired);
            Assert.Contains(site == first ? "k1" : "k2", export.ReplacedInitializers);
            Assert.True(RepairVerifier.VerifyInOnnxRuntime(export.Bytes, repaired, set).Verified, $"{site.Name}: ONNX Runtime disagrees with the written file");
        }
        RepairResult prdnn = new ProvableRepair(new ProvableRepairOptions { Layer = first.Name, Variant = LpRepairVariant.Prdnn }).Repair(problem);
        Assert.True(prdnn.Verified, prdnn.Message);
        Assert.Equal(prdnn.Epsilon!.Value, prdnn.Verification!.MinMarginFloat64, 6);
    }

    /// <summary>The 1-D CNN saved as a Reparo model file reads back (its block's 1-D Conv counted as one) and computes the same scores.</summary>
    [Fact]
    public void A1dCnnSavedAsAReparoFileReadsBack()
    {
        TestSupport.Init();
        Network network = OnnxImporter.Import(Cnn1d().ToByteArray(), "signal.onnx", null, new OnnxImportOptions());
        Network saved = ModelFile.FromBytes(ModelFile.ToBytes(network), "signal.reparo");
        using Tensor x = randn(6, 1, 2, 12, generator: new Generator(7));
        Assert.True(saved.Logits(x).sub(network.Logits(x)).abs().max().item<float>() < 1e-6);
    }

    /// <summary>
    /// A grouped Conv2d and a grouped Conv1d imported, saved as a Reparo model file (which keeps no ONNX graph) and
    /// written as a fresh ONNX graph: the file carries each convolution's group (and a 1-D one's 1-D attributes), and
    /// ONNX Runtime computes the network's scores.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void AGroupedConvolutionSavedAsAReparoFileIsWrittenAsAFreshOnnxGraph(int dimensions)
    {
        TestSupport.Init();
        long[] spatial = dimensions == 1 ? [10] : [6, 6];
        Onnx.ModelProto model = ClassifierGraph("grouped", "x", [4, .. spatial]);
        var random = new Random(3);
        long features = 4 * spatial.Aggregate(1L, (a, b) => a * b);
        model.Graph.Initializer.Add([OnnxImportTests.UniformFloats("k", random, 0.6, [4, 2, .. spatial.Select(_ => 3L)]), OnnxImportTests.UniformFloats("kb", random, 0.2, 4),
            OnnxImportTests.UniformFloats("w", random, 0.3, 3, features), OnnxImportTests.UniformFloats("b", random, 0.3, 3)]);
        model.Graph.Node.Add(new Onnx.NodeProto
        {
            Name = "conv",
            OpType = "Conv",
            Input = { "x", "k", "kb" },
            Output = { "c" },
            Attribute =
            {
                new Onnx.AttributeProto { Name = "pads", Type = Onnx.AttributeProto.Types.AttributeType.Ints, Ints = { Enumerable.Repeat(1L, 2 * dimensions) } },
                new Onnx.AttributeProto { Name = "group", Type = Onnx.AttributeProto.Types.AttributeType.Int, I = 2 },
            }
        });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "relu", OpType = "Relu", Input = { "c" }, Output = { "r" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "flat", OpType = "Flatten", Input = { "r" }, Output = { "f" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "fc", OpType = "Gemm", Input = { "f", "w", "b" }, Output = { "y" }, Attribute = { new Onnx.AttributeProto { Name = "transB", Type = Onnx.AttributeProto.Types.AttributeType.Int, I = 1 } } });
        Network imported = OnnxImporter.Import(model.ToByteArray(), "grouped.onnx", null, new OnnxImportOptions());
        Network saved = ModelFile.FromBytes(ModelFile.ToBytes(imported), "grouped.reparo");
        Assert.Null(saved.OnnxOrigin);
        Assert.Equal(2, saved.Layers.Single(l => l.Name == "conv1").Spec switch { Conv1dSpec c => c.Groups, Conv2dSpec c => c.Groups, _ => 0 });

        OnnxExport export = OnnxExporter.Build(saved);

        Onnx.NodeProto conv = Onnx.ModelProto.Parser.ParseFrom(export.Bytes).Graph.Node.Single(n => n.OpType == "Conv");
        Assert.Equal(2, conv.Attribute.Single(a => a.Name == "group").I);
        Assert.Equal(dimensions, conv.Attribute.Single(a => a.Name == "kernel_shape").Ints.Count);
        using Tensor x = randn([5, .. saved.Spec.InputShape], generator: new Generator(2));
        Assert.True(saved.Logits(x).sub(OnnxRuntimeCheck.Run(export.Bytes, x)).abs().max().item<float>() < 1e-5);
    }

    /// <summary>
    /// Max over time, as text and signal CNNs end: (N, 2, 12) → Conv 2→4 (k3, pad 1) → Relu → GlobalMaxPool + Flatten, or
    /// ReduceMax over the time axis (axes as an attribute before opset 18, as an input since) → Gemm 4→3. The maximum is
    /// a max-pool to the LP (each channel's window the whole sequence, the argmax held) and to PRDNN; both repairs at the
    /// Conv verify with ε what the network as written computes.
    /// </summary>
    [Theory]
    [InlineData("GlobalMaxPool", 13)]
    [InlineData("ReduceMax", 13)]
    [InlineData("ReduceMax", 18)]
    public void MaxOverTimeIsAMaxPoolToTheLpAndToPrdnn(string op, int opset)
    {
        TestSupport.Init();
        Onnx.ModelProto model = ClassifierGraph("max-over-time", "signal", [2, 12], opset: opset, irVersion: 8);
        var random = new Random(8);
        model.Graph.Initializer.Add([OnnxImportTests.UniformFloats("k", random, 0.6, 4, 2, 3), OnnxImportTests.UniformFloats("kb", random, 0.2, 4),
            OnnxImportTests.UniformFloats("w", random, 0.6, 3, 4), OnnxImportTests.UniformFloats("b", random, 0.3, 3)]);
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "conv", OpType = "Conv", Input = { "signal", "k", "kb" }, Output = { "c" }, Attribute = { new Onnx.AttributeProto { Name = "pads", Type = Onnx.AttributeProto.Types.AttributeType.Ints, Ints = { 1, 1 } } } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "relu", OpType = "Relu", Input = { "c" }, Output = { "r" } });
        if (op == "GlobalMaxPool")
        {
            model.Graph.Node.Add(new Onnx.NodeProto { Name = "max", OpType = "GlobalMaxPool", Input = { "r" }, Output = { "g" } });
            model.Graph.Node.Add(new Onnx.NodeProto { Name = "flat", OpType = "Flatten", Input = { "g" }, Output = { "f" } });
        }
        else
        {
            var max = new Onnx.NodeProto { Name = "max", OpType = "ReduceMax", Input = { "r" }, Output = { "f" }, Attribute = { new Onnx.AttributeProto { Name = "keepdims", Type = Onnx.AttributeProto.Types.AttributeType.Int, I = 0 } } };
            if (opset >= 18)
            {
                model.Graph.Initializer.Add(new Onnx.TensorProto { Name = "axes", DataType = 7, Dims = { 1 }, Int64Data = { 2 } });
                max.Input.Add("axes");
            }
            else
            {
                max.Attribute.Add(new Onnx.AttributeProto { Name = "axes", Type = Onnx.AttributeProto.Types.AttributeType.Ints, Ints = { 2 } });
            }
            model.Graph.Node.Add(max);
        }
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "fc", OpType = "Gemm", Input = { "f", "w", "b" }, Output = { "y" }, Attribute = { new Onnx.AttributeProto { Name = "transB", Type = Onnx.AttributeProto.Types.AttributeType.Int, I = 1 } } });
        Network network = OnnxImporter.Import(model.ToByteArray(), "max.onnx", null, new OnnxImportOptions());
        using Tensor x = randn(10, 1, 2, 12, generator: new Generator(9));
        Assert.True(network.Logits(x).sub(OnnxRuntimeCheck.Run(model.ToByteArray(), network.GraphInput(x))).abs().max().item<float>() < 1e-5);

        (RepairProblem problem, _) = NextClassProblem(network, x, 5);
        foreach (LpRepairVariant variant in new[] { LpRepairVariant.Aprnn, LpRepairVariant.Prdnn })
        {
            RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = "conv1", Variant = variant }).Repair(problem);
            Assert.True(result.Verified, $"{variant}: {result.Message}");
            Assert.Equal(result.Epsilon!.Value, result.Verification!.MinMarginFloat64, 6);
        }
    }

    /// <summary>
    /// <c>explain</c>'s most editable layer is one a rank-one edit can act on: a depthwise convolution first, which carries
    /// the most attribution (the pointwise convolution after it takes the difference of its two channels), is scored and
    /// listed but passed over.
    /// </summary>
    [Fact]
    public void ExplainScoresADepthwiseConvolutionButChoosesAnEditableLayer()
    {
        TestSupport.Init();
        Onnx.ModelProto model = ClassifierGraph("depthwise-first", "image", [2, 8, 8]);
        var random = new Random(2);
        // The pointwise convolution takes the difference of the two channels, so their contributions partly cancel there.
        model.Graph.Initializer.Add([OnnxImportTests.UniformFloats("kd", random, 0.6, 2, 1, 3, 3), new Onnx.TensorProto { Name = "kp", DataType = 1, Dims = { 1, 2, 1, 1 }, FloatData = { 1f, -1f } },
            OnnxImportTests.UniformFloats("w", random, 0.6, 3, 1), OnnxImportTests.UniformFloats("b", random, 0.3, 3)]);
        model.Graph.Node.Add(new Onnx.NodeProto
        {
            Name = "depthwise",
            OpType = "Conv",
            Input = { "image", "kd" },
            Output = { "c1" },
            Attribute = { new Onnx.AttributeProto { Name = "pads", Type = Onnx.AttributeProto.Types.AttributeType.Ints, Ints = { 1, 1, 1, 1 } }, new Onnx.AttributeProto { Name = "group", Type = Onnx.AttributeProto.Types.AttributeType.Int, I = 2 } }
        });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "relu1", OpType = "Relu", Input = { "c1" }, Output = { "r1" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "pointwise", OpType = "Conv", Input = { "r1", "kp" }, Output = { "c2" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "relu2", OpType = "Relu", Input = { "c2" }, Output = { "r2" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "pool", OpType = "GlobalAveragePool", Input = { "r2" }, Output = { "g" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "flat", OpType = "Flatten", Input = { "g" }, Output = { "f" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "fc", OpType = "Gemm", Input = { "f", "w", "b" }, Output = { "y" }, Attribute = { new Onnx.AttributeProto { Name = "transB", Type = Onnx.AttributeProto.Types.AttributeType.Int, I = 1 } } });
        Network network = OnnxImporter.Import(model.ToByteArray(), "depthwise-first.onnx", null, new OnnxImportOptions());
        using Tensor x = rand(1, 2, 8, 8, generator: new Generator(1));

        Reparo.Reporting.LayerAttributionChoice choice = Reparo.UseCases.ExplainUseCase.ScoreLayers(network, x, network.Predict(x)[0], new AttributionOptions())!;

        Assert.Equal(["conv1", "conv2", "fc1"], choice.Scores.Select(s => s.Layer));
        Assert.Equal("conv1", choice.Scores.MaxBy(s => s.Score)!.Layer);
        Assert.Equal(choice.Scores.Where(s => s.Layer != "conv1").MaxBy(s => s.Score)!.Layer, choice.Layer);
        Assert.Contains("2 of them editable", choice.Rule);
    }

    /// <summary>An MLP 4 → 8 → 8 → 3 with ReLUs whose first layer is a bare MatMul (x · w0) and second a Gemm without C (beta 2): no biases in the file.</summary>
    internal static Onnx.ModelProto NoBiasMlp()
    {
        var model = new Onnx.ModelProto { IrVersion = 7, Graph = new Onnx.GraphProto { Name = "nobias" } };
        model.OpsetImport.Add(new Onnx.OperatorSetIdProto { Domain = "", Version = 13 });
        model.Graph.Input.Add(OnnxImportTests.Value("x", 4));
        model.Graph.Output.Add(OnnxImportTests.Value("y", 3));
        var random = new Random(11);
        model.Graph.Initializer.Add([OnnxImportTests.UniformFloats("w0", random, 0.8, 4, 8), OnnxImportTests.UniformFloats("w1", random, 0.8, 8, 8),
            OnnxImportTests.UniformFloats("w2", random, 0.8, 3, 8), OnnxImportTests.UniformFloats("b2", random, 0.3, 3)]);
        Onnx.AttributeProto TransB() => new() { Name = "transB", Type = Onnx.AttributeProto.Types.AttributeType.Int, I = 1 };
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "matmul", OpType = "MatMul", Input = { "x", "w0" }, Output = { "z0" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "relu0", OpType = "Relu", Input = { "z0" }, Output = { "a0" } });
        model.Graph.Node.Add(new Onnx.NodeProto
        {
            Name = "gemm1",
            OpType = "Gemm",
            Input = { "a0", "w1" },
            Output = { "z1" },
            Attribute = { TransB(), new Onnx.AttributeProto { Name = "beta", Type = Onnx.AttributeProto.Types.AttributeType.Float, F = 2 } }
        });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "relu1", OpType = "Relu", Input = { "z1" }, Output = { "a1" } });
        model.Graph.Node.Add(new Onnx.NodeProto { Name = "gemm2", OpType = "Gemm", Input = { "a1", "w2", "b2" }, Output = { "y" }, Attribute = { TransB() } });
        return model;
    }

    /// <summary>
    /// PyTorch writes a layer with <c>bias=False</c> as a MatMul (or a Gemm without C): Reparo's layer still has a bias,
    /// zero at import, which a repair may change. The file written back then gains it, for the MatMul as an Add after it
    /// (under the MatMul's output name), for the Gemm as its C divided by its beta, and ONNX Runtime proves the repair on
    /// the written file; a file re-imported from it reads the bias as its own.
    /// </summary>
    [Fact]
    public void ABiasTheFileLacksIsAddedWhenARepairChangesIt()
    {
        TestSupport.Init();
        Onnx.ModelProto model = NoBiasMlp();
        Network network = OnnxImporter.Import(model.ToByteArray(), "nobias.onnx", null, new OnnxImportOptions());
        Assert.Equal("fc1,relu1,fc2,relu2,fc3", string.Join(",", network.Layers.Select(l => l.Name)));
        using Tensor x = randn(6, 4, generator: new Generator(8));
        (RepairProblem problem, RepairSet set) = NextClassProblem(network, x, 6);
        foreach ((string layer, string weight) in new[] { ("fc1", "w0"), ("fc2", "w1") })
        {
            RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = layer }).Repair(problem);
            Assert.True(result.Verified, $"{layer}: {result.Message}");
            Network repaired = result.Model!.PlainNetwork!;
            Tensor bias = repaired.Layers[repaired.LayerIndex(layer)].AsLinear!.bias!;
            Assert.True(bias.abs().max().item<float>() > 0, $"{layer}: the repair left the bias at zero, so this test shows nothing");
            OnnxExport export = OnnxExporter.Build(repaired);
            Assert.Contains($"{weight}.bias", export.ReplacedInitializers);
            Assert.True(RepairVerifier.VerifyInOnnxRuntime(export.Bytes, repaired, set).Verified, $"{layer}: ONNX Runtime disagrees with the written file");
            Onnx.GraphProto written = Onnx.ModelProto.Parser.ParseFrom(export.Bytes).Graph;
            if (layer == "fc1")
            {
                Onnx.NodeProto add = written.Node.Single(n => n.Output[0] == "z0");
                Assert.Equal(("Add", $"{weight}.bias"), (add.OpType, add.Input[1]));
            }
            else
            {
                Assert.Equal($"{weight}.bias", written.Node.Single(n => n.Name == "gemm1").Input[2]);
                Tensor stored = Reparo.Io.Onnx.OnnxTensors.ToTorch(written.Initializer.Single(t => t.Name == $"{weight}.bias"), "written", null);
                Assert.True(stored.mul(2).sub(bias).abs().max().item<float>() < 1e-6, "the Gemm's C is not the bias over beta");
            }
            Network reread = OnnxImporter.Import(export.Bytes, "written.onnx", null, new OnnxImportOptions());
            Assert.True(reread.Logits(x).sub(repaired.Logits(x)).abs().max().item<float>() < 1e-5);
            Assert.True(reread.OnnxOrigin!.Parameters[$"{layer}.bias"] is { AddsBiasTo: null } own && own.Initializer == $"{weight}.bias");
        }
    }

    [Theory]
    [InlineData("SAME_UPPER", 1)]
    [InlineData("SAME_LOWER", 2)]
    public void AConvWithSamePaddingIsARepairableLayerAndIsWrittenBackWithItsAutoPad(string autoPad, long stride)
    {
        // Keras through tf2onnx writes convolutions with auto_pad SAME_UPPER; a stride of 2 on an 8 × 8 input pads
        // one side more than the other.
        TestSupport.Init();
        Onnx.ModelProto model = OnnxImportTests.ChannelsLastModel();
        Onnx.NodeProto conv = model.Graph.Node.Single(n => n.OpType == "Conv");
        conv.Attribute.Add(new Onnx.AttributeProto { Name = "auto_pad", Type = Onnx.AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(autoPad) });
        conv.Attribute.Add(new Onnx.AttributeProto { Name = "strides", Type = Onnx.AttributeProto.Types.AttributeType.Ints, Ints = { stride, stride } });
        long features = 2 * (8 / stride) * (8 / stride);
        Onnx.TensorProto dense = model.Graph.Initializer.Single(t => t.Name == "w");
        model.Graph.Initializer.Remove(dense);
        model.Graph.Initializer.Add(OnnxImportTests.UniformFloats("w", new Random(4), 0.5, 3, features));
        Network network = OnnxImporter.Import(model.ToByteArray(), "keras.onnx", null, new OnnxImportOptions());
        AffineSite site = AffineSites.Of(network).Single(s => s.AsConvolution is not null);
        using Tensor x = rand(8, 3, 8, 8, generator: new Generator(6));
        Assert.True(network.Logits(x).sub(OnnxRuntimeCheck.Run(model.ToByteArray(), network.GraphInput(x))).abs().max().item<float>() < 1e-5, "the padded convolution differs from ONNX Runtime's");

        (RepairProblem problem, RepairSet set) = NextClassProblem(network, x, 3);
        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = site.Name }).Repair(problem);
        Assert.True(result.Verified, result.Message);
        Network repaired = result.Model!.PlainNetwork!;
        OnnxExport export = OnnxExporter.Build(repaired);
        Assert.Contains("k", export.ReplacedInitializers);
        Assert.True(RepairVerifier.VerifyInOnnxRuntime(export.Bytes, repaired, set).Verified);
        Assert.Equal(autoPad, Onnx.ModelProto.Parser.ParseFrom(export.Bytes).Graph.Node.Single(n => n.OpType == "Conv").Attribute.Single(a => a.Name == "auto_pad").S.ToStringUtf8());
    }

    /// <summary>The last-layer influence of training samples reads the layer before the Softmax: the same scores as for the plain MLP.</summary>
    [Fact]
    public void LastLayerInfluenceOfAModelEndingInSoftmaxReadsItsScoringLayer()
    {
        TestSupport.Init();
        DataSplits data = FashionMnist(train: 200, test: 20);
        using Tensor x = data.Test.X.narrow(0, 0, 1);
        long[] y = [data.Test.Y[0].item<long>()];
        double[][] scores = [.. new[] { Import("mlp"), MlpWithSoftmax() }.Select(network =>
            new Reparo.Influence.Baselines.KohLiangInfluence(new Reparo.Influence.Baselines.KohLiangOptions { Damping = 0.01 }).TestInfluence(network, data.Train, x, y).Scores)];
        Assert.Equal(scores[0].Length, scores[1].Length);
        for (int i = 0; i < scores[0].Length; i++) Assert.Equal(scores[0][i], scores[1][i], 1e-6 * Math.Max(1, Math.Abs(scores[0][i])));
    }

    /// <summary>
    /// The same MLP with a Softmax appended (an export for deployment): its class scores are the plain model's logits,
    /// and fine-tuning takes its loss on them, so it makes the same steps (it used to take cross-entropy on probabilities).
    /// </summary>
    [Fact]
    public void AModelEndingInSoftmaxIsFineTunedOnItsScores()
    {
        TestSupport.Init();
        Network softmax = MlpWithSoftmax(), plain = Import("mlp");
        Assert.Equal(plain.Layers.Count, softmax.ScoreLayerCount);
        DataSplits data = FashionMnist();
        using Tensor x = data.Test.X.narrow(0, 0, 16);
        Assert.True(softmax.Scores(x).sub(plain.Logits(x)).abs().max().item<float>() < 1e-6);
        RepairResult[] results = [.. new[] { plain, softmax }.Select(network =>
            RepairMethods.Create("ft", new RepairSettings { Layer = "fc2", Seed = 0, MaxSteps = 30 }).Repair(RepairSetSpec.Build("fog:3:4", network, data, seed: 0)))];
        Assert.Equal(results[0].Notes, results[1].Notes);
        Tensor[] weights = [.. results.Select(r => r.Model!.PlainNetwork!.Layers.First(l => l.Name == "fc2").AsLinear!.weight!)];
        Assert.True(weights[0].sub(weights[1]).abs().max().item<float>() < 1e-5, "fine-tuning moved the two models' fc2 apart");
    }

    [Fact]
    public void FineTuningAcceptsAnOnnxNodeNameForALayerInsideABlock()
    {
        TestSupport.Init();
        Network vit = Import("vit");
        DataSplits data = FashionMnist();
        RepairProblem problem = RepairSetSpec.Build("fog:3:2", vit, data, seed: 0);
        RepairResult result = RepairMethods.Create("ft", new RepairSettings { Layer = "/enc/linear1/MatMul", Seed = 0, MaxSteps = 20 }).Repair(problem);
        Assert.Equal(vit.Spec.ResolveName("/enc/linear1/MatMul"), result.Layer);
    }

    [Fact]
    public void InfluenceOfAnImportedGruFindsItsTrainingSamples()
    {
        TestSupport.Init();
        Network gru = Import("gru");
        DataSplits data = FashionMnist(train: 300, test: 50);
        var options = new InfluenceOptions { Abstraction = new AbstractionOptions { Candidates = [4], Mixture = new GaussianMixtureOptions(Seed: 0) } };
        using InfluenceModel model = InfluenceModel.Build(gru, data.Train, options);
        SampleQuery query = model.Query(data.Test, 0, 5);
        Assert.Equal(5, query.Top.Count);
        Assert.Equal(28, query.Trace.Length);
        Assert.All(query.Top, hit => Assert.InRange(hit.TrainIndex, 0, data.Train.Count - 1));
    }

    [Fact]
    public void RectifyWithTheUsersPairsWritesAnOnnxFile()
    {
        TestSupport.Init();
        using TempFolder dir = TestSupport.TempFolder();
        string model = Path.Combine(OnnxImportTests.Fixture("cnn"), "model.onnx");
        DataSplits data = FashionMnist(train: 100, test: 20);
        Tensor clean = data.Test.X.narrow(0, 0, 8);
        Tensor triggered = clean.clone();
        triggered.narrow(2, 24, 3).narrow(3, 24, 3).fill_(1f);
        string pairs = UserDataFiles.Npz(dir.File("pairs.npz"), ("corrupted", triggered.narrow(0, 0, 1)), ("clean", clean.narrow(0, 0, 1)));
        string trigger = UserDataFiles.Npz(dir.File("trigger.npz"), ("x", triggered), ("target", tensor(0L)));
        string json = dir.File("r.json"), output = dir.File("fixed.onnx");
        (int code, _, string err) = CliRunner.Run("rectify", "--model", model, "--data", "fashion-mnist", "--train-limit", "500", "--test-limit", "500",
            "--pairs", $"npz:{pairs}", "--trigger-test", $"npz:{trigger}", "--mode", "static", "--json", json, "--out", output, "--threads", "2");
        Assert.True(code == 0, err);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.InRange(doc.RootElement.GetProperty("asr_after").GetDouble(), 0, 1);
        Network written = ModelFile.Load(output);
        Assert.NotNull(written.OnnxOrigin);
        using Tensor check = data.Test.X.narrow(0, 0, 10);
        Assert.True(OnnxRuntimeCheck.Run(output, check).sub(written.Logits(check)).abs().max().item<float>() <= 1e-5);
    }
}
