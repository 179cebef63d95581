using System.Text.Json;
using Google.Protobuf;
using Reparo.Attribution;
using Reparo.Data;
using Reparo.Influence;
using Reparo.Models;
using Reparo.Models.Onnx;
using Reparo.Repair;
using Reparo.Tests.Cli;
using Reparo.Tests.Data;
using Reparo.Verification;
using static TorchSharp.torch;

namespace Reparo.Tests.Models;

/// <summary>Reparo's methods on models PyTorch exported: attribution, edits inside blocks, influence, rectification with the user's pairs.</summary>
public sealed class OnnxMethodsTests
{
    private static Network Import(string name) => OnnxImporter.Import(Path.Combine(OnnxImportTests.Fixture(name), "model.onnx"));

    private static DataSplits FashionMnist(int train = 600, int test = 300) =>
        DataCatalog.Load("fashion-mnist", new DataOptions { TrainLimit = train, TestLimit = test });

    /// <summary>
    /// PyTorch's transformer runs on (tokens, batch, features): the attention's input projection gives (16, N, 96), its
    /// output projection, a Gemm, (16·N, 32) with the batch inside the token rows, the feed-forward's first MatMul
    /// (16, N, 64). Each is attributed per input, batch first, with many path points per pass (the tokens used to be
    /// taken for the batch, which failed as soon as a pass held more than one path point).
    /// </summary>
    [Theory]
    [InlineData("block1.fc1", 96)]
    [InlineData("block1.fc2", 32)]
    [InlineData("/enc/linear1/MatMul", 64)]
    public void LayerIntegratedGradientsIsCompleteAtALayerNestedInTheAttentionBlock(string layer, int features)
    {
        TestSupport.Init();
        Network vit = Import("vit");
        (Tensor input, _) = OnnxImportTests.Reference("vit");
        long[] targets = vit.Predict(input.narrow(0, 0, 3));
        string site = vit.Spec.ResolveName(layer);
        AttributionResult result = AttributionMethods.Create(LayerIntegratedGradients.MethodName, site)
            .Attribute(vit, input.narrow(0, 0, 3), targets, new AttributionOptions { Steps = 64, InternalBatchSize = 256 });
        Assert.Equal([3L, 16, features], result.Values.shape);
        // Completeness: the attributions at the layer add up to f(x) − f(baseline), sample by sample.
        double[] sums = result.Sums();
        for (int i = 0; i < 3; i++)
            Assert.True(Math.Abs(sums[i] - result.Delta[i]) <= 1e-2 * Math.Max(1, Math.Abs(result.Delta[i])), $"sample {i}: Σ = {sums[i]}, Δf = {result.Delta[i]}");
        Assert.Equal(site, result.Layer);
    }

    [Fact]
    public void AnEditInsideTheTransformersFeedForwardIsWrittenBackIntoTheUsersGraph()
    {
        TestSupport.Init();
        Network vit = Import("vit");
        DataSplits data = FashionMnist();
        RepairProblem problem = RepairSetSpec.Build("fog:3:3", vit, data, seed: 0);
        RepairResult result = RepairMethods.Create("edit", new RepairSettings { Layer = "/enc/linear1/MatMul", Seed = 0, StatisticsInputs = RepairMethods.StatisticsInputs(data.Train) }).Repair(problem);
        Network repaired = result.Model!.PlainNetwork!;
        repaired.OnnxOrigin = vit.OnnxOrigin;
        OnnxExport export = OnnxExporter.Build(repaired);
        // Only the edited layer's weight moved: the replaced initializer is the one block3.fc3 was imported from.
        string site = vit.Spec.ResolveName("/enc/linear1/MatMul");
        Assert.StartsWith("block", site);
        Assert.NotEmpty(export.ReplacedInitializers);
        Assert.All(export.ReplacedInitializers, name => Assert.Contains(name, vit.Spec.SourceNames![site]));
        using Tensor check = data.Test.X.narrow(0, 0, 50);
        using Tensor ours = repaired.Logits(check);
        using Tensor runtime = OnnxRuntimeCheck.Run(export.Bytes, check);
        Assert.True(runtime.sub(ours).abs().max().item<float>() <= 1e-5);
    }

    /// <summary>The PyTorch MLP with a Softmax appended to its logits (<see cref="OnnxImportTests.MlpWithSoftmax"/>), imported.</summary>
    private static Network MlpWithSoftmax() =>
        OnnxImporter.Import(OnnxImportTests.MlpWithSoftmax().ToByteArray(), "softmax.onnx", null, new OnnxImportOptions());

    /// <summary>The last-layer influence of training samples reads the layer before the Softmax: the same scores as for the plain MLP.</summary>
    [Fact]
    public void LastLayerInfluenceOfAModelEndingInSoftmaxReadsItsScoringLayer()
    {
        TestSupport.Init();
        DataSplits data = FashionMnist(train: 200, test: 20);
        using Tensor x = data.Test.X.narrow(0, 0, 1);
        long[] y = [data.Test.Y[0].item<long>()];
        double[][] scores = [.. new[] { Import("mlp"), MlpWithSoftmax() }.Select(network =>
            new Reparo.Influence.Baselines.KohLiangInfluence(new Reparo.Influence.Baselines.KohLiangOptions { Damping = 0.01 }).TestInfluence(network, data.Train, x, y).Scores)];
        Assert.Equal(scores[0].Length, scores[1].Length);
        for (int i = 0; i < scores[0].Length; i++) Assert.Equal(scores[0][i], scores[1][i], 1e-6 * Math.Max(1, Math.Abs(scores[0][i])));
    }

    /// <summary>
    /// The same MLP with a Softmax appended (an export for deployment): its class scores are the plain model's logits,
    /// and fine-tuning takes its loss on them, so it makes the same steps (it used to take cross-entropy on probabilities).
    /// </summary>
    [Fact]
    public void AModelEndingInSoftmaxIsFineTunedOnItsScores()
    {
        TestSupport.Init();
        Network softmax = MlpWithSoftmax(), plain = Import("mlp");
        Assert.Equal(plain.Layers.Count, softmax.ScoreLayerCount);
        DataSplits data = FashionMnist();
        using Tensor x = data.Test.X.narrow(0, 0, 16);
        Assert.True(softmax.Scores(x).sub(plain.Logits(x)).abs().max().item<float>() < 1e-6);
        RepairResult[] results = [.. new[] { plain, softmax }.Select(network =>
            RepairMethods.Create("ft", new RepairSettings { Layer = "fc2", Seed = 0, MaxSteps = 30 }).Repair(RepairSetSpec.Build("fog:3:4", network, data, seed: 0)))];
        Assert.Equal(results[0].Notes, results[1].Notes);
        Tensor[] weights = [.. results.Select(r => r.Model!.PlainNetwork!.Layers.First(l => l.Name == "fc2").AsLinear!.weight!)];
        Assert.True(weights[0].sub(weights[1]).abs().max().item<float>() < 1e-5, "fine-tuning moved the two models' fc2 apart");
    }

    [Fact]
    public void FineTuningAcceptsAnOnnxNodeNameForALayerInsideABlock()
    {
        TestSupport.Init();
        Network vit = Import("vit");
        DataSplits data = FashionMnist();
        RepairProblem problem = RepairSetSpec.Build("fog:3:2", vit, data, seed: 0);
        RepairResult result = RepairMethods.Create("ft", new RepairSettings { Layer = "/enc/linear1/MatMul", Seed = 0, MaxSteps = 20 }).Repair(problem);
        Assert.Equal(vit.Spec.ResolveName("/enc/linear1/MatMul"), result.Layer);
    }

    [Fact]
    public void InfluenceOfAnImportedGruFindsItsTrainingSamples()
    {
        TestSupport.Init();
        Network gru = Import("gru");
        DataSplits data = FashionMnist(train: 300, test: 50);
        var options = new InfluenceOptions { Abstraction = new AbstractionOptions { Candidates = [4], Mixture = new GaussianMixtureOptions(Seed: 0) } };
        using InfluenceModel model = InfluenceModel.Build(gru, data.Train, options);
        SampleQuery query = model.Query(data.Test, 0, 5);
        Assert.Equal(5, query.Top.Count);
        Assert.Equal(28, query.Trace.Length);
        Assert.All(query.Top, hit => Assert.InRange(hit.TrainIndex, 0, data.Train.Count - 1));
    }

    [Fact]
    public void RectifyWithTheUsersPairsWritesAnOnnxFile()
    {
        TestSupport.Init();
        using TempFolder dir = TestSupport.TempFolder();
        string model = Path.Combine(OnnxImportTests.Fixture("cnn"), "model.onnx");
        DataSplits data = FashionMnist(train: 100, test: 20);
        Tensor clean = data.Test.X.narrow(0, 0, 8);
        Tensor triggered = clean.clone();
        triggered.narrow(2, 24, 3).narrow(3, 24, 3).fill_(1f);
        string pairs = UserDataFiles.Npz(dir.File("pairs.npz"), ("corrupted", triggered.narrow(0, 0, 1)), ("clean", clean.narrow(0, 0, 1)));
        string trigger = UserDataFiles.Npz(dir.File("trigger.npz"), ("x", triggered), ("target", tensor(0L)));
        string json = dir.File("r.json"), output = dir.File("fixed.onnx");
        (int code, _, string err) = CliRunner.Run("rectify", "--model", model, "--data", "fashion-mnist", "--train-limit", "500", "--test-limit", "500",
            "--pairs", $"npz:{pairs}", "--trigger-test", $"npz:{trigger}", "--mode", "static", "--json", json, "--out", output, "--threads", "2");
        Assert.True(code == 0, err);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.InRange(doc.RootElement.GetProperty("asr_after").GetDouble(), 0, 1);
        Network written = ModelFile.Load(output);
        Assert.NotNull(written.OnnxOrigin);
        using Tensor check = data.Test.X.narrow(0, 0, 10);
        Assert.True(OnnxRuntimeCheck.Run(output, check).sub(written.Logits(check)).abs().max().item<float>() <= 1e-5);
    }
}
