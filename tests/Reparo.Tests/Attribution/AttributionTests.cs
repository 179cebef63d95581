using System.Text.Json;
using Reparo.Attribution;
using Reparo.Cli;
using Reparo.Data;
using Reparo.Models;
using Reparo.Tests.Cli;
using static TorchSharp.torch;

namespace Reparo.Tests.Attribution;

public sealed class AttributionTests
{
    private static readonly AttributionOptions ManySteps = new() { Steps = 128 };

    private static long[] Predicted(Network network, Tensor x) => network.Predict(x);

    /// <summary>
    /// |Σ attributions − Δ| is small next to |Δ|: at most <paramref name="relative"/> of it over the batch, and at most a
    /// quarter of it for every sample. (Untrained ReLU networks bend along the path, so the quadrature error of a few
    /// percent on samples with a tiny Δ is real; a wrong path or wrong weights miss by far more.)
    /// </summary>
    private static void AssertComplete(AttributionResult result, double relative)
    {
        double[] sums = result.Sums();
        Assert.Equal(sums.Length, result.Delta.Length);
        for (int i = 0; i < sums.Length; i++)
        {
            Assert.True(Math.Abs(result.Delta[i]) > 1e-4, $"sample {i}: Δ = {result.Delta[i]} is too small to test completeness");
            Assert.Equal(Math.Abs(sums[i] - result.Delta[i]), result.CompletenessGap[i], 9);
            Assert.True(result.CompletenessGap[i] <= 0.25 * Math.Abs(result.Delta[i]),
                $"sample {i}: Σ = {sums[i]}, Δ = {result.Delta[i]}, gap {result.CompletenessGap[i]}");
        }
        double gaps = result.CompletenessGap.Sum(), deltas = result.Delta.Sum(Math.Abs);
        Assert.True(gaps <= relative * deltas, $"total gap {gaps} against total |Δ| {deltas}");
    }

    [Theory]
    [InlineData("mlp:16x3")]
    [InlineData("cnn")]
    public void IntegratedGradientsAddUpToTheLogitDifference(string architecture)
    {
        Dataset data = TestSupport.RandomImages(4, seed: 5);
        Network network = ModelZoo.Create(architecture, data, seed: 2);
        using var scope = NewDisposeScope();
        using AttributionResult result = new IntegratedGradients().Attribute(network, data.X, Predicted(network, data.X), ManySteps);
        Assert.Equal(data.X.shape, result.Values.shape);
        Assert.Equal(data.X.shape, result.MeanGradient!.shape);
        Assert.True(result.Values.allclose(data.X.mul(result.MeanGradient), rtol: 0, atol: 0)); // zero baseline: (x − 0) ⊙ mean gradient
        AssertComplete(result, 0.02);
        Assert.True(network.training, "the network's training mode is restored");
    }

    [Fact]
    public void LayerIntegratedGradientsAtTheFlattenLayerEqualInputIntegratedGradients()
    {
        Dataset data = TestSupport.RandomImages(3, seed: 7);
        Network network = ModelZoo.Create("mlp:16x3", data, seed: 3);
        using var scope = NewDisposeScope();
        long[] targets = [1, 4, 7];
        var options = new AttributionOptions { Steps = 32, Baseline = AttributionBaseline.Of(data.X.flip(0)) };
        using AttributionResult input = new IntegratedGradients().Attribute(network, data.X, targets, options);
        using AttributionResult layer = new LayerIntegratedGradients("flatten").Attribute(network, data.X, targets, options);
        Assert.Equal("flatten", layer.Layer);
        Assert.Equal([3L, 784L], layer.Values.shape);
        Assert.True(layer.Values.allclose(input.Values.reshape(3, 784), rtol: 1e-5, atol: 1e-7));
        Assert.True(layer.MeanGradient!.allclose(input.MeanGradient!.reshape(3, 784), rtol: 1e-5, atol: 1e-7));
        for (int i = 0; i < 3; i++) Assert.Equal(input.Delta[i], layer.Delta[i], 5);
    }

    [Theory]
    [InlineData("mlp:16x3", "fc1", 0.02)]
    [InlineData("cnn", "conv2", 0.02)]
    public void LayerIntegratedGradientsAtAHiddenLayerAreComplete(string architecture, string layerName, double relative)
    {
        Dataset data = TestSupport.RandomImages(4, seed: 9);
        Network network = ModelZoo.Create(architecture, data, seed: 6);
        using var scope = NewDisposeScope();
        int index = network.LayerIndex(layerName);
        using AttributionResult result = new LayerIntegratedGradients(layerName).Attribute(network, data.X, Predicted(network, data.X), ManySteps);
        using (no_grad()) Assert.Equal(network.Trace(data.X).OutputOf(index).shape, result.Values.shape);
        AssertComplete(result, relative);
        // The input-space attributions of the same network differ: attributing at a layer is not the same thing.
        using AttributionResult inputs = new IntegratedGradients().Attribute(network, data.X, Predicted(network, data.X), ManySteps);
        Assert.NotEqual(inputs.Values.shape, result.Values.shape);
    }

    [Fact]
    public void UnknownLayerNamesAreInputErrorsThatListTheLayers()
    {
        Dataset data = TestSupport.RandomImages(2);
        Network network = ModelZoo.Create("mlp:8x2", data, seed: 1);
        var e = Assert.Throws<ReparoInputException>(() => new LayerIntegratedGradients("fc9").Attribute(network, data.X, [0, 1], new AttributionOptions()));
        Assert.Contains("flatten, fc1, relu1, fc2", e.Message);
        Assert.Throws<ReparoInputException>(() => new IntegratedGradients().Attribute(network, data.X, [0, 10], new AttributionOptions()));
        Assert.Throws<ReparoInputException>(() => AttributionMethods.Create("layer-ig"));
    }

    [Fact]
    public void GradientTimesInputOfALinearNetworkIsWeightTimesInput()
    {
        Dataset data = TestSupport.RandomImages(3, seed: 11);
        Network network = ModelZoo.Create("mlp:8x1", data, seed: 4); // flatten, fc1: purely linear
        using var scope = NewDisposeScope();
        long[] targets = [2, 0, 9];
        using AttributionResult result = new GradientTimesInput().Attribute(network, data.X, targets, new AttributionOptions { InternalBatchSize = 2 });
        Tensor weight = network.Layers[network.LayerIndex("fc1")].AsLinear!.weight!;
        Tensor expected = weight.detach().index_select(0, tensor(targets)).reshape(3, 1, 28, 28).mul(data.X);
        Assert.True(result.Values.SameAs(expected));
        Assert.Null(result.MeanGradient);
        Assert.Empty(result.Delta);
        Assert.Empty(result.CompletenessGap);
    }

    [Fact]
    public void SaliencyIsTheNonNegativeGradientMagnitudeShapedLikeTheInput()
    {
        Dataset data = TestSupport.RandomImages(3, seed: 12);
        using var scope = NewDisposeScope();
        Network linear = ModelZoo.Create("mlp:8x1", data, seed: 4);
        using AttributionResult flat = new Saliency().Attribute(linear, data.X, [3, 3, 5], new AttributionOptions());
        Tensor weight = linear.Layers[linear.LayerIndex("fc1")].AsLinear!.weight!.detach();
        Assert.True(flat.Values.SameAs(weight.index_select(0, tensor(new long[] { 3, 3, 5 })).abs().reshape(3, 1, 28, 28)));

        Network cnn = ModelZoo.Create("cnn", data, seed: 8);
        using AttributionResult result = new Saliency().Attribute(cnn, data.X, Predicted(cnn, data.X), new AttributionOptions());
        Assert.Equal(data.X.shape, result.Values.shape);
        Assert.True(result.Values.ge(0).all().item<bool>());
        Assert.True(result.Values.gt(0).any().item<bool>());
    }

    [Fact]
    public void QuadratureRulesHaveWeightsThatAddUpToOne()
    {
        (double[] alphas, double[] weights) = new AttributionOptions { Steps = 2 }.PathPoints();
        Assert.Equal(0.5 - 0.5 / Math.Sqrt(3), alphas[0], 12);
        Assert.Equal(0.5 + 0.5 / Math.Sqrt(3), alphas[1], 12);
        Assert.Equal([0.5, 0.5], weights.Select(w => Math.Round(w, 12)));
        foreach (IntegrationRule rule in Enum.GetValues<IntegrationRule>())
        {
            (double[] a, double[] w) = new AttributionOptions { Steps = 50, Rule = rule }.PathPoints();
            Assert.Equal(1.0, w.Sum(), 10);
            Assert.All(a, x => Assert.InRange(x, 0, 1));
            Assert.True(a.Zip(a.Skip(1)).All(p => p.First < p.Second), $"{rule}: ascending");
            // ∫₀¹ 3α² dα = 1: exact for Gauss–Legendre, close for the others.
            double integral = a.Zip(w).Sum(p => 3 * p.First * p.First * p.Second);
            if (rule == IntegrationRule.GaussLegendre) Assert.Equal(1.0, integral, 10);
            else Assert.InRange(integral, 0.95, 1.05);
        }
    }

    private static string SaveDigitsModel(TempFolder dir)
    {
        DataSplits splits = DataCatalog.Load("digits");
        Network network = ModelZoo.Create("mlp:16x2", splits.Train, seed: 4);
        string model = dir.File("digits.reparo");
        ModelFile.Save(network, model);
        return model;
    }

    [Theory]
    [InlineData("ig", null)]
    [InlineData("layer-ig", "fc1")]
    public void AttributeCommandWritesAHeatmapAndTheDocumentedJson(string method, string? layer)
    {
        using var dir = TestSupport.TempFolder();
        string model = SaveDigitsModel(dir);
        string png = dir.File("heat.png"), json = dir.File("attr.json");
        string[] args = ["attribute", "--model", model, "--data", "digits", "--index", "3", "--method", method, "--steps", "64",
            "--baseline-index", "5", "--png", png, "--json", json, "--threads", "2"];
        if (layer is not null) args = [.. args, "--layer", layer];
        (int code, string stdout, string err) = CliRunner.Run(args);
        Assert.True(code == CliApp.Success, err);
        Assert.Contains("completeness gap", stdout);
        byte[] bytes = File.ReadAllBytes(png);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement root = doc.RootElement;
        foreach (string field in new[] { "method", "layer", "index", "target", "prediction", "label", "delta", "completeness_gap", "attribution_sum", "time_ms", "png" })
            Assert.True(root.TryGetProperty(field, out _), $"missing {field}");
        Assert.Equal(method, root.GetProperty("method").GetString());
        Assert.Equal(3, root.GetProperty("index").GetInt32());
        Assert.Equal(root.GetProperty("prediction").GetInt64(), root.GetProperty("target").GetInt64());
        Assert.Equal(DataCatalog.Load("digits").Test.Y[3].item<long>(), root.GetProperty("label").GetInt64());
        Assert.Equal(png, root.GetProperty("png").GetString());
        if (layer is null) Assert.Equal(JsonValueKind.Null, root.GetProperty("layer").ValueKind);
        else Assert.Equal(layer, root.GetProperty("layer").GetString());
        double delta = root.GetProperty("delta").GetDouble(), sum = root.GetProperty("attribution_sum").GetDouble();
        Assert.True(Math.Abs(sum - delta) <= 0.02 * Math.Abs(delta) + 1e-6, $"Σ {sum} vs Δ {delta}");
        Assert.Equal(Math.Abs(sum - delta), root.GetProperty("completeness_gap").GetDouble(), 6);
    }

    [Fact]
    public void LayerIgWithoutALayerIsAOneLineUsageError()
    {
        using var dir = TestSupport.TempFolder();
        string model = SaveDigitsModel(dir);
        string png = dir.File("heat.png");
        (int code, _, string err) = CliRunner.Run("attribute", "--model", model, "--data", "digits", "--index", "0", "--method", "layer-ig", "--png", png, "--threads", "2");
        Assert.Equal(CliApp.BadInput, code);
        string[] lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains("--layer", lines[0]);
        Assert.False(File.Exists(png));

        (code, _, err) = CliRunner.Run("attribute", "--model", model, "--data", "digits", "--index", "0", "--method", "layer-ig", "--layer", "fc7", "--threads", "2");
        Assert.Equal(CliApp.BadInput, code);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("flatten, fc1, relu1, fc2", err);
    }

    /// <summary>
    /// The units with the largest |attribution| come largest first, ties by index, named by the data's feature names for
    /// input attributions (with the input's value), by position otherwise: <c>feature i</c>, <c>(c, y, x)</c>, or the
    /// layer's <c>fc1[i]</c> without input values.
    /// </summary>
    [Fact]
    public void TopNamesTheUnitsWithTheLargestAttributionsLargestFirst()
    {
        using var values = tensor(new double[] { 0.1, -0.5, 0.5, 0.0, -0.2, 0.3, 9, 9 }).reshape(2, 4);
        using var input = tensor(new float[] { 10, 20, 30, 40, 0, 0, 0, 0 }).reshape(2, 4);
        var result = new AttributionResult(values, null, [], []);
        IReadOnlyList<FeatureAttribution> top = result.Top(3, input: input, featureNames: ["age", "income", "debt", "rate"]);
        Assert.Equal([1L, 2L, 0L], top.Select(t => t.Feature));
        Assert.Equal(["income", "debt", "age"], top.Select(t => t.Name));
        Assert.Equal([20.0, 30.0, 10.0], top.Select(t => t.Input!.Value));
        Assert.Equal([-0.5, 0.5, 0.1], top.Select(t => t.Value));
        Assert.Equal(["feature 2", "feature 3"], result.Top(2, sample: 1, featureNames: ["too", "few"]).Select(t => t.Name));
        Assert.All(result.Top(4, sample: 1), t => Assert.Null(t.Input));
        Assert.Empty(result.Top(0));

        var layer = new AttributionResult(values, null, [], [], "fc1");
        FeatureAttribution unit = layer.Top(1, input: input, featureNames: ["age", "income", "debt", "rate"])[0];
        Assert.Equal(("fc1[1]", (double?)null), (unit.Name, unit.Input));
        Assert.Equal("(1, 2, 3)", FeatureAttribution.PositionName(1 * 20 + 2 * 5 + 3, [3, 4, 5], null, null));
        Assert.Equal("conv2[0, 1, 4]", FeatureAttribution.PositionName(9, [3, 4, 5], "conv2", null));
    }

    /// <summary>
    /// <c>attribute</c> on a CSV table lists the top features by the header's names with their raw values, writes every
    /// attribution (<c>values</c>, summing to <c>attribution_sum</c>) and the ranked <c>top</c> into the JSON, and with
    /// <c>--baseline mean</c> integrates from the training split's mean input: f(x) − f(mean) is what the attributions add up to.
    /// </summary>
    [Fact]
    public void AttributeOnATableNamesItsFeaturesAndTakesTheTrainingMeanAsBaseline()
    {
        using var dir = TestSupport.TempFolder();
        var rng = new Random(5);
        var lines = new List<string> { "height,weight,age,label" };
        for (int i = 0; i < 60; i++) lines.Add(FormattableString.Invariant($"{150 + 40 * rng.NextDouble():F1},{50 + 40 * rng.NextDouble():F1},{20 + 50 * rng.NextDouble():F0},{(i % 3 == 0 ? "yes" : "no")}"));
        File.WriteAllLines(dir.File("t.csv"), lines);
        string data = $"csv:{dir.File("t.csv")}", model = dir.File("m.reparo"), json = dir.File("a.json");
        DataSplits splits = DataCatalog.Load(data);
        Network network = ModelZoo.Create("mlp:8x2", splits.Train, seed: 2);
        network.Provenance = network.Provenance with { Preprocessing = InputPreprocessing.Parse("train", null, null, splits.Train) };
        ModelFile.Save(network, model);

        (int code, string stdout, string err) = CliRunner.Run("attribute", "--model", model, "--data", data, "--index", "2", "--method", "ig", "--baseline", "mean",
            "--top", "2", "--json", json, "--threads", "2");
        Assert.True(code == CliApp.Success, err);
        Assert.Contains("baseline training mean", stdout);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement root = doc.RootElement;
        double[] values = [.. root.GetProperty("values").EnumerateArray().Select(v => v.GetDouble())];
        Assert.Equal(3, values.Length);
        Assert.Equal(root.GetProperty("attribution_sum").GetDouble(), values.Sum(), 9);
        JsonElement[] top = [.. root.GetProperty("top").EnumerateArray()];
        Assert.Equal(2, top.Length);
        int first = top[0].GetProperty("feature").GetInt32();
        Assert.Equal(values.Select(Math.Abs).Max(), Math.Abs(values[first]));
        Assert.Equal(new[] { "height", "weight", "age" }[first], top[0].GetProperty("name").GetString());
        Assert.Contains(top[0].GetProperty("name").GetString()!, stdout);
        Assert.Equal(splits.Test.X[2][first].item<float>(), top[0].GetProperty("input").GetDouble(), 4);

        using Tensor x = splits.Test.X.narrow(0, 2, 1), mean = splits.Train.X.to(ScalarType.Float64).mean([0L], keepdim: true).to(ScalarType.Float32);
        long target = root.GetProperty("target").GetInt64();
        double expected = network.Logits(x)[0][target].item<float>() - (double)network.Logits(mean)[0][target].item<float>();
        Assert.Equal(expected, root.GetProperty("delta").GetDouble(), 5);
        Assert.True(Math.Abs(values.Sum() - expected) < 0.02 * Math.Abs(expected) + 1e-4, $"Σ {values.Sum()} vs {expected}");
    }
}
