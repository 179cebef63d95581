using System.Globalization;
using Reparo.Data;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Reporting;

/// <summary>How a report shows one input of a network: a small picture of an image, the text of a token sequence.</summary>
internal static class InputPicture
{
    /// <summary>A thumbnail for an image, the text of a token sequence, the leading values of a feature vector.</summary>
    public static (byte[]? Png, string? Text) Of(Tensor input, Network network)
    {
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

    /// <summary>A gallery item showing <paramref name="input"/> (see <see cref="Of"/>) under <paramref name="caption"/>.</summary>
    public static ReportThumbnail Thumbnail(Tensor input, Network network, string caption)
    {
        (byte[]? png, string? text) = Of(input, network);
        return new ReportThumbnail(caption, png, text);
    }
}
