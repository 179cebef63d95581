using Reparo.Io;

using static TorchSharp.torch;

namespace Reparo.Reporting;

/// <summary>Lays out images (N, C, H, W) in [0, 1] as a grid and writes it as a PNG: three channels in colour, others as the first channel in grey.</summary>
public static class ImageGrid
{
    /// <summary>Writes up to <paramref name="columns"/> images per row, each scaled by <paramref name="scale"/>, with a 1-pixel gap.</summary>
    public static void Write(string path, Tensor images, int columns = 10, int scale = 2)
    {
        byte[] png = Encode(images, columns, scale);
        AtomicFile.WriteAllBytes(path, png);
    }

    /// <summary>The PNG bytes of the grid <see cref="Write"/> draws.</summary>
    public static byte[] Encode(Tensor images, int columns = 10, int scale = 2)
    {
        if (images.shape.Length != 4) throw new ReparoInputException($"an image grid needs (N, C, H, W) images, got [{string.Join(",", images.shape)}]");
        int n = (int)images.shape[0], h = (int)images.shape[2], w = (int)images.shape[3];
        if (n == 0) throw new ReparoInputException("no images to draw");
        columns = Math.Min(columns, n);
        int rows = (n + columns - 1) / columns;
        int cellW = w * scale + 1, cellH = h * scale + 1;
        int width = columns * cellW + 1, height = rows * cellH + 1;
        // (N, 3, H, W): red, green, blue; anything else: the first channel as grey in all three.
        Tensor planes = images.shape[1] == 3 ? images : images.narrow(1, 0, 1).expand(n, 3, h, w);
        float[] pixels = planes.contiguous().to(ScalarType.Float32).data<float>().ToArray();
        var rgb = new byte[width * height * 3];
        Array.Fill(rgb, (byte)96);
        for (int i = 0; i < n; i++)
        {
            int ox = 1 + i % columns * cellW, oy = 1 + i / columns * cellH;
            for (int y = 0; y < h * scale; y++)
                for (int x = 0; x < w * scale; x++)
                    for (int c = 0; c < 3; c++)
                    {
                        float v = pixels[((i * 3 + c) * h + y / scale) * w + x / scale];
                        rgb[((oy + y) * width + ox + x) * 3 + c] = (byte)Math.Clamp(Math.Round(v * 255), 0, 255);
                    }
        }
        return PngWriter.EncodeRgb(width, height, rgb);
    }
}
