using Reparo.Io;

using static TorchSharp.torch;

namespace Reparo.Reporting;

/// <summary>Lays out grey images (N, 1, H, W) in [0, 1] as a grid and writes it as a PNG.</summary>
public static class ImageGrid
{
    /// <summary>Writes up to <paramref name="columns"/> images per row, each scaled by <paramref name="scale"/>, with a 1-pixel gap.</summary>
    public static void Write(string path, Tensor images, int columns = 10, int scale = 2)
    {
        if (images.shape.Length != 4) throw new ReparoInputException($"an image grid needs (N, C, H, W) images, got [{string.Join(",", images.shape)}]");
        int n = (int)images.shape[0], h = (int)images.shape[2], w = (int)images.shape[3];
        if (n == 0) throw new ReparoInputException("no images to draw");
        columns = Math.Min(columns, n);
        int rows = (n + columns - 1) / columns;
        int cellW = w * scale + 1, cellH = h * scale + 1;
        int width = columns * cellW + 1, height = rows * cellH + 1;
        float[] pixels = images.select(1, 0).contiguous().to(ScalarType.Float32).data<float>().ToArray();
        var rgb = new byte[width * height * 3];
        Array.Fill(rgb, (byte)96);
        for (int i = 0; i < n; i++)
        {
            int ox = 1 + i % columns * cellW, oy = 1 + i / columns * cellH;
            for (int y = 0; y < h * scale; y++)
                for (int x = 0; x < w * scale; x++)
                {
                    byte v = (byte)Math.Clamp(Math.Round(pixels[(i * h + y / scale) * w + x / scale] * 255), 0, 255);
                    int at = ((oy + y) * width + ox + x) * 3;
                    rgb[at] = rgb[at + 1] = rgb[at + 2] = v;
                }
        }
        PngWriter.WriteRgb(path, width, height, rgb);
    }
}
