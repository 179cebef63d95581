using Reparo.Data;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Tests.Influence.Baselines;

/// <summary>A small logistic-regression problem with an independent float64 Newton solver as ground truth.</summary>
internal static class InfluenceTestData
{
    public const int Features = 3;
    public const int Classes = 2;

    /// <summary>n samples of 3 standard-normal features labelled by a noisy linear rule (seeded).</summary>
    public static Dataset Table(int n, int seed)
    {
        TestSupport.Init();
        var rng = new Random(seed);
        var x = new float[n * Features];
        var y = new long[n];
        for (int i = 0; i < n; i++)
        {
            double score = 0;
            for (int j = 0; j < Features; j++)
            {
                double v = Normal(rng);
                x[i * Features + j] = (float)v;
                score += (j + 1) * v * (j == 1 ? -1 : 1);
            }
            y[i] = score + 1.5 * Normal(rng) > 0 ? 1 : 0;
        }
        return new Dataset("table", tensor(x).reshape(n, Features), tensor(y), ["neg", "pos"], InputKind.Features);
    }

    /// <summary>A network with one Linear layer (3 → 2): multinomial logistic regression.</summary>
    public static Network LogisticRegression(int seed)
    {
        var spec = new NetworkSpec("logreg", [Features], InputKind.Features, ["neg", "pos"], [new LinearSpec("fc", Features, Classes)]);
        manual_seed(seed);
        return new Network(spec);
    }

    /// <summary>Writes θ = [W | b] (class-major, 2 × 4, flat float64) into the network's Linear layer.</summary>
    public static void Load(Network network, double[] theta)
    {
        using var noGrad = no_grad();
        var linear = network.Layers[0].AsLinear!;
        var w = new float[Classes * Features];
        var b = new float[Classes];
        for (int c = 0; c < Classes; c++)
        {
            for (int j = 0; j < Features; j++) w[c * Features + j] = (float)theta[c * (Features + 1) + j];
            b[c] = (float)theta[c * (Features + 1) + Features];
        }
        linear.weight!.copy_(tensor(w).reshape(Classes, Features));
        linear.bias!.copy_(tensor(b));
    }

    /// <summary>
    /// argmin_θ (1/n) Σ_{i ∈ kept} L_i(θ) + (λ/2)‖θ‖² by Newton's method in float64 (n = all rows, so dropping a row is
    /// Koh &amp; Liang's ε = −1/n up-weighting), starting from zero.
    /// </summary>
    public static double[] Fit(double[][] x, long[] y, double lambda, int? drop = null)
    {
        int n = x.Length, d = Features + 1, p = Classes * d;
        var theta = new double[p];
        for (int iteration = 0; iteration < 50; iteration++)
        {
            var g = new double[p];
            var h = new double[p, p];
            for (int i = 0; i < n; i++)
            {
                if (i == drop) continue;
                double[] a = [.. x[i], 1.0];
                double[] prob = Probabilities(theta, a);
                for (int c = 0; c < Classes; c++)
                {
                    double r = prob[c] - (y[i] == c ? 1 : 0);
                    for (int j = 0; j < d; j++)
                    {
                        g[c * d + j] += r * a[j] / n;
                        for (int c2 = 0; c2 < Classes; c2++)
                        {
                            double s = (c == c2 ? prob[c] : 0) - prob[c] * prob[c2];
                            for (int k = 0; k < d; k++) h[c * d + j, c2 * d + k] += s * a[j] * a[k] / n;
                        }
                    }
                }
            }
            for (int j = 0; j < p; j++)
            {
                g[j] += lambda * theta[j];
                h[j, j] += lambda;
            }
            double[] step = Solve(h, g);
            for (int j = 0; j < p; j++) theta[j] -= step[j];
            if (step.Sum(s => s * s) < 1e-28) break;
        }
        return theta;
    }

    /// <summary>Cross-entropy of one sample under θ, in float64.</summary>
    public static double Loss(double[] theta, double[] x, long y) => -Math.Log(Probabilities(theta, [.. x, 1.0])[y]);

    /// <summary>Rows of a dataset as float64 arrays.</summary>
    public static double[][] Rows(Dataset data)
    {
        float[] values = data.X.data<float>().ToArray();
        return [.. Enumerable.Range(0, data.Count).Select(i => values.Skip(i * Features).Take(Features).Select(v => (double)v).ToArray())];
    }

    private static double[] Probabilities(double[] theta, double[] a)
    {
        int d = a.Length;
        var logits = new double[Classes];
        for (int c = 0; c < Classes; c++)
            for (int j = 0; j < d; j++) logits[c] += theta[c * d + j] * a[j];
        double max = logits.Max();
        double[] e = [.. logits.Select(l => Math.Exp(l - max))];
        double sum = e.Sum();
        return [.. e.Select(v => v / sum)];
    }

    private static double[] Solve(double[,] a, double[] b)
    {
        int n = b.Length;
        var m = (double[,])a.Clone();
        var x = (double[])b.Clone();
        for (int col = 0; col < n; col++)
        {
            int pivot = Enumerable.Range(col, n - col).MaxBy(r => Math.Abs(m[r, col]));
            for (int k = 0; k < n; k++) (m[col, k], m[pivot, k]) = (m[pivot, k], m[col, k]);
            (x[col], x[pivot]) = (x[pivot], x[col]);
            for (int r = col + 1; r < n; r++)
            {
                double f = m[r, col] / m[col, col];
                for (int k = col; k < n; k++) m[r, k] -= f * m[col, k];
                x[r] -= f * x[col];
            }
        }
        for (int r = n - 1; r >= 0; r--)
        {
            for (int k = r + 1; k < n; k++) x[r] -= m[r, k] * x[k];
            x[r] /= m[r, r];
        }
        return x;
    }

    private static double Normal(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
