using static TorchSharp.torch;

namespace Reparo.Influence;

/// <summary>
/// Principal component analysis of hidden states (Xie et al., ICML'21, Sec. 3.1, abstraction step 1: the concrete
/// states are projected onto their top principal components before clustering). The covariance is accumulated in
/// float64 over chunks and eigendecomposed; each component's sign is fixed so that its entry of largest magnitude is
/// positive, so the same data always give the same projection.
/// </summary>
public sealed class Pca
{
    private const int Chunk = 65536;

    /// <summary>A projection from stored parameters (as read from an influence model file).</summary>
    /// <param name="mean">Mean of the fitted data (length H).</param>
    /// <param name="components">Components, row-major (D × H), unit length.</param>
    /// <param name="explainedVariance">Variance along each component (length D).</param>
    public Pca(double[] mean, double[] components, double[] explainedVariance)
    {
        if (mean.Length == 0 || components.Length % mean.Length != 0 || components.Length / mean.Length != explainedVariance.Length)
            throw new ArgumentException($"PCA parameters disagree: mean {mean.Length}, components {components.Length}, variances {explainedVariance.Length}");
        Mean = mean;
        Components = components;
        ExplainedVariance = explainedVariance;
    }

    /// <summary>Mean of the fitted data (length <see cref="InputSize"/>).</summary>
    public double[] Mean { get; }

    /// <summary>Components, row-major (<see cref="ComponentCount"/> × <see cref="InputSize"/>), by decreasing variance.</summary>
    public double[] Components { get; }

    /// <summary>Variance of the fitted data along each component.</summary>
    public double[] ExplainedVariance { get; }

    /// <summary>Dimension of the inputs (the hidden size).</summary>
    public int InputSize => Mean.Length;

    /// <summary>Number of components kept.</summary>
    public int ComponentCount => ExplainedVariance.Length;

    /// <summary>
    /// Fits the top <paramref name="components"/> principal components of <paramref name="x"/> (S × H); when the hidden
    /// size is smaller than <paramref name="components"/>, all H are kept (the authors' code then skips the reduction).
    /// </summary>
    public static Pca Fit(Tensor x, int components = 10)
    {
        if (x.dim() != 2 || x.shape[0] < 2) throw new ReparoInputException($"PCA needs at least two vectors (S, H), got [{string.Join(",", x.shape)}]");
        if (components < 1) throw new ReparoInputException($"PCA components must be at least 1, got {components}");
        using var scope = NewDisposeScope();
        long s = x.shape[0], h = x.shape[1];
        int d = (int)Math.Min(components, h);
        Tensor sum = zeros(h, ScalarType.Float64);
        for (long start = 0; start < s; start += Chunk)
        {
            using var inner = NewDisposeScope();
            sum.add_(x.narrow(0, start, Math.Min(Chunk, s - start)).to(ScalarType.Float64).sum(0L));
        }
        Tensor mean = sum.div(s);
        Tensor covariance = zeros([h, h], ScalarType.Float64);
        for (long start = 0; start < s; start += Chunk)
        {
            using var inner = NewDisposeScope();
            Tensor centred = x.narrow(0, start, Math.Min(Chunk, s - start)).to(ScalarType.Float64).sub(mean);
            covariance.add_(centred.t().matmul(centred));
        }
        covariance.div_(s - 1);
        (Tensor eigenvalues, Tensor eigenvectors) = linalg.eigh(covariance);
        Tensor order = eigenvalues.argsort(descending: true).narrow(0, 0, d);
        Tensor top = eigenvectors.index_select(1, order).t().contiguous();
        Tensor largest = top.abs().argmax(1, keepdim: true);
        top.mul_(top.gather(1, largest).sign());
        return new Pca(mean.data<double>().ToArray(), top.data<double>().ToArray(),
            eigenvalues.index_select(0, order).clamp_min(0).data<double>().ToArray());
    }

    /// <summary>Projects <paramref name="x"/> (S × H) onto the components: (S × D) float32.</summary>
    public Tensor Transform(Tensor x)
    {
        if (x.dim() != 2 || x.shape[1] != InputSize) throw new ReparoInputException($"PCA expects vectors of size {InputSize}, got [{string.Join(",", x.shape)}]");
        using var scope = NewDisposeScope();
        Tensor mean = tensor(Mean).to(ScalarType.Float32);
        Tensor weights = tensor(Components).reshape(ComponentCount, InputSize).t().to(ScalarType.Float32);
        Tensor result = empty([x.shape[0], ComponentCount], ScalarType.Float32);
        for (long start = 0; start < x.shape[0]; start += Chunk)
        {
            using var inner = NewDisposeScope();
            long n = Math.Min(Chunk, x.shape[0] - start);
            result.narrow(0, start, n).copy_(x.narrow(0, start, n).to(ScalarType.Float32).sub(mean).matmul(weights));
        }
        return result.MoveToOuterDisposeScope();
    }
}
