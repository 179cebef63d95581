using Reparo.Influence;
using static TorchSharp.torch;

namespace Reparo.Tests.Influence;

public sealed class GaussianMixtureTests
{
    private static (Tensor X, long[] Truth, double[,] Means) Clusters(int perCluster = 200, int seed = 4)
    {
        TestSupport.Init();
        double[,] means = { { -4, 0 }, { 4, 1 }, { 0, 6 } };
        var generator = new Generator((ulong)seed);
        var parts = new List<Tensor>();
        var truth = new List<long>();
        for (int c = 0; c < 3; c++)
        {
            parts.Add(randn([perCluster, 2], generator: generator).mul(0.5 + 0.25 * c).add(tensor(new[] { (float)means[c, 0], (float)means[c, 1] })));
            truth.AddRange(Enumerable.Repeat((long)c, perCluster));
        }
        return (cat(parts, 0), truth.ToArray(), means);
    }

    [Fact]
    public void EmRecoversKnownClusters()
    {
        (Tensor x, long[] truth, double[,] means) = Clusters();
        GaussianMixture mixture = GaussianMixture.Fit(x, 3, new GaussianMixtureOptions(Seed: 7));
        long[] predicted = mixture.Predict(x);
        Assert.True(mixture.Converged);
        // Map every true cluster to the component holding most of it; the map must be a permutation.
        int[] map = Enumerable.Range(0, 3).Select(c => (int)Enumerable.Range(0, truth.Length).Where(i => truth[i] == c)
            .GroupBy(i => predicted[i]).OrderByDescending(g => g.Count()).First().Key).ToArray();
        Assert.Equal(3, map.Distinct().Count());
        double agreement = Enumerable.Range(0, truth.Length).Count(i => predicted[i] == map[truth[i]]) / (double)truth.Length;
        Assert.True(agreement > 0.99, $"agreement {agreement}");
        for (int c = 0; c < 3; c++)
        {
            for (int d = 0; d < 2; d++) Assert.Equal(means[c, d], mixture.Means[map[c] * 2 + d], 0.15);
            double sd = 0.5 + 0.25 * c;
            Assert.Equal(sd * sd, mixture.Variances[map[c] * 2], sd * sd * 0.3);
            Assert.Equal(1.0 / 3, mixture.Weights[map[c]], 0.01);
        }
        GaussianMixture again = GaussianMixture.Fit(x, 3, new GaussianMixtureOptions(Seed: 7));
        Assert.Equal(mixture.Means, again.Means);
        GaussianMixture exact = GaussianMixture.Fit(x, 3, new GaussianMixtureOptions(Seed: 7, Float64Products: true));
        Assert.Equal(predicted, exact.Predict(x));
        Assert.Equal(mixture.MeanLogLikelihood, exact.MeanLogLikelihood, 4);
    }

    /// <summary>Several starts keep the start with the highest likelihood: the same mixture as the best single-start fit.</summary>
    [Fact]
    public void RestartsKeepTheMostLikelyStart()
    {
        // Eight overlapping clusters fitted with five components: different starts end in different optima.
        TestSupport.Init();
        var generator = new Generator(11);
        Tensor x = cat([.. Enumerable.Range(0, 8).Select(c => randn([60, 2], generator: generator).add(tensor(new[] { (float)(c % 4) * 2.5f, (float)(c / 4) * 2.5f })))], 0);
        GaussianMixture[] singles = [.. Enumerable.Range(3, 4).Select(seed => GaussianMixture.Fit(x, 5, new GaussianMixtureOptions(Seed: seed)))];
        Assert.True(singles.Select(m => Math.Round(m.MeanLogLikelihood, 6)).Distinct().Count() > 1, "the starts should reach different optima, or the test proves nothing");
        GaussianMixture best = GaussianMixture.Fit(x, 5, new GaussianMixtureOptions(Seed: 3, Restarts: 4));
        GaussianMixture expected = singles.MaxBy(m => m.MeanLogLikelihood)!;
        Assert.Equal(expected.MeanLogLikelihood, best.MeanLogLikelihood, 12);
        Assert.Equal(expected.Means, best.Means);
        Assert.True(best.Bic(x) <= singles.Min(m => m.Bic(x)) + 1e-9);
        Assert.Throws<ReparoInputException>(() => GaussianMixture.Fit(x, 5, new GaussianMixtureOptions(Restarts: 0)));
    }

    [Fact]
    public void BicMatchesAHandComputedValue()
    {
        TestSupport.Init();
        double[][] points = [[0, 1], [2, 1], [1, 4], [3, 2]];
        Tensor x = tensor(points.SelectMany(p => p).ToArray()).reshape(4, 2).to(ScalarType.Float32);
        // One component: the maximum-likelihood fit is the sample mean and the biased variance (+ reg_covar).
        GaussianMixture one = GaussianMixture.Fit(x, 1);
        double[] mean = [1.5, 2.0];
        double[] variance = [1.25 + 1e-6, 1.5 + 1e-6];
        Assert.Equal(mean[0], one.Means[0], 6);
        Assert.Equal(variance[1], one.Variances[1], 6);
        double logLikelihood = points.Sum(p => Enumerable.Range(0, 2).Sum(d =>
            -0.5 * Math.Log(2 * Math.PI * variance[d]) - (p[d] - mean[d]) * (p[d] - mean[d]) / (2 * variance[d])));
        // p = K·D means + K·D variances + K − 1 weights = 4.
        Assert.Equal(4, one.ParameterCount);
        Assert.Equal(-2 * logLikelihood + 4 * Math.Log(4), one.Bic(x), 4);

        // Two given components: mean log-likelihood by hand, and BIC with p = 2·2 + 2·2 + 1 = 9.
        var two = new GaussianMixture([0.25, 0.75], [0, 1, 2, 2], [1, 2, 0.5, 4]);
        double Density(double[] p, int k, double[] mu, double[] v) =>
            Math.Exp(Enumerable.Range(0, 2).Sum(d => -0.5 * Math.Log(2 * Math.PI * v[k * 2 + d]) - Math.Pow(p[d] - mu[k * 2 + d], 2) / (2 * v[k * 2 + d])));
        double mixtureLl = points.Average(p => Math.Log(0.25 * Density(p, 0, [0, 1, 2, 2], [1, 2, 0.5, 4]) + 0.75 * Density(p, 1, [0, 1, 2, 2], [1, 2, 0.5, 4])));
        Assert.Equal(mixtureLl, two.LogLikelihood(x), 5);
        Assert.Equal(-2 * 4 * mixtureLl + 9 * Math.Log(4), two.Bic(x), 4);
        long[] expected = points.Select(p => 0.25 * Density(p, 0, [0, 1, 2, 2], [1, 2, 0.5, 4]) >= 0.75 * Density(p, 1, [0, 1, 2, 2], [1, 2, 0.5, 4]) ? 0L : 1L).ToArray();
        Assert.Equal(expected, two.Predict(x));
    }

    [Fact]
    public void BadRequestsAreOneLineInputErrors()
    {
        TestSupport.Init();
        Tensor x = zeros([3, 2]);
        Assert.Throws<ReparoInputException>(() => GaussianMixture.Fit(x, 4));
        Assert.Throws<ReparoInputException>(() => GaussianMixture.Fit(x, 1, new GaussianMixtureOptions(MaxIterations: 0)));
        var mixture = new GaussianMixture([1], [0, 0], [1, 1]);
        Assert.Throws<ReparoInputException>(() => mixture.Predict(zeros([3, 5])));
    }

    [Fact]
    public void PcaFindsTheMainDirectionWithAFixedSign()
    {
        TestSupport.Init();
        var generator = new Generator(2);
        Tensor t = randn([500, 1], generator: generator).mul(3);
        Tensor noise = randn([500, 3], generator: generator).mul(0.1);
        Tensor direction = tensor(new[] { -0.6f, 0f, 0.8f });
        Tensor x = t.matmul(direction.unsqueeze(0)).add(noise).add(tensor(new[] { 1f, 2f, 3f }));
        Pca pca = Pca.Fit(x, 2);
        Assert.Equal(2, pca.ComponentCount);
        // Largest-magnitude entry positive: +0.8 on the third axis.
        Assert.Equal(-0.6, pca.Components[0], 2);
        Assert.Equal(0.8, pca.Components[2], 2);
        Assert.True(pca.ExplainedVariance[0] > 50 * pca.ExplainedVariance[1]);
        Tensor projected = pca.Transform(x);
        Tensor expected = x.sub(tensor(pca.Mean).to(ScalarType.Float32)).matmul(tensor(pca.Components[..3]).to(ScalarType.Float32));
        Assert.True(projected.select(1, 0).sub(expected).abs().max().item<float>() < 1e-4);
        Assert.Equal(3, Pca.Fit(x, 10).ComponentCount);
    }
}
