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

    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        Values.Dispose();
        MeanGradient?.Dispose();
    }
}
