using System.Diagnostics;
using Reparo.Data;
using Reparo.Models;
using Reparo.Runtime;
using Reparo.Training;
using static TorchSharp.torch;

namespace Reparo.Influence.Baselines;

/// <summary>How <see cref="TracIn"/> gets the per-sample gradients.</summary>
public enum TracInGradients
{
    /// <summary>
    /// The final Linear layer, factorised: ∇_W L = (p − y) ⊗ a with the bias as a constant 1, so
    /// ∇L(z)·∇L(z') = ((p − y)·(p' − y'))·(a·a' + 1), for all samples at once with matrix products (one forward pass
    /// per checkpoint).
    /// </summary>
    LastLayerFactorised,

    /// <summary>The final Linear layer's weight and bias, by autograd, one backward pass per sample and checkpoint.</summary>
    LastLayerAutograd,

    /// <summary>Every trainable parameter, by autograd, one backward pass per sample and checkpoint.</summary>
    AllParametersAutograd,
}

/// <summary>Settings of <see cref="TracIn"/>.</summary>
public sealed record TracInOptions
{
    /// <summary>Which gradients and how (default: the factorised last layer).</summary>
    public TracInGradients Gradients { get; init; } = TracInGradients.LastLayerFactorised;

    /// <summary>Training rows to score (default: all).</summary>
    public IReadOnlyList<int>? Candidates { get; init; }

    /// <summary>Samples per forward pass.</summary>
    public int BatchSize { get; init; } = 256;

    /// <summary>Throws a <see cref="ReparoInputException"/> if a value is out of range.</summary>
    public void Validate()
    {
        if (BatchSize < 1) throw new ReparoInputException($"batch size must be at least 1, got {BatchSize}");
    }
}

/// <summary>
/// TracIn (Pruthi et al., NeurIPS'20, Eq. 3, TracInCP): TracIn(z, z') = Σ_c η_c ∇L(z; θ_c)·∇L(z'; θ_c) over checkpoints
/// θ_c saved during training with their learning rates η_c. Self-influence is TracIn(z_i, z_i); test influence is
/// −TracIn(z_i, z_t), negated so that higher means more harmful (TracIn itself is positive for proponents, whose
/// training steps lowered the test loss). The network given to the methods supplies only the architecture; the weights
/// come from the checkpoints.
/// </summary>
public sealed class TracIn : ITrainingInfluence
{
    /// <summary>The method's name.</summary>
    public const string MethodName = "tracin";

    private readonly IReadOnlyList<TrainingCheckpoint> checkpoints;

    /// <summary>TracIn over <paramref name="checkpoints"/> (e.g. one per epoch, from <see cref="Trainer.Train"/>'s epoch callback).</summary>
    public TracIn(IReadOnlyList<TrainingCheckpoint> checkpoints, TracInOptions? options = null)
    {
        if (checkpoints.Count == 0) throw new ReparoInputException("TracIn needs at least one training checkpoint");
        this.checkpoints = checkpoints;
        Options = options ?? new TracInOptions();
    }

    /// <summary>The settings.</summary>
    public TracInOptions Options { get; }

    /// <inheritdoc />
    public string Name => MethodName;

    /// <inheritdoc />
    public InfluenceScores SelfInfluence(Network network, Dataset train, IProgress<InfluenceProgress>? progress = null, CancellationToken cancellation = default) =>
        Run(network, train, null, null, progress, cancellation);

    /// <inheritdoc />
    public InfluenceScores TestInfluence(Network network, Dataset train, Tensor testX, long[] testY, IProgress<InfluenceProgress>? progress = null, CancellationToken cancellation = default) =>
        Run(network, train, testX, testY, progress, cancellation);

    /// <summary>Sums η_c times each checkpoint's gradient dot products (TracInCP's sum over checkpoints).</summary>
    private InfluenceScores Run(Network network, Dataset train, Tensor? testX, long[]? testY, IProgress<InfluenceProgress>? progress, CancellationToken cancellation)
    {
        Options.Validate();
        int[] rows = InfluenceCore.Rows(network, train, Options.Candidates);
        var clock = Stopwatch.StartNew();
        // A copy to load the checkpoints into, made outside any dispose scope (its parameters belong to it).
        using Network copy = network.Clone();
        copy.eval();
        using var scope = NewDisposeScope();
        Tensor? testLabels = testX is null ? null : InfluenceCore.TestLabels(network, testX, testY!);
        Tensor x = InfluenceCore.Select(train.X, rows), y = InfluenceCore.Select(train.Y, rows);
        var scores = new double[rows.Length];
        long parameterCount = 0;
        using ProgressScope shown = WorkProgress.Begin($"{Name} checkpoints", checkpoints.Count);
        for (int c = 0; c < checkpoints.Count; c++)
        {
            cancellation.ThrowIfCancellationRequested();
            using var checkpointScope = NewDisposeScope();
            checkpoints[c].LoadInto(copy);
            double[] dots;
            (dots, parameterCount) = Options.Gradients == TracInGradients.LastLayerFactorised
                ? Factorised(copy, x, y, testX, testLabels)
                : Direct(copy, x, y, testX, testLabels, progress, cancellation);
            double rate = checkpoints[c].LearningRate;
            for (int k = 0; k < scores.Length; k++) scores[k] += rate * dots[k];
            progress?.Report(new InfluenceProgress("checkpoints", c + 1, checkpoints.Count));
            shown.Advance();
        }
        var details = new Dictionary<string, double> { ["checkpoints"] = checkpoints.Count, ["parameters"] = parameterCount };
        return new InfluenceScores(Name, rows, scores, clock.Elapsed.TotalSeconds, details);
    }

    /// <summary>
    /// One checkpoint, factorised last layer (Pruthi et al. Sec. 3.2): ‖r_i‖²‖ã_i‖² for self-influence, or
    /// −mean_t (r_i·r_t)(ã_i·ã_t) against the test batch, with r = p − y and ã = [a, 1].
    /// </summary>
    private (double[] Dots, long Parameters) Factorised(Network network, Tensor x, Tensor y, Tensor? testX, Tensor? testY)
    {
        Tensor theta = InfluenceCore.AugmentedWeight(network, "factorised TracIn");
        Tensor a = InfluenceCore.AugmentedFeatures(network, x, Options.BatchSize);
        Tensor r = InfluenceCore.Residuals(a.matmul(theta.t()), y);
        Tensor dots;
        if (testX is null)
        {
            dots = r.square().sum(1).mul(a.square().sum(1));
        }
        else
        {
            Tensor testA = InfluenceCore.AugmentedFeatures(network, testX, Options.BatchSize);
            Tensor testR = InfluenceCore.Residuals(testA.matmul(theta.t()), testY!);
            dots = r.matmul(testR.t()).mul(a.matmul(testA.t())).mean([1L]).neg();
        }
        return (dots.data<double>().ToArray(), theta.numel());
    }

    /// <summary>One checkpoint, per-sample gradients by autograd: ‖g_i‖² for self-influence, or −g_i·ḡ_t against the test batch's mean gradient.</summary>
    private (double[] Dots, long Parameters) Direct(Network network, Tensor x, Tensor y, Tensor? testX, Tensor? testY,
        IProgress<InfluenceProgress>? progress, CancellationToken cancellation)
    {
        GradientScope scope = Options.Gradients == TracInGradients.LastLayerAutograd ? GradientScope.LastLayer : GradientScope.AllParameters;
        var parameters = InfluenceCore.ParametersOf(network, scope, Name);
        Tensor? testGradient = testX is null ? null : InfluenceCore.MeanGradient(network, parameters, testX, testY!, Options.BatchSize);
        var dots = new double[x.shape[0]];
        InfluenceCore.PerSampleGradients(network, parameters, x, y,
            (k, g) => dots[k] = testGradient is null ? g.dot(g).item<double>() : -g.dot(testGradient).item<double>(),
            "gradients", progress, cancellation);
        return (dots, parameters.Sum(p => p.numel()));
    }
}
