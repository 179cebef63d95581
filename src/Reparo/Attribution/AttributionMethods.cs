using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Attribution;

/// <summary>Creates attribution methods by their command-line names.</summary>
public static class AttributionMethods
{
    /// <summary>The method names: <c>saliency</c>, <c>gradxinput</c>, <c>ig</c>, <c>layer-ig</c>.</summary>
    public static IReadOnlyList<string> Names { get; } = [Saliency.MethodName, GradientTimesInput.MethodName, IntegratedGradients.MethodName, LayerIntegratedGradients.MethodName];

    /// <summary>The method called <paramref name="name"/>; <c>layer-ig</c> needs <paramref name="layer"/>, the others take none.</summary>
    public static IAttributionMethod Create(string name, string? layer = null)
    {
        string key = name.Trim().ToLowerInvariant();
        if (key != LayerIntegratedGradients.MethodName && layer is not null)
            throw new ReparoInputException($"--layer applies to layer-ig only, not to '{name}'");
        return key switch
        {
            Saliency.MethodName => new Saliency(),
            GradientTimesInput.MethodName => new GradientTimesInput(),
            IntegratedGradients.MethodName => new IntegratedGradients(),
            LayerIntegratedGradients.MethodName => new LayerIntegratedGradients(
                layer ?? throw new ReparoInputException("--method layer-ig needs --layer NAME (a module such as flatten, conv2, fc1 or block1.fc1)")),
            _ => throw new ReparoInputException($"unknown attribution method '{name}'; expected {string.Join(", ", Names)}"),
        };
    }
}

/// <summary>What the methods share: argument checks, evaluation mode, target gradients and the path integral.</summary>
internal static class AttributionCore
{
    /// <summary>
    /// A gradient-only attribution (no baseline, no completeness claim): <paramref name="combine"/>(x, ∂f_t/∂x) chunk by
    /// chunk, in evaluation mode.
    /// </summary>
    public static AttributionResult GradientMap(Network network, Tensor inputs, long[] targets, AttributionOptions options, Func<Tensor, Tensor, Tensor> combine) =>
        network.InEvalMode(() =>
        {
            using var scope = NewDisposeScope();
            Tensor t = Targets(network, inputs, targets);
            var parts = new List<Tensor>();
            foreach ((long start, long length) in Chunks(inputs.shape[0], options.InternalBatchSize))
            {
                Tensor x = inputs.narrow(0, start, length);
                parts.Add(combine(x, TargetGradient(x, p => network.call(p), t.narrow(0, start, length))));
            }
            return new AttributionResult(cat(parts, 0).MoveToOuterDisposeScope(), null, [], []);
        });


    /// <summary>Checks that there is one target class per sample, each a valid class, and returns them as an int64 tensor.</summary>
    public static Tensor Targets(Network network, Tensor inputs, long[] targets)
    {
        if (inputs.shape.Length < 2) throw new ReparoInputException($"attribution needs a batch of inputs (N, …), got shape [{string.Join(",", inputs.shape)}]");
        if (targets.Length != inputs.shape[0]) throw new ReparoInputException($"{inputs.shape[0]} inputs but {targets.Length} targets");
        foreach (long t in targets)
            if (t < 0 || t >= network.ClassCount) throw new ReparoInputException($"target class {t} is not one of the model's {network.ClassCount} classes");
        return tensor(targets, ScalarType.Int64);
    }

    /// <summary>Input attributions need floating-point inputs (not token ids).</summary>
    public static void RequireFloat(Tensor inputs, string method)
    {
        if (!inputs.is_floating_point())
            throw new ReparoInputException($"{method} differentiates with respect to the inputs, which are {inputs.dtype} (token ids?); use layer-ig at an embedding or later layer");
    }

    /// <summary>
    /// ∂(Σ_i logits[i, targets[i]])/∂point: the gradient of every row's target logit with respect to its own row
    /// (rows do not interact in evaluation mode), where logits = <paramref name="forward"/>(point).
    /// </summary>
    public static Tensor TargetGradient(Tensor point, Func<Tensor, Tensor> forward, Tensor targets)
    {
        using var scope = NewDisposeScope();
        using var grad = enable_grad();
        Tensor leaf = point.detach().requires_grad_(true);
        Tensor logits = forward(leaf);
        Tensor picked = logits.gather(1, targets.unsqueeze(1)).sum();
        Tensor gradient = autograd.grad([picked], [leaf])[0];
        return gradient.detach().MoveToOuterDisposeScope();
    }

    /// <summary>The target logit of every row, in double.</summary>
    public static double[] TargetLogits(Tensor logits, Tensor targets)
    {
        using var scope = NewDisposeScope();
        return logits.detach().gather(1, targets.unsqueeze(1)).squeeze(1).to(ScalarType.Float64).data<double>().ToArray();
    }

    /// <summary>
    /// Σ_k w_k ∂f_t/∂p at p = start + α_k (end − start): the quadrature-weighted mean gradient along the straight path
    /// (accumulated in double, returned in <paramref name="start"/>'s dtype). <paramref name="forward"/>(points, k) runs
    /// k path points of all n samples stacked step-major (row j·n + i is sample i at point j) and returns their logits.
    /// At most <see cref="AttributionOptions.InternalBatchSize"/> rows (but at least one point) go through one pass.
    /// </summary>
    public static Tensor PathMeanGradient(Tensor start, Tensor end, Tensor targets, AttributionOptions options, Func<Tensor, int, Tensor> forward)
    {
        (double[] alphas, double[] weights) = options.PathPoints();
        using var scope = NewDisposeScope();
        long n = start.shape[0];
        long[] tail = start.shape[1..];
        long[] column = [-1, 1, .. tail.Select(_ => 1L)];
        int perPass = (int)Math.Clamp(Math.Max(1, options.InternalBatchSize) / Math.Max(1, n), 1, alphas.Length);
        Tensor diff = end.sub(start).unsqueeze(0);
        Tensor from = start.unsqueeze(0);
        Tensor total = zeros(start.shape, ScalarType.Float64);
        for (int k0 = 0; k0 < alphas.Length; k0 += perPass)
        {
            using var pass = NewDisposeScope();
            int k = Math.Min(perPass, alphas.Length - k0);
            Tensor alpha = tensor(alphas[k0..(k0 + k)], ScalarType.Float64).to(start.dtype).reshape(column);
            Tensor points = from.add(diff.mul(alpha)).reshape([k * n, .. tail]);
            Tensor gradient = TargetGradient(points, p => forward(p, k), targets.repeat(k));
            Tensor weight = tensor(weights[k0..(k0 + k)], ScalarType.Float64).reshape(column);
            total.add_(gradient.to(ScalarType.Float64).reshape([k, n, .. tail]).mul(weight).sum(0L)); // 0L: a plain 0 would bind to sum(ScalarType)
        }
        return total.to(start.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>Builds the result of a path method: Values = (end − start) ⊙ mean gradient, and the completeness check against <paramref name="delta"/>.</summary>
    public static AttributionResult PathResult(Tensor start, Tensor end, Tensor meanGradient, double[] delta, string? layer)
    {
        Tensor values = end.sub(start).mul(meanGradient);
        var result = new AttributionResult(values, meanGradient, delta, [], layer);
        double[] sums = result.Sums();
        return result with { CompletenessGap = [.. sums.Select((s, i) => Math.Abs(s - delta[i]))] };
    }

    /// <summary>Splits a batch into chunks of at most <paramref name="size"/> samples: (start, length) pairs.</summary>
    public static IEnumerable<(long Start, long Length)> Chunks(long count, int size)
    {
        long step = Math.Max(1, size);
        for (long s = 0; s < count; s += step) yield return (s, Math.Min(step, count - s));
    }
}
