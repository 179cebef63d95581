using System.Buffers.Binary;
using Reparo.Data;
using Reparo.Models;
using Reparo.Reporting;
using static TorchSharp.torch;

namespace Reparo.Tests.Reporting;

/// <summary>How reports picture a model's inputs.</summary>
public sealed class InputPictureTests
{
    private static (int Width, int Height) PngSize(byte[] png) =>
        (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20, 4)));

    /// <summary>
    /// A signal (a (C, L) input, read as the image (1, C, L)) is drawn as one line per channel, the same bytes for the
    /// same input; an image stays a picture of its pixels.
    /// </summary>
    [Fact]
    public void ASignalIsALinePlotAndAnImageAPicture()
    {
        TestSupport.Init();
        using Network signalModel = ModelZoo.Create("mlp:4x1", [1, 2, 64], InputKind.Image, ["a", "b"], null, seed: 1);
        using Tensor signal = randn(1, 2, 64, generator: new Generator(3)).mul(3);
        (byte[]? plot, string? text) = InputPicture.Of(signal, signalModel);
        Assert.Null(text);
        Assert.Equal((InputPicture.SignalPlotWidth, InputPicture.SignalPlotHeight), PngSize(plot!));
        Assert.Equal(plot, InputPicture.Of(signal, signalModel).Png);

        using Network imageModel = ModelZoo.Create("mlp:4x1", [1, 28, 28], InputKind.Image, ["a", "b"], null, seed: 1);
        (byte[]? picture, _) = InputPicture.Of(rand(1, 28, 28, generator: new Generator(4)), imageModel);
        // 28 × 28 pixels scaled 2×, with the grid's border.
        (int width, int height) = PngSize(picture!);
        Assert.True(width == height && width >= 56, $"{width} × {height}");
    }
}
