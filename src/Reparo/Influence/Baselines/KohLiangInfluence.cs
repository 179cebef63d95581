using System.Diagnostics;
using Reparo.Data;
using Reparo.Models;
using Reparo.Runtime;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reparo.Influence.Baselines;

/// <summary>How <see cref="KohLiangInfluence"/> applies the inverse Hessian.</summary>
public enum KohLiangSolver
{
    /// <summary>
    /// The final Linear layer only, exactly: the closed-form softmax cross-entropy Hessian of the mean training loss
    /// over all training samples, assembled in float64 and factorised once by Cholesky. Cost: one forward pass over the
    /// training data plus O(n·C²·D²) for the Hessian; self-influence of every sample is then one triangular solve each.
    /// </summary>
    LastLayerExact,

    /// <summary>
    /// All parameters, by conjugate gradient on Hessian-vector products (double backpropagation) of the mean loss over
    /// a seeded subsample of <see cref="KohLiangOptions.HessianSamples"/> training samples. One Hessian-vector product
    /// costs about two backward passes over that subsample, and a solve up to <see cref="KohLiangOptions.MaxIterations"/>
    /// of them. Test influence needs one solve plus a double backward pass per batch of candidates; self-influence needs one solve
    /// <em>per candidate</em> (candidates × iterations × subsample double-backward passes), so restrict it with
    /// <see cref="KohLiangOptions.Candidates"/>.
    /// </summary>
    ConjugateGradient,
}

/// <summary>Settings of <see cref="KohLiangInfluence"/>.</summary>
public sealed record KohLiangOptions
{
    /// <summary>Exact last-layer inverse or conjugate gradient over all parameters.</summary>
    public KohLiangSolver Solver { get; init; } = KohLiangSolver.LastLayerExact;

    /// <summary>λ added to the Hessian's diagonal (the Hessian of the mean loss plus (λ/2)‖θ‖²), so it is positive definite.</summary>
    public double Damping { get; init; } = 0.01;

    /// <summary>Training samples the conjugate-gradient Hessian is averaged over, drawn with <see cref="Seed"/>; 0 takes all.</summary>
    public int HessianSamples { get; init; } = 1000;

    /// <summary>Conjugate-gradient iterations per solve at most.</summary>
    public int MaxIterations { get; init; } = 100;

    /// <summary>Conjugate gradient stops once the residual is at most this fraction of the right-hand side's norm.</summary>
    public double Tolerance { get; init; } = 1e-6;

    /// <summary>Training rows to score (default: all).</summary>
    public IReadOnlyList<int>? Candidates { get; init; }

    /// <summary>Seed of the Hessian subsample.</summary>
    public int Seed { get; init; }

    /// <summary>Samples per forward or backward pass.</summary>
    public int BatchSize { get; init; } = 256;

    /// <summary>Throws a <see cref="ReparoInputException"/> if a value is out of range.</summary>
    public void Validate()
    {
        if (!(Damping >= 0) || double.IsInfinity(Damping)) throw new ReparoInputException($"damping must be non-negative, got {Damping}");
        if (HessianSamples < 0) throw new ReparoInputException($"Hessian samples must be non-negative (0 = all), got {HessianSamples}");
        if (MaxIterations < 1) throw new ReparoInputException($"conjugate-gradient iterations must be at least 1, got {MaxIterations}");
        if (!(Tolerance > 0) || double.IsInfinity(Tolerance)) throw new ReparoInputException($"conjugate-gradient tolerance must be positive, got {Tolerance}");
        if (BatchSize < 1) throw new ReparoInputException($"batch size must be at least 1, got {BatchSize}");
    }
}

/// <summary>
/// Influence functions (Koh &amp; Liang, ICML'17): with H the Hessian of the mean training loss plus damping λ, the
/// influence of up-weighting training sample z_i on the test loss is I(z_i, z_t) = −∇L(z_t)ᵀ H⁻¹ ∇L(z_i) (Eq. 2; higher
/// = more harmful, so removing z_i would lower the test loss by about I/n), and its self-influence is
/// ∇L(z_i)ᵀ H⁻¹ ∇L(z_i) (how much z_i's own loss depends on z_i, high for mislabels). <see cref="KohLiangSolver"/>
/// picks the exact last-layer inverse or conjugate gradient over all parameters.
/// </summary>
public sealed class KohLiangInfluence(KohLiangOptions? options = null) : ITrainingInfluence
{
    /// <summary>The method's name.</summary>
    public const string MethodName = "koh-liang";

    /// <summary>The settings.</summary>
    public KohLiangOptions Options { get; } = options ?? new KohLiangOptions();

    /// <inheritdoc />
    public string Name => MethodName;

    /// <inheritdoc />
    public InfluenceScores SelfInfluence(Network network, Dataset train, IProgress<InfluenceProgress>? progress = null, CancellationToken cancellation = default) =>
        Run(network, train, null, null, progress, cancellation);

    /// <inheritdoc />
    public InfluenceScores TestInfluence(Network network, Dataset train, Tensor testX, long[] testY, IProgress<InfluenceProgress>? progress = null, CancellationToken cancellation = default) =>
        Run(network, train, testX, testY, progress, cancellation);

    /// <summary>Checks the arguments, times the work and dispatches to the solver (Koh &amp; Liang Sec. 3).</summary>
    private InfluenceScores Run(Network network, Dataset train, Tensor? testX, long[]? testY, IProgress<InfluenceProgress>? progress, CancellationToken cancellation)
    {
        Options.Validate();
        int[] rows = InfluenceCore.Rows(network, train, Options.Candidates);
        using var scope = NewDisposeScope();
        Tensor? testLabels = testX is null ? null : InfluenceCore.TestLabels(network, testX, testY!);
        var clock = Stopwatch.StartNew();
        (double[] scores, Dictionary<string, double> details) = network.InEvalMode(() => Options.Solver == KohLiangSolver.LastLayerExact
            ? Exact(network, train, rows, testX, testLabels, progress, cancellation)
            : Iterative(network, train, rows, testX, testLabels, progress, cancellation));
        details["damping"] = Options.Damping;
        return new InfluenceScores(Name, rows, scores, clock.Elapsed.TotalSeconds, details);
    }

    /// <summary>
    /// The last-layer case in closed form: H = mean (diag p − p pᵀ) ⊗ ã ãᵀ + λI, factorised H = L Lᵀ; self-influence
    /// ‖L⁻¹ g̃_i‖², test influence −g̃_iᵀ H⁻¹ ḡ_t.
    /// </summary>
    private (double[] Scores, Dictionary<string, double> Details) Exact(Network network, Dataset train, int[] rows, Tensor? testX, Tensor? testY,
        IProgress<InfluenceProgress>? progress, CancellationToken cancellation)
    {
        using var scope = NewDisposeScope();
        Tensor theta = InfluenceCore.AugmentedWeight(network, "the exact last-layer influence");
        progress?.Report(new InfluenceProgress("features", 0, 1));
        Tensor features = InfluenceCore.AugmentedFeatures(network, train.X, Options.BatchSize);
        Tensor probabilities = features.matmul(theta.t()).softmax(1);
        progress?.Report(new InfluenceProgress("hessian", 0, 1));
        Tensor hessian = InfluenceCore.SoftmaxHessian(features, probabilities, Options.BatchSize);
        hessian.diagonal().add_(Options.Damping);
        (Tensor factor, Tensor info) = linalg.cholesky_ex(hessian);
        if (info.item<int>() != 0) throw new ReparoInputException($"the last-layer Hessian is not positive definite with damping {Options.Damping}; raise the damping");
        progress?.Report(new InfluenceProgress("hessian", 1, 1));
        Tensor index = tensor(rows.Select(i => (long)i).ToArray());
        Tensor a = features.index_select(0, index);
        Tensor residuals = probabilities.index_select(0, index).sub(InfluenceCore.OneHot(train.Y.index_select(0, index), network.ClassCount));
        var scores = new double[rows.Length];
        if (testX is null)
        {
            using ProgressScope shown = WorkProgress.Begin($"{Name} self-influence", rows.Length);
            for (int start = 0; start < rows.Length; start += Options.BatchSize)
            {
                cancellation.ThrowIfCancellationRequested();
                using var batchScope = NewDisposeScope();
                int count = Math.Min(Options.BatchSize, rows.Length - start);
                Tensor g = InfluenceCore.LastLayerGradients(residuals.narrow(0, start, count), a.narrow(0, start, count));
                Tensor solved = linalg.solve_triangular(factor, g.t(), upper: false);
                solved.square().sum(0L).data<double>().CopyTo(scores, start);
                progress?.Report(new InfluenceProgress("solves", start + count, rows.Length));
                shown.Advance(count);
            }
        }
        else
        {
            Tensor testFeatures = InfluenceCore.AugmentedFeatures(network, testX, Options.BatchSize);
            Tensor testResiduals = InfluenceCore.Residuals(testFeatures.matmul(theta.t()), testY!);
            Tensor testGradient = InfluenceCore.LastLayerGradients(testResiduals, testFeatures).mean([0L]);
            Tensor v = cholesky_solve(testGradient.unsqueeze(1), factor, upper: false).squeeze(1);
            // −g̃_iᵀ v with g̃_i = r_i ⊗ ã_i is −r_iᵀ V ã_i for V = v as a C × (D + 1) matrix.
            Tensor scoreTensor = residuals.mul(a.matmul(v.reshape(network.ClassCount, -1).t())).sum(1).neg();
            scoreTensor.data<double>().CopyTo(scores, 0);
        }
        return (scores, new Dictionary<string, double> { ["parameters"] = hessian.shape[0], ["hessian_samples"] = train.Count });
    }

    /// <summary>
    /// All parameters: H⁻¹ by conjugate gradient on damped Hessian-vector products of the mean loss over a seeded
    /// subsample (Koh &amp; Liang Sec. 3, "conjugate gradients"); self-influence takes per-sample gradients by one
    /// backward pass each, test influence only the batched directional derivatives ∇L(z_i)·H⁻¹∇L(z_test).
    /// </summary>
    private (double[] Scores, Dictionary<string, double> Details) Iterative(Network network, Dataset train, int[] rows, Tensor? testX, Tensor? testY,
        IProgress<InfluenceProgress>? progress, CancellationToken cancellation)
    {
        using var scope = NewDisposeScope();
        Parameter[] parameters = InfluenceCore.ParametersOf(network, GradientScope.AllParameters, Name);
        int[] hessianRows = HessianRows(train.Count);
        Tensor hx = InfluenceCore.Select(train.X, hessianRows), hy = InfluenceCore.Select(train.Y, hessianRows);
        Tensor Apply(Tensor v) => InfluenceCore.HessianVectorProduct(network, parameters, hx, hy, v, Options.BatchSize).add_(v, Options.Damping);
        Tensor x = InfluenceCore.Select(train.X, rows), y = InfluenceCore.Select(train.Y, rows);
        var scores = new double[rows.Length];
        int maxIterations = 0;
        double maxResidual = 0;
        if (testX is null)
        {
            InfluenceCore.PerSampleGradients(network, parameters, x, y, (k, g) =>
            {
                (Tensor solution, int iterations, double residual) = ConjugateGradient(Apply, g, cancellation);
                scores[k] = g.dot(solution).item<double>();
                maxIterations = Math.Max(maxIterations, iterations);
                maxResidual = Math.Max(maxResidual, residual);
            }, "solves", progress, cancellation);
        }
        else
        {
            Tensor testGradient = InfluenceCore.MeanGradient(network, parameters, testX, testY!, Options.BatchSize);
            progress?.Report(new InfluenceProgress("solves", 0, 1));
            (Tensor v, maxIterations, maxResidual) = ConjugateGradient(Apply, testGradient, cancellation);
            progress?.Report(new InfluenceProgress("solves", 1, 1));
            double[] derivatives = InfluenceCore.DirectionalDerivatives(network, parameters, x, y, v, Options.BatchSize, "gradients", progress, cancellation);
            for (int k = 0; k < scores.Length; k++) scores[k] = -derivatives[k];
        }
        return (scores, new Dictionary<string, double>
        {
            ["parameters"] = parameters.Sum(p => p.numel()),
            ["hessian_samples"] = hessianRows.Length,
            ["cg_max_iterations"] = maxIterations,
            ["cg_max_relative_residual"] = maxResidual,
        });
    }

    /// <summary>The training rows the Hessian is averaged over: all, or a seeded sample of <see cref="KohLiangOptions.HessianSamples"/> in ascending order.</summary>
    private int[] HessianRows(int count)
    {
        int[] all = [.. Enumerable.Range(0, count)];
        if (Options.HessianSamples == 0 || Options.HessianSamples >= count) return all;
        new Random(Options.Seed).Shuffle(all);
        return [.. all.Take(Options.HessianSamples).Order()];
    }

    /// <summary>
    /// Solves (H + λI) x = b by conjugate gradient from x = 0, in float64; returns x, the iterations taken and the final
    /// relative residual ‖r‖ / ‖b‖. A direction of non-positive curvature means the damped Hessian is not positive
    /// definite (a non-convex network), which is reported as bad input with the damping that would be needed at least.
    /// </summary>
    private (Tensor Solution, int Iterations, double Residual) ConjugateGradient(Func<Tensor, Tensor> apply, Tensor b, CancellationToken cancellation)
    {
        using var scope = NewDisposeScope();
        Tensor x = zeros_like(b), r = b.clone(), p = b.clone();
        double bNorm = Math.Sqrt(b.dot(b).item<double>());
        if (bNorm == 0) return (x.MoveToOuterDisposeScope(), 0, 0);
        double rr = bNorm * bNorm;
        int iteration = 0;
        while (iteration < Options.MaxIterations && Math.Sqrt(rr) > Options.Tolerance * bNorm)
        {
            cancellation.ThrowIfCancellationRequested();
            using var stepScope = NewDisposeScope();
            iteration++;
            Tensor ap = apply(p);
            double curvature = p.dot(ap).item<double>();
            if (!(curvature > 0))
            {
                // pᵀ(H + λI)p / pᵀp bounds the smallest eigenvalue from above; damping past λ minus it is needed.
                double rayleigh = curvature / p.dot(p).item<double>();
                throw new IndefiniteHessianException(Options.Damping - rayleigh,
                    $"the damped Hessian is not positive definite (curvature {rayleigh:g3} along a conjugate-gradient direction, a non-convex network); use a damping above {Options.Damping - rayleigh:g3}");
            }
            double step = rr / curvature;
            x.add_(p, step);
            r.add_(ap, -step);
            double next = r.dot(r).item<double>();
            p.mul_(next / rr).add_(r);
            rr = next;
        }
        return (x.MoveToOuterDisposeScope(), iteration, Math.Sqrt(rr) / bNorm);
    }
}

/// <summary>
/// The damped Hessian met a direction of negative curvature during conjugate gradient (a non-convex network):
/// <see cref="RequiredDamping"/> is a lower bound on the damping that removes it.
/// </summary>
public sealed class IndefiniteHessianException : ReparoInputException
{
    /// <summary>Creates the error with the damping that the measured curvature calls for.</summary>
    public IndefiniteHessianException(double requiredDamping, string message) : base(message) => RequiredDamping = requiredDamping;

    /// <summary>The damping the measured negative curvature calls for at least.</summary>
    public double RequiredDamping { get; }
}
