using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Attribution;

/// <summary>
/// Saliency (Simonyan et al. 2014, Captum's <c>Saliency</c> with <c>abs=True</c>): |∂f_t/∂x|, the magnitude of the
/// target logit's gradient with respect to every input feature. Non-negative, shaped like the inputs; no baseline, no
/// completeness claim (<see cref="AttributionResult.Delta"/> and <see cref="AttributionResult.CompletenessGap"/> are empty).
/// </summary>
public sealed class Saliency : IAttributionMethod
{
    /// <summary>The command-line name.</summary>
    public const string MethodName = "saliency";

    /// <inheritdoc />
    public string Name => MethodName;

    /// <inheritdoc />
    public AttributionResult Attribute(Network network, Tensor inputs, long[] targets, AttributionOptions options)
    {
        AttributionCore.RequireFloat(inputs, Name);
        return AttributionCore.GradientMap(network, inputs, targets, options, (_, gradient) => gradient.abs());
    }
}
