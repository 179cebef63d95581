using System.Security.Cryptography;
using Reparo.Data;
using SkiaSharp;

namespace Reparo.Tests.Data;

/// <summary>torchvision's Resize (Pillow's bilinear) and CenterCrop on decoded images, and folder data read through them.</summary>
public class ImageResizingTests
{
    public ImageResizingTests() => TestSupport.Init();

    /// <summary>Input byte i of scripts/pillow_resize_reference.py: ((i · 2654435761) mod 2³²) >> 24.</summary>
    private static byte[] Pattern(int count) => Enumerable.Range(0, count).Select(i => (byte)((uint)((ulong)i * 2654435761UL % (1UL << 32)) >> 24)).ToArray();

    /// <summary>
    /// The digests Pillow 9.4.0 (Debian 12's python3-pil) prints for <c>Image.resize((W, H), Image.BILINEAR)</c>, the call
    /// torchvision's Resize makes on a PIL image: scripts/pillow_resize_reference.py. Down by non-integer factors, up,
    /// one direction only, and one gray channel.
    /// </summary>
    [Theory]
    [InlineData(3, 37, 53, 24, 34, "25bd3287e9a59d50a93b0cac0224c605605023b0650112993c07738ec9bdbd16")]
    [InlineData(3, 37, 53, 100, 143, "771e92acb6c0b1f296b9a034e310af4add7415b34b99a3986725efc7097a7418")]
    [InlineData(3, 37, 53, 16, 20, "8218dde98f73aac020458eff1563f1ddaa9924fbab72390459d1a509c51b08eb")]
    [InlineData(3, 37, 53, 37, 20, "62483bc231462330ef342d9aff18cdca37dd29778abcbd335376fde0b1ce56e4")]
    [InlineData(3, 37, 53, 50, 53, "4511c836f942b5b70700483559b57f476061ff113d15070ebd99a7f4ba769aee")]
    [InlineData(1, 64, 48, 7, 5, "4f64a71e6add5d79712836187caa509403c6d222bad8e848c610146c6fddb27e")]
    [InlineData(3, 300, 200, 224, 149, "d949dd6d467ddd65c0f34774236df79c3491b1628df37902a2c412fae5bc2bb0")]
    public void TheResizeGivesPillowsBytes(int channels, int height, int width, int outHeight, int outWidth, string sha256)
    {
        var resizing = new ImageResizing(new ImageSize(outHeight, outWidth), null);
        byte[] output = resizing.Apply(Pattern(height * width * channels), height, width, channels);
        Assert.Equal(outHeight * outWidth * channels, output.Length);
        Assert.Equal(sha256, Convert.ToHexStringLower(SHA256.HashData(output)));
    }

    /// <summary>
    /// A JPEG Pillow wrote (Fixtures/pillow-reference.jpg, 4:2:0) read from a folder gives the bytes Pillow decodes, at
    /// its size and resized: the digests scripts/pillow_resize_reference.py prints with Debian 12's Pillow 9.4.0.
    /// </summary>
    [Theory]
    [InlineData(20, 24, "fa527cd186ef7a4f92ded87863675630faf73d99ee98c98edd2c5a72bee8a083")]
    [InlineData(11, 13, "fb2d1d511d8acb54b8837381545f2a3d8323e42d48723084f7809ab51997ef32")]
    public void AJpegInAFolderGivesPillowsBytes(int height, int width, string sha256)
    {
        using var dir = TestSupport.TempFolder();
        string jpeg = Path.Combine(AppContext.BaseDirectory, "Fixtures", "pillow-reference.jpg");
        foreach (string part in new[] { "train", "test" })
        {
            foreach (string label in new[] { "a", "b" })
            {
                Directory.CreateDirectory(Path.Combine(dir.Path, part, label));
                File.Copy(jpeg, Path.Combine(dir.Path, part, label, "0.jpg"));
            }
        }
        ImageResizing? resizing = height == 20 ? null : new ImageResizing(new ImageSize(height, width), null);
        DataSplits splits = DataCatalog.Load($"folder:{dir.Path}", new DataOptions { ImageResizing = resizing });
        byte[] pixels = splits.Test.X[0].permute(1, 2, 0).mul(255f).round().to(TorchSharp.torch.ScalarType.Byte).flatten().data<byte>().ToArray();
        Assert.Equal(height * width * 3, pixels.Length);
        Assert.Equal(sha256, Convert.ToHexStringLower(SHA256.HashData(pixels)));
    }

    [Fact]
    public void OneNumberSetsTheShorterSideAndTheLongerIsTruncatedAsTorchvisionDoes()
    {
        var resize = new ImageResizing(new ImageSize(24), null);
        Assert.Equal((24, 34), resize.OutputSize(37, 53));
        Assert.Equal((34, 24), resize.OutputSize(53, 37));
        Assert.Equal((24, 24), resize.OutputSize(10, 10));
        Assert.Equal((224, 224), new ImageResizing(new ImageSize(256), new ImageSize(224)).OutputSize(375, 500));
        Assert.Equal((20, 30), new ImageResizing(null, new ImageSize(20, 30)).OutputSize(5, 5));
        byte[] same = Pattern(37 * 53 * 3);
        Assert.Equal(same, new ImageResizing(new ImageSize(37), null).Apply(same, 37, 53, 3));
    }

    [Fact]
    public void TheCropTakesTheCentreRoundingHalfToEvenAndPadsASmallerImageWithZeros()
    {
        byte[] image = Enumerable.Range(1, 20).Select(i => (byte)i).ToArray(); // 5 rows × 4 columns, one channel
        // (5 − 3) / 2 = 1 row down; (4 − 3) / 2 = 0.5 rounds to 0 columns.
        Assert.Equal([5, 6, 7, 9, 10, 11, 13, 14, 15], new ImageResizing(null, new ImageSize(3)).Apply(image, 5, 4, 1));
        // (5 − 2) / 2 = 1.5 rounds to 2 rows, (4 − 1) / 2 = 1.5 to 2 columns.
        Assert.Equal([11, 15], new ImageResizing(null, new ImageSize(2, 1)).Apply(image, 5, 4, 1));
        // A 2 × 3 image in a 5 × 4 crop: 1 row above, 2 below, 0 columns left, 1 right.
        byte[] small = [1, 2, 3, 4, 5, 6];
        Assert.Equal([0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0], new ImageResizing(null, new ImageSize(5, 4)).Apply(small, 2, 3, 1));
        // Wider in one side, narrower in the other: 6 columns cut to 2 (offset 2), 1 row padded to 3 (1 above).
        byte[] strip = [1, 2, 3, 4, 5, 6];
        Assert.Equal([0, 0, 3, 4, 0, 0], new ImageResizing(null, new ImageSize(3, 2)).Apply(strip, 1, 6, 1));
    }

    [Theory]
    [InlineData("0", "--resize '0'")]
    [InlineData("224x", "--resize '224x'")]
    [InlineData("1x2x3", "--resize '1x2x3'")]
    [InlineData("-5", "--resize '-5'")]
    [InlineData("99999", "--resize '99999'")]
    public void ABadSizeIsOneLine(string text, string expected) =>
        Assert.StartsWith(expected, Assert.Throws<ReparoInputException>(() => ImageResizing.Parse(text, null)).Message);

    [Fact]
    public void AFolderOfMixedSizesIsRefusedWithTheOptionsNamedAndReadsThroughThem()
    {
        using var dir = TestSupport.TempFolder();
        string root = Path.Combine(dir.Path, "photos");
        var sizes = new[] { (12, 9), (9, 16), (20, 20) };
        foreach (string part in new[] { "train", "test" })
        {
            for (int i = 0; i < sizes.Length; i++)
            {
                (int w, int h) = sizes[i];
                UserDataFiles.Image(Path.Combine(root, part, "cat", $"{i}.png"), w, h, (x, y) => new SKColor((byte)(20 * x), (byte)(10 * y), (byte)(x * y)));
                UserDataFiles.Image(Path.Combine(root, part, "dog", $"{i}.png"), w, h, (x, y) => new SKColor((byte)(255 - 10 * x), 40, (byte)(7 * y)));
            }
        }
        string mixed = Assert.Throws<ReparoInputException>(() => DataCatalog.Load($"folder:{root}")).Message;
        Assert.Contains("every image must have the same size", mixed);
        Assert.Contains("--resize 256 --center-crop 224", mixed);
        string aspect = Assert.Throws<ReparoInputException>(() => DataCatalog.Load($"folder:{root}", new DataOptions { ImageResizing = new ImageResizing(new ImageSize(8), null) })).Message;
        Assert.Contains("resize 8 makes it", aspect);

        var resizing = new ImageResizing(new ImageSize(8), new ImageSize(6, 7));
        DataSplits splits = DataCatalog.Load($"folder:{root}", new DataOptions { ImageResizing = resizing, ValidationFraction = 0.5 });
        Assert.Equal([3L, 6, 7], splits.Test.SampleShape);
        Assert.Equal(resizing, splits.ImageResizing);
        // The second test image (9 wide, 16 high) as the resizing makes it from its decoded bytes, ÷ 255, channels first.
        (int width, int height) = sizes[1];
        byte[] decoded = new byte[height * width * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) decoded[3 * (y * width + x)] = (byte)(20 * x);
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                decoded[3 * (y * width + x) + 1] = (byte)(10 * y);
                decoded[3 * (y * width + x) + 2] = (byte)(x * y);
            }
        }
        byte[] expected = resizing.Apply(decoded, height, width, 3);
        float[] red = splits.Test.X[1, 0].flatten().data<float>().ToArray();
        Assert.Equal(Enumerable.Range(0, 42).Select(p => expected[3 * p] / 255f), red);
        Assert.Contains("not fashion-mnist", Assert.Throws<ReparoInputException>(() => DataCatalog.Load("fashion-mnist", new DataOptions { ImageResizing = resizing })).Message);
    }
}
