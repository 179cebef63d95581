using System.Globalization;
using Reparo.Data;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Reporting;

/// <summary>How a report shows one input of a network: a small picture of an image, the text of a token sequence.</summary>
internal static class InputPicture
{
    /// <summary>A thumbnail for an image, a line plot of a signal, the text of a token sequence, the leading values of a feature vector.</summary>
    public static (byte[]? Png, string? Text) Of(Tensor input, Network network)
    {
        if (network.Spec.InputKind == InputKind.Image && input.shape is [1, <= SignalRows and var rows, var length] && length >= 4 * rows)
            return (SignalPlot(input[0]), null);
        if (network.Spec.InputKind == InputKind.Image && input.shape.Length == 3)
        {
            int scale = Math.Max(1, 56 / (int)Math.Max(input.shape[1], input.shape[2]));
            return (ImageGrid.Encode(input.unsqueeze(0).clamp(0, 1), columns: 1, scale: scale), null);
        }
        double[] values = input.flatten().to(ScalarType.Float64).data<double>().ToArray();
        if (network.Vocabulary is { } vocabulary)
        {
            string[] tokens = [.. values.Select(v => (int)Math.Round(v)).Where(id => id != Vocabulary.PadId).Select(vocabulary.TokenOf)];
            return (null, string.Join(' ', tokens));
        }
        const int shown = 8;
        string text = string.Join(", ", values.Take(shown).Select(v => v.ToString("G4", CultureInfo.InvariantCulture)));
        return (null, values.Length > shown ? $"[{text}, … ({values.Length} values)]" : $"[{text}]");
    }

    /// <summary>At most this many rows of a long, one-channel input are read as a signal's channels, not an image's rows.</summary>
    private const int SignalRows = 8;

    /// <summary>Size of a signal's plot in pixels.</summary>
    public const int SignalPlotWidth = 168, SignalPlotHeight = 56;

    /// <summary>
    /// A signal (a (C, L) input, which Reparo reads as the image (1, C, L)) as one line per channel over its positions:
    /// a picture of C rows a pixel high would show nothing, and its values need not lie in [0, 1].
    /// </summary>
    private static byte[] SignalPlot(Tensor channels)
    {
        var plot = new ScottPlot.Plot();
        ScottPlot.IPalette palette = new ScottPlot.Palettes.Category10();
        for (int c = 0; c < channels.shape[0]; c++)
            plot.Add.Signal(channels[c].to(ScalarType.Float64).data<double>().ToArray()).Color = palette.GetColor(c);
        plot.Axes.Frameless();
        plot.HideGrid();
        return plot.GetImageBytes(SignalPlotWidth, SignalPlotHeight, ScottPlot.ImageFormat.Png);
    }

    /// <summary>A gallery item showing <paramref name="input"/> (see <see cref="Of"/>) under <paramref name="caption"/>.</summary>
    public static ReportThumbnail Thumbnail(Tensor input, Network network, string caption)
    {
        (byte[]? png, string? text) = Of(input, network);
        return new ReportThumbnail(caption, png, text);
    }
}
