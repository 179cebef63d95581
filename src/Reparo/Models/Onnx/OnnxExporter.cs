using System.Reflection;
using Google.Protobuf;
using Onnx;
using Reparo.Data;
using Reparo.Io;
using Reparo.Io.Onnx;
using static TorchSharp.torch;

namespace Reparo.Models.Onnx;

/// <summary>What <see cref="OnnxExporter.Build"/> produced.</summary>
/// <param name="Bytes">The ONNX file's bytes.</param>
/// <param name="Opset">The default-domain opset the graph uses (17 for a zoo model; the file's own for an imported one).</param>
/// <param name="ReplacedInitializers">For an imported model, the initializers whose data changed (sorted); empty for a zoo model.</param>
public sealed record OnnxExport(byte[] Bytes, long Opset, IReadOnlyList<string> ReplacedInitializers);

/// <summary>
/// Writes a <see cref="Network"/> as an ONNX model. The graph holds the network's layers, never its input preprocessing
/// (<see cref="Network.Preprocess"/>): it reads preprocessed inputs, as the file a user imported does (their runtime
/// preprocesses). A zoo model records its preprocessing in the metadata (<see cref="PreprocessingKey"/>, and the
/// resizing of its folder images under <see cref="ImageResizingKey"/>), and importing the file restores them.
/// <list type="bullet">
/// <item>An imported network (<see cref="Network.OnnxOrigin"/> set): the user's own graph as parsed, with only the
/// initializers whose bound parameter changed replaced (same name, element type and dims; the new data as
/// <c>raw_data</c>). A parameter is unchanged when the inverse of its binding, in the initializer's element type, equals
/// the initializer, or when the binding applied to the initializer equals the parameter; class names given at import
/// (<see cref="OnnxOrigin.RecordsClassNames"/>) are recorded in the metadata. A replaced initializer that was
/// stored as external data is written inline; unchanged external-data initializers keep referring to their file
/// (relative to the folder the model is written to). Every parameter of the network must be bound.</item>
/// <item>A zoo network: a fresh graph (IR version 8, opset 17, producer <c>reparo</c>) reading <c>input</c>
/// (N, …input shape; float, or int64 token ids) and writing <c>logits</c> (N, classes). Each layer's output is a value
/// named after the layer, produced by a node of that name (<c>fc1</c>, <c>conv2</c>, <c>block1</c>); helper nodes inside a
/// layer are <c>layer.step</c>. Initializers carry Reparo's parameter names (<c>fc1.weight</c>,
/// <c>block1.conv2.bias</c>); tensors rearranged for ONNX (transposed MatMul weights, LSTM/GRU gates in ONNX's order)
/// say so in their <c>doc_string</c>.</item>
/// </list>
/// </summary>
public static class OnnxExporter
{
    /// <summary>The opset of graphs written for zoo models.</summary>
    public const int ZooOpset = 17;

    /// <summary>The ONNX IR version of graphs written for zoo models.</summary>
    public const int ZooIrVersion = 8;

    /// <summary>The metadata key under which a model's class names are recorded (a JSON list, indexed by output).</summary>
    public const string ClassesKey = "reparo.classes";

    /// <summary>The metadata key under which a zoo model's input preprocessing is recorded (JSON, as in a model file).</summary>
    public const string PreprocessingKey = "reparo.preprocessing";

    /// <summary>The metadata key under which a zoo model's image resizing (<see cref="ModelProvenance.ImageResizing"/>) is recorded (JSON).</summary>
    public const string ImageResizingKey = "reparo.image-resizing";

    /// <summary>The ONNX model's bytes.</summary>
    public static byte[] Export(Network network) => Build(network).Bytes;

    /// <summary>Writes the ONNX model to <paramref name="path"/> atomically and says what was written.</summary>
    public static OnnxExport Save(Network network, string path)
    {
        OnnxExport export = Build(network);
        AtomicFile.WriteAllBytes(path, export.Bytes);
        return export;
    }

    /// <summary>The ONNX model with its opset and, for an imported model, the initializers replaced.</summary>
    public static OnnxExport Build(Network network) =>
        network.OnnxOrigin is { } origin ? BuildImported(network, origin) : BuildZoo(network);

    private static OnnxExport BuildImported(Network network, OnnxOrigin origin)
    {
        string source = origin.SourcePath;
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(origin.ModelBytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ReparoInputException($"{source}: not an ONNX model ({e.Message.Split('\n')[0]})");
        }
        if (model.Graph is null) throw new ReparoInputException($"{source}: the ONNX model has no graph");
        var initializers = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (TensorProto proto in model.Graph.Initializer) initializers.TryAdd(proto.Name, proto);
        foreach (NodeProto node in model.Graph.Node)
            if (ConstantValue(node) is { } value) initializers.TryAdd(node.Output[0], value);
        foreach ((string name, Tensor parameter) in network.named_parameters())
        {
            if (origin.Parameters.ContainsKey(name)) continue;
            if (origin.UnboundDigests?.TryGetValue(name, out string? digest) != true || digest != OnnxOrigin.Digest(parameter))
                throw new ReparoInputException($"{source}: parameter '{name}' changed but is held by no single initializer of the graph, so it cannot be written back to ONNX");
        }

        Dictionary<string, Tensor> parameters = network.state_dict();
        string? folder = Path.GetDirectoryName(Path.GetFullPath(source));
        var replaced = new SortedSet<string>(StringComparer.Ordinal);
        using var noGrad = no_grad();
        foreach ((string name, OnnxParameterBinding binding) in origin.Parameters.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!parameters.TryGetValue(name, out Tensor? value))
                throw new ReparoInputException($"{source}: the binding of '{name}' names a parameter the network does not have");
            if (binding.AddsBiasTo is { } biased && !initializers.ContainsKey(binding.Initializer))
            {
                if (value.eq(0).all().item<bool>()) continue;
                AddBias(model.Graph, source, biased, binding, value, initializers);
                replaced.Add(binding.Initializer);
                continue;
            }
            if (!initializers.TryGetValue(binding.Initializer, out TensorProto? proto))
                throw new ReparoInputException($"{source}: parameter '{name}' is bound to initializer '{binding.Initializer}', which the graph does not have");
            using var scope = NewDisposeScope();
            Tensor original = OnnxTensors.ToTorch(proto, source, folder);
            Tensor parameter = value.detach().cpu();
            if (binding.Scale == 0 || !double.IsFinite(binding.Scale))
                throw new ReparoInputException($"{source}: parameter '{name}' is bound with scale {binding.Scale}, which cannot be inverted");
            if (binding.Transposed && parameter.dim() != 2)
                throw new ReparoInputException($"{source}: parameter '{name}' is bound transposed but has {parameter.dim()} dimensions");
            Tensor stored = (binding.Transposed ? parameter.t() : parameter).to(ScalarType.Float64).div(binding.Scale).to(original.dtype);
            // A bias stored with leading ones ([1, n], as skl2onnx writes intercepts) is read as [n] and written back as stored.
            if (!stored.shape.SequenceEqual(original.shape) && original.shape.Where(d => d != 1).SequenceEqual(stored.shape.Where(d => d != 1)))
                stored = stored.reshape(original.shape);
            if (!stored.shape.SequenceEqual(original.shape))
                throw new ReparoInputException($"{source}: parameter '{name}' gives [{string.Join(",", stored.shape)}] but initializer '{binding.Initializer}' is [{string.Join(",", original.shape)}]");
            Tensor forward = (binding.Transposed ? original.t() : original).to(parameter.dtype);
            if (binding.Scale != 1) forward = forward.mul(binding.Scale);
            if (stored.eq(original).all().item<bool>() || forward.eq(parameter).all().item<bool>()) continue;
            ReplaceData(proto, stored);
            replaced.Add(binding.Initializer);
        }
        if (origin.RecordsClassNames)
        {
            foreach (StringStringEntryProto entry in model.MetadataProps.Where(p => p.Key == ClassesKey).ToList()) model.MetadataProps.Remove(entry);
            model.MetadataProps.Add(new StringStringEntryProto { Key = ClassesKey, Value = ReparoJson.Serialize(network.Spec.ClassNames) });
        }
        long opset = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? 0;
        return new OnnxExport(model.ToByteArray(), opset, [.. replaced]);
    }

    /// <summary>
    /// Gives the node whose output is <paramref name="nodeOutput"/> (a Conv, Gemm or MatMul the file writes without a
    /// bias) the bias <paramref name="value"/> ÷ the binding's scale, stored as the weight is: as its third input, or for a
    /// MatMul as an Add after it that takes over the node's output name, so every reader of that value sees the sum.
    /// </summary>
    private static void AddBias(GraphProto graph, string source, string nodeOutput, OnnxParameterBinding binding, Tensor value, Dictionary<string, TensorProto> initializers)
    {
        int index = -1;
        for (int i = 0; i < graph.Node.Count && index < 0; i++)
            if (graph.Node[i].Output.Count > 0 && graph.Node[i].Output[0] == nodeOutput) index = i;
        NodeProto node = index >= 0 ? graph.Node[index] : throw new ReparoInputException($"{source}: the bias of '{binding.Initializer}' belongs to a node with output '{nodeOutput}', which the graph does not have");
        if (node.OpType is not ("Conv" or "Gemm" or "MatMul") || node.Input.Count < 2 || (node.OpType != "MatMul" && node.Input.Count > 2 && node.Input[2].Length > 0))
            throw new ReparoInputException($"{source}: node '{node.Name}' ({node.OpType}) cannot take the bias '{binding.Initializer}'");
        ScalarType? weightType = initializers.TryGetValue(node.Input[1], out TensorProto? weight) ? OnnxTensors.TorchType(weight.DataType) : null;
        ScalarType type = weightType is ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16 ? weightType.Value : ScalarType.Float32;
        using var scope = NewDisposeScope();
        graph.Initializer.Add(OnnxTensors.FromTorch(value.detach().cpu().to(ScalarType.Float64).div(binding.Scale).to(type), binding.Initializer));
        if (node.OpType == "MatMul")
        {
            string product = $"{binding.Initializer}.matmul";
            node.Output[0] = product;
            graph.Node.Insert(index + 1, new NodeProto { Name = $"{binding.Initializer}.add", OpType = "Add", Input = { product, binding.Initializer }, Output = { nodeOutput } });
        }
        else if (node.Input.Count == 2)
        {
            node.Input.Add(binding.Initializer);
        }
        else
        {
            node.Input[2] = binding.Initializer;
        }
    }

    /// <summary>The tensor a Constant node holds in its <c>value</c> attribute (where some exporters keep weights), or null.</summary>
    internal static TensorProto? ConstantValue(NodeProto node) =>
        node.OpType == "Constant" && node.Output.Count == 1 && node.Output[0].Length > 0 ? node.Attribute.FirstOrDefault(a => a.Name == "value")?.T : null;

    private static void ReplaceData(TensorProto proto, Tensor value)
    {
        using Tensor contiguous = value.contiguous();
        proto.FloatData.Clear();
        proto.DoubleData.Clear();
        proto.Int32Data.Clear();
        proto.Int64Data.Clear();
        proto.Uint64Data.Clear();
        proto.StringData.Clear();
        proto.ExternalData.Clear();
        proto.ClearDataLocation();
        proto.RawData = ByteString.CopyFrom(contiguous.bytes);
    }

    private static OnnxExport BuildZoo(Network network)
    {
        NetworkSpec spec = network.Spec;
        Dictionary<string, Tensor> parameters = network.state_dict();
        ScalarType floatType = network.parameters().FirstOrDefault()?.dtype ?? ScalarType.Float32;
        var graph = new GraphBuilder(spec.Architecture, parameters, floatType);
        using var noGrad = no_grad();
        using (var scope = NewDisposeScope())
        {
            string value = "input";
            for (int i = 0; i < network.Layers.Count; i++)
            {
                NetworkLayer layer = network.Layers[i];
                string output = i == network.Layers.Count - 1 ? "logits" : layer.Name;
                value = Emit(graph, layer.Spec, value, output);
            }
            if (value != "logits") throw new InvalidOperationException("the network has no layers");
        }
        bool tokens = spec.InputKind == InputKind.Tokens;
        graph.Graph.Input.Add(TensorValue("input", tokens ? TensorProto.Types.DataType.Int64 : OnnxTensors.OnnxType(floatType), spec.InputShape));
        graph.Graph.Output.Add(TensorValue("logits", OnnxTensors.OnnxType(floatType), [network.ClassCount]));
        var model = new ModelProto
        {
            IrVersion = ZooIrVersion,
            ProducerName = "reparo",
            ProducerVersion = ProducerVersion(),
            Graph = graph.Graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = ZooOpset });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "reparo.architecture", Value = spec.Architecture });
        model.MetadataProps.Add(new StringStringEntryProto { Key = ClassesKey, Value = ReparoJson.Serialize(spec.ClassNames) });
        if (network.Provenance.Preprocessing is { } preprocessing)
            model.MetadataProps.Add(new StringStringEntryProto { Key = PreprocessingKey, Value = ReparoJson.Serialize(preprocessing) });
        if (network.Provenance.ImageResizing is { } resizing)
            model.MetadataProps.Add(new StringStringEntryProto { Key = ImageResizingKey, Value = ReparoJson.Serialize(resizing) });
        return new OnnxExport(model.ToByteArray(), ZooOpset, []);
    }

    private static string ProducerVersion()
    {
        string version = typeof(OnnxExporter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
        int plus = version.IndexOf('+');
        return plus < 0 ? version : version[..plus];
    }

    private static ValueInfoProto TensorValue(string name, TensorProto.Types.DataType type, long[] shape)
    {
        var tensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = new TensorShapeProto() };
        tensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        foreach (long d in shape) tensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensorType } };
    }

    /// <summary>Adds the nodes of one layer reading <paramref name="input"/>; its result is the value <paramref name="output"/>.</summary>
    private static string Emit(GraphBuilder g, LayerSpec spec, string input, string output)
    {
        string n = spec.Name;
        switch (spec)
        {
            case LinearSpec:
                return g.Node("Gemm", n, [input, g.Parameter($"{n}.weight"), g.Parameter($"{n}.bias")], output, GraphBuilder.Int("transB", 1));
            case Conv2dSpec conv:
                return Conv(g, n, n, input, output, conv.Kernel, conv.Stride, conv.Padding, conv.Groups);
            case Conv1dSpec conv:
                return Conv(g, n, n, input, output, conv.Kernel, conv.Stride, conv.Padding, conv.Groups, dimensions: 1);
            case ReluSpec:
                return g.Node("Relu", n, [input], output);
            case MaxPool2dSpec pool:
                return g.Node("MaxPool", n, [input], output,
                    GraphBuilder.Ints("kernel_shape", pool.Kernel, pool.Kernel), GraphBuilder.Ints("strides", pool.Kernel, pool.Kernel));
            case FlattenSpec:
                return g.Node("Flatten", n, [input], output, GraphBuilder.Int("axis", 1));
            case ImageRowsSpec:
                {
                    string rows = g.Node("Transpose", $"{n}.transpose", [input], null, GraphBuilder.Ints("perm", 0, 2, 1, 3));
                    return g.Node("Reshape", n, [rows, g.Int64s($"{n}.shape", 0, 0, -1)], output);
                }
            case RecurrentSpec recurrent:
                return Recurrent(g, recurrent, input, output);
            case EmbeddingSpec:
                return g.Node("Gather", n, [g.Parameter($"{n}.weight"), input], output, GraphBuilder.Int("axis", 0));
            case MeanEmbeddingSpec:
                return MeanEmbedding(g, n, input, output);
            case PatchEmbeddingSpec patch:
                return PatchEmbedding(g, patch, input, output);
            case TransformerBlockSpec block:
                return TransformerBlock(g, block, input, output);
            case LayerNormSpec:
                return LayerNorm(g, n, n, input, output);
            case ClassTokenSpec:
                return g.Node("Gather", n, [input, g.Int64Scalar($"{n}.index", 0)], output, GraphBuilder.Int("axis", 1));
            case ResidualBlockSpec:
                {
                    string h = Conv(g, $"{n}.conv1", $"{n}.conv1", input, null, 3, 1, 1);
                    h = g.Node("Relu", $"{n}.relu1", [h]);
                    h = Conv(g, $"{n}.conv2", $"{n}.conv2", h, null, 3, 1, 1);
                    h = g.Node("Add", $"{n}.add", [h, input]);
                    return g.Node("Relu", n, [h], output);
                }
            default:
                throw new ReparoInputException($"layer '{n}' ({spec.Describe()}) cannot be written as ONNX");
        }
    }

    /// <summary>A Conv node with a square (or, for <paramref name="dimensions"/> 1, 1-D) kernel, stride and padding.</summary>
    private static string Conv(GraphBuilder g, string node, string module, string input, string? output, int kernel, int stride, int padding, int groups = 1, int dimensions = 2)
    {
        long[] Each(int value, int count) => [.. Enumerable.Repeat((long)value, count)];
        AttributeProto[] geometry = [GraphBuilder.Ints("kernel_shape", Each(kernel, dimensions)), GraphBuilder.Ints("strides", Each(stride, dimensions)), GraphBuilder.Ints("pads", Each(padding, 2 * dimensions))];
        return g.Node("Conv", node, [input, g.Parameter($"{module}.weight"), g.Parameter($"{module}.bias")], output,
            groups == 1 ? geometry : [.. geometry, GraphBuilder.Int("group", groups)]);
    }

    private static string LayerNorm(GraphBuilder g, string node, string module, string input, string? output) =>
        // TorchSharp's LayerNorm, as the zoo builds it, uses epsilon 1e-5.
        g.Node("LayerNormalization", node, [input, g.Parameter($"{module}.weight"), g.Parameter($"{module}.bias")], output,
            GraphBuilder.Int("axis", -1), GraphBuilder.Float("epsilon", 1e-5f));

    /// <summary>A linear map on (…, in) values: MatMul with the transposed weight, then Add of the bias.</summary>
    private static string Affine(GraphBuilder g, string module, string input, string? output = null)
    {
        string weight = g.Derived($"{module}.weight", g.Tensor($"{module}.weight").t(), $"Reparo's {module}.weight transposed to (in, out) for MatMul");
        string product = g.Node("MatMul", $"{module}.matmul", [input, weight]);
        return g.Node("Add", module, [product, g.Parameter($"{module}.bias")], output);
    }

    private static string Recurrent(GraphBuilder g, RecurrentSpec spec, string input, string output)
    {
        string n = spec.Name;
        string module = spec.Cell == RecurrentCell.Lstm ? $"{n}.lstm" : $"{n}.gru";
        // torch's gate order: LSTM i, f, g, o; GRU r, z, n. ONNX's: LSTM i, o, f, c; GRU z, r, h.
        int[] order = spec.Cell == RecurrentCell.Lstm ? [0, 3, 1, 2] : [1, 0, 2];
        string gates = spec.Cell == RecurrentCell.Lstm ? "ifgo → iofc" : "rzn → zrh";
        Tensor Reorder(Tensor t)
        {
            Tensor[] chunks = t.chunk(order.Length, 0);
            return cat(order.Select(i => chunks[i]).ToArray(), 0).unsqueeze(0);
        }
        string w = g.Derived($"{n}.W", Reorder(g.Tensor($"{module}.weight_ih_l0")), $"Reparo's {module}.weight_ih_l0, gates reordered {gates}");
        string r = g.Derived($"{n}.R", Reorder(g.Tensor($"{module}.weight_hh_l0")), $"Reparo's {module}.weight_hh_l0, gates reordered {gates}");
        Tensor bias = cat([Reorder(g.Tensor($"{module}.bias_ih_l0")), Reorder(g.Tensor($"{module}.bias_hh_l0"))], 1);
        string b = g.Derived($"{n}.B", bias, $"Reparo's {module}.bias_ih_l0 and bias_hh_l0, gates reordered {gates}");
        string timeMajor = g.Node("Transpose", $"{n}.time_major", [input], null, GraphBuilder.Ints("perm", 1, 0, 2));
        var attributes = new List<AttributeProto> { GraphBuilder.Int("hidden_size", spec.Hidden) };
        if (spec.Cell == RecurrentCell.Gru) attributes.Add(GraphBuilder.Int("linear_before_reset", 1));
        string last = $"{n}.last";
        g.NodeOutputs(spec.Cell == RecurrentCell.Lstm ? "LSTM" : "GRU", $"{n}.cell", [timeMajor, w, r, b], ["", last], [.. attributes]);
        return g.Node("Squeeze", n, [last, g.Int64s($"{n}.axes", 0)], output);
    }

    private static string MeanEmbedding(GraphBuilder g, string n, string ids, string output)
    {
        string vectors = g.Node("Gather", $"{n}.gather", [g.Parameter($"{n}.embedding.weight"), ids], null, GraphBuilder.Int("axis", 0));
        string isPad = g.Node("Equal", $"{n}.is_pad", [ids, g.Int64Scalar($"{n}.pad_id", Vocabulary.PadId)]);
        string notPad = g.Node("Not", $"{n}.not_pad", [isPad]);
        string mask = g.Node("Cast", $"{n}.mask", [notPad], null, GraphBuilder.Int("to", (int)OnnxTensors.OnnxType(g.FloatType)));
        string mask3 = g.Node("Unsqueeze", $"{n}.mask3", [mask, g.Int64s($"{n}.last_axis", -1)]);
        string masked = g.Node("Mul", $"{n}.masked", [vectors, mask3]);
        string time = g.Int64s($"{n}.time_axis", 1);
        string sum = g.Node("ReduceSum", $"{n}.sum", [masked, time], null, GraphBuilder.Int("keepdims", 0));
        string count = g.Node("ReduceSum", $"{n}.count", [mask, time], null, GraphBuilder.Int("keepdims", 1));
        string divisor = g.Node("Max", $"{n}.divisor", [count, g.FloatScalar($"{n}.one", 1)]);
        return g.Node("Div", n, [sum, divisor], output);
    }

    private static string PatchEmbedding(GraphBuilder g, PatchEmbeddingSpec spec, string input, string output)
    {
        string n = spec.Name;
        string grid = Conv(g, $"{n}.projection", $"{n}.projection", input, null, spec.Patch, spec.Patch, 0);
        string flat = g.Node("Reshape", $"{n}.flatten", [grid, g.Int64s($"{n}.flat_shape", 0, spec.Dim, -1)]);
        string tokens = g.Node("Transpose", $"{n}.tokens", [flat], null, GraphBuilder.Ints("perm", 0, 2, 1));
        string batch = g.Node("Shape", $"{n}.batch", [input], null, GraphBuilder.Int("start", 0), GraphBuilder.Int("end", 1));
        string shape = g.Node("Concat", $"{n}.class_shape", [batch, g.Int64s($"{n}.class_dims", 1, spec.Dim)], null, GraphBuilder.Int("axis", 0));
        string cls = g.Node("Expand", $"{n}.class_token", [g.Parameter($"{n}.classToken"), shape]);
        string sequence = g.Node("Concat", $"{n}.sequence", [cls, tokens], null, GraphBuilder.Int("axis", 1));
        return g.Node("Add", n, [sequence, g.Parameter($"{n}.positions")], output);
    }

    private static string TransformerBlock(GraphBuilder g, TransformerBlockSpec spec, string x, string output)
    {
        string n = spec.Name;
        int dh = spec.Dim / spec.Heads;
        string normed = LayerNorm(g, $"{n}.norm1", $"{n}.norm1", x, null);
        string qkv = Affine(g, $"{n}.qkv", normed);
        string split = g.Node("Reshape", $"{n}.qkv_split", [qkv, g.Int64s($"{n}.qkv_shape", 0, 0, 3, spec.Heads, dh)]);
        string heads = g.Node("Transpose", $"{n}.heads", [split], null, GraphBuilder.Ints("perm", 2, 0, 3, 1, 4));
        string Part(string name, int index) =>
            g.Node("Gather", $"{n}.{name}", [heads, g.Int64Scalar($"{n}.{name}_index", index)], null, GraphBuilder.Int("axis", 0));
        string q = Part("q", 0), k = Part("k", 1), v = Part("v", 2);
        string kt = g.Node("Transpose", $"{n}.k_t", [k], null, GraphBuilder.Ints("perm", 0, 1, 3, 2));
        string scores = g.Node("MatMul", $"{n}.scores", [q, kt]);
        string scaled = g.Node("Div", $"{n}.scaled", [scores, g.FloatScalar($"{n}.sqrt_dh", Math.Sqrt(dh))]);
        string attention = g.Node("Softmax", $"{n}.attention", [scaled], null, GraphBuilder.Int("axis", -1));
        string mixed = g.Node("MatMul", $"{n}.mixed", [attention, v]);
        string merged = g.Node("Transpose", $"{n}.mixed_t", [mixed], null, GraphBuilder.Ints("perm", 0, 2, 1, 3));
        merged = g.Node("Reshape", $"{n}.merged", [merged, g.Int64s($"{n}.merged_shape", 0, 0, spec.Dim)]);
        string attended = Affine(g, $"{n}.proj", merged);
        string h = g.Node("Add", $"{n}.residual1", [x, attended]);
        string mlp = Affine(g, $"{n}.fc1", LayerNorm(g, $"{n}.norm2", $"{n}.norm2", h, null));
        mlp = g.Node("Relu", $"{n}.relu", [mlp]);
        mlp = Affine(g, $"{n}.fc2", mlp);
        return g.Node("Add", n, [h, mlp], output);
    }

    /// <summary>Accumulates nodes and initializers with unique names.</summary>
    private sealed class GraphBuilder(string name, Dictionary<string, Tensor> parameters, ScalarType floatType)
    {
        private readonly HashSet<string> names = new(StringComparer.Ordinal) { "input", "logits" };

        /// <summary>The graph so far.</summary>
        public GraphProto Graph { get; } = new() { Name = name };

        /// <summary>The element type of the model's parameters, activations and float constants.</summary>
        public ScalarType FloatType { get; } = floatType;

        /// <summary>A Reparo parameter's value.</summary>
        public Tensor Tensor(string parameter) =>
            parameters.TryGetValue(parameter, out Tensor? value) ? value.detach()
                : throw new InvalidOperationException($"the network has no parameter '{parameter}'");

        /// <summary>A Reparo parameter as an initializer of the same name.</summary>
        public string Parameter(string parameter) => Initializer(parameter, Tensor(parameter), null);

        /// <summary>An initializer computed from parameters, with a doc string saying how.</summary>
        public string Derived(string initializer, Tensor value, string doc) => Initializer(initializer, value, doc);

        /// <summary>A 1-D int64 constant.</summary>
        public string Int64s(string initializer, params long[] values) => Initializer(initializer, tensor(values), null);

        /// <summary>A 0-D int64 constant.</summary>
        public string Int64Scalar(string initializer, long value) => Initializer(initializer, tensor(value), null);

        /// <summary>A 0-D constant in the model's float type.</summary>
        public string FloatScalar(string initializer, double value) => Initializer(initializer, tensor(value).to(FloatType), null);

        /// <summary>A one-output node; its output value is <paramref name="output"/>, or the node's name.</summary>
        public string Node(string op, string node, string[] inputs, string? output = null, params AttributeProto[] attributes)
        {
            string result = output ?? node;
            NodeOutputs(op, node, inputs, [result], attributes);
            return result;
        }

        /// <summary>A node with several outputs (an empty name skips an optional output).</summary>
        public void NodeOutputs(string op, string node, string[] inputs, string[] outputs, params AttributeProto[] attributes)
        {
            Claim(node);
            var proto = new NodeProto { OpType = op, Name = node };
            proto.Input.AddRange(inputs);
            proto.Output.AddRange(outputs);
            proto.Attribute.AddRange(attributes);
            Graph.Node.Add(proto);
        }

        /// <summary>An integer attribute.</summary>
        public static AttributeProto Int(string attribute, long value) =>
            new() { Name = attribute, Type = AttributeProto.Types.AttributeType.Int, I = value };

        /// <summary>A float attribute.</summary>
        public static AttributeProto Float(string attribute, float value) =>
            new() { Name = attribute, Type = AttributeProto.Types.AttributeType.Float, F = value };

        /// <summary>An integer-list attribute.</summary>
        public static AttributeProto Ints(string attribute, params long[] values)
        {
            var proto = new AttributeProto { Name = attribute, Type = AttributeProto.Types.AttributeType.Ints };
            proto.Ints.AddRange(values);
            return proto;
        }

        private string Initializer(string initializer, Tensor value, string? doc)
        {
            Claim(initializer);
            TensorProto proto = OnnxTensors.FromTorch(value, initializer);
            if (doc is not null) proto.DocString = doc;
            Graph.Initializer.Add(proto);
            return initializer;
        }

        private void Claim(string name)
        {
            // Node and value names share one namespace here, so a node's name can be its output's.
            if (!names.Add(name)) throw new InvalidOperationException($"ONNX name '{name}' used twice");
        }
    }
}
