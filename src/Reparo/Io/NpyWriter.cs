using System.Text;
using static TorchSharp.torch;

namespace Reparo.Io;

/// <summary>
/// Writes tensors as NumPy <c>.npy</c> data (format 1.0, little-endian, C order), so step vectors and other arrays can be
/// loaded with <c>numpy.load</c> and compared against reference implementations such as scikit-learn, and so
/// <c>.npz</c> archives that <see cref="NpyReader"/> reads can be made without Python.
/// </summary>
public static class NpyWriter
{
    /// <summary>Writes <paramref name="matrix"/> (N, D), converted to float32, to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, Tensor matrix)
    {
        if (matrix.dim() != 2) throw new ArgumentException($"expected a matrix, got shape [{string.Join(",", matrix.shape)}]", nameof(matrix));
        using Tensor values = matrix.to(ScalarType.Float32);
        AtomicFile.Write(path, stream => Write(stream, values));
    }

    /// <summary>
    /// Writes <paramref name="array"/> (any shape; float32, float64, int64, int32 or uint8, kept as it is) as one
    /// <c>.npy</c> to <paramref name="stream"/>: the magic, a header padded to 64 bytes, the little-endian values.
    /// </summary>
    public static void Write(Stream stream, Tensor array)
    {
        string descr = array.dtype switch
        {
            ScalarType.Float32 => "<f4",
            ScalarType.Float64 => "<f8",
            ScalarType.Int64 => "<i8",
            ScalarType.Int32 => "<i4",
            ScalarType.Byte => "|u1",
            _ => throw new ArgumentException($"npy export of {array.dtype} tensors is not supported", nameof(array)),
        };
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("npy export assumes a little-endian machine");
        string shape = array.shape.Length == 1 ? $"({array.shape[0]},)" : $"({string.Join(", ", array.shape)})";
        string header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        int unpadded = 10 + header.Length + 1;
        header += new string(' ', (64 - unpadded % 64) % 64) + "\n";
        using Tensor values = array.contiguous().cpu();
        stream.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        stream.Write(BitConverter.GetBytes((ushort)header.Length));
        stream.Write(Encoding.ASCII.GetBytes(header));
        stream.Write(values.bytes);
    }
}
