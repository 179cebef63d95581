using System.Diagnostics;
using Reparo.Data;
using Reparo.Models;
using Reparo.Runtime;
using static TorchSharp.torch;

namespace Reparo.Influence.Baselines;

/// <summary>Settings of <see cref="RepresenterPoints"/>.</summary>
public sealed record RepresenterOptions
{
    /// <summary>λ of the fine-tuning objective mean L + λ‖Θ‖² (Yeh et al. Eq. 2).</summary>
    public double Lambda { get; init; } = 0.01;

    /// <summary>Newton iterations of the fine-tuning at most.</summary>
    public int MaxIterations { get; init; } = 50;

    /// <summary>Fine-tuning stops once the objective's gradient norm ‖∇Φ‖ is at most this.</summary>
    public double Tolerance { get; init; } = 1e-10;

    /// <summary>Samples per forward pass.</summary>
    public int BatchSize { get; init; } = 256;

    /// <summary>Throws a <see cref="ReparoInputException"/> if a value is out of range.</summary>
    public void Validate()
    {
        if (!(Lambda > 0) || double.IsInfinity(Lambda)) throw new ReparoInputException($"the representer λ must be positive, got {Lambda}");
        if (MaxIterations < 1) throw new ReparoInputException($"fine-tuning iterations must be at least 1, got {MaxIterations}");
        if (!(Tolerance > 0) || double.IsInfinity(Tolerance)) throw new ReparoInputException($"fine-tuning tolerance must be positive, got {Tolerance}");
        if (BatchSize < 1) throw new ReparoInputException($"batch size must be at least 1, got {BatchSize}");
    }
}

/// <summary>
/// The final layer fine-tuned to a stationary point of Φ(Θ) = (1/n) Σ L(Θ ã_i, y_i) + λ‖Θ‖², and its representer
/// weights α_i = −1/(2λn) ∂L/∂(Θ ã_i) (Yeh et al., NeurIPS'18, Thm. 3.1), so that Θ = Σ_i α_i ã_iᵀ and every logit
/// splits into training contributions α_ic (ã_i·ã_t). Features ã = [a, 1] carry a constant 1, so the bias is part of
/// Θ and of the decomposition. All tensors are float64 and owned by this object.
/// </summary>
public sealed class RepresenterFit : IDisposable
{
    internal RepresenterFit(Tensor weight, Tensor features, Tensor alpha, double stationarity, int iterations)
    {
        Weight = weight.DetachFromDisposeScope();
        Features = features.DetachFromDisposeScope();
        Alpha = alpha.DetachFromDisposeScope();
        Stationarity = stationarity;
        Iterations = iterations;
    }

    /// <summary>The fine-tuned Θ = [W | b], (C, D + 1).</summary>
    public Tensor Weight { get; }

    /// <summary>The training samples' features ã = [a, 1], (n, D + 1).</summary>
    public Tensor Features { get; }

    /// <summary>The representer weights α, (n, C).</summary>
    public Tensor Alpha { get; }

    /// <summary>‖∇Φ‖ at <see cref="Weight"/>: how far from stationary the fine-tuning ended (the decomposition is exact at 0).</summary>
    public double Stationarity { get; }

    /// <summary>Newton iterations taken.</summary>
    public int Iterations { get; }

    /// <summary>The fine-tuned layer's logits Θ ã_t for test features (M, D + 1), as (M, C).</summary>
    public Tensor Logits(Tensor testFeatures) => testFeatures.matmul(Weight.t());

    /// <summary>Representer values α_ic (ã_i·ã_t) for test features (M, D + 1), as (M, n, C); summed over i they give <see cref="Logits"/>.</summary>
    public Tensor Values(Tensor testFeatures) => testFeatures.matmul(Features.t()).unsqueeze(2).mul(Alpha.unsqueeze(0));

    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        Weight.Dispose();
        Features.Dispose();
        Alpha.Dispose();
    }
}

/// <summary>
/// Representer points (Yeh et al., NeurIPS'18): fine-tune the final Linear layer with L2 penalty λ to a stationary
/// point on the training features (Newton's method in float64 on the closed-form Hessian), then explain through the
/// representer weights α. Self-influence is the self-importance |α_{i,y_i}|; test influence is
/// mean_t (p_t − y_t)·α_i (ã_i·ã_t), the first-order rise of the test loss that sample i's representer contribution
/// causes (higher = more harmful), with p_t the fine-tuned layer's probabilities.
/// </summary>
public sealed class RepresenterPoints(RepresenterOptions? options = null) : ITrainingInfluence
{
    /// <summary>The method's name.</summary>
    public const string MethodName = "representer";

    /// <summary>The settings.</summary>
    public RepresenterOptions Options { get; } = options ?? new RepresenterOptions();

    /// <inheritdoc />
    public string Name => MethodName;

    /// <summary>The final layer's input with a constant 1 appended, ã = [a, 1], float64 (M, D + 1), in evaluation mode.</summary>
    public Tensor Features(Network network, Tensor x) =>
        network.InEvalMode(() => InfluenceCore.AugmentedFeatures(network, x, Options.BatchSize));

    /// <summary>
    /// Fine-tunes a float64 copy of the final layer, started from the network's weights, by damped Newton steps to a
    /// stationary point of Φ (Yeh et al. Sec. 3.1), and returns it with the representer weights. The network is unchanged.
    /// </summary>
    public RepresenterFit Fit(Network network, Dataset train, IProgress<InfluenceProgress>? progress = null, CancellationToken cancellation = default)
    {
        Options.Validate();
        InfluenceCore.Rows(network, train, null);
        using var scope = NewDisposeScope();
        Tensor theta = InfluenceCore.AugmentedWeight(network, "representer points");
        Tensor a = Features(network, train.X);
        Tensor y = InfluenceCore.OneHot(train.Y, network.ClassCount);
        double lambda = Options.Lambda;
        long n = a.shape[0];
        double Objective(Tensor w) => a.matmul(w.t()).log_softmax(1).mul(y).sum().item<double>() / -n + lambda * w.square().sum().item<double>();
        int iteration = 0;
        double norm;
        using ProgressScope shown = WorkProgress.Begin($"{Name} Newton steps", Options.MaxIterations);
        while (true)
        {
            cancellation.ThrowIfCancellationRequested();
            using var stepScope = NewDisposeScope();
            Tensor p = a.matmul(theta.t()).softmax(1);
            Tensor gradient = p.sub(y).t().matmul(a).div(n).add(theta.mul(2 * lambda));
            norm = gradient.norm().item<double>();
            progress?.Report(new InfluenceProgress("fine-tuning", iteration, Options.MaxIterations));
            shown.Describe($"gradient norm {norm:G3}");
            if (norm <= Options.Tolerance || iteration == Options.MaxIterations) break;
            iteration++;
            Tensor hessian = InfluenceCore.SoftmaxHessian(a, p, Options.BatchSize);
            hessian.diagonal().add_(2 * lambda);
            Tensor step = linalg.solve(hessian, gradient.flatten()).reshape(theta.shape);
            double before = Objective(theta), slope = gradient.mul(step).sum().item<double>(), t = 1;
            while (t > 1e-10 && Objective(theta.sub(step.mul(t))) > before - 1e-4 * t * slope) t /= 2;
            theta.sub_(step.mul(t));
            shown.Advance();
        }
        Tensor alpha = a.matmul(theta.t()).softmax(1).sub(y).div(-2 * lambda * n);
        return new RepresenterFit(theta.MoveToOuterDisposeScope(), a.MoveToOuterDisposeScope(), alpha.MoveToOuterDisposeScope(), norm, iteration);
    }

    /// <inheritdoc />
    public InfluenceScores SelfInfluence(Network network, Dataset train, IProgress<InfluenceProgress>? progress = null, CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        using RepresenterFit fit = Fit(network, train, progress, cancellation);
        using var scope = NewDisposeScope();
        double[] scores = fit.Alpha.gather(1, train.Y.unsqueeze(1)).squeeze(1).abs().data<double>().ToArray();
        return Result(train, fit, scores, clock);
    }

    /// <inheritdoc />
    public InfluenceScores TestInfluence(Network network, Dataset train, Tensor testX, long[] testY, IProgress<InfluenceProgress>? progress = null, CancellationToken cancellation = default)
    {
        using var scope = NewDisposeScope();
        Tensor labels = InfluenceCore.TestLabels(network, testX, testY);
        var clock = Stopwatch.StartNew();
        using RepresenterFit fit = Fit(network, train, progress, cancellation);
        Tensor testA = Features(network, testX);
        Tensor testR = InfluenceCore.Residuals(fit.Logits(testA), labels);
        double[] scores = fit.Alpha.matmul(testR.t()).mul(fit.Features.matmul(testA.t())).mean([1L]).data<double>().ToArray();
        return Result(train, fit, scores, clock);
    }

    /// <summary>Packs scores over all training rows with the fine-tuning's figures.</summary>
    private InfluenceScores Result(Dataset train, RepresenterFit fit, double[] scores, Stopwatch clock) =>
        new(Name, [.. Enumerable.Range(0, train.Count)], scores, clock.Elapsed.TotalSeconds, new Dictionary<string, double>
        {
            ["lambda"] = Options.Lambda,
            ["newton_iterations"] = fit.Iterations,
            ["stationarity"] = fit.Stationarity,
            ["parameters"] = fit.Weight.numel(),
        });
}
