using static TorchSharp.torch;

namespace Reparo.Reporting;

/// <summary>
/// Writes a 2-D float32 tensor as a NumPy <c>.npy</c> file (format 1.0, little-endian, C order), so step vectors and other
/// matrices can be loaded with <c>numpy.load</c> and compared against reference implementations such as scikit-learn.
/// </summary>
public static class NpyWriter
{
    /// <summary>Writes <paramref name="matrix"/> (N, D), converted to float32, to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, Tensor matrix)
    {
        if (matrix.dim() != 2) throw new ArgumentException($"expected a matrix, got shape [{string.Join(",", matrix.shape)}]", nameof(matrix));
        using Tensor values = matrix.to(ScalarType.Float32).contiguous().cpu();
        float[] data = values.data<float>().ToArray();
        string header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({matrix.shape[0]}, {matrix.shape[1]}), }}";
        int unpadded = 10 + header.Length + 1;
        header += new string(' ', (64 - unpadded % 64) % 64) + "\n";
        AtomicFile.Write(path, stream =>
        {
            using var writer = new BinaryWriter(stream, System.Text.Encoding.ASCII, leaveOpen: true);
            writer.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)1, (byte)0]);
            writer.Write((ushort)header.Length);
            writer.Write(System.Text.Encoding.ASCII.GetBytes(header));
            var bytes = new byte[data.Length * sizeof(float)];
            Buffer.BlockCopy(data, 0, bytes, 0, bytes.Length);
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("npy export assumes a little-endian machine");
            writer.Write(bytes);
        });
    }
}
