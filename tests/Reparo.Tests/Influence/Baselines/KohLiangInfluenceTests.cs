using Reparo.Data;
using Reparo.Influence.Baselines;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Tests.Influence.Baselines;

public sealed class KohLiangInfluenceTests
{
    private const double Damping = 0.01;

    /// <summary>40 training rows, a logistic regression trained to the exact optimum of mean loss + (λ/2)‖θ‖², and a test row.</summary>
    private static (Dataset Train, Network Network, double[] Theta, double[][] Rows, long[] Labels, double[] TestX, long TestY) Setup()
    {
        Dataset train = InfluenceTestData.Table(40, seed: 3);
        Dataset test = InfluenceTestData.Table(20, seed: 4);
        double[][] rows = InfluenceTestData.Rows(train);
        long[] labels = train.Labels();
        double[] theta = InfluenceTestData.Fit(rows, labels, Damping);
        Network network = InfluenceTestData.LogisticRegression(seed: 1);
        InfluenceTestData.Load(network, theta);
        // The test sample with the highest loss: a failure to explain.
        double[][] testRows = InfluenceTestData.Rows(test);
        long[] testLabels = test.Labels();
        int worst = Enumerable.Range(0, test.Count).MaxBy(i => InfluenceTestData.Loss(theta, testRows[i], testLabels[i]));
        return (train, network, theta, rows, labels, testRows[worst], testLabels[worst]);
    }

    private static Tensor TestInput(double[] x) => tensor(x.Select(v => (float)v).ToArray()).reshape(1, x.Length);

    [Fact]
    public void ExactLastLayerInfluenceAgreesWithLeaveOneOutRetraining()
    {
        (Dataset train, Network network, double[] theta, double[][] rows, long[] labels, double[] testX, long testY) = Setup();
        InfluenceScores scores = new KohLiangInfluence(new KohLiangOptions { Damping = Damping }).TestInfluence(network, train, TestInput(testX), [testY]);
        double baseline = InfluenceTestData.Loss(theta, testX, testY);
        // Removing row i is up-weighting it by −1/n: the test loss changes by about −score_i / n.
        double[] decrease = [.. Enumerable.Range(0, train.Count).Select(i => baseline - InfluenceTestData.Loss(InfluenceTestData.Fit(rows, labels, Damping, drop: i), testX, testY))];
        double rho = Reparo.Experiments.RankCorrelation.Spearman(scores.Scores, decrease);
        Assert.True(rho >= 0.9, $"Spearman {rho}");
        double[] predicted = [.. scores.Scores.Select(s => s / train.Count)];
        int top = Array.IndexOf(decrease, decrease.Max());
        Assert.True(Math.Abs(predicted[top] - decrease[top]) < 0.3 * Math.Abs(decrease[top]), $"predicted {predicted[top]}, actual {decrease[top]}");
        Assert.Equal(Enumerable.Range(0, train.Count), scores.Indices);
        Assert.True(scores.Seconds >= 0);
    }

    [Fact]
    public void ConjugateGradientOverAllParametersMatchesTheExactLastLayerOnASingleLayerModel()
    {
        (Dataset train, Network network, _, _, _, double[] testX, long testY) = Setup();
        var exact = new KohLiangInfluence(new KohLiangOptions { Damping = Damping });
        var options = new KohLiangOptions
        {
            Solver = KohLiangSolver.ConjugateGradient,
            Damping = Damping,
            HessianSamples = 0,
            Tolerance = 1e-6,
        };
        AssertClose(exact.SelfInfluence(network, train).Scores.Where((_, i) => i % 4 == 0).ToArray(),
            new KohLiangInfluence(options with { Candidates = [.. Enumerable.Range(0, 10).Select(i => 4 * i)] }).SelfInfluence(network, train).Scores);
        InfluenceScores test = new KohLiangInfluence(options).TestInfluence(network, train, TestInput(testX), [testY]);
        AssertClose(exact.TestInfluence(network, train, TestInput(testX), [testY]).Scores, test.Scores);
        Assert.Equal(8, test.Details["parameters"]);
        Assert.Equal(40, test.Details["hessian_samples"]);
        Assert.True(test.Details["cg_max_iterations"] <= 8 + 2, $"{test.Details["cg_max_iterations"]} iterations for 8 unknowns");
    }

    [Fact]
    public void SelfInfluenceRanksFlippedLabelsNearTheTop()
    {
        Dataset clean = InfluenceTestData.Table(40, seed: 3);
        long[] labels = clean.Labels();
        double[][] rows = InfluenceTestData.Rows(clean);
        // Flip the labels of the three rows the clean model is most confident about.
        double[] cleanTheta = InfluenceTestData.Fit(rows, labels, Damping);
        int[] flipped = [.. Enumerable.Range(0, 40).OrderBy(i => InfluenceTestData.Loss(cleanTheta, rows[i], labels[i])).Take(3).Order()];
        foreach (int i in flipped) labels[i] = 1 - labels[i];
        Dataset noisy = clean.WithLabels(tensor(labels), "noisy");
        Network network = InfluenceTestData.LogisticRegression(seed: 1);
        InfluenceTestData.Load(network, InfluenceTestData.Fit(rows, labels, Damping));
        int[] ranking = new KohLiangInfluence(new KohLiangOptions { Damping = Damping }).SelfInfluence(network, noisy).Ranking();
        // All three flipped rows are among the six highest self-influences of forty.
        Assert.All(flipped, f => Assert.InRange(Array.IndexOf(ranking, f), 0, 5));
    }

    [Fact]
    public void ConjugateGradientRunsThroughARecurrentNetworkOnCandidates()
    {
        Dataset data = TestSupport.RandomImages(8, classes: 2, size: 4, seed: 2);
        using Network network = ModelZoo.Create("lstm:3", data, seed: 0);
        var method = new KohLiangInfluence(new KohLiangOptions
        {
            Solver = KohLiangSolver.ConjugateGradient,
            Damping = 1,
            HessianSamples = 4,
            MaxIterations = 4,
            Candidates = [7, 2, 5],
            Seed = 3,
        });
        var reports = new List<InfluenceProgress>();
        InfluenceScores self = method.SelfInfluence(network, data, new Progress(reports));
        Assert.Equal([2, 5, 7], self.Indices);
        Assert.All(self.Scores, s => Assert.True(s > 0 && double.IsFinite(s)));
        Assert.Equal(4, self.Details["hessian_samples"]);
        Assert.Equal(network.ParameterCount, self.Details["parameters"]);
        Assert.Contains(reports, r => r.Stage == "solves" && r.Done == 3 && r.Total == 3);
        InfluenceScores test = method.TestInfluence(network, data, data.X.narrow(0, 0, 2), [0, 1]);
        Assert.Equal(self.Scores.Length, test.Scores.Length);
        Assert.Equal(test.Scores, method.TestInfluence(network, data, data.X.narrow(0, 0, 2), [0, 1]).Scores);
    }

    [Fact]
    public void BadInputIsRejectedInOneLine()
    {
        Dataset train = InfluenceTestData.Table(10, seed: 1);
        Network network = InfluenceTestData.LogisticRegression(seed: 1);
        Assert.Contains("damping must be non-negative", Assert.Throws<ReparoInputException>(() =>
            new KohLiangInfluence(new KohLiangOptions { Damping = -1 }).SelfInfluence(network, train)).Message);
        Assert.Contains("candidate 10 is not a training row", Assert.Throws<ReparoInputException>(() =>
            new KohLiangInfluence(new KohLiangOptions { Candidates = [10] }).SelfInfluence(network, train)).Message);
        Assert.Contains("1 test inputs but 2 labels", Assert.Throws<ReparoInputException>(() =>
            new KohLiangInfluence().TestInfluence(network, train, train.X.narrow(0, 0, 1), [0, 1])).Message);
        var spec = new NetworkSpec("relu-head", [3], InputKind.Features, ["neg", "pos"], [new LinearSpec("fc", 3, 2), new ReluSpec("relu")]);
        using var reluHead = new Network(spec);
        string message = Assert.Throws<ReparoInputException>(() => new KohLiangInfluence().SelfInfluence(reluHead, train)).Message;
        Assert.Contains("needs a network that ends in a Linear layer", message);
        Assert.DoesNotContain('\n', message);
    }

    private static void AssertClose(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 * scale, $"row {i}: {expected[i]} vs {actual[i]}");
    }

    private sealed class Progress(List<InfluenceProgress> reports) : IProgress<InfluenceProgress>
    {
        public void Report(InfluenceProgress value) => reports.Add(value);
    }
}
