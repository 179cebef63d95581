using System.Globalization;
using System.Text.Json.Serialization;
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
/// What a model does to its inputs, as the readers produce them, before its first layer: multiply by <see cref="Scale"/>,
/// put the channels in <see cref="ChannelOrder"/>, then subtract <see cref="Mean"/> and divide by <see cref="Std"/> per
/// channel (torchvision's <c>Normalize</c>). Readers already divide 8-bit values (uint8 arrays, PNG/JPEG pixels) by 255,
/// which <see cref="ByteInputs"/> records. It is part of the model, stored in its provenance: data, corruptions,
/// triggers and repair sets stay raw, and <c>Network.Preprocess</c> applies it at the start of every forward
/// pass. <see cref="Resolve"/> decides what applies to a model.
/// </summary>
public sealed record InputPreprocessing
{
    /// <summary>Help text of the <c>--normalize</c> syntax.</summary>
    public const string NormalizeHelp = "MEAN:STD with one value each or one per channel, e.g. 0.5:0.5 or 0.485,0.456,0.406:0.229,0.224,0.225; or train: each channel's (each feature's) mean and standard deviation over the training split, as scikit-learn's StandardScaler";

    /// <summary>The <c>--normalize</c> value that takes the statistics from the training split.</summary>
    public const string FromTraining = "train";

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
    /// (<c>rgb</c> or <c>bgr</c>) and a scale; null when none is given. <see cref="FromTraining"/> computes each channel's
    /// mean and standard deviation from <paramref name="training"/> (see <see cref="StatisticsOf"/>); the model then
    /// records the numbers.
    /// </summary>
    public static InputPreprocessing? Parse(string? normalize, string? channelOrder, double? scale, Dataset? training = null)
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
        if (normalize?.Trim() == FromTraining)
        {
            if (training is null) throw new ReparoInputException($"--normalize {FromTraining} needs the data's training split");
            var steps = new InputPreprocessing { Scale = scale ?? 1, ChannelOrder = order };
            (double[] means, double[] stds) = steps.StatisticsOf(training);
            return steps with { Mean = means, Std = stds };
        }
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
    /// The preprocessing that applies to a model (any network, a zoo model or an imported one): <paramref name="recorded"/>,
    /// the one its provenance records, or <paramref name="given"/> (from the command line) when it records none. A model
    /// that records one and a different <paramref name="given"/> is a one-line error. Without either: none.
    /// </summary>
    public static InputPreprocessing? Resolve(InputPreprocessing? recorded, InputPreprocessing? given)
    {
        if (recorded is null || recorded.IsIdentity) return given is null ? recorded : given with { ByteInputs = recorded?.ByteInputs ?? false };
        if (given is not null && !given.SameSteps(recorded))
            throw new ReparoInputException($"the model records the preprocessing {recorded}; the command line asks for {given}; leave the options out");
        return recorded;
    }

    /// <summary>
    /// A one-line <see cref="ReparoInputException"/> unless the steps fit inputs of one sample's shape
    /// <paramref name="sample"/>: (C, H, W) images or (F) feature vectors (one "channel" per feature for per-channel
    /// statistics of matching length, else one value for all); BGR needs 3-channel images.
    /// </summary>
    public void CheckFits(long[] sample)
    {
        long channels = sample.Length >= 1 ? sample[0] : 1;
        string shape = string.Join(",", sample);
        if (ChannelOrder == ChannelOrder.Bgr && (sample.Length != 3 || channels != 3))
            throw new ReparoInputException($"--channel-order bgr needs 3-channel images, got inputs of shape [{shape}]");
        foreach ((IReadOnlyList<double>? values, string what) in new[] { (Mean, "means"), (Std, "standard deviations") })
        {
            if (values is not null && values.Count != 1 && values.Count != channels)
                throw new ReparoInputException($"--normalize gives {values.Count} {what}, but the inputs have {channels} channels (shape [{shape}])");
        }
    }

    /// <summary>
    /// Preprocesses a batch (N, …sample shape, see <see cref="CheckFits"/>): a new tensor, float64 for float64 inputs and
    /// float32 otherwise; gradients flow through it.
    /// </summary>
    public Tensor Apply(Tensor x)
    {
        CheckFits(x.shape[1..]);
        using var scope = NewDisposeScope();
        ScalarType type = x.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        Tensor result = type == ScalarType.Float64 ? x.mul(Scale) : x.to(ScalarType.Float32).mul((float)Scale);
        if (ChannelOrder == ChannelOrder.Bgr) result = result.flip(1);
        if (Mean is not null) result = result.sub(PerChannel(Mean, x, type));
        if (Std is not null) result = result.div(PerChannel(Std, x, type));
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Each channel's mean and standard deviation (population, as scikit-learn's StandardScaler; 1 where a channel is
    /// constant) of <paramref name="data"/>'s inputs after this record's scale and channel order, in float64. A channel
    /// is axis 1 of the batch: a colour channel of (C, H, W) images, a feature of (F) vectors.
    /// </summary>
    public (double[] Means, double[] Stds) StatisticsOf(Dataset data)
    {
        if (data.Kind == InputKind.Tokens) throw new ReparoInputException("--normalize is for numeric inputs; text is token ids");
        if (data.Count == 0) throw new ReparoInputException($"--normalize {FromTraining}: the training split is empty");
        CheckFits(data.SampleShape);
        using var scope = NewDisposeScope();
        Tensor x = data.X.to(ScalarType.Float64).mul(Scale);
        if (ChannelOrder == ChannelOrder.Bgr) x = x.flip(1);
        Tensor perChannel = x.transpose(0, 1).reshape(x.shape[1], -1);
        double[] means = perChannel.mean([1L]).data<double>().ToArray();
        double[] stds = perChannel.std(1, unbiased: false).data<double>().ToArray();
        for (int c = 0; c < stds.Length; c++)
        {
            if (!double.IsFinite(means[c]) || !double.IsFinite(stds[c])) throw new ReparoInputException($"--normalize {FromTraining}: channel {c} of the training split is not finite");
            if (stds[c] == 0) stds[c] = 1;
        }
        return (means, stds);
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

    /// <summary>One value per channel of <paramref name="x"/>, shaped to broadcast over it (channel axis 1).</summary>
    private static Tensor PerChannel(IReadOnlyList<double> values, Tensor x, ScalarType type)
    {
        int channels = x.dim() >= 2 ? (int)x.shape[1] : 1;
        double[] perChannel = values.Count == 1 ? Enumerable.Repeat(values[0], channels).ToArray() : [.. values];
        long[] shape = new long[x.dim()];
        Array.Fill(shape, 1L);
        if (shape.Length >= 2) shape[1] = channels;
        return tensor(perChannel).to(type).reshape(shape);
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
