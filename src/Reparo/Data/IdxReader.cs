using System.IO.Compression;

namespace Reparo.Data;

/// <summary>
/// Reads IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or raw. Every defect (wrong magic number,
/// unsupported element type, bad dimensions, a count that disagrees with the expectation, truncation, trailing
/// bytes) raises a <see cref="ReparoInputException"/> that names the file.
/// </summary>
public static class IdxReader
{
    private const byte UnsignedByteType = 0x08;

    /// <summary>An IDX file's dimensions and its unsigned-byte payload.</summary>
    /// <param name="Dimensions">Size of each dimension, outermost first.</param>
    /// <param name="Data">The elements in row-major order.</param>
    public sealed record IdxArray(int[] Dimensions, byte[] Data);

    /// <summary>
    /// Reads an IDX file of unsigned bytes with exactly <paramref name="expectedRank"/> dimensions. Gzip input is inflated
    /// only as far as the header's declared size plus one byte (to detect trailing data), so a small compressed file
    /// cannot make it allocate more than its header promises.
    /// </summary>
    public static IdxArray Read(string path, int expectedRank)
    {
        if (!File.Exists(path)) throw new ReparoInputException($"{path}: file not found");
        byte[] bytes;
        try
        {
            using Stream file = File.OpenRead(path);
            using Stream input = IsGzip(path) ? new GZipStream(file, CompressionMode.Decompress) : file;
            bytes = ReadBounded(input);
        }
        catch (InvalidDataException e)
        {
            throw new ReparoInputException($"{path}: corrupt gzip stream ({e.Message})");
        }
        return Parse(bytes, path, expectedRank);
    }

    /// <summary>The header, then at most the declared payload and one byte more; <see cref="Parse"/> judges what came.</summary>
    private static byte[] ReadBounded(Stream input)
    {
        using var output = new MemoryStream();
        var head = new byte[4];
        int got = input.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        output.Write(head, 0, got);
        if (got < 4) return output.ToArray();
        var dims = new byte[4 * head[3]];
        got = input.ReadAtLeast(dims, dims.Length, throwOnEndOfStream: false);
        output.Write(dims, 0, got);
        if (got < dims.Length) return output.ToArray();
        long declared = 1;
        for (int d = 0; d < head[3] && declared <= int.MaxValue; d++)
            declared *= (uint)(dims[4 * d] << 24 | dims[4 * d + 1] << 16 | dims[4 * d + 2] << 8 | dims[4 * d + 3]);
        long limit = Math.Min(declared, int.MaxValue - 64L) + 1;
        var buffer = new byte[81920];
        while (limit > 0)
        {
            int read = input.Read(buffer, 0, (int)Math.Min(buffer.Length, limit));
            if (read == 0) break;
            output.Write(buffer, 0, read);
            limit -= read;
        }
        return output.ToArray();
    }

    /// <summary>Reads an image file (rank 3: count × rows × columns).</summary>
    public static IdxArray ReadImages(string path) => Read(path, 3);

    /// <summary>Reads a label file (rank 1) and checks that it holds <paramref name="expectedCount"/> labels below <paramref name="classCount"/>.</summary>
    public static byte[] ReadLabels(string path, int expectedCount, int classCount)
    {
        IdxArray labels = Read(path, 1);
        if (labels.Dimensions[0] != expectedCount)
            throw new ReparoInputException($"{path}: holds {labels.Dimensions[0]} labels but the image file holds {expectedCount} images");
        for (int i = 0; i < labels.Data.Length; i++)
        {
            if (labels.Data[i] >= classCount)
                throw new ReparoInputException($"{path}: label {labels.Data[i]} at item {i} is not below the class count {classCount}");
        }
        return labels.Data;
    }

    internal static IdxArray Parse(byte[] bytes, string path, int expectedRank)
    {
        if (bytes.Length < 4) throw new ReparoInputException($"{path}: truncated IDX header ({bytes.Length} bytes)");
        if (bytes[0] != 0 || bytes[1] != 0)
            throw new ReparoInputException($"{path}: wrong magic number 0x{bytes[0]:x2}{bytes[1]:x2}{bytes[2]:x2}{bytes[3]:x2} (an IDX file starts with two zero bytes)");
        if (bytes[2] != UnsignedByteType)
            throw new ReparoInputException($"{path}: element type 0x{bytes[2]:x2} is not supported (expected unsigned bytes, 0x08)");
        int rank = bytes[3];
        if (rank != expectedRank)
            throw new ReparoInputException($"{path}: has {rank} dimensions, expected {expectedRank} (magic number 0x0000{UnsignedByteType:x2}{expectedRank:x2})");
        int headerLength = 4 + 4 * rank;
        if (bytes.Length < headerLength) throw new ReparoInputException($"{path}: truncated IDX header ({bytes.Length} of {headerLength} bytes)");
        var dims = new int[rank];
        long total = 1;
        for (int d = 0; d < rank; d++)
        {
            int offset = 4 + 4 * d;
            uint size = (uint)(bytes[offset] << 24 | bytes[offset + 1] << 16 | bytes[offset + 2] << 8 | bytes[offset + 3]);
            if (size == 0 || size > int.MaxValue) throw new ReparoInputException($"{path}: dimension {d} has invalid size {size}");
            dims[d] = (int)size;
            total *= size;
            if (total > int.MaxValue - headerLength) throw new ReparoInputException($"{path}: declares more than {int.MaxValue - headerLength} bytes of data");
        }
        long payload = bytes.Length - headerLength;
        if (payload < total)
            throw new ReparoInputException($"{path}: truncated: header promises {total} bytes of data for [{string.Join("x", dims)}], file has {payload}");
        if (payload > total)
            throw new ReparoInputException($"{path}: unexpected bytes after the {total} bytes of data for [{string.Join("x", dims)}]");
        var data = new byte[total];
        Buffer.BlockCopy(bytes, headerLength, data, 0, (int)total);
        return new IdxArray(dims, data);
    }

    private static bool IsGzip(string path)
    {
        using var stream = File.OpenRead(path);
        return stream.ReadByte() == 0x1f && stream.ReadByte() == 0x8b;
    }
}
