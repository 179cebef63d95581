using System.Text;
using Reparo.Io;
using static TorchSharp.torch;

namespace Reparo.Tests.Io;

public class NpyWriterTests
{
    [Fact]
    public void WritesANumpyVersion1HeaderAlignedTo64BytesFollowedByLittleEndianFloats()
    {
        string path = Path.Combine(Path.GetTempPath(), $"reparo-npy-{Guid.NewGuid():N}.npy");
        try
        {
            using Tensor m = tensor(new double[] { 1, -2.5, 3, 4, 5.25, -6 }).reshape(2, 3);
            NpyWriter.Write(path, m);
            byte[] bytes = File.ReadAllBytes(path);
            Assert.Equal(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 }, bytes[..8]);
            int headerLength = BitConverter.ToUInt16(bytes, 8);
            Assert.Equal(0, (10 + headerLength) % 64);
            string header = Encoding.ASCII.GetString(bytes, 10, headerLength);
            Assert.Contains("'descr': '<f4'", header);
            Assert.Contains("'shape': (2, 3)", header);
            Assert.EndsWith("\n", header);
            var values = new float[6];
            Buffer.BlockCopy(bytes, 10 + headerLength, values, 0, 24);
            Assert.Equal(new float[] { 1, -2.5f, 3, 4, 5.25f, -6 }, values);
            Assert.Equal(10 + headerLength + 24, bytes.Length);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
