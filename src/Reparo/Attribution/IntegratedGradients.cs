using Reparo.Models;
using Reparo.Runtime;
using static TorchSharp.torch;

namespace Reparo.Attribution;

/// <summary>
/// Integrated gradients on the inputs (Sundararajan, Taly and Yan, "Axiomatic Attribution for Deep Networks", ICML
/// 2017; Captum's <c>IntegratedGradients</c>): (x − x') ⊙ ∫₀¹ ∂f_t/∂x (x' + α(x − x')) dα for the baseline x', the
/// integral approximated by <see cref="AttributionOptions.Rule"/> with <see cref="AttributionOptions.Steps"/> points.
/// By completeness the attributions add up to f_t(x) − f_t(x') (<see cref="AttributionResult.Delta"/>) up to the quadrature
/// error (<see cref="AttributionResult.CompletenessGap"/>).
/// </summary>
public sealed class IntegratedGradients : IAttributionMethod
{
    /// <summary>The command-line name.</summary>
    public const string MethodName = "ig";

    /// <inheritdoc />
    public string Name => MethodName;

    /// <inheritdoc />
    public AttributionResult Attribute(Network network, Tensor inputs, long[] targets, AttributionOptions options)
    {
        AttributionCore.RequireFloat(inputs, Name);
        return network.InEvalMode(() =>
        {
            using var scope = NewDisposeScope();
            Tensor t = AttributionCore.Targets(network, inputs, targets);
            Tensor baseline = options.Baseline.For(inputs);
            var gradients = new List<Tensor>();
            var delta = new List<double>();
            using ProgressScope shown = WorkProgress.Begin($"{Name} {inputs.shape[0]} inputs", inputs.shape[0]);
            foreach ((long start, long length) in AttributionCore.Chunks(inputs.shape[0], options.InternalBatchSize))
            {
                Tensor x = inputs.narrow(0, start, length), b = baseline.narrow(0, start, length), tc = t.narrow(0, start, length);
                gradients.Add(AttributionCore.PathMeanGradient(b, x, tc, options, (points, _) => network.call(points)));
                using (no_grad())
                {
                    double[] fx = AttributionCore.TargetLogits(network.call(x), tc), fb = AttributionCore.TargetLogits(network.call(b), tc);
                    delta.AddRange(fx.Select((v, i) => v - fb[i]));
                }
                shown.Advance(length);
            }
            Tensor mean = cat(gradients, 0);
            AttributionResult result = AttributionCore.PathResult(baseline, inputs, mean, [.. delta], null);
            result.Values.MoveToOuterDisposeScope();
            result.MeanGradient!.MoveToOuterDisposeScope();
            return result;
        });
    }
}
