using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using static TorchSharp.torch;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;

namespace Reparo.Verification;

/// <summary>
/// Runs ONNX models in ONNX Runtime (Microsoft.ML.OnnxRuntime, CPU), independently of torch: the check that an exported
/// or repaired model computes in the runtime users deploy with what Reparo computed. Sessions run single-threaded and
/// sequentially, so a result is the same on every run. The model must have one input; a batch of any element type is cast
/// to the input's (float, double or int64 token ids). A model ONNX Runtime rejects, or a batch it cannot take, is a
/// one-line <see cref="ReparoInputException"/>; a runtime library that does not load is a <see cref="ReparoEnvironmentException"/>.
/// </summary>
public static class OnnxRuntimeCheck
{
    /// <summary>
    /// The model's output <paramref name="output"/> (null: its first) for <paramref name="inputs"/> (batch first), in the
    /// runtime's element type (float32 or float64). <paramref name="output"/> may also name a value inside the graph
    /// (the scores an output is made from, such as the probabilities under skl2onnx's ZipMap): the runtime then runs a
    /// copy of the model that lists it as one more output.
    /// </summary>
    public static Tensor Run(string path, Tensor inputs, string? output = null)
    {
        if (!File.Exists(path)) throw new ReparoInputException($"{path}: ONNX file not found");
        using (InferenceSession session = Open(path, options => new InferenceSession(path, options)))
        {
            if (output is null || session.OutputNames.Contains(output)) return Run(session, inputs, output, path);
        }
        using InferenceSession inner = Open(path, options => new InferenceSession(WithOutput(File.ReadAllBytes(path), output, path), options));
        return Run(inner, inputs, output, path);
    }

    /// <summary>The output <paramref name="output"/> (null: the first; or a value inside the graph) for <paramref name="inputs"/> of the ONNX model held in <paramref name="model"/>.</summary>
    public static Tensor Run(byte[] model, Tensor inputs, string? output = null)
    {
        const string source = "the ONNX model";
        using (InferenceSession session = Open(source, options => new InferenceSession(model, options)))
        {
            if (output is null || session.OutputNames.Contains(output)) return Run(session, inputs, output, source);
        }
        using InferenceSession inner = Open(source, options => new InferenceSession(WithOutput(model, output, source), options));
        return Run(inner, inputs, output, source);
    }

    /// <summary>
    /// The model's bytes with the value <paramref name="value"/>, which a node computes, listed as one more graph output
    /// (of the type its value_info declares, else float64 for a model with a float64 input and float32 otherwise: token
    /// ids are int64, the scores are not); a name no node computes is a
    /// one-line error naming the outputs.
    /// </summary>
    private static byte[] WithOutput(byte[] bytes, string value, string source)
    {
        ModelProto model = ModelProto.Parser.ParseFrom(bytes);
        GraphProto graph = model.Graph;
        if (!graph.Node.Any(n => n.Output.Contains(value)))
            throw new ReparoInputException($"{source}: the model has no output '{value}'; its outputs: {string.Join(", ", graph.Output.Select(o => o.Name))}");
        const int Double = (int)TensorProto.Types.DataType.Double;
        int elementType = graph.ValueInfo.FirstOrDefault(v => v.Name == value)?.Type?.TensorType?.ElemType
            ?? (graph.Input.Any(i => i.Type?.TensorType?.ElemType == Double) ? Double : (int)TensorProto.Types.DataType.Float);
        graph.Output.Add(new ValueInfoProto { Name = value, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elementType } } });
        return model.ToByteArray();
    }

    /// <summary>
    /// Per input, logit[label] − the largest other logit, as ONNX Runtime computes it: positive where the runtime
    /// classifies the input as its label. For a float32 model each margin is the float32 difference of float32 logits.
    /// </summary>
    public static double[] Margins(string path, Tensor inputs, IReadOnlyList<long> labels, string? output = null)
    {
        using Tensor logits = Run(path, inputs, output);
        return Margins(logits, labels, path);
    }

    /// <summary>The margins (<see cref="Margins(string, Tensor, IReadOnlyList{long}, string?)"/>) of the ONNX model held in <paramref name="model"/>.</summary>
    public static double[] Margins(byte[] model, Tensor inputs, IReadOnlyList<long> labels, string? output = null)
    {
        using Tensor logits = Run(model, inputs, output);
        return Margins(logits, labels, "the ONNX model");
    }

    private static double[] Margins(Tensor logits, IReadOnlyList<long> labels, string source)
    {
        if (logits.dim() != 2) throw new ReparoInputException($"{source}: output has shape [{string.Join(",", logits.shape)}], not (N, classes)");
        long n = logits.shape[0], classes = logits.shape[1];
        if (labels.Count != n) throw new ReparoInputException($"{source}: {labels.Count} labels for {n} outputs");
        if (classes < 2) throw new ReparoInputException($"{source}: a margin needs at least two classes, the output has {classes}");
        var margins = new double[n];
        if (logits.dtype == ScalarType.Float32)
        {
            float[] values = logits.data<float>().ToArray();
            for (int i = 0; i < n; i++)
            {
                int label = Label(labels[i], classes, source);
                float other = float.NegativeInfinity;
                for (int c = 0; c < classes; c++)
                    if (c != label) other = Math.Max(other, values[i * classes + c]);
                margins[i] = values[i * classes + label] - other;
            }
        }
        else
        {
            double[] values = logits.to(ScalarType.Float64).data<double>().ToArray();
            for (int i = 0; i < n; i++)
            {
                int label = Label(labels[i], classes, source);
                double other = double.NegativeInfinity;
                for (int c = 0; c < classes; c++)
                    if (c != label) other = Math.Max(other, values[i * classes + c]);
                margins[i] = values[i * classes + label] - other;
            }
        }
        return margins;
    }

    private static int Label(long label, long classes, string source) =>
        label >= 0 && label < classes ? (int)label : throw new ReparoInputException($"{source}: label {label} is not one of the {classes} classes");

    private static InferenceSession Open(string source, Func<SessionOptions, InferenceSession> create)
    {
        try
        {
            using var options = new SessionOptions
            {
                IntraOpNumThreads = 1,
                InterOpNumThreads = 1,
                ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            };
            return create(options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ReparoInputException($"{source}: ONNX Runtime rejects the model: {OneLine(e.Message)}");
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException)
        {
            throw new ReparoEnvironmentException($"ONNX Runtime's native library (libonnxruntime.so) does not load: {OneLine(e.Message)}", e);
        }
    }

    /// <summary>
    /// The batch in the input shape the model declares when it holds the same elements per sample in another shape
    /// (Reparo's (N, 1, H, W) images for a graph that reads (N, H, W)); the batch's own shape otherwise.
    /// </summary>
    private static long[] DeclaredShape(NodeMetadata metadata, long[] shape)
    {
        int[] declared = metadata.Dimensions;
        if (declared.Length < 2 || declared.Skip(1).Any(d => d <= 0) || shape.Length < 1) return shape;
        long[] sample = [.. declared.Skip(1).Select(d => (long)d)];
        bool sameCount = sample.Aggregate(1L, (a, d) => a * d) == shape.Skip(1).Aggregate(1L, (a, d) => a * d);
        return sameCount ? [shape[0], .. sample] : shape;
    }

    /// <summary>
    /// The output <paramref name="output"/> (null: the first) for <paramref name="inputs"/>: one run, or, for a model whose input declares a fixed batch of B
    /// (an export without a dynamic batch axis), runs of B samples (the last filled up with copies of its last sample,
    /// whose outputs are dropped).
    /// </summary>
    private static Tensor Run(InferenceSession session, Tensor inputs, string? output, string source)
    {
        if (session.InputMetadata.Count != 1)
            throw new ReparoInputException($"{source}: the model has {session.InputMetadata.Count} inputs; Reparo feeds models with exactly one");
        string outputName = output ?? session.OutputNames[0];
        if (!session.OutputNames.Contains(outputName))
            throw new ReparoInputException($"{source}: the model has no output '{outputName}'; its outputs: {string.Join(", ", session.OutputNames)}");
        (string name, NodeMetadata metadata) = session.InputMetadata.First();
        long count = inputs.shape[0];
        if (metadata.Dimensions is not [> 0 and int batch, ..] || batch == count) return RunBatch(session, name, metadata, inputs, outputName, source);
        var outputs = new List<Tensor>();
        for (long start = 0; start < count; start += batch)
        {
            long take = Math.Min(batch, count - start);
            using Tensor part = inputs.narrow(0, start, take);
            using Tensor full = take == batch ? part.alias() : cat([part, part.narrow(0, take - 1, 1).expand([batch - take, .. part.shape[1..]])]);
            using Tensor run = RunBatch(session, name, metadata, full, outputName, source);
            outputs.Add(run.narrow(0, 0, take).clone());
        }
        Tensor all = cat(outputs);
        foreach (Tensor run in outputs) run.Dispose();
        return all;
    }

    private static Tensor RunBatch(InferenceSession session, string name, NodeMetadata metadata, Tensor inputs, string outputName, string source)
    {
        long[] shape = DeclaredShape(metadata, inputs.shape);
        using Tensor contiguous = inputs.detach().cpu();
        using OrtValue input = metadata.ElementDataType switch
        {
            TensorElementType.Float => OrtValue.CreateTensorValueFromMemory(Values<float>(contiguous, ScalarType.Float32), shape),
            TensorElementType.Double => OrtValue.CreateTensorValueFromMemory(Values<double>(contiguous, ScalarType.Float64), shape),
            TensorElementType.Int64 => OrtValue.CreateTensorValueFromMemory(Values<long>(contiguous, ScalarType.Int64), shape),
            _ => throw new ReparoInputException($"{source}: input '{name}' has element type {metadata.ElementDataType}; Reparo feeds float, double or int64"),
        };
        try
        {
            using var runOptions = new RunOptions();
            using IDisposableReadOnlyCollection<OrtValue> results = session.Run(runOptions, [name], [input], [outputName]);
            OrtValue result = results[0];
            OrtTensorTypeAndShapeInfo info = result.GetTensorTypeAndShape();
            return info.ElementDataType switch
            {
                TensorElementType.Float => tensor(result.GetTensorDataAsSpan<float>().ToArray(), info.Shape),
                TensorElementType.Double => tensor(result.GetTensorDataAsSpan<double>().ToArray(), info.Shape),
                _ => throw new ReparoInputException($"{source}: output '{outputName}' has element type {info.ElementDataType}, not float or double"),
            };
        }
        catch (OnnxRuntimeException e)
        {
            throw new ReparoInputException($"{source}: ONNX Runtime cannot run the model on a batch of shape [{string.Join(",", shape)}]: {OneLine(e.Message)}");
        }
    }

    private static T[] Values<T>(Tensor t, ScalarType type) where T : unmanaged
    {
        using Tensor cast = t.to(type).contiguous();
        return cast.data<T>().ToArray();
    }

    private static string OneLine(string message) =>
        string.Join(" ", message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
