using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using Reparo.Data;
using Reparo.Io;
using Reparo.Io.Onnx;
using static TorchSharp.torch;

namespace Reparo.Models.Onnx;

/// <summary>Options of an ONNX import.</summary>
public sealed record OnnxImportOptions
{
    /// <summary>The per-sample input shape, for models whose non-batch input dimensions are symbolic; null: from the model.</summary>
    public long[]? InputShape { get; init; }

    /// <summary>Class names (indexed by logit); null: <c>0</c>, <c>1</c>, … from the output width.</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }

    /// <summary>
    /// The graph output read as the class scores, for a graph with several outputs (logits beside features, say);
    /// null: the first. The other outputs stay in a written-back file.
    /// </summary>
    public string? Output { get; init; }

    /// <summary>For token models, the vocabulary the inputs are encoded with.</summary>
    public IReadOnlyList<string>? VocabularyTokens { get; init; }
}

/// <summary>
/// Imports an ONNX model (opsets 9–21) as a Reparo <see cref="Network"/>. Shape arithmetic the exporter emitted
/// (Shape, Gather, Concat, ConstantOfShape, …) is folded to constants for the model's input shape, with the batch left
/// free; the graph is then cut wherever one tensor alone carries the computation on, and each part becomes one layer:
/// Reparo's own Linear, Conv2d, ReLU, MaxPool2d, Flatten or LSTM/GRU layer where it is one (so every method applies as
/// to a zoo model), or an <see cref="OnnxBlockSpec"/> (residual and attention blocks, Softmax, Transpose, …) whose
/// affine nodes are still Linear and Conv2d modules. Layers get Reparo's stable names (<c>fc1</c>, <c>conv1</c>,
/// <c>block1.fc3</c>); the ONNX node and initializer names are kept beside them (<see cref="NetworkSpec.SourceNames"/>).
/// Any defect of the file is one <see cref="ReparoInputException"/> line; an unsupported model names every unsupported
/// op type with its nodes.
/// </summary>
public static class OnnxImporter
{
    /// <summary>The lowest default-domain opset imported.</summary>
    public const int MinOpset = 9;

    /// <summary>The highest default-domain opset imported.</summary>
    public const int MaxOpset = 21;

    /// <summary>The largest ONNX file read (2 GiB, protobuf's own limit).</summary>
    public const long MaxFileBytes = int.MaxValue;

    /// <summary>Whether <paramref name="path"/> names an ONNX file (by its extension).</summary>
    public static bool IsOnnxPath(string path) => path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);

    /// <summary>Imports the ONNX model at <paramref name="path"/>.</summary>
    public static Network Import(string path, OnnxImportOptions? options = null)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new ReparoInputException($"{path}: model file not found");
        if (info.Length > MaxFileBytes) throw new ReparoInputException($"{path}: {info.Length} bytes is larger than the 2 GiB an ONNX file can hold");
        byte[] bytes = File.ReadAllBytes(path);
        return Import(bytes, path, Path.GetDirectoryName(Path.GetFullPath(path)), options ?? new OnnxImportOptions());
    }

    /// <summary>Imports an ONNX model from its bytes; <paramref name="modelFolder"/> is where external data may live (null: none allowed).</summary>
    public static Network Import(byte[] bytes, string source, string? modelFolder, OnnxImportOptions options)
    {
        ModelProto model = Parse(bytes, source);
        using var noGrad = no_grad();
        var graph = new ImportedGraph(model, source, modelFolder, options);
        Network network = graph.Build();
        Dictionary<string, string> unbound = network.named_parameters().Where(p => !graph.Bindings.ContainsKey(p.name))
            .ToDictionary(p => p.name, p => OnnxOrigin.Digest(p.parameter), StringComparer.Ordinal);
        network.OnnxOrigin = new OnnxOrigin(source, bytes, graph.Bindings, unbound) { Output = graph.Output, OutputName = graph.OutputName, OtherOutputs = graph.OtherOutputs, RecordsClassNames = options.ClassNames is not null };
        string outputs = graph.OtherOutputs.Count == 0 ? "" : $"; reads output '{graph.OutputName}' of {graph.OtherOutputs.Count + 1} (the others: {string.Join(", ", graph.OtherOutputs)})";
        if (graph.Output != graph.OutputName) outputs += $"; its scores are read at '{graph.Output}', which that output is made from";
        network.Provenance = new ModelProvenance
        {
            Preprocessing = graph.Metadata<InputPreprocessing>(OnnxExporter.PreprocessingKey, "a Reparo input preprocessing"),
            ImageResizing = graph.Metadata<ImageResizing>(OnnxExporter.ImageResizingKey, "a Reparo image resizing"),
            History = [$"imported from ONNX {Path.GetFileName(source)} (opset {graph.Opset}, producer {Producer(model)}){outputs}{(graph.BatchRewrite is { } rewrite ? $"; {rewrite}" : "")}"],
        };
        return network;
    }

    private static string Producer(ModelProto model) =>
        string.IsNullOrEmpty(model.ProducerName) ? "unknown" : $"{model.ProducerName} {model.ProducerVersion}".Trim();

    private static ModelProto Parse(byte[] bytes, string source)
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ReparoInputException($"{source}: not an ONNX model ({e.Message.Split('\n')[0].TrimEnd('.')})");
        }
        if (model.Graph is null || model.Graph.Node.Count == 0 || model.Graph.Output.Count == 0)
            throw new ReparoInputException($"{source}: not an ONNX model (no graph with nodes and an output)");
        return model;
    }

    /// <summary>One import: the checks, the folding, the cuts and the layers.</summary>
    private sealed class ImportedGraph
    {
        private readonly ModelProto model;
        private readonly GraphProto graph;
        private readonly string source;
        private readonly OnnxImportOptions options;
        private readonly Dictionary<string, Tensor> constants = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> initializerOf = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int> counters = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string[]> sourceNames = new(StringComparer.Ordinal);
        private readonly Dictionary<string, OnnxParameterBinding> bindings = new(StringComparer.Ordinal);
        private readonly Dictionary<string, Tensor> weights = new(StringComparer.Ordinal);
        private readonly string input;
        private readonly ScalarType inputType;
        private readonly ScalarType probeType;
        private readonly long[] inputShape;
        private readonly bool fixedBatchOfOne;
        private readonly string output;
        private readonly List<NodeProto> needed;

        public ImportedGraph(ModelProto model, string source, string? modelFolder, OnnxImportOptions options)
        {
            this.model = model;
            graph = model.Graph;
            this.source = source;
            this.options = options;
            Opset = ReadOpset();
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (TensorProto initializer in graph.Initializer)
            {
                if (!names.Add(initializer.Name)) throw new ReparoInputException($"{source}: initializer '{initializer.Name}' appears twice");
                // Strings (skl2onnx's class labels) feed only ops off the scores' path, which are never run here.
                if (initializer.DataType == (int)TensorProto.Types.DataType.String) continue;
                constants[initializer.Name] = OnnxTensors.ToTorch(initializer, source, modelFolder);
                initializerOf[initializer.Name] = initializer.Name;
            }
            // Some exporters store weights as Constant nodes' values; a parameter read from one is written back there.
            foreach (NodeProto node in graph.Node)
                if (OnnxExporter.ConstantValue(node) is not null) initializerOf.TryAdd(node.Output[0], node.Output[0]);
            CheckOrder();
            (OutputName, output) = ScoreTensor(options.Output);
            needed = NodesFor(output);
            CheckSupport();
            (input, inputType, inputShape) = ReadInput();
            // A float64 model is probed as the file computes, in float64; Reparo then computes it in float32 (Build).
            probeType = OnnxTensors.TorchType(graph.Input.First(i => i.Name == input).Type.TensorType.ElemType) == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
            fixedBatchOfOne = graph.Input.First(i => i.Name == input).Type.TensorType.Shape?.Dim is [{ HasDimValue: true, DimValue: 1 }, ..];
            OtherOutputs = [.. graph.Output.Select(o => o.Name).Where(name => name != OutputName)];
        }

        public int Opset { get; }

        /// <summary>
        /// The tensor read as the class scores: <see cref="OutputName"/> itself, or the tensor it is made from where the
        /// output is not the scores' tensor (a ZipMap's maps, a binary classifier's pair of probabilities).
        /// </summary>
        public string Output => output;

        /// <summary>The graph output (or, when asked for by name, inner value) the scores are read from.</summary>
        public string OutputName { get; }

        /// <summary>The graph's other outputs, in the graph's order.</summary>
        public IReadOnlyList<string> OtherOutputs { get; }

        /// <summary>What the import changed so that a graph exported with a fixed batch of one takes any batch (null: nothing).</summary>
        public string? BatchRewrite { get; private set; }

        public IReadOnlyDictionary<string, OnnxParameterBinding> Bindings => bindings;

        private int ReadOpset()
        {
            OperatorSetIdProto? onnx = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx");
            if (onnx is null) throw new ReparoInputException($"{source}: the model imports no default-domain opset");
            if (onnx.Version < MinOpset || onnx.Version > MaxOpset)
                throw new ReparoInputException($"{source}: opset {onnx.Version} is outside the supported {MinOpset}–{MaxOpset}");
            return (int)onnx.Version;
        }

        private void CheckOrder()
        {
            var defined = new HashSet<string>(graph.Initializer.Select(i => i.Name), StringComparer.Ordinal);
            foreach (ValueInfoProto i in graph.Input) defined.Add(i.Name);
            for (int n = 0; n < graph.Node.Count; n++)
            {
                NodeProto node = graph.Node[n];
                string name = NodeName(node, n);
                foreach (string value in node.Input)
                {
                    if (value.Length > 0 && !defined.Contains(value))
                        throw new ReparoInputException($"{source}: node '{name}' reads '{value}' before anything defines it (the graph is not in topological order or is incomplete)");
                }
                if (node.Output.All(v => v.Length == 0)) throw new ReparoInputException($"{source}: node '{name}' names no output");
                foreach (string value in node.Output) defined.Add(value);
            }
            foreach (ValueInfoProto o in graph.Output)
            {
                if (!defined.Contains(o.Name)) throw new ReparoInputException($"{source}: graph output '{o.Name}' is computed by no node");
            }
        }

        /// <summary>
        /// Every op the scores need is one the executor runs; ops that only compute other outputs (a label's ArgMax,
        /// a ZipMap) are left to the file and never run here.
        /// </summary>
        private void CheckSupport()
        {
            var unsupported = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
            foreach (NodeProto node in needed)
            {
                string? why = OnnxOperators.Unsupported(node, Opset);
                if (why is null) continue;
                string key = OnnxOperators.IsKnown(node) ? $"{node.OpType} ({why})" : node.Domain is "" or "ai.onnx" ? node.OpType : $"{node.OpType} (domain '{node.Domain}')";
                if (!unsupported.TryGetValue(key, out List<string>? list)) unsupported[key] = list = [];
                list.Add(NodeName(node, graph.Node.IndexOf(node)));
            }
            if (unsupported.Count > 0)
                throw new ReparoInputException($"{source}: unsupported ONNX operators: {string.Join("; ", unsupported.Select(u => $"{u.Key} at {string.Join(", ", u.Value)}"))}");
        }

        /// <summary>The nodes, in graph order, that <paramref name="value"/> depends on.</summary>
        private List<NodeProto> NodesFor(string value)
        {
            var wanted = new HashSet<string>(StringComparer.Ordinal) { value };
            var kept = new List<NodeProto>();
            for (int n = graph.Node.Count - 1; n >= 0; n--)
            {
                NodeProto node = graph.Node[n];
                if (!node.Output.Any(wanted.Contains)) continue;
                kept.Add(node);
                wanted.UnionWith(node.Input.Where(v => v.Length > 0));
            }
            kept.Reverse();
            return kept;
        }

        /// <summary>
        /// Which graph output holds the class scores and which tensor they are read from. Asked for by name: that output,
        /// or any value a node computes. Otherwise the first output that is a float tensor, or failing that the first a
        /// ZipMap computes (skl2onnx's classifiers put an int64 label first). A ZipMap's maps are read as the
        /// probabilities it zips, and a binary classifier's pair Concat(1 − p, p) of one probability (skl2onnx's) as p, so
        /// that the model is a binary classifier with one score.
        /// </summary>
        private (string Output, string Tensor) ScoreTensor(string? requested)
        {
            var producer = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
            foreach (NodeProto node in graph.Node)
                foreach (string value in node.Output.Where(v => v.Length > 0)) producer.TryAdd(value, node);
            string chosen;
            if (requested is not null)
            {
                if (!graph.Output.Any(o => o.Name == requested) && !producer.ContainsKey(requested))
                    throw new ReparoInputException($"{source}: the graph has no output '{requested}'; its outputs: {string.Join(", ", graph.Output.Select(o => o.Name))}");
                chosen = requested;
            }
            else
            {
                chosen = (graph.Output.FirstOrDefault(o => o.Type?.TensorType is { ElemType: (int)TensorProto.Types.DataType.Float or (int)TensorProto.Types.DataType.Double })
                    ?? graph.Output.FirstOrDefault(o => producer.TryGetValue(o.Name, out NodeProto? p) && IsZipMap(p))
                    ?? graph.Output[0]).Name;
            }
            string tensor = chosen;
            if (producer.TryGetValue(tensor, out NodeProto? zip) && IsZipMap(zip)) tensor = zip.Input[0];
            while (producer.TryGetValue(tensor, out NodeProto? identity) && identity.OpType == "Identity" && identity.Domain is "" or "ai.onnx") tensor = identity.Input[0];
            if (producer.TryGetValue(tensor, out NodeProto? concat) && concat.OpType == "Concat" && concat.Domain is "" or "ai.onnx"
                && concat.Input.Count == 2 && OnnxAttributes.Int(concat, "axis", 0) is 1 or -1
                && producer.TryGetValue(concat.Input[0], out NodeProto? sub) && sub.OpType == "Sub" && sub.Input.Count == 2 && sub.Input[1] == concat.Input[1]
                && constants.TryGetValue(sub.Input[0], out Tensor? one) && one.numel() == 1 && one.to(ScalarType.Float64).item<double>() == 1)
            {
                tensor = concat.Input[1];
            }
            return (chosen, tensor);
        }

        private static bool IsZipMap(NodeProto node) => node.OpType == "ZipMap" && node.Domain == "ai.onnx.ml" && node.Input.Count == 1;

        private (string Name, ScalarType Type, long[] Shape) ReadInput()
        {
            ValueInfoProto[] inputs = [.. graph.Input.Where(i => !constants.ContainsKey(i.Name))];
            if (inputs.Length != 1)
                throw new ReparoInputException($"{source}: Reparo reads models with one input; this one has {inputs.Length} ({string.Join(", ", inputs.Select(i => i.Name))})");
            ValueInfoProto value = inputs[0];
            TypeProto.Types.Tensor? tensorType = value.Type?.TensorType;
            if (tensorType is null) throw new ReparoInputException($"{source}: input '{value.Name}' is not a tensor");
            ScalarType type = OnnxTensors.TorchType(tensorType.ElemType) switch
            {
                ScalarType.Float32 or ScalarType.Float64 => ScalarType.Float32,
                ScalarType.Int64 or ScalarType.Int32 => ScalarType.Int64,
                _ => throw new ReparoInputException($"{source}: input '{value.Name}' has element type {(TensorProto.Types.DataType)tensorType.ElemType}; Reparo feeds float or integer token inputs"),
            };
            long[] declared = tensorType.Shape is null ? [] : [.. tensorType.Shape.Dim.Skip(1).Select(d => d.HasDimValue ? d.DimValue : -1)];
            long[] shape = options.InputShape ?? declared;
            if (tensorType.Shape is null || tensorType.Shape.Dim.Count == 0)
            {
                if (options.InputShape is null) throw new ReparoInputException($"{source}: input '{value.Name}' has no declared shape; give the per-sample shape");
            }
            else if (options.InputShape is not null && (declared.Length != shape.Length || declared.Zip(shape).Any(p => p.First >= 0 && p.First != p.Second)))
            {
                throw new ReparoInputException($"{source}: the given input shape [{string.Join(",", shape)}] does not match the model's [N,{string.Join(",", declared.Select(d => d < 0 ? "?" : d.ToString()))}]");
            }
            if (shape.Any(d => d <= 0))
                throw new ReparoInputException($"{source}: input '{value.Name}' shape [N,{string.Join(",", shape.Select(d => d < 0 ? "?" : d.ToString()))}] cannot be resolved; give the per-sample shape");
            OnnxTensors.ElementCount(shape, $"{source}: input '{value.Name}'");
            return (value.Name, type, shape);
        }

        private static string NodeName(NodeProto node, int index) => node.Name.Length > 0 ? node.Name : $"{node.OpType}#{index}";

        /// <summary>Runs the whole graph on a probe batch and returns every value.</summary>
        private Dictionary<string, Tensor> Probe(long batch, IEnumerable<NodeProto> nodes) =>
            Run(ProbeInput(batch), nodes, out string? error) ?? throw new ReparoInputException($"{source}: {error}");

        /// <summary>The seeded random input of a probe run with <paramref name="batch"/> samples.</summary>
        private Tensor ProbeInput(long batch)
        {
            var generator = new Generator(1234 + (ulong)batch);
            return inputType == ScalarType.Int64
                ? randint(0, 2, [batch, .. inputShape], dtype: ScalarType.Int64, generator: generator)
                : rand([batch, .. inputShape], generator: generator).to(probeType);
        }

        /// <summary>Every value of the graph run on <paramref name="x"/>; null, with <paramref name="error"/> saying why, when the graph does not run on it.</summary>
        private Dictionary<string, Tensor>? Run(Tensor x, IEnumerable<NodeProto> nodes, out string? error)
        {
            var values = new Dictionary<string, Tensor>(constants, StringComparer.Ordinal) { [input] = x };
            string Failed(string why) => $"the graph does not run on a [{string.Join(",", x.shape)}] input: {why}";
            error = null;
            try
            {
                OnnxExecutor.Run([.. nodes], Opset, values);
                return values;
            }
            catch (ReparoInputException e)
            {
                error = Failed(e.Message);
            }
            catch (ExternalException e)
            {
                error = Failed(e.Message.Split('\n')[0]);
            }
            return null;
        }

        /// <summary>
        /// A graph exported with a fixed batch of one (PyTorch's exporter without <c>dynamic_axes</c>) often runs on one
        /// sample only: constant folding wrote the batch into Reshape targets. When such a graph does not run on two
        /// samples, each Reshape of data whose target leads with the batch's 1 gets 0 there (copy the input's batch) or
        /// -1 (inferred). The rewrite is kept only if every sample of a batch then gives what the original graph gives
        /// for that sample alone; otherwise the graph is refused with what to do instead. The model file is never
        /// changed: a repaired model is written with the user's own graph.
        /// </summary>
        private List<NodeProto> TakingAnyBatch(List<NodeProto> nodes, HashSet<string> data)
        {
            Tensor x = ProbeInput(2);
            if (!fixedBatchOfOne || Run(x, nodes, out _) is not null) return nodes;
            Dictionary<string, Tensor> one = Probe(1, nodes);
            var result = new List<NodeProto>(nodes.Count);
            int reshapes = 0;
            foreach (NodeProto original in nodes)
            {
                NodeProto node = original.Clone();
                if (node.OpType == "Reshape" && data.Contains(node.Input[0]) && !data.Contains(node.Input[1])
                    && one[node.Input[0]].shape is [1, ..] && one[node.Input[1]].to(ScalarType.Int64).data<long>().ToArray() is [1, .. var rest]
                    && (Attr(node, "allowzero") == 0 || !rest.Contains(-1)))
                {
                    string name = $"{node.Input[1]}::reparo_any_batch";
                    constants[name] = tensor([Attr(node, "allowzero") == 0 ? 0 : -1, .. rest]);
                    node.Input[1] = name;
                    reshapes++;
                }
                result.Add(node);
            }
            string reexport = $"re-export it with a dynamic batch axis (torch.onnx.export(..., dynamic_axes={{'{input}': {{0: 'batch'}}}}))";
            Dictionary<string, Tensor> batch = Run(x, result, out string? error)
                ?? throw new ReparoInputException($"{source}: the model was exported with a fixed batch of one and Reparo cannot make it take more ({error}); {reexport}");
            for (int s = 0; s < 2; s++)
            {
                Tensor alone = Run(x.narrow(0, s, 1), nodes, out string? aloneError) is { } single
                    ? single[output] : throw new ReparoInputException($"{source}: {aloneError}");
                Tensor row = batch[output].narrow(0, s, 1);
                if (!row.shape.SequenceEqual(alone.shape) || !row.to(ScalarType.Float64).allclose(alone.to(ScalarType.Float64), rtol: 1e-4, atol: 1e-5))
                    throw new ReparoInputException($"{source}: the model was exported with a fixed batch of one, and with its batch freed it no longer computes each sample as it does alone; {reexport}");
            }
            BatchRewrite = $"exported with a fixed batch of one: {reshapes} Reshape target{(reshapes == 1 ? "" : "s")} rewritten so that it takes any batch (checked against single-sample runs; a written model keeps the original graph)";
            return result;
        }

        public Network Build()
        {
            List<NodeProto> nodes = [.. needed];
            // Fold: values that do not depend on the input's data. Equal for batches 1 and 2: constants.
            var data = new HashSet<string>(StringComparer.Ordinal) { input };
            foreach (NodeProto node in nodes)
            {
                bool reads = node.OpType is not ("Shape" or "Size") && node.Input.Any(data.Contains);
                if (reads) data.UnionWith(node.Output.Where(o => o.Length > 0));
            }
            nodes = TakingAnyBatch(nodes, data);
            Dictionary<string, Tensor> one = Probe(1, nodes), two = Probe(2, nodes);
            var batchDependent = new HashSet<string>(StringComparer.Ordinal);
            foreach (NodeProto node in nodes)
            {
                foreach (string value in node.Output.Where(o => o.Length > 0 && !data.Contains(o)))
                {
                    if (!one.TryGetValue(value, out Tensor? a) || !two.TryGetValue(value, out Tensor? b)) continue;
                    if (a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>()) constants[value] = a;
                    else batchDependent.Add(value);
                }
            }
            // Reparo computes in float32 (float64 only in the verifier's re-run, with every parameter and constant
            // converted): float64 values of the file become float32 from here on, and a Cast between float types keeps
            // the network's float type (OnnxBlock).
            foreach (Dictionary<string, Tensor> values in new[] { constants, one, two })
                foreach ((string name, Tensor value) in values.Where(v => v.Value.dtype == ScalarType.Float64).ToList()) values[name] = value.to(ScalarType.Float32);
            nodes = ResolveBatchDependent(nodes, data, batchDependent, one, two);
            nodes = Prune(nodes);
            var ops = Fuse(nodes, one);
            List<List<GraphOp>> segments = Segment(ops);
            return Layers(segments, one);
        }

        /// <summary>
        /// Values that depend on the batch size but not on the data: an all-zero initial state of an LSTM or GRU is
        /// dropped (ONNX's default); a Reshape target has its batch entry replaced by -1 (checked on both batches).
        /// Anything else stays a runtime value computed from the input's shape.
        /// </summary>
        private List<NodeProto> ResolveBatchDependent(List<NodeProto> nodes, HashSet<string> data, HashSet<string> batchDependent,
            Dictionary<string, Tensor> one, Dictionary<string, Tensor> two)
        {
            var result = new List<NodeProto>(nodes.Count);
            foreach (NodeProto original in nodes)
            {
                NodeProto node = original.Clone();
                for (int i = 0; i < node.Input.Count; i++)
                {
                    string value = node.Input[i];
                    if (!batchDependent.Contains(value)) continue;
                    if (node.OpType is "LSTM" or "GRU" && i >= 5 && one[value].count_nonzero().item<long>() == 0 && two[value].count_nonzero().item<long>() == 0)
                    {
                        node.Input[i] = "";
                    }
                    else if (node.OpType == "Reshape" && i == 1 && ReshapeTarget(node, one, two) is { } target)
                    {
                        string name = $"{value}::reparo_batch_free";
                        constants[name] = target;
                        node.Input[i] = name;
                    }
                    else
                    {
                        data.Add(value);
                    }
                }
                result.Add(node);
            }
            return result;
        }

        /// <summary>
        /// A Reshape target that is the same for every batch: an entry that follows the batch becomes 0 (copy the input's
        /// dimension, when <c>allowzero</c> is off and the input has the batch there) or -1 (inferred, when no entry is -1
        /// yet). Null when no such rewrite reproduces the output shape on both probe batches.
        /// </summary>
        private static Tensor? ReshapeTarget(NodeProto node, Dictionary<string, Tensor> one, Dictionary<string, Tensor> two)
        {
            long[] a = one[node.Input[1]].to(ScalarType.Int64).data<long>().ToArray(), b = two[node.Input[1]].to(ScalarType.Int64).data<long>().ToArray();
            if (a.Length != b.Length) return null;
            long[] inOne = one[node.Input[0]].shape, inTwo = two[node.Input[0]].shape;
            bool allowZero = Attr(node, "allowzero") != 0;
            long[] target = [.. a];
            for (int i = 0; i < a.Length; i++)
            {
                if (a[i] == b[i]) continue;
                if (!allowZero && i < inOne.Length && inOne[i] == a[i] && inTwo[i] == b[i]) target[i] = 0;
                else if (!target.Contains(-1)) target[i] = -1;
                else return null;
            }
            foreach (Dictionary<string, Tensor> probe in new[] { one, two })
            {
                Tensor x = probe[node.Input[0]];
                long[] resolved = [.. target.Select((t, i) => t == 0 && !allowZero ? x.shape[i] : t)];
                if (!x.reshape(resolved).shape.SequenceEqual(probe[node.Output[0]].shape)) return null;
            }
            return tensor(target);
        }

        /// <summary>Keeps the nodes the graph output read needs, reading only runtime values (folded ones are constants).</summary>
        private List<NodeProto> Prune(List<NodeProto> nodes)
        {
            var needed = new HashSet<string>(StringComparer.Ordinal) { output };
            var kept = new List<NodeProto>();
            for (int n = nodes.Count - 1; n >= 0; n--)
            {
                NodeProto node = nodes[n];
                if (!node.Output.Any(needed.Contains) || node.Output.All(constants.ContainsKey)) continue;
                kept.Add(node);
                foreach (string value in node.Input)
                {
                    if (value.Length > 0 && !constants.ContainsKey(value)) needed.Add(value);
                }
            }
            kept.Reverse();
            if (kept.Count == 0) throw new ReparoInputException($"{source}: the output does not depend on the input");
            return kept;
        }

        /// <summary>One step of the runtime graph: an ONNX node, or an affine unit (Gemm, MatMul [+ Add], Conv with constant weights).</summary>
        private sealed record GraphOp(NodeProto Node, string[] Reads, string Output, AffineUnit? Affine, string[] OnnxNames);

        private sealed record AffineUnit(bool Conv, Tensor Weight, Tensor? Bias, OnnxParameterBinding? WeightBinding, OnnxParameterBinding? BiasBinding,
            int[] Kernel, int[] Strides, int[] Dilations, int[] Pads, int Groups = 1);

        private List<GraphOp> Fuse(List<NodeProto> nodes, Dictionary<string, Tensor> probe)
        {
            var consumers = new Dictionary<string, List<int>>(StringComparer.Ordinal);
            for (int n = 0; n < nodes.Count; n++)
                foreach (string value in nodes[n].Input.Where(v => v.Length > 0))
                {
                    if (!consumers.TryGetValue(value, out List<int>? list)) consumers[value] = list = [];
                    list.Add(n);
                }
            var ops = new List<GraphOp>();
            var skip = new HashSet<int>();
            for (int n = 0; n < nodes.Count; n++)
            {
                if (skip.Contains(n)) continue;
                NodeProto node = nodes[n];
                string name = NodeName(node, n);
                AffineUnit? unit = node.OpType switch
                {
                    "Gemm" => GemmUnit(node),
                    "Conv" => ConvUnit(node, probe),
                    "MatMul" => MatMulUnit(node),
                    _ => null,
                };
                // An operator may leave outputs unnamed (an LSTM giving only Y_h): its value is the one the graph reads.
                string outputValue = node.Output.FirstOrDefault(o => o.Length > 0 && (o == output || consumers.ContainsKey(o))) ?? node.Output.First(o => o.Length > 0);
                var names = new List<string> { name };
                if (unit is not null && node.OpType == "MatMul" && outputValue != output
                    && consumers.TryGetValue(outputValue, out List<int>? users) && users.Count == 1 && nodes[users[0]] is { OpType: "Add" } add
                    && BiasOf(add, outputValue, unit.Weight.shape[0]) is { } bias)
                {
                    unit = unit with { Bias = bias.Value, BiasBinding = bias.Binding };
                    skip.Add(users[0]);
                    outputValue = add.Output[0];
                    names.Add(NodeName(add, users[0]));
                }
                string[] reads = unit is not null ? [node.Input[0]] : [.. node.Input.Where(v => v.Length > 0 && !constants.ContainsKey(v))];
                ops.Add(new GraphOp(node, reads, outputValue, unit, [.. names]));
            }
            return ops;
        }

        private (Tensor Value, OnnxParameterBinding? Binding)? BiasOf(NodeProto add, string matmulOutput, long outputs)
        {
            string other = add.Input[0] == matmulOutput ? add.Input[1] : add.Input[0];
            if (!constants.TryGetValue(other, out Tensor? c) || !c.is_floating_point() || c.numel() != outputs || c.shape[^1] != outputs) return null;
            return (c.reshape(outputs), initializerOf.TryGetValue(other, out string? init) ? new OnnxParameterBinding(init) : null);
        }

        private AffineUnit? GemmUnit(NodeProto node)
        {
            if (Attr(node, "transA") != 0 || !constants.TryGetValue(node.Input[1], out Tensor? b) || b.dim() != 2 || !b.is_floating_point()) return null;
            double alpha = FloatAttr(node, "alpha", 1), beta = FloatAttr(node, "beta", 1);
            bool transB = Attr(node, "transB") != 0;
            Tensor weight = (transB ? b : b.t()).mul(alpha).contiguous();
            OnnxParameterBinding? weightBinding = initializerOf.TryGetValue(node.Input[1], out string? wi) ? new OnnxParameterBinding(wi, !transB, alpha) : null;
            Tensor? bias = null;
            OnnxParameterBinding? biasBinding = null;
            if (node.Input.Count > 2 && node.Input[2].Length > 0)
            {
                if (!constants.TryGetValue(node.Input[2], out Tensor? c) || !c.is_floating_point()) return null;
                long outputs = weight.shape[0];
                bias = c.numel() == outputs ? c.reshape(outputs).mul(beta) : c.broadcast_to(outputs).mul(beta).contiguous();
                biasBinding = c.numel() == outputs && initializerOf.TryGetValue(node.Input[2], out string? bi) ? new OnnxParameterBinding(bi, false, beta) : null;
            }
            return new AffineUnit(false, weight, bias, weightBinding, biasBinding, [], [], [], []);
        }

        private AffineUnit? MatMulUnit(NodeProto node)
        {
            if (!constants.TryGetValue(node.Input[1], out Tensor? b) || b.dim() != 2 || !b.is_floating_point() || constants.ContainsKey(node.Input[0])) return null;
            OnnxParameterBinding? binding = initializerOf.TryGetValue(node.Input[1], out string? wi) ? new OnnxParameterBinding(wi, true) : null;
            return new AffineUnit(false, b.t().contiguous(), null, binding, null, [], [], [], []);
        }

        /// <summary>A Conv with fixed weights (grouped or depthwise too) as an affine unit; <paramref name="probe"/> gives its input's size, so that SAME padding (Keras through tf2onnx) becomes the explicit pads it means.</summary>
        private AffineUnit? ConvUnit(NodeProto node, Dictionary<string, Tensor> probe)
        {
            if (!constants.TryGetValue(node.Input[1], out Tensor? w) || w.dim() is not (3 or 4) || !w.is_floating_point()) return null;
            if (!probe.TryGetValue(node.Input[0], out Tensor? input) || input.dim() != w.dim()) return null;
            long group = Attr(node, "group", 1);
            if (group < 1 || group > int.MaxValue || input.shape[1] != w.shape[1] * group || w.shape[0] % group != 0) return null;
            // A 1-D Conv's geometry is read from the 2-D node it equals over (N, C, 1, L), then its height entries dropped.
            bool oneD = w.dim() == 3;
            NodeProto geometry = oneD ? OnnxOperators.Lift1d(node) : node;
            long[] size = oneD ? [1, input.shape[2]] : input.shape[2..];
            int[] kernel = oneD ? [1, (int)w.shape[2]] : [(int)w.shape[2], (int)w.shape[3]];
            int[] strides = Ints(geometry, "strides", [1, 1]), dilations = Ints(geometry, "dilations", [1, 1]);
            if (strides.Length != 2 || dilations.Length != 2 || Ints(geometry, "pads", [0, 0, 0, 0]).Length != 4) return null;
            // ONNX pads are (top, left, bottom, right) for 2-D: x1_begin, x2_begin, x1_end, x2_end; (begin, end) for 1-D.
            (long[] begin, long[] end) = OnnxOperators.Pads(geometry, size, [.. kernel.Select(k => (long)k)], [.. strides.Select(k => (long)k)], [.. dilations.Select(k => (long)k)]);
            int[] pads = [.. begin.Concat(end).Select(p => (int)p)];
            if (oneD) (kernel, strides, dilations, pads) = ([kernel[1]], [strides[1]], [dilations[1]], [pads[1], pads[3]]);
            Tensor? bias = null;
            OnnxParameterBinding? biasBinding = null;
            if (node.Input.Count > 2 && node.Input[2].Length > 0)
            {
                if (!constants.TryGetValue(node.Input[2], out bias)) return null;
                biasBinding = initializerOf.TryGetValue(node.Input[2], out string? bi) ? new OnnxParameterBinding(bi) : null;
            }
            OnnxParameterBinding? weightBinding = initializerOf.TryGetValue(node.Input[1], out string? wi) ? new OnnxParameterBinding(wi) : null;
            return new AffineUnit(true, w, bias, weightBinding, biasBinding, kernel, strides, dilations, pads, (int)group);
        }

        /// <summary>Cuts the runtime graph wherever exactly one value is live.</summary>
        private List<List<GraphOp>> Segment(List<GraphOp> ops)
        {
            var remaining = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (GraphOp op in ops)
                foreach (string value in op.Reads) remaining[value] = remaining.GetValueOrDefault(value) + 1;
            remaining[output] = remaining.GetValueOrDefault(output) + 1;
            var live = new HashSet<string>(StringComparer.Ordinal) { input };
            var segments = new List<List<GraphOp>>();
            var current = new List<GraphOp>();
            foreach (GraphOp op in ops)
            {
                current.Add(op);
                foreach (string value in op.Reads)
                {
                    if (--remaining[value] == 0) live.Remove(value);
                }
                IEnumerable<string> produced = op.Affine is not null ? [op.Output] : op.Node.Output.Where(o => o.Length > 0);
                foreach (string value in produced)
                {
                    if (remaining.GetValueOrDefault(value) > 0) live.Add(value);
                }
                if (live.Count == 1)
                {
                    segments.Add(current);
                    current = [];
                }
            }
            if (current.Count > 0) throw new ReparoInputException($"{source}: the graph does not end in its output '{output}'");
            return segments;
        }

        private static string SegmentOutput(List<GraphOp> segment) => segment[^1].Output;

        private string Next(string prefix)
        {
            int n = counters.GetValueOrDefault(prefix) + 1;
            counters[prefix] = n;
            return $"{prefix}{n}";
        }

        private Network Layers(List<List<GraphOp>> segments, Dictionary<string, Tensor> probe)
        {
            var layers = new List<LayerSpec>();
            long[] networkInput = inputShape;
            if (inputType != ScalarType.Int64 && inputShape.Length == 2)
            {
                // A (H, W) input reads images as rows: Reparo's images are (1, H, W), and its ImageRows layer turns them
                // into exactly the (H, W) the graph reads, so data, corruptions and recurrent profiling see images.
                networkInput = [1, .. inputShape];
                layers.Add(new ImageRowsSpec("rows"));
                sourceNames["rows"] = [input];
            }
            else if (inputType != ScalarType.Int64 && inputShape is [> 4 and var height, > 4 and var width, var channels] && channels is 1 or 3 or 4)
            {
                // An (H, W, C) input with few channels reads images channels last (Keras through tf2onnx): Reparo's
                // images stay (C, H, W) and its ChannelsLast layer hands the graph what it reads.
                networkInput = [channels, height, width];
                layers.Add(new ChannelsLastSpec("channels_last"));
                sourceNames["channels_last"] = [input];
            }
            string segmentInput = input;
            for (int s = 0; s < segments.Count; s++)
            {
                List<GraphOp> segment = segments[s];
                if (Recurrent(segments, s, probe) is { } recurrent)
                {
                    layers.Add(recurrent.Spec);
                    s = recurrent.Last;
                    segmentInput = SegmentOutput(segments[s]);
                    continue;
                }
                layers.Add(Layer(segment, segmentInput, probe));
                segmentInput = SegmentOutput(segment);
            }
            long[] logits = probe[output].shape;
            if (logits.Length != 2) throw new ReparoInputException($"{source}: output '{output}' has shape [{string.Join(",", logits)}]; Reparo repairs classifiers with (N, classes) logits");
            long classCount = logits[1];
            if (classCount == 1)
            {
                // A binary classifier with one score (class 1 above 0, or above ½ after a trailing Sigmoid): two class scores
                // from the score itself, ahead of the Sigmoid.
                layers.Insert(Network.CountScoreLayers(layers), new BinaryScoresSpec("binary"));
                classCount = 2;
            }
            IReadOnlyList<string> classes = options.ClassNames ?? MetadataClasses() ?? ClassLabels(classCount) ?? [.. Enumerable.Range(0, (int)classCount).Select(i => i.ToString())];
            if (classes.Count != classCount) throw new ReparoInputException($"{source}: {classes.Count} class names for {classCount} classes");
            if (classes.Any(string.IsNullOrWhiteSpace)) throw new ReparoInputException($"{source}: a class name is empty");
            if (classes.Distinct(StringComparer.Ordinal).Count() != classes.Count)
                throw new ReparoInputException($"{source}: class names repeat ({string.Join(", ", classes.GroupBy(c => c, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key))})");
            InputKind kind = inputType == ScalarType.Int64 ? InputKind.Tokens : networkInput.Length == 1 ? InputKind.Features : InputKind.Image;
            var spec = new NetworkSpec($"onnx:{Path.GetFileName(source)}", networkInput, kind, classes, layers, options.VocabularyTokens)
            {
                SourceNames = sourceNames,
            };
            var network = new Network(spec);
            Dictionary<string, Tensor> state = network.state_dict();
            foreach ((string name, Tensor value) in weights)
            {
                if (!state.TryGetValue(name, out Tensor? target) || !target.shape.SequenceEqual(value.shape))
                    throw new InvalidOperationException($"imported parameter '{name}' does not fit the network built for it");
                target.copy_(value);
            }
            foreach (string name in state.Keys.Where(k => !weights.ContainsKey(k)))
            {
                // A Linear made for a Gemm without C has a bias the model does not: it stays zero.
                if (name.EndsWith(".bias", StringComparison.Ordinal)) state[name].zero_();
                else throw new InvalidOperationException($"parameter '{name}' was not imported");
            }
            network.eval();
            return network;
        }

        private LayerSpec Layer(List<GraphOp> segment, string segmentInput, Dictionary<string, Tensor> probe)
        {
            if (segment.Count == 1 && Native(segment[0], segmentInput, probe) is { } native) return native;
            string blockName = segment.Count == 1 ? Next(ShortName(segment[0].Node.OpType)) : Next("block");
            var nodeJson = new List<string>();
            var constantSpecs = new List<OnnxConstantSpec>();
            var affine = new List<OnnxAffineSpec>();
            var seenConstants = new HashSet<string>(StringComparer.Ordinal);
            var names = new List<string>();
            for (int i = 0; i < segment.Count; i++)
            {
                GraphOp op = segment[i];
                names.AddRange(op.OnnxNames);
                nodeJson.Add(OnnxBlockSpec.ToJson(op.Node));
                if (op.Affine is { } unit)
                {
                    string unitName = Next(unit.Conv ? "conv" : "fc");
                    affine.Add(AffineSpec(i, unitName, op, unit));
                    Bind($"{blockName}.{unitName}", unit);
                    sourceNames[$"{blockName}.{unitName}"] = [.. op.OnnxNames, .. Initializers(unit)];
                    continue;
                }
                foreach (string value in op.Node.Input.Where(v => v.Length > 0 && constants.ContainsKey(v) && seenConstants.Add(v)))
                {
                    Tensor c = constants[value];
                    weights[$"{blockName}.const{constantSpecs.Count}"] = c;
                    constantSpecs.Add(new OnnxConstantSpec(value, OnnxConstants.NameOf(c.dtype), c.shape));
                }
            }
            sourceNames[blockName] = [.. names];
            return new OnnxBlockSpec(blockName, Opset, segmentInput, SegmentOutput(segment), nodeJson, constantSpecs, affine);
        }

        private static OnnxAffineSpec AffineSpec(int node, string name, GraphOp op, AffineUnit unit) => unit.Conv
            ? new OnnxAffineSpec(node, name, op.Output, (int)unit.Weight.shape[1] * unit.Groups, (int)unit.Weight.shape[0], unit.Bias is not null, unit.Kernel, unit.Strides, unit.Dilations, unit.Pads, unit.Groups)
            : new OnnxAffineSpec(node, name, op.Output, (int)unit.Weight.shape[1], (int)unit.Weight.shape[0], unit.Bias is not null);

        private IEnumerable<string> Initializers(AffineUnit unit) =>
            new[] { unit.WeightBinding?.Initializer, unit.BiasBinding?.Initializer }.OfType<string>();

        private void Bind(string module, AffineUnit unit)
        {
            weights[$"{module}.weight"] = unit.Weight;
            if (unit.Bias is not null) weights[$"{module}.bias"] = unit.Bias;
            if (unit.WeightBinding is not null) bindings[$"{module}.weight"] = unit.WeightBinding;
            if (unit.BiasBinding is not null) bindings[$"{module}.bias"] = unit.BiasBinding;
        }

        /// <summary>
        /// Where the zero bias of a layer made from <paramref name="node"/> (a Conv, Gemm or MatMul with no bias in the
        /// file) goes once a repair changes it: a fresh initializer that export adds to the node (null: a Gemm whose
        /// <c>beta</c> is 0 ignores any bias, so none can be written).
        /// </summary>
        private OnnxParameterBinding? NewBias(NodeProto node)
        {
            double scale = node.OpType == "Gemm" ? FloatAttr(node, "beta", 1) : 1;
            if (scale == 0 || !double.IsFinite(scale)) return null;
            var taken = new HashSet<string>(graph.Initializer.Select(t => t.Name), StringComparer.Ordinal);
            taken.UnionWith(graph.Input.Select(v => v.Name));
            taken.UnionWith(graph.Node.SelectMany(n => n.Output));
            taken.UnionWith(bindings.Values.Select(b => b.Initializer));
            string name = $"{node.Input[1]}.bias";
            for (int n = 2; taken.Contains(name); n++) name = $"{node.Input[1]}.bias{n}";
            return new OnnxParameterBinding(name, false, scale, node.Output[0]);
        }

        /// <summary>Reparo's own layer for a one-node segment, when the node is exactly one.</summary>
        private LayerSpec? Native(GraphOp op, string segmentInput, Dictionary<string, Tensor> probe)
        {
            NodeProto node = op.Node;
            long[] inShape = probe[segmentInput].shape;
            LayerSpec? spec = null;
            if (op.Affine is { } unit)
            {
                if (!unit.Conv && inShape.Length == 2)
                {
                    spec = new LinearSpec(Next("fc"), (int)unit.Weight.shape[1], (int)unit.Weight.shape[0]);
                }
                else if (unit.Conv && unit.Dilations.All(d => d == 1) && unit.Pads.All(p => p == unit.Pads[0]) && unit.Kernel.Length == 1)
                {
                    spec = new Conv1dSpec(Next("conv"), (int)unit.Weight.shape[1] * unit.Groups, (int)unit.Weight.shape[0], unit.Kernel[0], unit.Strides[0], unit.Pads[0], unit.Groups);
                }
                else if (unit.Conv && unit.Dilations.All(d => d == 1) && unit.Pads.All(p => p == unit.Pads[0]) && unit.Kernel[0] == unit.Kernel[1] && unit.Strides[0] == unit.Strides[1])
                {
                    spec = new Conv2dSpec(Next("conv"), (int)unit.Weight.shape[1] * unit.Groups, (int)unit.Weight.shape[0], unit.Kernel[0], unit.Strides[0], unit.Pads[0], unit.Groups);
                }
                if (spec is null) return null;
                Bind(spec.Name, unit);
                if (unit.Bias is null && NewBias(node) is { } added) bindings[$"{spec.Name}.bias"] = added;
                sourceNames[spec.Name] = [.. op.OnnxNames, .. Initializers(unit)];
                return spec;
            }
            switch (node.OpType)
            {
                case "Relu":
                    spec = new ReluSpec(Next("relu"));
                    break;
                case "Flatten" when inShape.Length >= 2 && (Attr(node, "axis", 1) + inShape.Length) % inShape.Length == 1:
                    spec = new FlattenSpec(Next("flatten"));
                    break;
                case "MaxPool" when inShape.Length == 4 && node.Output.Count(o => o.Length > 0) == 1:
                    {
                        int[] kernel = Ints(node, "kernel_shape", []);
                        int[] strides = Ints(node, "strides", [1, 1]);
                        int[] pads = Ints(node, "pads", [0, 0, 0, 0]);
                        int[] dilations = Ints(node, "dilations", [1, 1]);
                        string autoPad = node.Attribute.FirstOrDefault(a => a.Name == "auto_pad")?.S.ToStringUtf8() ?? "NOTSET";
                        bool plain = kernel.Length == 2 && kernel[0] == kernel[1] && strides.All(s => s == kernel[0]) && pads.All(p => p == 0)
                            && dilations.All(d => d == 1) && Attr(node, "ceil_mode") == 0 && autoPad is "NOTSET" or "VALID"
                            && inShape[2] % kernel[0] == 0 && inShape[3] % kernel[0] == 0;
                        if (plain) spec = new MaxPool2dSpec(Next("pool"), kernel[0]);
                        break;
                    }
            }
            if (spec is not null) sourceNames[spec.Name] = op.OnnxNames;
            return spec;
        }

        /// <summary>
        /// An LSTM or GRU that Reparo's recurrent layer computes exactly: Transpose to time-major, the forward cell with no
        /// initial state (zero), then segments that take the last step's hidden state. Returns the layer and the last
        /// segment it covers.
        /// </summary>
        private (LayerSpec Spec, int Last)? Recurrent(List<List<GraphOp>> segments, int s, Dictionary<string, Tensor> probe)
        {
            if (s + 2 >= segments.Count || segments[s] is not [{ Node.OpType: "Transpose" } transpose] || segments[s + 1] is not [{ Node.OpType: "LSTM" or "GRU" } cell])
                return null;
            if (!Ints(transpose.Node, "perm", []).SequenceEqual([1, 0, 2])) return null;
            NodeProto node = cell.Node;
            bool lstm = node.OpType == "LSTM";
            string direction = node.Attribute.FirstOrDefault(a => a.Name == "direction")?.S.ToStringUtf8() ?? "forward";
            bool plain = direction == "forward" && Attr(node, "layout") == 0 && !node.Attribute.Any(a => a.Name is "activations" or "clip" or "input_forget")
                && node.Input.Skip(4).All(v => v.Length == 0) && node.Input.Take(3).Skip(1).All(constants.ContainsKey)
                && (node.Input.Count < 4 || node.Input[3].Length == 0 || constants.ContainsKey(node.Input[3]))
                && (lstm || Attr(node, "linear_before_reset") == 1);
            if (!plain) return null;
            Tensor sequence = probe[transpose.Node.Input[0]];
            if (sequence.dim() != 3) return null;
            // Which segments after the cell take the last step: run them on a random output and compare.
            string cellOutput = SegmentOutput(segments[s + 1]);
            Tensor y = probe[cellOutput];
            long hidden = Attr(node, "hidden_size");
            for (int last = s + 2; last < Math.Min(segments.Count, s + 6); last++)
            {
                var values = new Dictionary<string, Tensor>(constants, StringComparer.Ordinal);
                Tensor random = randn(y.shape, generator: new Generator(7));
                values[cellOutput] = random;
                try
                {
                    OnnxExecutor.Run([.. segments.Skip(s + 2).Take(last - s - 1).SelectMany(g => g).Select(o => o.Node)], Opset, values);
                }
                catch (ReparoInputException)
                {
                    return null;
                }
                // Y is (T, 1, N, H); Y_h is (1, N, H): the last step of either is random[-1, 0] or random[0].
                Tensor expected = random.dim() == 4 ? random[-1, 0] : random[0];
                Tensor got = values[SegmentOutput(segments[last])];
                if (!got.shape.SequenceEqual(expected.shape) || got.shape.Length != 2 || got.shape[1] != hidden) continue;
                if (!got.allclose(expected, 0, 0)) return null;
                var spec = new RecurrentSpec(lstm ? Next("lstm") : Next("gru"), lstm ? RecurrentCell.Lstm : RecurrentCell.Gru, (int)sequence.shape[2], (int)hidden);
                BindRecurrent(spec, node, lstm);
                sourceNames[spec.Name] = [.. Enumerable.Range(s, last - s + 1).SelectMany(i => segments[i].SelectMany(o => o.OnnxNames)), .. node.Input.Skip(1).Take(3).Where(v => v.Length > 0)];
                return (spec, last);
            }
            return null;
        }

        /// <summary>ONNX's W, R, B in gate order (LSTM i o f c, GRU z r h) as torch's weight_ih, weight_hh, bias_ih, bias_hh (LSTM i f g o, GRU r z n).</summary>
        private void BindRecurrent(RecurrentSpec spec, NodeProto node, bool lstm)
        {
            int hidden = spec.Hidden;
            int[] order = lstm ? [0, 2, 3, 1] : [1, 0, 2];
            Tensor Reorder(Tensor gates) => cat([.. order.Select(g => gates.narrow(0, g * hidden, hidden))], 0);
            Tensor w = constants[node.Input[1]][0], r = constants[node.Input[2]][0];
            int gateCount = order.Length;
            Tensor b = node.Input.Count > 3 && node.Input[3].Length > 0 ? constants[node.Input[3]][0] : zeros(2 * gateCount * hidden, w.dtype);
            string module = $"{spec.Name}.{(lstm ? "lstm" : "gru")}";
            weights[$"{module}.weight_ih_l0"] = Reorder(w);
            weights[$"{module}.weight_hh_l0"] = Reorder(r);
            weights[$"{module}.bias_ih_l0"] = Reorder(b.narrow(0, 0, gateCount * hidden));
            weights[$"{module}.bias_hh_l0"] = Reorder(b.narrow(0, gateCount * hidden, gateCount * hidden));
        }

        /// <summary>Class names a Reparo export recorded in the model's metadata (<c>reparo.classes</c>), if any.</summary>
        /// <summary>
        /// The class labels a converted scikit-learn classifier carries (skl2onnx): the ZipMap's over the scores' output,
        /// else the labels an ArrayFeatureExtractor picks by an ArgMax of the scores; null when there are none, or not
        /// <paramref name="classCount"/> of them.
        /// </summary>
        private IReadOnlyList<string>? ClassLabels(long classCount)
        {
            string[]? labels = null;
            if (graph.Node.FirstOrDefault(n => IsZipMap(n) && n.Output.Contains(OutputName)) is { } zip)
                labels = OnnxAttributes.Strings(zip, "classlabels_strings") ?? OnnxAttributes.Ints(zip, "classlabels_int64s")?.Select(l => l.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            if (labels is null)
            {
                // The scores' tensor, the output, and the values between them (a ZipMap's input, an Identity).
                var scores = NodesFor(OutputName).Except(needed).SelectMany(n => n.Output).Append(output).Append(OutputName).ToHashSet(StringComparer.Ordinal);
                var argmaxes = graph.Node.Where(n => n.OpType == "ArgMax" && n.Input.Count > 0 && scores.Contains(n.Input[0]))
                    .Select(n => n.Output[0]).ToHashSet(StringComparer.Ordinal);
                if (graph.Node.FirstOrDefault(n => n.OpType == "ArrayFeatureExtractor" && n.Input.Count == 2 && argmaxes.Contains(n.Input[1])) is { } extractor
                    && graph.Initializer.FirstOrDefault(i => i.Name == extractor.Input[0]) is { } classes)
                {
                    labels = classes.DataType == (int)TensorProto.Types.DataType.String ? [.. classes.StringData.Select(b => b.ToStringUtf8())]
                        : constants.TryGetValue(classes.Name, out Tensor? values) && !values.is_floating_point() ? [.. values.to(ScalarType.Int64).data<long>().ToArray().Select(l => l.ToString(System.Globalization.CultureInfo.InvariantCulture))]
                        : null;
                }
            }
            return labels?.Length == classCount ? labels : null;
        }

        private IReadOnlyList<string>? MetadataClasses()
        {
            string? json = model.MetadataProps.FirstOrDefault(p => p.Key == OnnxExporter.ClassesKey)?.Value;
            if (json is null) return null;
            try
            {
                return System.Text.Json.JsonSerializer.Deserialize<string[]>(json);
            }
            catch (System.Text.Json.JsonException)
            {
                throw new ReparoInputException($"{source}: metadata 'reparo.classes' is not a JSON list of names");
            }
        }

        /// <summary>
        /// What a Reparo export recorded as JSON in the model's metadata under <paramref name="key"/>
        /// (<see cref="OnnxExporter.PreprocessingKey"/>, <see cref="OnnxExporter.ImageResizingKey"/>), if anything;
        /// <paramref name="what"/> names it in the error for JSON that is not one.
        /// </summary>
        public T? Metadata<T>(string key, string what)
            where T : class
        {
            string? json = model.MetadataProps.FirstOrDefault(p => p.Key == key)?.Value;
            if (json is null) return null;
            try
            {
                return System.Text.Json.JsonSerializer.Deserialize<T>(json, ReparoJson.Options);
            }
            catch (System.Text.Json.JsonException)
            {
                throw new ReparoInputException($"{source}: metadata '{key}' is not {what}");
            }
        }

        /// <summary>The name prefix of a one-node layer: the op type in lower case, shortened for the long ones.</summary>
        private static string ShortName(string opType) => opType switch
        {
            "LayerNormalization" => "layernorm",
            "BatchNormalization" => "batchnorm",
            "GlobalAveragePool" => "globalpool",
            "AveragePool" => "avgpool",
            "MaxPool" => "maxpool",
            "ReduceMean" => "mean",
            _ => opType.ToLowerInvariant(),
        };

        private static long Attr(NodeProto node, string name, long fallback = 0) =>
            node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.I : fallback;

        private static double FloatAttr(NodeProto node, string name, double fallback) =>
            node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.F : fallback;

        private static int[] Ints(NodeProto node, string name, int[] fallback) =>
            node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? [.. a.Ints.Select(i => checked((int)i))] : fallback;
    }
}
