using System.Globalization;

namespace Reparo.Data;

/// <summary>
/// A size asked of torchvision's <c>Resize</c> or <c>CenterCrop</c>: one number (for <c>Resize</c> the shorter side,
/// the aspect ratio kept; for <c>CenterCrop</c> a square) or an exact height × width.
/// </summary>
public sealed record ImageSize
{
    /// <summary>A size; a side outside 1 to <see cref="UserData.MaxImageSide"/> (say, from a hostile model file) is a one-line error.</summary>
    /// <param name="height">The height, or the one number.</param>
    /// <param name="width">The width; null when one number was given.</param>
    public ImageSize(int height, int? width = null)
    {
        if (height is < 1 or > UserData.MaxImageSide || width is < 1 or > UserData.MaxImageSide)
            throw new ReparoInputException(FormattableString.Invariant($"image size {height}{(width is null ? "" : $"x{width}")}: sides must be 1–{UserData.MaxImageSide}"));
        Height = height;
        Width = width;
    }

    /// <summary>The height, or the one number.</summary>
    public int Height { get; }

    /// <summary>The width; null when one number was given.</summary>
    public int? Width { get; }

    /// <summary>Parses <c>N</c> or <c>HxW</c> (1 to <see cref="UserData.MaxImageSide"/> each); <paramref name="option"/> names the option in errors.</summary>
    public static ImageSize Parse(string text, string option)
    {
        string[] parts = text.Trim().ToLowerInvariant().Split('x', '×');
        int[] sides = parts.Select(part => int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int side) && side is >= 1 and <= UserData.MaxImageSide ? side : 0).ToArray();
        if (parts.Length is < 1 or > 2 || sides.Contains(0))
            throw new ReparoInputException($"{option} '{text}': expected N or HxW, whole numbers from 1 to {UserData.MaxImageSide}, e.g. 224 or 224x224");
        return new ImageSize(sides[0], parts.Length == 2 ? sides[1] : null);
    }

    /// <inheritdoc/>
    public override string ToString() => Width is { } width ? FormattableString.Invariant($"{Height}x{width}") : Height.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// torchvision's <c>Resize</c> then <c>CenterCrop</c> on decoded 8-bit images, as a PyTorch user's evaluation transform
/// applies them to PIL images: the resize is Pillow's antialiased bilinear resampling (a triangle filter widened by the
/// reduction factor, fixed-point coefficients of 22 bits, the horizontal pass rounded to 8 bits before the vertical),
/// so a PNG gives the same bytes as <c>Resize(…)(Image.open(path).convert("RGB"))</c>; the crop takes the centre
/// (offsets rounded half to even, as Python's <c>round</c>) and pads a smaller image with zeros first, as torchvision does.
/// </summary>
/// <param name="Resize">torchvision's <c>Resize</c> size, or null for none.</param>
/// <param name="CenterCrop">torchvision's <c>CenterCrop</c> size, or null for none.</param>
public sealed record ImageResizing(ImageSize? Resize, ImageSize? CenterCrop)
{
    private const int PrecisionBits = 32 - 8 - 2;

    /// <summary>The resizing the options ask for, or null when neither is given.</summary>
    public static ImageResizing? Parse(string? resize, string? centerCrop) => resize is null && centerCrop is null ? null
        : new ImageResizing(resize is null ? null : ImageSize.Parse(resize, "--resize"), centerCrop is null ? null : ImageSize.Parse(centerCrop, "--center-crop"));

    /// <summary>The size an image of <paramref name="height"/> × <paramref name="width"/> pixels comes out at.</summary>
    public (int Height, int Width) OutputSize(int height, int width)
    {
        (int h, int w) = Resize is null ? (height, width) : ResizedSize(Resize, height, width);
        return CenterCrop is null ? (h, w) : (CenterCrop.Height, CenterCrop.Width ?? CenterCrop.Height);
    }

    /// <summary>Resizes then crops interleaved 8-bit pixels (<paramref name="channels"/> per pixel, row-major).</summary>
    public byte[] Apply(byte[] pixels, int height, int width, int channels)
    {
        if (pixels.Length != (long)height * width * channels) throw new ArgumentException($"{pixels.Length} bytes for {height}×{width}×{channels}");
        if (Resize is not null)
        {
            (int h, int w) = ResizedSize(Resize, height, width);
            pixels = Resample(pixels, height, width, channels, h, w);
            (height, width) = (h, w);
        }
        return CenterCrop is null ? pixels : Crop(pixels, height, width, channels, CenterCrop.Height, CenterCrop.Width ?? CenterCrop.Height);
    }

    /// <inheritdoc/>
    public override string ToString() => string.Join(", ", new[] { Resize is null ? null : $"resize {Resize}", CenterCrop is null ? null : $"center-crop {CenterCrop}" }.OfType<string>());

    /// <summary>torchvision's output size: an exact H×W, or the shorter side set and the longer scaled and truncated.</summary>
    private static (int Height, int Width) ResizedSize(ImageSize size, int height, int width)
    {
        if (size.Width is { } exact) return (size.Height, exact);
        int shorter = Math.Min(height, width), longer = Math.Max(height, width);
        int scaled = (int)((long)size.Height * longer / shorter);
        return height <= width ? (size.Height, scaled) : (scaled, size.Height);
    }

    /// <summary>Pillow's two-pass resampling: horizontal first (only the rows the vertical pass reads), each pass rounded to bytes.</summary>
    private static byte[] Resample(byte[] pixels, int height, int width, int channels, int outHeight, int outWidth)
    {
        (int[] rowBounds, int[] rowWeights, int rowTaps) = Coefficients(height, outHeight);
        if (outWidth != width)
        {
            (int[] bounds, int[] weights, int taps) = Coefficients(width, outWidth);
            int first = rowBounds[0], last = rowBounds[2 * (outHeight - 1)] + rowBounds[2 * (outHeight - 1) + 1];
            if (outHeight == height) (first, last) = (0, height);
            var horizontal = new byte[(long)(last - first) * outWidth * channels];
            for (int y = first; y < last; y++)
            {
                for (int x = 0; x < outWidth; x++)
                {
                    int start = bounds[2 * x], count = bounds[2 * x + 1];
                    for (int c = 0; c < channels; c++)
                    {
                        int sum = 1 << (PrecisionBits - 1);
                        for (int k = 0; k < count; k++) sum += pixels[((long)y * width + start + k) * channels + c] * weights[x * taps + k];
                        horizontal[((long)(y - first) * outWidth + x) * channels + c] = Clip(sum);
                    }
                }
            }
            if (outHeight != height) for (int y = 0; y < outHeight; y++) rowBounds[2 * y] -= first;
            (pixels, width) = (horizontal, outWidth);
        }
        if (outHeight == height) return pixels;
        var output = new byte[(long)outHeight * width * channels];
        for (int y = 0; y < outHeight; y++)
        {
            int start = rowBounds[2 * y], count = rowBounds[2 * y + 1];
            for (int x = 0; x < width; x++)
            {
                for (int c = 0; c < channels; c++)
                {
                    int sum = 1 << (PrecisionBits - 1);
                    for (int k = 0; k < count; k++) sum += pixels[((long)(start + k) * width + x) * channels + c] * rowWeights[y * rowTaps + k];
                    output[((long)y * width + x) * channels + c] = Clip(sum);
                }
            }
        }
        return output;
    }

    /// <summary>
    /// Pillow's bilinear coefficients from <paramref name="inSize"/> to <paramref name="outSize"/> samples: per output
    /// sample the first input and the count it reads, and the weights (normalised to sum 1, then fixed point).
    /// </summary>
    private static (int[] Bounds, int[] Weights, int Taps) Coefficients(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize, filterScale = Math.Max(scale, 1.0);
        double support = filterScale, reciprocal = 1.0 / filterScale;
        int taps = (int)Math.Ceiling(support) * 2 + 1;
        var bounds = new int[2 * outSize];
        var weights = new int[outSize * taps];
        var raw = new double[taps];
        for (int o = 0; o < outSize; o++)
        {
            double center = (o + 0.5) * scale;
            int min = Math.Max((int)(center - support + 0.5), 0);
            int count = Math.Min((int)(center + support + 0.5), inSize) - min;
            double total = 0;
            for (int k = 0; k < count; k++)
            {
                double distance = Math.Abs((k + min - center + 0.5) * reciprocal);
                raw[k] = distance < 1.0 ? 1.0 - distance : 0.0;
                total += raw[k];
            }
            for (int k = 0; k < count; k++)
            {
                double weight = total != 0.0 ? raw[k] / total : raw[k];
                weights[o * taps + k] = (int)(weight < 0 ? -0.5 + weight * (1 << PrecisionBits) : 0.5 + weight * (1 << PrecisionBits));
            }
            bounds[2 * o] = min;
            bounds[2 * o + 1] = count;
        }
        return (bounds, weights, taps);
    }

    private static byte Clip(int sum) => sum >= 1 << PrecisionBits << 8 ? (byte)255 : sum <= 0 ? (byte)0 : (byte)(sum >> PrecisionBits);

    /// <summary>torchvision's <c>center_crop</c>: zero padding (left/top getting the smaller half) when the crop is larger, then the centre.</summary>
    private static byte[] Crop(byte[] pixels, int height, int width, int channels, int cropHeight, int cropWidth)
    {
        int padLeft = cropWidth > width ? (cropWidth - width) / 2 : 0, padTop = cropHeight > height ? (cropHeight - height) / 2 : 0;
        int paddedWidth = Math.Max(width, cropWidth), paddedHeight = Math.Max(height, cropHeight);
        int top = (int)Math.Round((paddedHeight - cropHeight) / 2.0, MidpointRounding.ToEven) - padTop;
        int left = (int)Math.Round((paddedWidth - cropWidth) / 2.0, MidpointRounding.ToEven) - padLeft;
        var output = new byte[(long)cropHeight * cropWidth * channels];
        for (int y = 0; y < cropHeight; y++)
        {
            int sourceY = y + top;
            if (sourceY < 0 || sourceY >= height) continue;
            int from = Math.Max(0, -left), to = Math.Min(cropWidth, width - left);
            if (to <= from) continue;
            Array.Copy(pixels, ((long)sourceY * width + left + from) * channels, output, ((long)y * cropWidth + from) * channels, (long)(to - from) * channels);
        }
        return output;
    }
}
