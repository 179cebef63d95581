using System.Runtime.InteropServices;
using Reparo.Data;
using Reparo.Io;
using static TorchSharp.torch;

namespace Reparo.Models;

/// <summary>Where a model came from: enough to evaluate it on the same split and to read its history.</summary>
public sealed record ModelProvenance
{
    /// <summary>The data specification it was trained on (e.g. <c>fashion-mnist</c>).</summary>
    public string? Data { get; init; }

    /// <summary>The seed of that data's train / validation / test split.</summary>
    public int SplitSeed { get; init; }

    /// <summary>The training seed.</summary>
    public int? Seed { get; init; }

    /// <summary>Thread count used for training (same seed and threads give the same weights).</summary>
    public int? Threads { get; init; }

    /// <summary>Accuracy on the validation part when training stopped.</summary>
    public double? ValidationAccuracy { get; init; }

    /// <summary>
    /// The poisoning its training data got (<c>reparo train --poison</c>), as a canonical spec such as
    /// <c>badnets:0.1:0</c> or <c>block:0</c>; null for clean training (and in files written before this field existed).
    /// </summary>
    public string? Poison { get; init; }

    /// <summary>
    /// What the model does to raw inputs before its first layer (scale, channel order, normalisation, and whether its
    /// training data came as 8-bit values): <see cref="Network.Preprocess"/> applies it in every forward pass, so data
    /// stays raw. Files written before the model applied it recorded the same field for data preprocessed on loading,
    /// which is the same function. Null: nothing.
    /// </summary>
    public InputPreprocessing? Preprocessing { get; init; }

    /// <summary>
    /// How its training folder's images were resized and cropped as they were decoded (<c>--resize</c>,
    /// <c>--center-crop</c>); folder data read for the model gets the same. Null: none.
    /// </summary>
    public ImageResizing? ImageResizing { get; init; }

    /// <summary>What was done to the model after training, oldest first (repairs, edits, poisoning).</summary>
    public IReadOnlyList<string> History { get; init; } = [];
}

/// <summary>
/// Saves and loads a <see cref="Network"/> as one self-describing file with nothing executable in it:
/// an 8-byte magic <c>REPARO\0\1</c>, a 4-byte little-endian header length, a UTF-8 JSON header (architecture, layer
/// list, classes, vocabulary, provenance, and a table of tensors with dtype, shape, offset and length, plus the
/// SHA-256 of the payload), then the raw little-endian tensor bytes. A reloaded model gives bit-identical outputs.
/// </summary>
public static class ModelFile
{
    private static readonly byte[] Magic = [(byte)'R', (byte)'E', (byte)'P', (byte)'A', (byte)'R', (byte)'O', 0, 1];

    private sealed record TensorEntry(string Name, string Dtype, long[] Shape, long Offset, long Length);

    private sealed record Header(string Format, NetworkSpec Network, ModelProvenance Provenance, IReadOnlyList<TensorEntry> Tensors, string PayloadSha256);

    /// <summary>
    /// Writes <paramref name="network"/> to <paramref name="path"/> atomically: as ONNX through
    /// <see cref="Onnx.OnnxExporter"/> when the path ends in <c>.onnx</c>, as a Reparo model file otherwise.
    /// </summary>
    public static void Save(Network network, string path)
    {
        if (path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            Onnx.OnnxExporter.Save(network, path);
            return;
        }
        byte[] bytes = ToBytes(network);
        AtomicFile.WriteAllBytes(path, bytes);
    }

    /// <summary>The bytes of the model file of <paramref name="network"/> (for embedding a model in another file).</summary>
    public static byte[] ToBytes(Network network)
    {
        var entries = new List<TensorEntry>();
        using var payload = new MemoryStream();
        foreach ((string name, Tensor value) in network.state_dict())
        {
            using Tensor contiguous = value.detach().cpu().contiguous();
            byte[] bytes = contiguous.bytes.ToArray();
            entries.Add(new TensorEntry(name, DtypeName(contiguous.dtype), contiguous.shape, payload.Position, bytes.Length));
            payload.Write(bytes);
        }
        byte[] payloadBytes = payload.ToArray();
        var header = new Header("reparo-network/1", network.Spec, network.Provenance, entries, FramedFile.Checksum(payloadBytes));
        return FramedFile.Compose(Magic, header, payloadBytes);
    }

    /// <summary>
    /// Reads a model file, or imports an ONNX model when the path ends in <c>.onnx</c> (as <paramref name="options"/>
    /// say); any defect is a one-line <see cref="ReparoInputException"/> naming the file.
    /// </summary>
    public static Network Load(string path, ModelLoadOptions? options = null)
    {
        if (!File.Exists(path)) throw new ReparoInputException($"{path}: model file not found");
        string? onnxOutput = options?.OnnxOutput;
        IReadOnlyList<string>? classNames = options?.ClassNames;
        if (Onnx.OnnxImporter.IsOnnxPath(path)) return Onnx.OnnxImporter.Import(path, new Onnx.OnnxImportOptions { Output = onnxOutput, ClassNames = classNames });
        if (onnxOutput is not null) throw new ReparoInputException($"{path}: a graph output ('{onnxOutput}') is chosen only for an ONNX model, and this is a Reparo model file");
        if (classNames is not null) throw new ReparoInputException($"{path}: --class-names names the classes of an ONNX model; a Reparo model file records its own");
        return FromBytes(File.ReadAllBytes(path), path);
    }

    /// <summary>
    /// A model from the bytes of a model file; any defect is a one-line <see cref="ReparoInputException"/> naming
    /// <paramref name="path"/>. Nothing is allocated from a declared size before it is checked: the tensor table against
    /// the payload (checked arithmetic, unique names), the architecture's sizes against the tensor table; then the
    /// network is built, its tensors filled and checked finite, and one probe input run through it.
    /// </summary>
    public static Network FromBytes(byte[] file, string path)
    {
        (Header? header, ArraySegment<byte> segment) = FramedFile.Open<Header>(file, Magic, path, "a Reparo model file", "model");
        if (header?.Network is null || header.Tensors is null) throw new ReparoInputException($"{path}: model header lacks the network or tensor table");
        if (header.Format != "reparo-network/1") throw new ReparoInputException($"{path}: unsupported model format '{header.Format}'");
        ReadOnlySpan<byte> payload = segment;
        if (FramedFile.Checksum(payload) != header.PayloadSha256)
            throw new ReparoInputException($"{path}: tensor data is corrupt or truncated (checksum mismatch)");
        try
        {
            Dictionary<string, TensorEntry> byName = CheckedTable(header.Tensors, payload.Length);
            CheckArchitecture(header.Network, byName.Values.Sum(t => t.Length));
            Network network = Build(header.Network);
            network.Provenance = header.Provenance ?? new ModelProvenance();
            Fill(network, byName, payload);
            Probe(network);
            return network;
        }
        catch (ReparoInputException e)
        {
            throw new ReparoInputException($"{path}: {e.Message}");
        }
        catch (OverflowException)
        {
            throw new ReparoInputException($"{path}: declared sizes overflow");
        }
    }

    private static Dictionary<string, TensorEntry> CheckedTable(IReadOnlyList<TensorEntry> tensors, long payloadLength)
    {
        var byName = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
        long end = 0;
        foreach (TensorEntry? entry in tensors)
        {
            if (entry?.Name is null || entry.Shape is null || entry.Dtype is null) throw new ReparoInputException("a tensor table entry lacks its name, type or shape");
            if (!byName.TryAdd(entry.Name, entry)) throw new ReparoInputException($"tensor '{entry.Name}' appears twice");
            if (entry.Shape.Any(d => d < 0)) throw new ReparoInputException($"tensor '{entry.Name}' has a negative dimension");
            long bytes = checked(entry.Shape.Aggregate(1L, (a, d) => checked(a * d)) * ElementSize(entry));
            if (entry.Offset < 0 || entry.Length != bytes || checked(entry.Offset + entry.Length) > payloadLength)
                throw new ReparoInputException($"tensor '{entry.Name}' points outside the file");
            end = checked(end + bytes);
        }
        if (end > payloadLength) throw new ReparoInputException($"the tensor table declares {end} bytes, the file holds {payloadLength}");
        return byName;
    }

    private static long ElementSize(TensorEntry entry)
    {
        ScalarType type;
        try
        {
            type = Onnx.OnnxConstants.TypeOf(entry.Dtype);
        }
        catch (ReparoInputException)
        {
            throw new ReparoInputException($"tensor '{entry.Name}' has unknown element type '{entry.Dtype}'");
        }
        return type switch
        {
            ScalarType.Float64 or ScalarType.Int64 => 8,
            ScalarType.Float32 or ScalarType.Int32 => 4,
            ScalarType.Float16 or ScalarType.Int16 => 2,
            _ => 1,
        };
    }

    /// <summary>The architecture's fields are present and its layers need no more state than the file's tensors hold.</summary>
    private static void CheckArchitecture(NetworkSpec spec, long tensorBytes)
    {
        if (spec.Layers is null || spec.Layers.Count == 0 || spec.Layers.Any(l => l?.Name is null)) throw new ReparoInputException("the architecture lists no layers, or a layer without a name");
        if (spec.InputShape is null || spec.InputShape.Length == 0 || spec.InputShape.Any(d => d < 1)) throw new ReparoInputException("the architecture's input shape is missing or not positive");
        if (spec.ClassNames is null || spec.ClassNames.Count == 0) throw new ReparoInputException("the architecture names no classes");
        long elements = 0;
        foreach (LayerSpec layer in spec.Layers) elements = checked(elements + layer.StateElementsAtLeast());
        // Every parameter and buffer is at least one byte in the file.
        if (elements > tensorBytes) throw new ReparoInputException($"the architecture needs at least {elements} parameter values, the file holds {tensorBytes} bytes of tensors");
    }

    private static Network Build(NetworkSpec spec)
    {
        try
        {
            return new Network(spec);
        }
        catch (Exception e) when (e is ExternalException or ArgumentException or InvalidOperationException or Google.Protobuf.InvalidJsonException or Google.Protobuf.InvalidProtocolBufferException)
        {
            throw new ReparoInputException($"the architecture cannot be built ({e.Message.Split('\n')[0]})");
        }
    }

    private static void Fill(Network network, Dictionary<string, TensorEntry> byName, ReadOnlySpan<byte> payload)
    {
        using var noGrad = no_grad();
        foreach ((string name, Tensor target) in network.state_dict())
        {
            if (!byName.Remove(name, out TensorEntry? entry)) throw new ReparoInputException($"tensor '{name}' is missing");
            if (!entry.Shape.SequenceEqual(target.shape) || entry.Dtype != DtypeName(target.dtype))
                throw new ReparoInputException($"tensor '{name}' is {entry.Dtype}[{string.Join(",", entry.Shape)}], the architecture needs {DtypeName(target.dtype)}[{string.Join(",", target.shape)}]");
            using Tensor loaded = empty(target.shape, target.dtype);
            loaded.bytes = payload.Slice((int)entry.Offset, (int)entry.Length).ToArray();
            if (loaded.is_floating_point() && !isfinite(loaded).all().item<bool>()) throw new ReparoInputException($"tensor '{name}' holds NaN or infinite values");
            target.copy_(loaded);
        }
        if (byName.Count > 0) throw new ReparoInputException($"unexpected tensors {string.Join(", ", byName.Keys)}");
    }

    /// <summary>Runs one probe input through the network: layers that do not fit together, or an output that is not one score per class, are input errors.</summary>
    private static void Probe(Network network)
    {
        long outputs;
        try
        {
            outputs = network.ProbeOutputWidth();
        }
        catch (Exception e) when (e is ExternalException or ArgumentException or InvalidOperationException or IndexOutOfRangeException)
        {
            throw new ReparoInputException($"the layers do not fit together ({e.Message.Split('\n')[0]})");
        }
        if (outputs != network.Spec.ClassNames.Count)
            throw new ReparoInputException($"the network gives {outputs} outputs for {network.Spec.ClassNames.Count} classes");
    }

    private static string DtypeName(ScalarType type) => Onnx.OnnxConstants.NameOf(type);
}

/// <summary>How <see cref="ModelFile.Load"/> reads an ONNX model.</summary>
/// <param name="OnnxOutput">The graph output read as the class scores (null: the first).</param>
/// <param name="ClassNames">
/// The model's classes in the order of its outputs, for a file that names none (a PyTorch export): data labels map onto
/// them by name, and a written-back file records them (null: the file's own, else <c>0</c>, <c>1</c>, …).
/// </param>
public sealed record ModelLoadOptions(string? OnnxOutput = null, IReadOnlyList<string>? ClassNames = null);
