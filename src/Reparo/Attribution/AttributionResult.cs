using static TorchSharp.torch;

namespace Reparo.Attribution;

/// <summary>
/// The result of an <see cref="IAttributionMethod"/>: one score per attributed unit for every sample, and for
/// integrated-gradient methods the checks that come with them. The tensors belong to the caller's dispose scope (if
/// any); <see cref="Dispose"/> frees them.
/// </summary>
/// <param name="Values">
/// The attributions, shaped like what is attributed: the inputs (N, …) for input methods, the layer's output (N, …) for
/// layer integrated gradients.
/// </param>
/// <param name="MeanGradient">
/// For integrated-gradient methods, the path-averaged gradient of the target logit with respect to what is attributed
/// (the quadrature-weighted mean over the path), same shape as <see cref="Values"/>, so that
/// <c>Values = (x − baseline) ⊙ MeanGradient</c>; <c>null</c> for saliency and gradient × input.
/// </param>
/// <param name="Delta">
/// For integrated-gradient methods, f_t(x) − f_t(baseline) of the target logit per sample (computed in double from the
/// float logits): the amount the attributions should add up to. Empty for saliency and gradient × input.
/// </param>
/// <param name="CompletenessGap">
/// For integrated-gradient methods, |Σ Values − Delta| per sample, summed in double: the quadrature error of the path
/// integral (Sundararajan et al.'s completeness check; Captum's convergence delta, as an absolute value). Empty for
/// saliency and gradient × input, which make no completeness claim.
/// </param>
/// <param name="Layer">The dotted module name attributed at, for layer methods; <c>null</c> for input methods.</param>
public sealed record AttributionResult(Tensor Values, Tensor? MeanGradient, double[] Delta, double[] CompletenessGap, string? Layer = null) : IDisposable
{
    /// <summary>Σ Values per sample, summed in double.</summary>
    public double[] Sums()
    {
        using var noGrad = no_grad();
        using Tensor sums = Values.detach().to(ScalarType.Float64).flatten(1).sum(1);
        return sums.data<double>().ToArray();
    }

    /// <summary>
    /// The <paramref name="count"/> units of sample <paramref name="sample"/> with the largest |attribution|, largest
    /// first (ties: the lower index). Input attributions give each unit's value in <paramref name="input"/> (the raw
    /// batch attributed) and, when <paramref name="featureNames"/> names every input feature, its name; see
    /// <see cref="FeatureAttribution.PositionName"/>.
    /// </summary>
    public IReadOnlyList<FeatureAttribution> Top(int count, int sample = 0, Tensor? input = null, IReadOnlyList<string>? featureNames = null)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long[] shape = Values.shape[1..];
        double[] values = Values[sample].detach().to(ScalarType.Float64).flatten().data<double>().ToArray();
        double[]? inputs = Layer is null && input is not null ? input[sample].to(ScalarType.Float64).flatten().data<double>().ToArray() : null;
        IReadOnlyList<string>? names = Layer is null && featureNames?.Count == values.Length ? featureNames : null;
        return [.. Enumerable.Range(0, values.Length).OrderByDescending(i => Math.Abs(values[i])).ThenBy(i => i).Take(count)
            .Select(i => new FeatureAttribution(i, FeatureAttribution.PositionName(i, shape, Layer, names), inputs?[i], values[i]))];
    }

    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        Values.Dispose();
        MeanGradient?.Dispose();
    }
}

/// <summary>One attributed unit: an input feature, pixel or step, or a unit of a layer's output.</summary>
/// <param name="Feature">Its flat, row-major index in the sample.</param>
/// <param name="Name">Its name (<see cref="PositionName"/>).</param>
/// <param name="Input">For input attributions, the raw input's value there; null for a layer's units.</param>
/// <param name="Value">Its attribution.</param>
public sealed record FeatureAttribution(long Feature, string Name, double? Input, double Value)
{
    /// <summary>
    /// A unit's name: the data's name for an input feature (<paramref name="featureNames"/>, e.g. a CSV header's), else
    /// <c>feature 12</c> for a feature vector and <c>(c, y, x)</c> (one coordinate per axis) for other inputs, and
    /// <c>fc1[12]</c> or <c>conv2[c, y, x]</c> for the output of <paramref name="layer"/>.
    /// </summary>
    public static string PositionName(long flat, long[] shape, string? layer, IReadOnlyList<string>? featureNames)
    {
        if (layer is null && featureNames is not null) return featureNames[(int)flat];
        var coordinates = new long[shape.Length];
        for (int axis = shape.Length - 1; axis >= 0; axis--)
        {
            coordinates[axis] = flat % shape[axis];
            flat /= shape[axis];
        }
        string position = string.Join(", ", coordinates);
        return layer is not null ? $"{layer}[{position}]" : shape.Length == 1 ? $"feature {position}" : $"({position})";
    }
}
