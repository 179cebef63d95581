using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace Reparo.Io;

/// <summary>The element types <see cref="NpyReader"/> reads (little-endian, or single bytes).</summary>
public enum NpyType
{
    /// <summary><c>|b1</c>: NumPy bool.</summary>
    Bool,

    /// <summary><c>|u1</c>.</summary>
    UInt8,

    /// <summary><c>|i1</c>.</summary>
    Int8,

    /// <summary><c>&lt;i2</c>.</summary>
    Int16,

    /// <summary><c>&lt;i4</c>.</summary>
    Int32,

    /// <summary><c>&lt;i8</c>.</summary>
    Int64,

    /// <summary><c>&lt;f4</c>.</summary>
    Float32,

    /// <summary><c>&lt;f8</c>.</summary>
    Float64,
}

/// <summary>One array read from a <c>.npy</c> file or <c>.npz</c> entry: its element type, shape and raw little-endian bytes.</summary>
/// <param name="Name">Where it came from, for messages (<c>data.npz:x_train</c>).</param>
/// <param name="Type">The element type.</param>
/// <param name="Shape">The shape (empty for a scalar).</param>
/// <param name="Data">The values in C order, little-endian.</param>
public sealed record NpyArray(string Name, NpyType Type, long[] Shape, byte[] Data)
{
    /// <summary>Whether the elements are integers (or bools).</summary>
    public bool IsInteger => Type is not (NpyType.Float32 or NpyType.Float64);

    /// <summary>The shape as NumPy prints it, e.g. <c>(60000, 28, 28)</c>.</summary>
    public string ShapeText => Shape.Length == 1 ? $"({Shape[0]},)" : $"({string.Join(", ", Shape)})";

    /// <summary>
    /// The values as a float32 tensor of the same shape; uint8 values are divided by 255 (so 8-bit images land in
    /// [0, 1]), other types are converted as they are. Non-finite values are a one-line error.
    /// </summary>
    public Tensor ToFloat32()
    {
        using var scope = NewDisposeScope();
        Tensor raw = Raw();
        Tensor values = Type == NpyType.UInt8 ? raw.to(ScalarType.Float32).div_(255f) : raw.to(ScalarType.Float32);
        if (!values.isfinite().all().item<bool>()) throw new ReparoInputException($"{Name}: holds NaN or infinite values");
        return values.MoveToOuterDisposeScope();
    }

    /// <summary>Integer values as int64 (for labels and indices); a floating-point array is a one-line error.</summary>
    public long[] ToInt64()
    {
        if (!IsInteger) throw new ReparoInputException($"{Name}: expected integers, found {Type.ToString().ToLowerInvariant()} values");
        using Tensor raw = Raw();
        using Tensor wide = raw.to(ScalarType.Int64);
        return wide.data<long>().ToArray();
    }

    private Tensor Raw()
    {
        ScalarType type = Type switch
        {
            NpyType.Bool => ScalarType.Bool,
            NpyType.UInt8 => ScalarType.Byte,
            NpyType.Int8 => ScalarType.Int8,
            NpyType.Int16 => ScalarType.Int16,
            NpyType.Int32 => ScalarType.Int32,
            NpyType.Int64 => ScalarType.Int64,
            NpyType.Float32 => ScalarType.Float32,
            _ => ScalarType.Float64,
        };
        Tensor result = empty(Shape, type);
        result.bytes = Data;
        return result;
    }
}

/// <summary>
/// Reads NumPy arrays: <c>.npy</c> data (format versions 1, 2 and 3) in <c>.npz</c> archives (what
/// <c>numpy.savez</c> and <c>numpy.savez_compressed</c> write: a zip of <c>.npy</c> entries). Only C-order arrays of
/// the <see cref="NpyType"/> element types are read; big-endian, object (pickled), string and structured arrays are a
/// one-line error. Every size is checked before anything is allocated: the shape times the item size must equal the
/// bytes present and stay under a limit, and a zip entry is read up to its declared size and no further.
/// </summary>
public static partial class NpyReader
{
    /// <summary>The most bytes one array may hold (1 GiB).</summary>
    public const long DefaultMaxBytes = 1L << 30;

    private const int MaxHeaderLength = 100_000;

    /// <summary>
    /// Reads every <c>.npy</c> entry of the archive at <paramref name="path"/>, keyed by name without <c>.npy</c>.
    /// </summary>
    /// <param name="path">The <c>.npz</c> file.</param>
    /// <param name="maxBytes">The most bytes one array may hold.</param>
    public static IReadOnlyDictionary<string, NpyArray> ReadNpz(string path, long maxBytes = DefaultMaxBytes)
    {
        if (!File.Exists(path)) throw new ReparoInputException($"{path}: file not found");
        var arrays = new Dictionary<string, NpyArray>(StringComparer.Ordinal);
        try
        {
            using var archive = new ZipArchive(File.OpenRead(path), ZipArchiveMode.Read);
            foreach (ZipArchiveEntry entry in archive.Entries)
            {
                if (!entry.FullName.EndsWith(".npy", StringComparison.Ordinal)) continue;
                string key = entry.FullName[..^4];
                string name = $"{path}:{key}";
                if (entry.Length > maxBytes + MaxHeaderLength + 12)
                    throw new ReparoInputException($"{name}: {entry.Length} bytes uncompressed, more than the limit of {maxBytes}");
                using Stream stream = entry.Open();
                NpyArray array = Read(stream, name, maxBytes, entry.Length);
                if (!arrays.TryAdd(key, array)) throw new ReparoInputException($"{path}: the array '{key}' appears twice");
            }
        }
        catch (InvalidDataException e)
        {
            throw new ReparoInputException($"{path}: not a readable .npz (zip) archive ({FirstLine(e.Message)})");
        }
        if (arrays.Count == 0) throw new ReparoInputException($"{path}: no .npy arrays in the archive");
        return arrays;
    }

    /// <summary>
    /// Reads one array from <paramref name="stream"/>: the header, then exactly the bytes its shape declares, which must
    /// be all <paramref name="declaredLength"/> bytes of the stream (when known).
    /// </summary>
    /// <param name="stream">The <c>.npy</c> bytes.</param>
    /// <param name="name">The array's name in messages.</param>
    /// <param name="maxBytes">The most bytes the array may hold.</param>
    /// <param name="declaredLength">The stream's length as its container declares it, or null when unknown.</param>
    public static NpyArray Read(Stream stream, string name, long maxBytes, long? declaredLength)
    {
        byte[] preamble = new byte[8];
        if (!Fill(stream, preamble) || preamble[0] != 0x93 || Encoding.ASCII.GetString(preamble, 1, 5) != "NUMPY")
            throw new ReparoInputException($"{name}: not a NumPy .npy array (bad magic)");
        int major = preamble[6];
        if (major is < 1 or > 3) throw new ReparoInputException($"{name}: unsupported .npy format version {major}.{preamble[7]}");
        byte[] lengthBytes = new byte[major == 1 ? 2 : 4];
        if (!Fill(stream, lengthBytes)) throw new ReparoInputException($"{name}: truncated .npy header");
        long headerLength = major == 1 ? BitConverter.ToUInt16(lengthBytes) : BitConverter.ToUInt32(lengthBytes);
        if (headerLength > MaxHeaderLength) throw new ReparoInputException($"{name}: .npy header of {headerLength} bytes is implausibly long");
        byte[] headerBytes = new byte[headerLength];
        if (!Fill(stream, headerBytes)) throw new ReparoInputException($"{name}: truncated .npy header");
        string header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(headerBytes);
        (NpyType type, int itemSize, long[] shape) = ParseHeader(header, name);

        long count = 1;
        try
        {
            foreach (long d in shape) count = checked(count * d);
        }
        catch (OverflowException)
        {
            throw new ReparoInputException($"{name}: shape ({string.Join(", ", shape)}) is too large");
        }
        long bytes = count > maxBytes / itemSize ? long.MaxValue : count * itemSize;
        if (bytes > maxBytes || bytes > Array.MaxLength)
            throw new ReparoInputException($"{name}: shape ({string.Join(", ", shape)}) needs more than the limit of {maxBytes} bytes");
        long expected = preamble.Length + lengthBytes.Length + headerLength + bytes;
        if (declaredLength is long declared && declared != expected)
            throw new ReparoInputException($"{name}: shape ({string.Join(", ", shape)}) of {TypeText(type)} needs {bytes} data bytes, but {declared - (expected - bytes)} are present");
        byte[] data = new byte[bytes];
        if (!Fill(stream, data)) throw new ReparoInputException($"{name}: truncated: shape ({string.Join(", ", shape)}) needs {bytes} data bytes");
        if (stream.ReadByte() >= 0) throw new ReparoInputException($"{name}: more data than shape ({string.Join(", ", shape)}) of {TypeText(type)} declares");
        return new NpyArray(name, type, shape, data);
    }

    private static (NpyType Type, int ItemSize, long[] Shape) ParseHeader(string header, string name)
    {
        Match descr = DescrPattern().Match(header);
        if (!descr.Success) throw new ReparoInputException($"{name}: structured or unreadable dtype in the .npy header; save a plain numeric array");
        Match fortran = FortranPattern().Match(header);
        if (!fortran.Success) throw new ReparoInputException($"{name}: the .npy header lacks fortran_order");
        if (fortran.Groups[1].Value == "True") throw new ReparoInputException($"{name}: Fortran-order arrays are not supported; save numpy.ascontiguousarray(a)");
        Match shapeMatch = ShapePattern().Match(header);
        if (!shapeMatch.Success) throw new ReparoInputException($"{name}: the .npy header lacks a shape");
        string[] dims = shapeMatch.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var shape = new long[dims.Length];
        for (int i = 0; i < dims.Length; i++)
        {
            if (!long.TryParse(dims[i], NumberStyles.None, CultureInfo.InvariantCulture, out shape[i]))
                throw new ReparoInputException($"{name}: bad shape ({shapeMatch.Groups[1].Value}) in the .npy header");
        }
        string code = descr.Groups[1].Value;
        if (code.Length >= 2 && code[0] == '>' && code[1..] is not ("u1" or "i1" or "b1"))
            throw new ReparoInputException($"{name}: big-endian dtype '{code}' is not supported; save a.astype('<{code[1..]}')");
        if (code.Length >= 2 && code[1] == 'O') throw new ReparoInputException($"{name}: object arrays (pickled Python objects) are not read; save a numeric array");
        (NpyType, int) type = (code.Length >= 2 ? code[1..] : code) switch
        {
            "b1" => (NpyType.Bool, 1),
            "u1" => (NpyType.UInt8, 1),
            "i1" => (NpyType.Int8, 1),
            "i2" => (NpyType.Int16, 2),
            "i4" => (NpyType.Int32, 4),
            "i8" => (NpyType.Int64, 8),
            "f4" => (NpyType.Float32, 4),
            "f8" => (NpyType.Float64, 8),
            _ => throw new ReparoInputException($"{name}: dtype '{code}' is not supported; use float32, float64, uint8 or an integer type"),
        };
        return (type.Item1, type.Item2, shape);
    }

    private static string TypeText(NpyType type) => type.ToString().ToLowerInvariant();

    private static bool Fill(Stream stream, byte[] buffer)
    {
        int read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        return read == buffer.Length;
    }

    private static string FirstLine(string text) => text.Split('\n')[0].Trim();

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrPattern();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranPattern();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
