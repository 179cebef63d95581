using static TorchSharp.torch;

namespace Reparo.Attribution;

/// <summary>
/// The reference point a path attribution starts from: all zeros, or a given tensor (a blurred image, another sample,
/// the clean twin of a corrupted input, …).
/// </summary>
public sealed record AttributionBaseline
{
    private AttributionBaseline(Tensor? given) => Given = given;

    /// <summary>The all-zero baseline (Captum's default).</summary>
    public static AttributionBaseline Zeros { get; } = new((Tensor?)null);

    /// <summary>A given baseline: shaped like the inputs (N, …), or like one sample with a batch of one (1, …), which then serves every sample.</summary>
    public static AttributionBaseline Of(Tensor baseline) => new(baseline ?? throw new ArgumentNullException(nameof(baseline)));

    /// <summary>The mean input of <paramref name="inputs"/> (N, …), summed in float64, as one sample (1, …): a table's usual reference.</summary>
    public static AttributionBaseline MeanOf(Tensor inputs) => Of(inputs.to(ScalarType.Float64).mean([0L], keepdim: true).to(inputs.dtype));

    /// <summary>The given tensor, or <c>null</c> for <see cref="Zeros"/>.</summary>
    public Tensor? Given { get; }

    /// <summary>Whether this is the all-zero baseline.</summary>
    public bool IsZeros => Given is null;

    /// <summary>The baseline for <paramref name="inputs"/>: same shape, dtype and device (a new tensor the caller owns).</summary>
    public Tensor For(Tensor inputs)
    {
        if (Given is null) return zeros_like(inputs);
        long[] shape = Given.shape;
        bool same = shape.SequenceEqual(inputs.shape);
        bool single = shape.Length == inputs.shape.Length && shape[0] == 1 && shape[1..].SequenceEqual(inputs.shape[1..]);
        if (!same && !single)
            throw new ReparoInputException($"the baseline has shape [{string.Join(",", shape)}] but the inputs [{string.Join(",", inputs.shape)}]");
        return Given.detach().to(inputs.dtype, inputs.device).expand(inputs.shape).contiguous();
    }
}

/// <summary>How the path integral of integrated gradients is approximated (Captum's <c>method</c> argument).</summary>
public enum IntegrationRule
{
    /// <summary>Gauss–Legendre quadrature on [0, 1] (Captum's default): exact for polynomials of degree 2·steps − 1.</summary>
    GaussLegendre,

    /// <summary>Riemann sum at the left ends of <c>steps</c> equal intervals (α = 0, 1/n, …).</summary>
    RiemannLeft,

    /// <summary>Riemann sum at the right ends of <c>steps</c> equal intervals (α = 1/n, …, 1).</summary>
    RiemannRight,

    /// <summary>Riemann sum at the midpoints of <c>steps</c> equal intervals (α = 1/2n, 3/2n, …).</summary>
    RiemannMiddle,

    /// <summary>Trapezoid rule on <c>steps</c> equally spaced points including both ends (needs steps ≥ 2).</summary>
    RiemannTrapezoid,
}

/// <summary>Settings of an attribution; saliency and gradient × input use only <see cref="InternalBatchSize"/>.</summary>
public sealed record AttributionOptions
{
    /// <summary>Where the integration path starts (default: zeros).</summary>
    public AttributionBaseline Baseline { get; init; } = AttributionBaseline.Zeros;

    /// <summary>Number of points on the path (default 50, as in Captum).</summary>
    public int Steps { get; init; } = 50;

    /// <summary>Quadrature rule of the path integral (default Gauss–Legendre, as in Captum).</summary>
    public IntegrationRule Rule { get; init; } = IntegrationRule.GaussLegendre;

    /// <summary>
    /// At most this many rows (samples × path points) go through one forward and backward pass (Captum's
    /// <c>internal_batch_size</c>), so memory stays bounded however many steps are asked for; at least one sample
    /// at one point goes per pass. The result does not depend on it beyond float rounding.
    /// </summary>
    public int InternalBatchSize { get; init; } = 256;

    /// <summary>The path points α ∈ [0, 1] and their weights (which add up to 1) for <see cref="Steps"/> and <see cref="Rule"/>.</summary>
    public (double[] Alphas, double[] Weights) PathPoints()
    {
        int n = Steps;
        if (n < 1) throw new ReparoInputException($"steps must be at least 1, got {n}");
        var alphas = new double[n];
        var weights = new double[n];
        switch (Rule)
        {
            case IntegrationRule.GaussLegendre:
                GaussLegendre(n, alphas, weights);
                break;
            case IntegrationRule.RiemannLeft:
            case IntegrationRule.RiemannRight:
            case IntegrationRule.RiemannMiddle:
                double offset = Rule switch { IntegrationRule.RiemannLeft => 0, IntegrationRule.RiemannRight => 1, _ => 0.5 };
                for (int i = 0; i < n; i++)
                {
                    alphas[i] = (i + offset) / n;
                    weights[i] = 1.0 / n;
                }
                break;
            case IntegrationRule.RiemannTrapezoid:
                if (n < 2) throw new ReparoInputException("the trapezoid rule needs at least 2 steps");
                for (int i = 0; i < n; i++)
                {
                    alphas[i] = (double)i / (n - 1);
                    weights[i] = (i == 0 || i == n - 1 ? 0.5 : 1.0) / (n - 1);
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(Rule), Rule, null);
        }
        return (alphas, weights);
    }

    /// <summary>Gauss–Legendre nodes and weights mapped from [−1, 1] to [0, 1] (Newton's method on P_n; ascending nodes).</summary>
    private static void GaussLegendre(int n, double[] alphas, double[] weights)
    {
        for (int i = 0; i < n; i++)
        {
            // The i-th largest root of P_n, from the standard initial guess.
            double x = Math.Cos(Math.PI * (i + 0.75) / (n + 0.5));
            for (int iteration = 0; iteration < 100; iteration++)
            {
                (double p, double dp) = Legendre(n, x);
                double step = p / dp;
                x -= step;
                if (Math.Abs(step) < 1e-15) break;
            }
            double derivative = Legendre(n, x).Derivative;
            int at = n - 1 - i; // ascending order of α
            alphas[at] = 0.5 * (1 + x);
            weights[at] = 1 / ((1 - x * x) * derivative * derivative); // half of the [−1, 1] weight 2 / ((1 − x²) P_n'(x)²)
        }
    }

    /// <summary>P_n(x) and P_n'(x) by the three-term recurrence.</summary>
    private static (double Value, double Derivative) Legendre(int n, double x)
    {
        double p0 = 1, p1 = x;
        for (int k = 2; k <= n; k++)
        {
            double p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
            p0 = p1;
            p1 = p2;
        }
        return (p1, n * (x * p1 - p0) / (x * x - 1));
    }
}
