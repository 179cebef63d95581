using System.Globalization;
using System.Text.Json.Serialization;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Data;

/// <summary>The order of the three colour channels a model reads.</summary>
public enum ChannelOrder
{
    /// <summary>Red, green, blue: the order Reparo's readers produce (and PyTorch's torchvision uses).</summary>
    Rgb,

    /// <summary>Blue, green, red (OpenCV and Caffe models): the channel axis of 3-channel images is reversed.</summary>
    Bgr,
}

/// <summary>
/// What is done to inputs, as the readers produce them, before a model sees them: multiply by <see cref="Scale"/>,
/// put the channels in <see cref="ChannelOrder"/>, then subtract <see cref="Mean"/> and divide by <see cref="Std"/> per
/// channel (torchvision's <c>Normalize</c>). Readers already divide 8-bit values (uint8 arrays, PNG/JPEG pixels) by 255,
/// which <see cref="ByteInputs"/> records. It is stored in the model's provenance, so every later command applies the
/// same steps; <see cref="Resolve"/> decides what applies to a model and <see cref="Apply(DataSplits)"/> applies it.
/// </summary>
public sealed record InputPreprocessing
{
    /// <summary>Help text of the <c>--normalize</c> syntax.</summary>
    public const string NormalizeHelp = "MEAN:STD with one value each or one per channel, e.g. 0.5:0.5 or 0.485,0.456,0.406:0.229,0.224,0.225";

    /// <summary>Factor every input value is multiplied by first (1: none), e.g. 1/255 for float arrays of 0–255 pixels.</summary>
    public double Scale { get; init; } = 1;

    /// <summary>The channel order the model reads (only 3-channel images are reordered).</summary>
    public ChannelOrder ChannelOrder { get; init; } = ChannelOrder.Rgb;

    /// <summary>Mean subtracted per channel (one value: every channel); null: none.</summary>
    public IReadOnlyList<double>? Mean { get; init; }

    /// <summary>Standard deviation divided by per channel (one value: every channel); null: none.</summary>
    public IReadOnlyList<double>? Std { get; init; }

    /// <summary>Whether the data the model was trained on came as 8-bit values, which the readers divided by 255.</summary>
    public bool ByteInputs { get; init; }

    /// <summary>Whether applying it changes nothing (<see cref="ByteInputs"/> is a record of the readers' step, not a step here).</summary>
    [JsonIgnore]
    public bool IsIdentity => Scale == 1 && ChannelOrder == ChannelOrder.Rgb && Mean is null && Std is null;

    /// <summary>
    /// Reads the command-line settings: <paramref name="normalize"/> as <see cref="NormalizeHelp"/>, a channel order
    /// (<c>rgb</c> or <c>bgr</c>) and a scale; null when none is given.
    /// </summary>
    public static InputPreprocessing? Parse(string? normalize, string? channelOrder, double? scale)
    {
        if (normalize is null && channelOrder is null && scale is null) return null;
        if (scale is double s && !(s > 0 && double.IsFinite(s))) throw new ReparoInputException($"--scale must be a positive number, got {s}");
        ChannelOrder order = channelOrder?.Trim().ToLowerInvariant() switch
        {
            null or "rgb" => ChannelOrder.Rgb,
            "bgr" => ChannelOrder.Bgr,
            _ => throw new ReparoInputException($"--channel-order '{channelOrder}' should be rgb or bgr"),
        };
        IReadOnlyList<double>? mean = null, std = null;
        if (normalize is not null)
        {
            string[] parts = normalize.Split(':');
            if (parts.Length != 2) throw new ReparoInputException($"--normalize '{normalize}' should be {NormalizeHelp}");
            mean = Numbers(parts[0], normalize);
            std = Numbers(parts[1], normalize);
            if (mean.Count != std.Count && mean.Count != 1 && std.Count != 1)
                throw new ReparoInputException($"--normalize '{normalize}': {mean.Count} means but {std.Count} standard deviations");
            if (std.Any(v => v <= 0)) throw new ReparoInputException($"--normalize '{normalize}': standard deviations must be positive");
        }
        return new InputPreprocessing { Scale = scale ?? 1, ChannelOrder = order, Mean = mean, Std = std };
    }

    /// <summary>
    /// The preprocessing that applies to <paramref name="model"/> (any network, a zoo model or an imported one): the one
    /// its provenance records, or <paramref name="given"/> (from the command line) when it records none. A model that
    /// records one and a different <paramref name="given"/> is a one-line error. Without either: none.
    /// </summary>
    public static InputPreprocessing? Resolve(Network? model, InputPreprocessing? given)
    {
        InputPreprocessing? recorded = model?.Provenance.Preprocessing;
        if (recorded is null || recorded.IsIdentity) return given is null ? recorded : given with { ByteInputs = recorded?.ByteInputs ?? false };
        if (given is not null && !given.SameSteps(recorded))
            throw new ReparoInputException($"the model records the preprocessing {recorded}; the command line asks for {given}; leave the options out");
        return recorded;
    }

    /// <summary>The splits with every input preprocessed (token data is left alone; an identity returns them as they are).</summary>
    public DataSplits Apply(DataSplits splits) =>
        IsIdentity || splits.Test.Kind == InputKind.Tokens ? splits : new DataSplits(Apply(splits.Train), Apply(splits.Validation), Apply(splits.Test)) { ByteInputs = splits.ByteInputs };

    /// <summary>The dataset with its inputs preprocessed.</summary>
    public Dataset Apply(Dataset data) => IsIdentity || data.Kind == InputKind.Tokens ? data : data.WithInputs(Apply(data.X), data.Name);

    /// <summary>
    /// Preprocesses a batch: (N, C, H, W) images or (N, F) feature vectors (one "channel" per feature for
    /// per-channel statistics of matching length, else one value for all). Returns a new tensor.
    /// </summary>
    public Tensor Apply(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor result = x.to(ScalarType.Float32).mul((float)Scale);
        int channels = x.dim() >= 2 ? (int)x.shape[1] : 1;
        if (ChannelOrder == ChannelOrder.Bgr)
        {
            if (x.dim() != 4 || channels != 3) throw new ReparoInputException($"--channel-order bgr needs 3-channel images, got inputs of shape [{string.Join(",", x.shape[1..])}]");
            result = result.flip(1);
        }
        if (Mean is not null) result = result.sub(PerChannel(Mean, channels, x, "means"));
        if (Std is not null) result = result.div(PerChannel(Std, channels, x, "standard deviations"));
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>The steps as one line, e.g. <c>scale 0.00392, bgr, normalize 0.5:0.25</c>.</summary>
    public override string ToString()
    {
        var steps = new List<string>();
        if (ByteInputs) steps.Add("8-bit inputs ÷ 255");
        if (Scale != 1) steps.Add($"scale {Scale.ToString("G6", CultureInfo.InvariantCulture)}");
        if (ChannelOrder != ChannelOrder.Rgb) steps.Add(ChannelOrder.ToString().ToLowerInvariant());
        if (Mean is not null || Std is not null) steps.Add($"normalize {List(Mean)}:{List(Std)}");
        return steps.Count == 0 ? "none" : string.Join(", ", steps);
    }

    private bool SameSteps(InputPreprocessing other) => Scale == other.Scale && ChannelOrder == other.ChannelOrder
        && (Mean ?? []).SequenceEqual(other.Mean ?? []) && (Std ?? []).SequenceEqual(other.Std ?? []);

    private static string List(IReadOnlyList<double>? values) =>
        values is null ? "-" : string.Join(",", values.Select(v => v.ToString("G6", CultureInfo.InvariantCulture)));

    private static Tensor PerChannel(IReadOnlyList<double> values, int channels, Tensor x, string what)
    {
        if (values.Count != 1 && values.Count != channels)
            throw new ReparoInputException($"--normalize gives {values.Count} {what}, but the inputs have {channels} channels (shape [{string.Join(",", x.shape[1..])}])");
        float[] perChannel = values.Count == 1 ? Enumerable.Repeat((float)values[0], channels).ToArray() : values.Select(v => (float)v).ToArray();
        long[] shape = new long[x.dim()];
        Array.Fill(shape, 1L);
        if (shape.Length >= 2) shape[1] = channels;
        return tensor(perChannel).reshape(shape);
    }

    private static double[] Numbers(string text, string whole)
    {
        string[] items = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new double[items.Length];
        for (int i = 0; i < items.Length; i++)
        {
            if (!double.TryParse(items[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) || !double.IsFinite(values[i]))
                throw new ReparoInputException($"--normalize '{whole}': '{items[i]}' is not a number");
        }
        return values;
    }
}
