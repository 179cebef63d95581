using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;

namespace Reparo.Io.Onnx;

/// <summary>
/// Converts ONNX <c>TensorProto</c>s to torch tensors and back. Every declared size is checked against the bytes
/// present and against <see cref="MaxElements"/> before anything is allocated; external data must stay inside the
/// model's folder. Any defect is a one-line <see cref="ReparoInputException"/> naming the tensor.
/// </summary>
internal static class OnnxTensors
{
    /// <summary>The largest tensor Reparo reads (2³¹ − 1 elements, an 8 GiB float32 tensor): larger ones are refused.</summary>
    public const long MaxElements = int.MaxValue;

    /// <summary>The torch type of an ONNX element type, or null when Reparo does not read that type.</summary>
    public static ScalarType? TorchType(int onnxType) => (TensorProto.Types.DataType)onnxType switch
    {
        TensorProto.Types.DataType.Float => ScalarType.Float32,
        TensorProto.Types.DataType.Double => ScalarType.Float64,
        TensorProto.Types.DataType.Float16 => ScalarType.Float16,
        TensorProto.Types.DataType.Bfloat16 => ScalarType.BFloat16,
        TensorProto.Types.DataType.Int64 => ScalarType.Int64,
        TensorProto.Types.DataType.Int32 => ScalarType.Int32,
        TensorProto.Types.DataType.Int16 => ScalarType.Int16,
        TensorProto.Types.DataType.Int8 => ScalarType.Int8,
        TensorProto.Types.DataType.Uint8 => ScalarType.Byte,
        TensorProto.Types.DataType.Bool => ScalarType.Bool,
        _ => null,
    };

    /// <summary>The ONNX element type of a torch type.</summary>
    public static TensorProto.Types.DataType OnnxType(ScalarType type) => type switch
    {
        ScalarType.Float32 => TensorProto.Types.DataType.Float,
        ScalarType.Float64 => TensorProto.Types.DataType.Double,
        ScalarType.Float16 => TensorProto.Types.DataType.Float16,
        ScalarType.BFloat16 => TensorProto.Types.DataType.Bfloat16,
        ScalarType.Int64 => TensorProto.Types.DataType.Int64,
        ScalarType.Int32 => TensorProto.Types.DataType.Int32,
        ScalarType.Int16 => TensorProto.Types.DataType.Int16,
        ScalarType.Int8 => TensorProto.Types.DataType.Int8,
        ScalarType.Byte => TensorProto.Types.DataType.Uint8,
        ScalarType.Bool => TensorProto.Types.DataType.Bool,
        _ => throw new ArgumentException($"torch type {type} has no ONNX counterpart Reparo writes"),
    };

    /// <summary>
    /// The tensor a <c>TensorProto</c> holds. <paramref name="modelFolder"/> is where external data may live (null: external
    /// data is refused); <paramref name="source"/> names the file in errors.
    /// </summary>
    public static Tensor ToTorch(TensorProto proto, string source, string? modelFolder)
    {
        string what = $"{source}: tensor '{proto.Name}'";
        ScalarType type = TorchType(proto.DataType)
            ?? throw new ReparoInputException($"{what} has element type {(TensorProto.Types.DataType)proto.DataType}, which Reparo does not read");
        long[] shape = [.. proto.Dims];
        long count = ElementCount(shape, what);
        int size = ElementSize(type);
        if (proto.DataLocation == TensorProto.Types.DataLocation.External || proto.ExternalData.Count > 0)
            return FromBytes(ReadExternal(proto, what, modelFolder, count * size), shape, type);
        if (proto.HasRawData)
        {
            if (proto.RawData.Length != count * size)
                throw new ReparoInputException($"{what} declares {count} elements ({count * size} bytes) but holds {proto.RawData.Length} bytes");
            return FromBytes(proto.RawData.ToByteArray(), shape, type);
        }
        return FromTypedFields(proto, shape, type, count, what);
    }

    /// <summary>A <c>TensorProto</c> named <paramref name="name"/> holding <paramref name="value"/> as raw little-endian bytes.</summary>
    public static TensorProto FromTorch(Tensor value, string name)
    {
        using Tensor contiguous = value.detach().cpu().contiguous();
        var proto = new TensorProto { Name = name, DataType = (int)OnnxType(contiguous.dtype) };
        proto.Dims.AddRange(contiguous.shape);
        proto.RawData = ByteString.CopyFrom(contiguous.bytes);
        return proto;
    }

    /// <summary>The number of elements of <paramref name="shape"/>, checked: no negative dimension, no overflow, at most <see cref="MaxElements"/>.</summary>
    public static long ElementCount(IReadOnlyList<long> shape, string what)
    {
        long count = 1;
        foreach (long d in shape)
        {
            if (d < 0) throw new ReparoInputException($"{what} has a negative dimension ({d})");
            if (d != 0 && count > MaxElements / d) throw new ReparoInputException($"{what} declares more than {MaxElements} elements");
            count *= d;
        }
        return count;
    }

    private static int ElementSize(ScalarType type) => type switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        _ => 1,
    };

    private static Tensor FromBytes(byte[] bytes, long[] shape, ScalarType type)
    {
        Tensor t = empty(shape, type);
        if (bytes.Length > 0) t.bytes = bytes;
        return t;
    }

    private static Tensor FromTypedFields(TensorProto proto, long[] shape, ScalarType type, long count, string what)
    {
        void Check(int present)
        {
            if (present != count) throw new ReparoInputException($"{what} declares {count} elements but holds {present}");
        }
        switch (type)
        {
            case ScalarType.Float32:
                Check(proto.FloatData.Count);
                return tensor(proto.FloatData.ToArray(), shape);
            case ScalarType.Float64:
                Check(proto.DoubleData.Count);
                return tensor(proto.DoubleData.ToArray(), shape);
            case ScalarType.Int64:
                Check(proto.Int64Data.Count);
                return tensor(proto.Int64Data.ToArray(), shape);
            case ScalarType.Int32:
                Check(proto.Int32Data.Count);
                return tensor(proto.Int32Data.ToArray(), shape);
            case ScalarType.Int16 or ScalarType.Int8:
                Check(proto.Int32Data.Count);
                return tensor(proto.Int32Data.ToArray(), shape).to(type);
            case ScalarType.Byte:
                Check(proto.Int32Data.Count);
                return tensor(proto.Int32Data.Select(v => (byte)v).ToArray(), shape);
            case ScalarType.Bool:
                Check(proto.Int32Data.Count);
                return tensor(proto.Int32Data.Select(v => v != 0).ToArray(), shape);
            case ScalarType.Float16 or ScalarType.BFloat16:
                {
                    // ONNX stores 16-bit floats as their bit patterns in int32_data.
                    Check(proto.Int32Data.Count);
                    byte[] bytes = new byte[count * 2];
                    for (int i = 0; i < count; i++) BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), (ushort)proto.Int32Data[i]);
                    return FromBytes(bytes, shape, type);
                }
            default:
                throw new ReparoInputException($"{what} has element type {type}, which Reparo does not read");
        }
    }

    private static byte[] ReadExternal(TensorProto proto, string what, string? modelFolder, long expectedBytes)
    {
        if (modelFolder is null) throw new ReparoInputException($"{what} refers to external data, which is not allowed here");
        var entries = proto.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        if (!entries.TryGetValue("location", out string? location) || string.IsNullOrEmpty(location))
            throw new ReparoInputException($"{what} refers to external data without a location");
        string folder = Path.GetFullPath(modelFolder);
        string path = Path.GetFullPath(Path.Combine(folder, location));
        string resolved = RealPath.Of(path);
        string resolvedFolder = RealPath.Of(folder);
        if (Path.IsPathRooted(location) || !IsInside(resolved, resolvedFolder))
            throw new ReparoInputException($"{what} refers to external data '{location}' outside the model's folder {folder}");
        long offset = entries.TryGetValue("offset", out string? o) && long.TryParse(o, out long parsedOffset) ? parsedOffset : 0;
        long length = entries.TryGetValue("length", out string? l) && long.TryParse(l, out long parsedLength) ? parsedLength : expectedBytes;
        if (offset < 0 || length != expectedBytes)
            throw new ReparoInputException($"{what}: external data offset {offset}, length {length} do not match its {expectedBytes} bytes");
        var info = new FileInfo(resolved);
        if (!info.Exists) throw new ReparoInputException($"{what}: external data file {location} not found");
        if (offset > info.Length - length)
            throw new ReparoInputException($"{what}: external data needs bytes {offset}–{offset + length} but {location} has {info.Length}");
        using FileStream stream = File.OpenRead(resolved);
        stream.Seek(offset, SeekOrigin.Begin);
        byte[] bytes = new byte[length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    private static bool IsInside(string path, string folder) =>
        path.StartsWith(folder.EndsWith(Path.DirectorySeparatorChar) ? folder : folder + Path.DirectorySeparatorChar, StringComparison.Ordinal);
}
