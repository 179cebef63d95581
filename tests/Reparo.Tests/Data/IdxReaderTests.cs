using System.IO.Compression;
using Reparo.Data;

namespace Reparo.Tests.Data;

public class IdxReaderTests
{
    private static byte[] Images(int count, int rows, int cols, byte magicType = 0x08, int rank = 3)
    {
        var bytes = new List<byte> { 0, 0, magicType, (byte)rank };
        foreach (int d in new[] { count, rows, cols }.Take(rank)) bytes.AddRange(BitConverter.GetBytes(d).Reverse());
        for (int i = 0; i < count * rows * cols; i++) bytes.Add((byte)(i % 251));
        return bytes.ToArray();
    }

    private static byte[] Labels(params byte[] labels)
    {
        var bytes = new List<byte> { 0, 0, 8, 1 };
        bytes.AddRange(BitConverter.GetBytes(labels.Length).Reverse());
        bytes.AddRange(labels);
        return bytes.ToArray();
    }

    [Fact]
    public void GzipInputIsInflatedNoFurtherThanTheHeaderDeclares()
    {
        // A header declaring 1×2×2 images followed by 64 MiB of zeros, compressed to a few tens of KiB: the read stops
        // after the declared 4 bytes and one more, and reports trailing data instead of inflating everything.
        using var dir = TestSupport.TempFolder();
        byte[] header = Images(1, 2, 2);
        using (var gz = new GZipStream(File.Create(dir.File("bomb.gz")), CompressionLevel.SmallestSize))
        {
            gz.Write(header);
            var zeros = new byte[1 << 20];
            for (int i = 0; i < 64; i++) gz.Write(zeros);
        }
        Assert.True(new FileInfo(dir.File("bomb.gz")).Length < 1 << 20);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var error = Assert.Throws<ReparoInputException>(() => IdxReader.ReadImages(dir.File("bomb.gz")));
        Assert.Contains("unexpected bytes after the 4 bytes", error.Message);
        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before < 16 << 20, "the reader inflated far beyond the declared size");
    }

    [Fact]
    public void DeclaredSizesBeyondWhatAnArrayHoldsAreRefused()
    {
        using var dir = TestSupport.TempFolder();
        var bytes = new List<byte> { 0, 0, 8, 3 };
        foreach (int d in new[] { 60000, 60000, 60000 }) bytes.AddRange(BitConverter.GetBytes(d).Reverse());
        File.WriteAllBytes(dir.File("huge"), [.. bytes]);
        Assert.Contains("declares more than", Assert.Throws<ReparoInputException>(() => IdxReader.ReadImages(dir.File("huge"))).Message);
    }

    [Fact]
    public void ReadsRawAndGzipFiles()
    {
        using var dir = TestSupport.TempFolder();
        byte[] raw = Images(3, 4, 5);
        File.WriteAllBytes(dir.File("raw"), raw);
        using (var gz = new GZipStream(File.Create(dir.File("packed.gz")), CompressionLevel.Fastest)) gz.Write(raw);
        foreach (string name in new[] { "raw", "packed.gz" })
        {
            IdxReader.IdxArray array = IdxReader.ReadImages(dir.File(name));
            Assert.Equal([3, 4, 5], array.Dimensions);
            Assert.Equal(60, array.Data.Length);
            Assert.Equal(59, array.Data[59]);
        }
    }

    [Fact]
    public void WrongMagicNumberIsNamed()
    {
        using var dir = TestSupport.TempFolder();
        byte[] bytes = Images(2, 2, 2);
        bytes[0] = 7;
        File.WriteAllBytes(dir.File("bad"), bytes);
        var e = Assert.Throws<ReparoInputException>(() => IdxReader.ReadImages(dir.File("bad")));
        Assert.Contains("wrong magic number", e.Message);
        Assert.Contains(dir.File("bad"), e.Message);
    }

    [Fact]
    public void WrongRankAndElementTypeAreRejected()
    {
        using var dir = TestSupport.TempFolder();
        File.WriteAllBytes(dir.File("labels-as-images"), Labels(1, 2));
        Assert.Contains("has 1 dimensions, expected 3", Assert.Throws<ReparoInputException>(() => IdxReader.ReadImages(dir.File("labels-as-images"))).Message);
        File.WriteAllBytes(dir.File("floats"), Images(1, 2, 2, magicType: 0x0d));
        Assert.Contains("element type 0x0d", Assert.Throws<ReparoInputException>(() => IdxReader.ReadImages(dir.File("floats"))).Message);
    }

    [Fact]
    public void TruncatedFileIsRejected()
    {
        using var dir = TestSupport.TempFolder();
        byte[] bytes = Images(4, 3, 3);
        File.WriteAllBytes(dir.File("short"), bytes[..^5]);
        Assert.Contains("truncated", Assert.Throws<ReparoInputException>(() => IdxReader.ReadImages(dir.File("short"))).Message);
        File.WriteAllBytes(dir.File("header"), bytes[..7]);
        Assert.Contains("truncated IDX header", Assert.Throws<ReparoInputException>(() => IdxReader.ReadImages(dir.File("header"))).Message);
        File.WriteAllBytes(dir.File("long"), [.. bytes, 1, 2]);
        Assert.Contains("unexpected bytes after", Assert.Throws<ReparoInputException>(() => IdxReader.ReadImages(dir.File("long"))).Message);
    }

    [Fact]
    public void CorruptGzipIsRejected()
    {
        using var dir = TestSupport.TempFolder();
        File.WriteAllBytes(dir.File("broken.gz"), [0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7]);
        Assert.Contains("corrupt gzip", Assert.Throws<ReparoInputException>(() => IdxReader.ReadImages(dir.File("broken.gz"))).Message);
    }

    [Fact]
    public void LabelCountMismatchAndOutOfRangeLabelsAreRejected()
    {
        using var dir = TestSupport.TempFolder();
        File.WriteAllBytes(dir.File("labels"), Labels(1, 2, 3));
        Assert.Equal([1, 2, 3], IdxReader.ReadLabels(dir.File("labels"), 3, 10));
        Assert.Contains("holds 3 labels but the image file holds 4 images",
            Assert.Throws<ReparoInputException>(() => IdxReader.ReadLabels(dir.File("labels"), 4, 10)).Message);
        Assert.Contains("label 3 at item 2", Assert.Throws<ReparoInputException>(() => IdxReader.ReadLabels(dir.File("labels"), 3, 3)).Message);
    }

    [Fact]
    public void MissingFileIsNamed()
    {
        Assert.Contains("file not found", Assert.Throws<ReparoInputException>(() => IdxReader.ReadImages("/no/such/file.gz")).Message);
    }
}
