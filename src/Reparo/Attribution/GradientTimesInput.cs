using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Attribution;

/// <summary>
/// Gradient × input (Shrikumar et al. 2016, Captum's <c>InputXGradient</c>): x ⊙ ∂f_t/∂x. For a network that is linear
/// in its input, f_t(x) = w_tᵀx + b_t, this is exactly w_t ⊙ x. No baseline, no completeness claim
/// (<see cref="AttributionResult.Delta"/> and <see cref="AttributionResult.CompletenessGap"/> are empty).
/// </summary>
public sealed class GradientTimesInput : IAttributionMethod
{
    /// <summary>The command-line name.</summary>
    public const string MethodName = "gradxinput";

    /// <inheritdoc />
    public string Name => MethodName;

    /// <inheritdoc />
    public AttributionResult Attribute(Network network, Tensor inputs, long[] targets, AttributionOptions options)
    {
        AttributionCore.RequireFloat(inputs, Name);
        return AttributionCore.GradientMap(network, inputs, targets, options, (x, gradient) => x.mul(gradient));
    }
}
