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
        return AttributionCore.InEvalMode(network, () =>
        {
            using var scope = NewDisposeScope();
            Tensor t = AttributionCore.Targets(network, inputs, targets);
            var parts = new List<Tensor>();
            foreach ((long start, long length) in AttributionCore.Chunks(inputs.shape[0], options.InternalBatchSize))
            {
                Tensor x = inputs.narrow(0, start, length);
                parts.Add(x.mul(AttributionCore.TargetGradient(x, p => network.call(p), t.narrow(0, start, length))));
            }
            Tensor values = cat(parts, 0);
            return new AttributionResult(values.MoveToOuterDisposeScope(), null, [], []);
        });
    }
}
