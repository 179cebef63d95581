using Reparo.Io;

using static TorchSharp.torch;

namespace Reparo.Reporting;

/// <summary>
/// Draws an attribution next to its input as a PNG: the input in grey on the left, the attribution on the right in a
/// diverging colour map (red positive, white zero, blue negative, scaled by the largest |value|).
/// </summary>
public static class Heatmap
{
    private const int Margin = 4;
    private const int Cell = 12;
    private const byte Background = 96;

    /// <summary>
    /// Writes the heatmap of one sample. <paramref name="input"/> is the sample without its batch dimension: an image
    /// (C, H, W) or a feature vector. <paramref name="attribution"/> is its attribution without the batch dimension:
    /// shaped like the image (channels are summed), a conv-layer output (C, h, w) (channels summed, upsampled nearest
    /// to the image's size), or anything else, drawn as a strip of cells (row-major, wrapped to the panel's width).
    /// </summary>
    public static void Write(string path, Tensor input, Tensor attribution)
    {
        byte[] png = Encode(input, attribution);
        AtomicFile.WriteAllBytes(path, png);
    }

    /// <summary>The PNG bytes of the heatmap <see cref="Write"/> draws.</summary>
    public static byte[] Encode(Tensor input, Tensor attribution)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor a = attribution.detach().to(ScalarType.Float64);
        Tensor x = input.detach();
        bool image = x.shape.Length == 3 && x.is_floating_point();
        Panel left, right;
        if (image)
        {
            int h = (int)x.shape[1], w = (int)x.shape[2];
            int scale = Math.Max(1, 224 / Math.Max(h, w));
            left = GreyImage(x.to(ScalarType.Float64).mean([0]), scale);
            if (a.shape.SequenceEqual(x.shape) || a.shape.Length == 3) right = Spatial(a.sum([0]), h, w, scale);
            else right = Strip(a.flatten(), left.Width, Diverging);
        }
        else
        {
            Tensor features = x.to(ScalarType.Float64).flatten();
            double max = Math.Max(features.abs().max().item<double>(), 1e-12);
            left = Strip(features, 224, v => Grey(0.5 + 0.5 * v / max), scaleByMax: false);
            right = Strip(a.flatten(), 224, Diverging);
        }
        int width = Margin + left.Width + Margin + right.Width + Margin;
        int height = Margin + Math.Max(left.Height, right.Height) + Margin;
        var rgb = new byte[width * height * 3];
        Array.Fill(rgb, Background);
        left.DrawInto(rgb, width, Margin, Margin);
        right.DrawInto(rgb, width, Margin + left.Width + Margin, Margin);
        return PngWriter.EncodeRgb(width, height, rgb);
    }

    /// <summary>The diverging colour of <paramref name="v"/> ∈ [−1, 1]: white at 0, red towards +1, blue towards −1.</summary>
    public static (byte R, byte G, byte B) Diverging(double v)
    {
        if (double.IsNaN(v)) return (0, 0, 0);
        v = Math.Clamp(v, -1, 1);
        byte fade = (byte)Math.Round(255 * (1 - Math.Abs(v)));
        return v >= 0 ? ((byte)255, fade, fade) : (fade, fade, (byte)255);
    }

    private static (byte R, byte G, byte B) Grey(double v)
    {
        byte g = (byte)Math.Clamp(Math.Round(v * 255), 0, 255);
        return (g, g, g);
    }

    private static Panel GreyImage(Tensor grey, int scale)
    {
        int h = (int)grey.shape[0], w = (int)grey.shape[1];
        double[] values = grey.contiguous().data<double>().ToArray();
        return new Panel(w * scale, h * scale, (px, py) => Grey(values[py / scale * w + px / scale]));
    }

    private static Panel Spatial(Tensor map, int height, int width, int scale)
    {
        int h = (int)map.shape[0], w = (int)map.shape[1];
        double[] values = map.contiguous().data<double>().ToArray();
        double max = values.Select(Math.Abs).DefaultIfEmpty(0).Max();
        // Nearest-neighbour: image pixel (y, x) reads map cell (y·h/H, x·w/W).
        return new Panel(width * scale, height * scale, (px, py) =>
        {
            int y = py / scale * h / height, x = px / scale * w / width;
            return Diverging(max > 0 ? values[y * w + x] / max : 0);
        });
    }

    private static Panel Strip(Tensor vector, int panelWidth, Func<double, (byte, byte, byte)> colour, bool scaleByMax = true)
    {
        double[] values = vector.contiguous().data<double>().ToArray();
        int n = Math.Max(1, values.Length);
        int columns = Math.Clamp(panelWidth / Cell, 1, n);
        int rows = (n + columns - 1) / columns;
        double max = scaleByMax ? values.Select(Math.Abs).DefaultIfEmpty(0).Max() : 1;
        return new Panel(columns * Cell, rows * Cell, (px, py) =>
        {
            int i = py / Cell * columns + px / Cell;
            if (i >= values.Length) return (Background, Background, Background);
            if (px % Cell == Cell - 1 || py % Cell == Cell - 1) return (Background, Background, Background); // grid line
            return colour(scaleByMax ? (max > 0 ? values[i] / max : 0) : values[i]);
        });
    }

    private sealed record Panel(int Width, int Height, Func<int, int, (byte R, byte G, byte B)> Pixel)
    {
        public void DrawInto(byte[] rgb, int canvasWidth, int ox, int oy)
        {
            for (int y = 0; y < Height; y++)
                for (int x = 0; x < Width; x++)
                {
                    (byte r, byte g, byte b) = Pixel(x, y);
                    int at = ((oy + y) * canvasWidth + ox + x) * 3;
                    rgb[at] = r;
                    rgb[at + 1] = g;
                    rgb[at + 2] = b;
                }
        }
    }
}
