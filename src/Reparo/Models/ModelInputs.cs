using Reparo.Data;
using Reparo.Io;
using static TorchSharp.torch;

namespace Reparo.Models;

/// <summary>How data meets a model: arrays read as its raw inputs, data splits shaped like the data it was trained on.</summary>
public static class ModelInputs
{
    /// <summary>
    /// The rows of <paramref name="array"/> (N, …) as raw inputs for <paramref name="network"/>, like its data: float32
    /// (uint8 ÷ 255), (N, H, W) read as one channel for a one-channel model, (N, H, W, C) images made channels first
    /// for a model that reads them channels last (the model applies its own preprocessing and layout). A per-sample
    /// shape other than the model's input is a one-line error naming both shapes.
    /// </summary>
    public static Tensor FromArray(NpyArray array, Network network)
    {
        if (network.Spec.InputKind == InputKind.Tokens) throw new ReparoInputException($"{array.Name}: array inputs are for image and feature models, not text models");
        if (array.Shape.Length < 2) throw new ReparoInputException($"{array.Name}: shape {array.ShapeText}; expected one row per input");
        if (array.IsInteger && array.Type != NpyType.UInt8) throw new ReparoInputException($"{array.Name}: inputs must be float32, float64 or uint8, not {array.Type.ToString().ToLowerInvariant()}");
        long[] sample = array.Shape[1..], input = network.Spec.InputShape;
        bool addChannel = sample.Length == 2 && input.Length == 3 && input[0] == 1;
        if (addChannel) sample = [1, .. sample];
        bool channelsLast = ChannelsLast(network, sample);
        if (channelsLast) sample = input;
        if (!sample.SequenceEqual(input))
            throw new ReparoInputException($"{array.Name}: data shape [{string.Join(",", sample)}] does not match the model's input [{string.Join(",", input)}]");
        using var scope = NewDisposeScope();
        Tensor x = array.ToFloat32();
        if (addChannel) x = x.unsqueeze(1);
        if (channelsLast) x = x.permute(0, 3, 1, 2).contiguous();
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Whether <paramref name="sample"/> is (H, W, C) images for a model that reads (C, H, W) and hands its graph channels last (<see cref="ChannelsLastSpec"/>).</summary>
    private static bool ChannelsLast(Network network, long[] sample) =>
        network.Layers.Count > 0 && network.Layers[0].Spec is ChannelsLastSpec && network.Spec.InputShape is [var c, var h, var w]
        && sample is [var sh, var sw, var sc] && (sh, sw, sc) == (h, w, c) && !sample.SequenceEqual(network.Spec.InputShape);


    /// <summary>
    /// Makes data fit a model trained on poisoned data: for a model whose provenance records a <c>block</c> poison, the
    /// three splits are block-transformed the same way (unless they already have the model's input shape); anything
    /// else is returned as is (Trojan and spurious models are evaluated on clean data). Images stored channels last
    /// (N, H, W, C) for a model that reads them so (<see cref="ChannelsLastSpec"/>) are made channels first.
    /// </summary>
    public static DataSplits PrepareSplits(DataSplits splits, Network network)
    {
        if (ChannelsLast(network, splits.Test.SampleShape))
        {
            static Dataset First(Dataset d) => new(d.Name, d.X.permute(0, 3, 1, 2).contiguous(), d.Y, d.ClassNames, InputKind.Image, d.Vocabulary, d.SourceIndices, d.SourceNames);
            return splits with { Train = First(splits.Train), Validation = First(splits.Validation), Test = First(splits.Test) };
        }
        if (network.Provenance.Poison is not string text) return splits;
        PoisonSpec spec = PoisonSpec.Parse(text);
        if (spec.Kind != PoisonKind.Block || splits.Test.Kind != InputKind.Image) return splits;
        long[] shape = splits.Test.SampleShape;
        if (shape.Length != 3 || shape.SequenceEqual(network.Spec.InputShape)) return splits;
        return splits with { Train = Poisoning.Block(splits.Train, spec), Validation = Poisoning.Block(splits.Validation, spec), Test = Poisoning.Block(splits.Test, spec) };
    }
}
