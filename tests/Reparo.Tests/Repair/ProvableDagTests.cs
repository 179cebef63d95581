using Google.Protobuf;
using Onnx;
using Reparo.Data;
using Reparo.Localisation;
using Reparo.Models;
using Reparo.Models.Onnx;
using Reparo.Repair;
using Reparo.Repair.Provable;
using Reparo.Tests.Models;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Reparo.Tests.Repair;

/// <summary>Provable repair on imported ONNX graphs: the encoder walks ONNX blocks (residual Add, batch norm, pools) node by node.</summary>
public class ProvableDagTests(ITestOutputHelper output)
{
    // ---------------------------------------------------------------- helpers

    /// <summary>
    /// x (N, 2, 5, 5) → Conv 2→3 3×3 pad 1 → Relu → [Conv 3→3 3×3 pad 1 → Relu → Conv 3→3 2×2 pads (0,0,1,1) →
    /// BatchNormalization → Add with the block input] → Relu → GlobalAveragePool → Flatten → Gemm 3→3. With
    /// <paramref name="movement"/> the first block convolution reads Concat(block input, Transpose(Slice(Pad(block input)))).
    /// </summary>
    private static ModelProto TinyResidual(int seed, bool movement = false)
    {
        var random = new Random(seed);
        var model = new ModelProto { IrVersion = 7, Graph = new GraphProto { Name = "tiny-residual" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        model.Graph.Input.Add(Value("x", 2, 5, 5));
        model.Graph.Output.Add(Value("y", 3));
        GraphProto g = model.Graph;
        float[] Random(int n, double scale, double shift = 0) => [.. Enumerable.Range(0, n).Select(_ => (float)(shift + scale * (2 * random.NextDouble() - 1)))];
        void Initializer(string name, float[] values, params long[] dims)
        {
            var t = new TensorProto { Name = name, DataType = 1, RawData = ByteString.CopyFrom(values.SelectMany(BitConverter.GetBytes).ToArray()) };
            t.Dims.AddRange(dims);
            g.Initializer.Add(t);
        }
        NodeProto Node(string name, string op, string[] inputs, string output, params AttributeProto[] attributes)
        {
            var node = new NodeProto { Name = name, OpType = op, Input = { inputs }, Output = { output } };
            node.Attribute.AddRange(attributes);
            g.Node.Add(node);
            return node;
        }
        Initializer("w0", Random(3 * 2 * 9, 0.5), 3, 2, 3, 3);
        Initializer("b0", Random(3, 0.1), 3);
        int c1In = movement ? 6 : 3;
        Initializer("w1", Random(3 * c1In * 9, 0.4), 3, c1In, 3, 3);
        Initializer("b1", Random(3, 0.1), 3);
        Initializer("w2", Random(3 * 3 * 4, 0.5), 3, 3, 2, 2);
        Initializer("b2", Random(3, 0.1), 3);
        Initializer("gamma", Random(3, 0.3, 1), 3);
        Initializer("beta", Random(3, 0.1), 3);
        Initializer("mean", Random(3, 0.1), 3);
        Initializer("var", Random(3, 0.2, 1), 3);
        Initializer("wf", Random(3 * 3, 1), 3, 3);
        Initializer("bf", Random(3, 0.1), 3);
        Node("c0", "Conv", ["x", "w0", "b0"], "h0", Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1));
        Node("r0", "Relu", ["h0"], "a0");
        if (movement)
        {
            void Longs(string name, params long[] values)
            {
                var t = new TensorProto { Name = name, DataType = 7 };
                t.Dims.Add(values.Length);
                t.Int64Data.AddRange(values);
                g.Initializer.Add(t);
            }
            Longs("pads", 0, 0, 1, 0, 0, 0, 0, 1);
            Longs("starts", 0, 1);
            Longs("ends", 5, 6);
            Longs("axes", 2, 3);
            Node("pad", "Pad", ["a0", "pads"], "m0");
            Node("slice", "Slice", ["m0", "starts", "ends", "axes"], "m1");
            Node("transpose", "Transpose", ["m1"], "m2", Ints("perm", 0, 1, 3, 2));
            Node("concat", "Concat", ["a0", "m2"], "m3", new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        }
        Node("c1", "Conv", [movement ? "m3" : "a0", "w1", "b1"], "h1", Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1));
        Node("r1", "Relu", ["h1"], "a1");
        Node("c2", "Conv", ["a1", "w2", "b2"], "h2", Ints("kernel_shape", 2, 2), Ints("pads", 0, 0, 1, 1));
        Node("bn", "BatchNormalization", ["h2", "gamma", "beta", "mean", "var"], "n2");
        Node("add", "Add", ["n2", "a0"], "s");
        Node("r2", "Relu", ["s"], "a2");
        Node("gap", "GlobalAveragePool", ["a2"], "p");
        Node("flat", "Flatten", ["p"], "f");
        Node("fc", "Gemm", ["f", "wf", "bf"], "y", new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        return model;
    }

    private static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    private static ValueInfoProto Value(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        foreach (long d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }

    private static Network Import(ModelProto model)
    {
        TestSupport.Init();
        using TempFolder temp = TestSupport.TempFolder();
        string path = temp.File("model.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        return OnnxImporter.Import(path);
    }

    private static Network Fixture(string name)
    {
        TestSupport.Init();
        return OnnxImporter.Import(Path.Combine(OnnxImportTests.Fixture(name), "model.onnx"));
    }

    /// <summary>The block layer with affine modules and its first module's dotted name.</summary>
    private static (NetworkLayer Block, string Site) FirstBlock(Network network)
    {
        NetworkLayer block = network.Layers.First(l => l.Spec is OnnxBlockSpec { Affine.Count: > 0 });
        return (block, $"{block.Name}.{((OnnxBlockSpec)block.Spec).Affine[0].Name}");
    }

    /// <summary>Points whose required class is the one after the predicted one, or (<paramref name="runnerUp"/>) the second most likely.</summary>
    private static RepairSet Flipped(Network network, Tensor x, int classes, bool runnerUp = false)
    {
        float[] logits = network.Logits(x).contiguous().data<float>().ToArray();
        long Label(int i)
        {
            long[] order = [.. Enumerable.Range(0, classes).OrderByDescending(c => logits[i * classes + c]).Select(c => (long)c)];
            return runnerUp ? order[1] : (order[0] + 1) % classes;
        }
        var regions = Enumerable.Range(0, (int)x.shape[0]).Select(i => new RepairRegion(x.narrow(0, i, 1), Label(i), $"p{i}")).ToArray();
        return new RepairSet(regions, "flipped");
    }

    private static DataSplits FashionMnist() => DataCatalog.Load("fashion-mnist", new DataOptions { TrainLimit = 100, TestLimit = 300 });

    private static RepairProblem Problem(Network network, RepairSet set)
    {
        (Tensor x, _, long[] labels) = set.Stacked();
        var data = new Dataset("held-out", x, tensor(labels), network.Spec.ClassNames, network.Spec.InputKind);
        return new RepairProblem(network, set, data, null);
    }

    private static string Explain(RepairResult result) =>
        string.Join(Environment.NewLine, [result.Message, $"{result.LpSize} {result.Time}", .. (result.Verification?.Regions ?? []).Select(r => r.ToString()), .. result.Notes]);

    private static LayerSite Site(Network network, string name)
    {
        string[] path = name.Split('.');
        int layer = network.LayerIndex(path[0]);
        return path.Length == 1 ? layer : new LayerSite(layer, ((OnnxBlockSpec)network.Layers[layer].Spec).Affine.First(a => a.Name == path[1]).Node);
    }

    // ---------------------------------------------------------------- (a) a hand-built residual network

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ResidualNetworkIsRepairedBeforeAndInsideTheBlock(bool nested)
    {
        Network network = Import(TinyResidual(seed: 4));
        Assert.Contains(network.Layers, l => l.Spec is OnnxBlockSpec);
        (_, string blockSite) = FirstBlock(network);
        string layer = nested ? blockSite : network.Layers.First(l => l.Spec is Conv2dSpec).Name;
        Tensor x = rand([4, 2, 5, 5], generator: new Generator(7));
        RepairSet set = Flipped(network, x, 3);

        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = layer, Epsilon = 1e-2 }).Repair(Problem(network, set));

        Assert.True(result.Verified, Explain(result));
        Assert.Equal(layer, result.Layer);
        Assert.True(RepairVerifier.Verify(result.Model!, set).Verified);
        Assert.Equal(set.Regions.Select(r => r.Label), result.Model!.PlainNetwork!.Predict(x));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void EncoderOutputsThroughTheBlockEqualTheRepairedNetworksLogits(bool nested, bool movement)
    {
        Network network = Import(TinyResidual(seed: 4, movement));
        (NetworkLayer block, string blockSite) = FirstBlock(network);
        string layer = nested ? blockSite : network.Layers.First(l => l.Spec is Conv2dSpec).Name;
        Tensor x = rand([4, 2, 5, 5], generator: new Generator(7));
        RepairSet set = Flipped(network, x, 3);
        using Network network64 = PlainRepairedModel.ToFloat64(network);
        (Tensor vertices32, int[] region, long[] labels) = set.Stacked();
        using Tensor vertices64 = vertices32.to(ScalarType.Float64);
        LayerSite k = Site(network64, layer);
        int end = network64.Layers.Count;
        ActivationPatterns patterns = ActivationPatterns.Compute(network64, set, vertices64, region, k.Nested ? k.Layer : k.Layer + 1, end);

        EncodedProgram encoded = SymbolicEncoder.Encode(network64, k, end, vertices64, labels, patterns, new EncodingOptions { Epsilon = 1e-2, Rows = (1, 3) });
        Assert.Null(encoded.Conflict);
        Assert.Equal(movement, ((OnnxBlockSpec)block.Spec).Describe().Contains("Pad, Slice, Transpose, Concat", StringComparison.Ordinal));
        LpSolution solution = LpSolver.Solve(encoded.Program, new LpSolverOptions());
        Assert.Equal(LpStatus.Optimal, solution.Status);
        double[] values = solution.Values!;
        Assert.All(encoded.Deltas.Where(d => !d.IsBias), d => Assert.Equal(layer, d.Site));
        Assert.Contains(encoded.Deltas, d => d.IsBias && d.Site.StartsWith(block.Name + ".", StringComparison.Ordinal) && d.Site != layer);

        using Network repaired64 = TestSupport.WithChanges(network, encoded.Deltas, values);
        double[] logits = repaired64.Logits(vertices64).contiguous().data<double>().ToArray();
        for (int v = 0; v < labels.Length; v++)
            for (int c = 0; c < 3; c++)
            {
                LinExpr e = encoded.Outputs[v]![c];
                double lp = e.Constant + e.Cols.Select((col, i) => e.Coefs[i] * values[col]).Sum();
                Assert.Equal(logits[v * 3 + c], lp, 1e-6);
            }
    }

    [Fact]
    public void ALayerPenaltyAtANestedConvolutionCountsTheChangeOfItsOutputsOnThePreservedInputs()
    {
        Network network = Import(TinyResidual(seed: 4));
        (NetworkLayer block, string blockSite) = FirstBlock(network);
        Tensor x = rand([7, 2, 5, 5], generator: new Generator(7));
        RepairSet flipped = Flipped(network, x.narrow(0, 0, 3), 3);
        long[] predicted = network.Predict(x.narrow(0, 3, 4));
        var set = new RepairSet([.. flipped.Regions, .. predicted.Select((label, i) => new RepairRegion(x.narrow(0, 3 + i, 1), label, $"kept {i}"))], "three and four");
        using Network network64 = PlainRepairedModel.ToFloat64(network);
        (Tensor vertices32, int[] region, long[] labels) = set.Stacked();
        using Tensor vertices64 = vertices32.to(ScalarType.Float64);
        LayerSite k = Site(network64, blockSite);
        int end = network64.Layers.Count;
        ActivationPatterns patterns = ActivationPatterns.Compute(network64, set, vertices64, region, k.Layer, end);
        const double weight = 0.5;

        EncodedProgram encoded = SymbolicEncoder.Encode(network64, k, end, vertices64, labels, patterns,
            new EncodingOptions { Epsilon = 1e-2, Rows = (1, 3), RepairVertices = 3, PreservedLayerWeight = weight });
        Assert.Null(encoded.Conflict);
        LpSolution solution = LpSolver.Solve(encoded.Program, new LpSolverOptions { FeasibilityTolerance = 1e-9, OptimalityTolerance = 1e-9 });
        Assert.Equal(LpStatus.Optimal, solution.Status);
        double[] values = solution.Values!;
        using Network repaired64 = TestSupport.WithChanges(network, encoded.Deltas, values);

        // The nested convolution's outputs on the four preserved inputs, by a concrete run of the block before and after.
        string output = ((OnnxBlockSpec)block.Spec).Affine[0].Output;
        double[] Outputs(Network n)
        {
            var module = (OnnxBlockModule)n.Layers[k.Layer].Module;
            using Tensor input = n.LayerInput(vertices64.narrow(0, 3, 4), k.Layer);
            return [.. Enumerable.Range(0, 4).SelectMany(v => module.Values(input.narrow(0, v, 1))[output].contiguous().data<double>().ToArray())];
        }
        double[] before = Outputs(network64), after = Outputs(repaired64);
        double[] change = [.. after.Select((a, i) => a - before[i])];
        // Channels 1 and 2 change (rows 1:3); the mean runs over their outputs.
        int changing = change.Length / 4 / ((OnnxBlockSpec)block.Spec).Affine[0].Out * 2 * 4;
        double[] param = [.. encoded.Deltas.Select(d => d.ValueIn(values))];
        double expected = param.Max(Math.Abs) + param.Sum(Math.Abs) / param.Length + weight * change.Sum(Math.Abs) / changing;
        Assert.Equal(expected, encoded.Program.ObjectiveValue(values), 1e-6);
        Assert.True(change.Max(Math.Abs) > 1e-4, $"the repair moves the preserved inputs' outputs of {blockSite}: {change.Max(Math.Abs)}");
    }

    // ---------------------------------------------------------------- (b) the resnet fixture

    [Fact]
    public void ResnetIsRepairedAtANestedConvolutionWithARowSubset()
    {
        Network network = Fixture("resnet");
        (Tensor images, _) = OnnxImportTests.Reference("resnet");
        RepairSet set = Flipped(network, images.narrow(0, 0, 3), 10, runnerUp: true);

        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = "block2.conv5", Rows = (0, 2), Epsilon = 1e-2 }).Repair(Problem(network, set));
        output.WriteLine(Explain(result));

        Assert.True(result.Verified, Explain(result));
        Assert.Equal("block2.conv5", result.Layer);
        Assert.True(result.LpSize is not null);
    }

    // ---------------------------------------------------------------- (c) a polytope through a block with a ReLU inside

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PolytopeThroughTheBlockKeepsTheBlocksPatterns(bool nested)
    {
        Network network = Import(TinyResidual(seed: 4));
        Tensor centre = rand([1, 2, 5, 5], generator: new Generator(3));
        Tensor vertices = cat([centre, centre + 0.002 * rand([1, 2, 5, 5], generator: new Generator(4)), centre - 0.002 * rand([1, 2, 5, 5], generator: new Generator(5))], 0);
        double[] logits = network.Logits(centre).data<float>().Select(f => (double)f).ToArray();
        long second = Enumerable.Range(0, 3).OrderByDescending(c => logits[c]).ElementAt(1);
        var set = new RepairSet([new RepairRegion(vertices, second, "triangle")], "polytope");
        string layer = nested ? FirstBlock(network).Site : network.Layers.First(l => l.Spec is Conv2dSpec).Name;

        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = layer, Epsilon = 1e-3 }).Repair(Problem(network, set));

        Assert.True(result.Verified, Explain(result));
        Assert.True(result.Verification!.Regions[0].LinearOnRegion);
        Network repaired = result.Model!.PlainNetwork!;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        List<Activation> inBlocks = [.. Activations.Of(repaired, vertices, 0, repaired.Layers.Count).Where(a => a.Site.Nested)];
        Assert.NotEmpty(inBlocks);
        foreach (Activation a in inBlocks)
        {
            Tensor positive = a.Input.reshape(3, -1) > 0;
            Assert.True(positive.eq(positive[0]).all().item<bool>(), $"block ReLU {a.Site} changes its pattern across the polytope");
        }
    }

    [Fact]
    public void PolytopeRepairAfterAReluInsideTheBlockIsRefusedInOneLine()
    {
        Network network = Import(TinyResidual(seed: 4));
        (NetworkLayer block, _) = FirstBlock(network);
        string second = $"{block.Name}.{((OnnxBlockSpec)block.Spec).Affine[1].Name}";
        Tensor vertices = rand([3, 2, 5, 5], generator: new Generator(3));
        var set = new RepairSet([new RepairRegion(vertices, 0, "triangle")], "polytope");

        var error = Assert.Throws<ReparoInputException>(() => new ProvableRepair(new ProvableRepairOptions { Layer = second }).Repair(Problem(network, set)));

        Assert.Equal($"polytope repair at {second} needs the network before it made affine on every polytope slice by slice, which is not supported inside ONNX block {block.Name}; choose a layer before {block.Name}", error.Message);
    }

    // ---------------------------------------------------------------- (d) attention is not piecewise linear

    [Fact]
    public void VitBeforeTheAttentionBlockIsRefusedInOneLine()
    {
        Network network = Fixture("vit");
        (Tensor images, _) = OnnxImportTests.Reference("vit");
        RepairSet set = Flipped(network, images.narrow(0, 0, 2), 10);
        string layer = network.Layers.First(l => l.Spec is Conv2dSpec).Name;

        var error = Assert.Throws<ReparoInputException>(() => new ProvableRepair(new ProvableRepairOptions { Layer = layer }).Repair(Problem(network, set)));

        output.WriteLine(error.Message);
        Assert.StartsWith("provable repair needs a piecewise-linear network after the repaired layer; ", error.Message);
        Assert.Contains("block1 node /enc/self_attn/MatMul_1 is MatMul of two data values", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    // ---------------------------------------------------------------- the other LP variants and the LP-size counter

    [Fact]
    public void OnResnetLastLayerAndPrdnnRepairAfterTheBlocksVerifyAndTheLpCounterSkipsTheBlocks()
    {
        Network network = Fixture("resnet");
        RepairProblem problem = RepairSetSpec.Build("fog:3:3", network, FashionMnist(), seed: 0);

        RepairResult last = new ProvableRepair(new ProvableRepairOptions { Variant = LpRepairVariant.LastLayer }).Repair(problem);
        RepairResult prdnn = new ProvableRepair(new ProvableRepairOptions { Variant = LpRepairVariant.Prdnn, Layer = "fc1" }).Repair(problem);

        Assert.True(last.Verified, Explain(last));
        Assert.Equal("fc1", last.Layer);
        Assert.True(prdnn.Verified, Explain(prdnn));
        // The channels split at fc1: the residual blocks before it run as they are, and only fc1 changed.
        var decoupled = Assert.IsType<DecoupledNetwork>(prdnn.Model);
        Assert.Contains("from fc1 on", decoupled.Kind);
        Dictionary<string, Tensor> original = network.state_dict(), value = decoupled.ValueChannel.state_dict();
        Assert.All(original.Keys.Where(k => !k.StartsWith("fc1.", StringComparison.Ordinal)), k => Assert.True(value[k].SameAs(original[k]), k));
        Assert.False(value["fc1.weight"].SameAs(original["fc1.weight"]));
        int fc1 = network.LayerIndex("fc1");
        Assert.Equal([fc1], RepairSetAnalysis.LpCandidateLayers(network));
        Assert.True(RepairSetAnalysis.PredictLp(network, problem.RepairSet, fc1).Rows > 0);
    }

    /// <summary>
    /// PRDNN at a layer inside a residual block: the channels split at the block's start, the value channel
    /// runs each block node by node (every ReLU on the activation channel's piece, the residual Add as is), the repair
    /// verifies, and the LP's margin ε is what the decoupled network as run computes (the encoder and the run agree on
    /// the pieces). With no weight changed, the decoupled network is the original network.
    /// </summary>
    [Fact]
    public void OnResnetPrdnnAtALayerInsideABlockVerifies()
    {
        const string layer = "block2.conv5";
        Network network = Fixture("resnet");
        (Tensor images, _) = OnnxImportTests.Reference("resnet");
        RepairSet set = Flipped(network, images.narrow(0, 0, 2), 10, runnerUp: true);

        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Variant = LpRepairVariant.Prdnn, Layer = layer }).Repair(Problem(network, set));

        Assert.True(result.Verified, Explain(result));
        Assert.Equal(result.Epsilon!.Value, result.Verification!.MinMarginFloat64, 6);
        var decoupled = Assert.IsType<DecoupledNetwork>(result.Model);
        Dictionary<string, Tensor> original = network.state_dict(), value = decoupled.ValueChannel.state_dict();
        Assert.All(original.Keys.Where(k => !k.StartsWith($"{layer}.", StringComparison.Ordinal)), k => Assert.True(value[k].SameAs(original[k]), k));
        var unchanged = new DecoupledNetwork(network, network, network.LayerIndex(layer.Split('.')[0]));
        Assert.True(unchanged.Logits(images, ScalarType.Float32).sub(network.Logits(images)).abs().max().item<float>() < 1e-5);
    }

    [Fact]
    public void OnTheCnnFixtureLastLayerRepairVerifies()
    {
        Network network = Fixture("cnn");
        RepairProblem problem = RepairSetSpec.Build("fog:3:3", network, FashionMnist(), seed: 0);

        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Variant = LpRepairVariant.LastLayer }).Repair(problem);

        Assert.True(result.Verified, Explain(result));
        Assert.Equal("fc2", result.Layer);
    }
}
