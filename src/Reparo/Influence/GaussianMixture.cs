using static TorchSharp.torch;

namespace Reparo.Influence;

/// <summary>How a <see cref="GaussianMixture"/> is fitted; the defaults are scikit-learn's.</summary>
/// <param name="Seed">Seed of the k-means++ initialisation.</param>
/// <param name="RegCovar">Added to every variance (scikit-learn's <c>reg_covar</c>).</param>
/// <param name="Tolerance">EM stops when the mean log-likelihood changes by less than this.</param>
/// <param name="MaxIterations">EM iterations at most.</param>
/// <param name="ChunkSize">Points per chunk of the E-step (bounds the memory of the N × K responsibilities).</param>
/// <param name="Float64Products">Computes the E- and M-step products in float64 instead of float32 (slower; the sums across chunks are float64 either way).</param>
/// <param name="Restarts">
/// Fits from this many k-means++ starts (seeds <c>Seed</c>, <c>Seed + 1</c>, …) and keeps the one with the highest final
/// mean log-likelihood (scikit-learn's <c>n_init</c>).
/// </param>
public sealed record GaussianMixtureOptions(int Seed = 0, double RegCovar = 1e-6, double Tolerance = 1e-3, int MaxIterations = 100,
    int ChunkSize = 16384, bool Float64Products = false, int Restarts = 1)
{
    /// <summary>Throws a <see cref="ReparoInputException"/> if a value is out of range.</summary>
    public void Validate()
    {
        if (!(RegCovar >= 0) || !double.IsFinite(RegCovar)) throw new ReparoInputException($"reg_covar must be non-negative, got {RegCovar}");
        if (!(Tolerance >= 0) || !double.IsFinite(Tolerance)) throw new ReparoInputException($"EM tolerance must be non-negative, got {Tolerance}");
        if (MaxIterations < 1) throw new ReparoInputException($"EM needs at least one iteration, got {MaxIterations}");
        if (ChunkSize < 1) throw new ReparoInputException($"chunk size must be positive, got {ChunkSize}");
        if (Restarts < 1) throw new ReparoInputException($"EM needs at least one start, got {Restarts}");
    }
}

/// <summary>
/// A Gaussian mixture with diagonal covariances fitted by EM (Xie et al., ICML'21, Sec. 3.1, abstraction step 2: the
/// abstract states are the components of a GMM over the PCA-reduced hidden states). Initialised by seeded k-means++
/// (every point then joins its nearest centre for the first M-step); the E-step is two matrix products per chunk,
/// Σ_d (x−μ)²/σ² = x²·(1/σ²) − 2x·(μ/σ²) + μ²/σ², with a log-sum-exp over components; sufficient statistics are summed
/// in float64. Convergence, <c>reg_covar</c> and the BIC follow scikit-learn's <c>GaussianMixture(covariance_type='diag')</c>.
/// </summary>
public sealed class GaussianMixture
{
    private static readonly double Log2Pi = Math.Log(2 * Math.PI);

    /// <summary>numpy's float64 machine epsilon (scikit-learn adds 10·eps to every component's mass).</summary>
    private const double MachineEpsilon = 2.220446049250313e-16;

    /// <summary>Points k-means++ seeding draws its centres from (a seeded uniform sample of larger data).</summary>
    private const int SeedingSample = 100_000;

    /// <summary>
    /// Log-density differences below this are clamped before exponentiating: their responsibilities are below 1e-30 and
    /// would otherwise be denormal float32 numbers, which make every later product many times slower.
    /// </summary>
    private const double LogFloor = -69;

    /// <summary>A mixture from stored parameters (weights K, means and variances K × D row-major).</summary>
    public GaussianMixture(double[] weights, double[] means, double[] variances, int iterations = 0, bool converged = true, double meanLogLikelihood = double.NaN)
    {
        if (weights.Length == 0 || means.Length % weights.Length != 0 || variances.Length != means.Length || means.Length == 0)
            throw new ArgumentException($"mixture parameters disagree: {weights.Length} weights, {means.Length} means, {variances.Length} variances");
        if (variances.Any(v => !(v > 0))) throw new ArgumentException("mixture variances must be positive");
        Weights = weights;
        Means = means;
        Variances = variances;
        Iterations = iterations;
        Converged = converged;
        MeanLogLikelihood = meanLogLikelihood;
    }

    /// <summary>Mixing weights (length K).</summary>
    public double[] Weights { get; }

    /// <summary>Component means, row-major K × D.</summary>
    public double[] Means { get; }

    /// <summary>Diagonal variances (reg_covar included), row-major K × D.</summary>
    public double[] Variances { get; }

    /// <summary>Number of components K.</summary>
    public int Components => Weights.Length;

    /// <summary>Dimension D of the points.</summary>
    public int Dimension => Means.Length / Weights.Length;

    /// <summary>EM iterations the fit ran.</summary>
    public int Iterations { get; }

    /// <summary>Whether the fit stopped because the log-likelihood settled (rather than at the iteration limit).</summary>
    public bool Converged { get; }

    /// <summary>Mean log-likelihood per point of the training data at the last E-step of the fit.</summary>
    public double MeanLogLikelihood { get; }

    /// <summary>Free parameters: K·D means, K·D variances and K − 1 weights.</summary>
    public long ParameterCount => 2L * Components * Dimension + Components - 1;

    /// <summary>Fits <paramref name="components"/> components to <paramref name="x"/> (N × D) by EM.</summary>
    public static GaussianMixture Fit(Tensor x, int components, GaussianMixtureOptions? options = null)
    {
        options ??= new GaussianMixtureOptions();
        options.Validate();
        if (x.dim() != 2) throw new ReparoInputException($"a mixture is fitted to points (N, D), got [{string.Join(",", x.shape)}]");
        if (components < 1 || components > x.shape[0]) throw new ReparoInputException($"cannot fit {components} components to {x.shape[0]} points");
        GaussianMixture? best = null;
        for (int start = 0; start < options.Restarts; start++)
        {
            GaussianMixture fit = FitOnce(x, components, options with { Seed = options.Seed + start });
            if (best is null || fit.MeanLogLikelihood > best.MeanLogLikelihood) best = fit;
        }
        return best!;
    }

    private static GaussianMixture FitOnce(Tensor x, int components, GaussianMixtureOptions options)
    {
        using var scope = NewDisposeScope();
        ScalarType type = options.Float64Products ? ScalarType.Float64 : ScalarType.Float32;
        Tensor features = Features(x, type);
        long n = x.shape[0];
        int d = (int)x.shape[1];
        (Tensor count, Tensor sums) = Statistics(features, KMeansPlusPlus(x, components, options.Seed), components);
        var mixture = MStep(count, sums, n, d, options.RegCovar, 0, false, double.NaN);
        double previous = double.NegativeInfinity;
        bool converged = false;
        int iteration = 0;
        while (iteration < options.MaxIterations)
        {
            iteration++;
            using var inner = NewDisposeScope();
            (double logLikelihood, Tensor nk, Tensor s) = mixture.EStep(features, options.ChunkSize);
            converged = Math.Abs(logLikelihood - previous) < options.Tolerance;
            mixture = MStep(nk, s, n, d, options.RegCovar, iteration, converged, logLikelihood);
            previous = logLikelihood;
            if (converged) break;
        }
        return mixture;
    }

    /// <summary>The most responsible component (0-based) of every point of <paramref name="x"/> (N × D).</summary>
    public long[] Predict(Tensor x)
    {
        CheckPoints(x);
        using var scope = NewDisposeScope();
        Tensor features = Features(x, ScalarType.Float32);
        (Tensor a, Tensor b) = Coefficients(ScalarType.Float32);
        var labels = new long[x.shape[0]];
        for (long start = 0; start < x.shape[0]; start += 16384)
        {
            using var inner = NewDisposeScope();
            long size = Math.Min(16384, x.shape[0] - start);
            Tensor best = addmm(b, features.narrow(0, start, size), a, 1, 1).argmax(1);
            best.data<long>().CopyTo(labels, (int)start);
        }
        return labels;
    }

    /// <summary>
    /// Mean log-likelihood per point of <paramref name="x"/> (N × D) under the mixture (scikit-learn's <c>score</c>);
    /// the products are float32 like the fit's, the sum float64.
    /// </summary>
    public double LogLikelihood(Tensor x)
    {
        CheckPoints(x);
        using var scope = NewDisposeScope();
        Tensor features = Features(x, ScalarType.Float32);
        (Tensor a, Tensor b) = Coefficients(ScalarType.Float32);
        double total = 0;
        for (long start = 0; start < x.shape[0]; start += 16384)
        {
            using var inner = NewDisposeScope();
            total += addmm(b, features.narrow(0, start, Math.Min(16384, x.shape[0] - start)), a, 1, 1).logsumexp(1).to(ScalarType.Float64).sum().item<double>();
        }
        return total / x.shape[0];
    }

    /// <summary>Bayesian information criterion as scikit-learn computes it: −2·N·meanLL + p·ln N.</summary>
    public double Bic(Tensor x) => -2 * LogLikelihood(x) * x.shape[0] + ParameterCount * Math.Log(x.shape[0]);

    /// <summary>Refuses points whose dimension is not the mixture's.</summary>
    private void CheckPoints(Tensor x)
    {
        if (x.dim() != 2 || x.shape[1] != Dimension) throw new ReparoInputException($"the mixture expects points of dimension {Dimension}, got [{string.Join(",", x.shape)}]");
    }

    /// <summary>[x², x] (N × 2D) in <paramref name="type"/>: the design matrix of the expanded quadratic form.</summary>
    private static Tensor Features(Tensor x, ScalarType type)
    {
        Tensor cast = x.to(type);
        return cat([cast.square(), cast], 1);
    }

    /// <summary>
    /// A (2D × K) and b (K) such that [x², x]·A + b is every component's joint log-density log π_k + log N(x | μ_k, σ²_k).
    /// </summary>
    private (Tensor A, Tensor B) Coefficients(ScalarType type)
    {
        int k = Components, d = Dimension;
        Tensor mu = tensor(Means).reshape(k, d);
        Tensor precision = tensor(Variances).reshape(k, d).reciprocal();
        Tensor a = cat([precision.mul(-0.5), mu.mul(precision)], 1).t().contiguous();
        Tensor b = tensor(Weights).log()
            .sub(0.5 * d * Log2Pi)
            .sub(tensor(Variances).reshape(k, d).log().sum(1).mul(0.5))
            .sub(mu.square().mul(precision).sum(1).mul(0.5));
        return (a.to(type), b.to(type));
    }

    /// <summary>E-step over chunks: mean log-likelihood, float64 Σ resp and Σ resp·[x², x].</summary>
    private (double LogLikelihood, Tensor Count, Tensor Sums) EStep(Tensor features, int chunk)
    {
        (Tensor a, Tensor b) = Coefficients(features.dtype);
        long n = features.shape[0];
        Tensor count = zeros(Components, ScalarType.Float64);
        Tensor sums = zeros([Components, features.shape[1]], ScalarType.Float64);
        double total = 0;
        for (long start = 0; start < n; start += chunk)
        {
            using var inner = NewDisposeScope();
            Tensor part = features.narrow(0, start, Math.Min(chunk, n - start));
            Tensor logits = addmm(b, part, a, 1, 1);
            Tensor max = logits.amax([1], keepdim: true);
            Tensor resp = logits.sub_(max).clamp_min_(LogFloor).exp_();
            Tensor norm = resp.sum(1, keepdim: true);
            total += norm.log().add_(max).to(ScalarType.Float64).sum().item<double>();
            resp.div_(norm);
            count.add_(resp.sum(0L).to(ScalarType.Float64));
            sums.add_(resp.t().matmul(part).to(ScalarType.Float64));
        }
        return (total / n, count, sums);
    }

    /// <summary>Σ resp and Σ resp·[x², x] in float64 for one-hot responsibilities given as each point's component.</summary>
    private static (Tensor Count, Tensor Sums) Statistics(Tensor features, Tensor assignment, int k)
    {
        Tensor count = bincount(assignment, minlength: k).to(ScalarType.Float64);
        Tensor sums = zeros([k, features.shape[1]], ScalarType.Float64).index_add_(0, assignment, features.to(ScalarType.Float64), 1);
        return (count, sums);
    }

    /// <summary>
    /// M-step as scikit-learn's diagonal case: nk += 10·eps, μ = Σx/nk, σ² = Σx²/nk − μ² + reg_covar, π = nk/N. Rounding
    /// can take Σx²/nk − μ² just below zero, so σ² is kept at least reg_covar (or 1e-12 when reg_covar is 0).
    /// </summary>
    private static GaussianMixture MStep(Tensor count, Tensor sums, long n, int d, double regCovar, int iterations, bool converged, double logLikelihood)
    {
        using var scope = NewDisposeScope();
        Tensor nk = count.add(10 * MachineEpsilon).unsqueeze(1);
        Tensor mu = sums.narrow(1, d, d).div(nk);
        Tensor variance = sums.narrow(1, 0, d).div(nk).sub(mu.square()).add(regCovar).clamp_min(regCovar > 0 ? regCovar : 1e-12);
        Tensor weights = nk.squeeze(1).div(n);
        return new GaussianMixture(weights.data<double>().ToArray(), mu.contiguous().data<double>().ToArray(),
            variance.contiguous().data<double>().ToArray(), iterations, converged, logLikelihood);
    }

    /// <summary>
    /// k-means++ seeding (Arthur &amp; Vassilvitskii): the first centre uniformly at random, every next one with
    /// probability ∝ squared distance to the nearest chosen centre, drawn from a seeded sample of at most
    /// <see cref="SeedingSample"/> points; then every point joins its nearest centre.
    /// </summary>
    private static Tensor KMeansPlusPlus(Tensor x, int k, int seed)
    {
        var random = new Random(seed);
        Tensor points = x.to(ScalarType.Float32);
        long n = points.shape[0];
        Tensor pool = n <= SeedingSample ? points : points.index_select(0, randperm(n, generator: new Generator((ulong)seed)).narrow(0, 0, SeedingSample));
        long m = pool.shape[0];
        Tensor poolSquared = pool.square().sum(1);
        var centres = new List<Tensor>();
        Tensor? nearest = null;
        while (centres.Count < k)
        {
            using var inner = NewDisposeScope();
            long pick;
            if (nearest is null) pick = random.NextInt64(m);
            else
            {
                Tensor cumulative = nearest.to(ScalarType.Float64).cumsum(0);
                double total = cumulative[-1].item<double>();
                pick = total > 0
                    ? Math.Min(m - 1, searchsorted(cumulative, tensor(random.NextDouble() * total, ScalarType.Float64).unsqueeze(0)).item<long>())
                    : random.NextInt64(m);
            }
            Tensor centre = pool[pick].MoveToOuterDisposeScope();
            centres.Add(centre);
            Tensor distance = poolSquared.sub(pool.mv(centre).mul_(2)).add_(centre.square().sum()).clamp_min_(0);
            if (nearest is null) nearest = distance.MoveToOuterDisposeScope();
            else nearest.copy_(minimum(nearest, distance));
        }
        Tensor c = stack(centres);
        Tensor assignment = empty(n, ScalarType.Int64);
        Tensor cSquared = c.square().sum(1);
        Tensor twiceCentres = c.t().mul(2);
        for (long start = 0; start < n; start += 16384)
        {
            using var inner = NewDisposeScope();
            long size = Math.Min(16384, n - start);
            assignment.narrow(0, start, size).copy_(cSquared.sub(points.narrow(0, start, size).matmul(twiceCentres)).argmin(1));
        }
        return assignment;
    }
}
