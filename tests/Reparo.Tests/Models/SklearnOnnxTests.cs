using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using Reparo.Cli;
using Reparo.Data;
using Reparo.Models;
using Reparo.Models.Onnx;
using Reparo.Tests.Cli;
using Reparo.Verification;
using static TorchSharp.torch;

namespace Reparo.Tests.Models;

/// <summary>
/// scikit-learn classifiers as skl2onnx converts them (<see cref="SklearnOnnx"/>): an int64 label output first, the
/// probabilities behind a ZipMap, ops of the ai.onnx.ml domain on the label's path, a StandardScaler as a Scaler, a
/// binary classifier's probabilities as Concat(1 − p, p).
/// </summary>
public sealed class SklearnOnnxTests
{
    private static Network Import(ModelProto model, TempFolder dir, out string path)
    {
        path = dir.File("sklearn.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        return OnnxImporter.Import(path);
    }

    /// <summary>
    /// Each variant imports (the label's ArgMax, ArrayFeatureExtractor and the ZipMap are never run), reads the scores
    /// from the tensor the probabilities output is made from, and agrees with ONNX Runtime there; the class labels come
    /// from the graph; a binary classifier becomes one with a single score (its class-1 probability). A float64 model
    /// (skl2onnx's DoubleTensorType: its Cast and weights in float64) computes in Reparo's float32 throughout.
    /// </summary>
    [Theory]
    [InlineData(3, true, false, null)]
    [InlineData(3, false, false, "setosa,versicolor,virginica")]
    [InlineData(1, true, true, "benign,malignant")]
    [InlineData(1, false, true, null)]
    [InlineData(3, false, true, null, true)]
    public void ImportedClassifiersAgreeWithOnnxRuntimeAndNameTheirClasses(int outputs, bool zipMap, bool scaler, string? labels, bool float64 = false)
    {
        TestSupport.Init();
        using TempFolder dir = TestSupport.TempFolder();
        string[]? names = labels?.Split(',');
        Network network = Import(SklearnOnnx.MlpClassifier([5, 8, outputs], seed: 2, zipMap, scaler, names, float64), dir, out string path);
        int classes = outputs == 1 ? 2 : outputs;
        Assert.Equal(names ?? [.. Enumerable.Range(0, classes).Select(c => c.ToString())], network.Spec.ClassNames);
        Assert.Equal("output_probability", network.OnnxOrigin!.OutputName);
        Assert.Equal("out_activations_result", network.OnnxOrigin.Output);
        Assert.Equal(outputs == 1, network.BinaryScoresLayer >= 0);
        Assert.Contains("reads output 'output_probability' of 2 (the others: output_label)", network.Provenance.History[0]);

        using Tensor x = randn(7, 5, generator: new Generator(3)).mul(scaler ? 50 : 1).add(scaler ? 40 : 0);
        using Tensor reparo = network.GraphOutput(x), runtime = OnnxRuntimeCheck.Run(path, x, network.OnnxOrigin.Output);
        Assert.Equal(runtime.shape, reparo.shape);
        Assert.Equal(float64 ? ScalarType.Float64 : ScalarType.Float32, runtime.dtype);
        Assert.True(reparo.to(ScalarType.Float64).sub(runtime.to(ScalarType.Float64)).abs().max().item<double>() < 1e-5, "Reparo and ONNX Runtime differ");
        // The label output (ONNX Runtime, the label's own ops) is the class Reparo predicts.
        using var session = new InferenceSession(path);
        using OrtValue input = float64 ? OrtValue.CreateTensorValueFromMemory(x.to(ScalarType.Float64).data<double>().ToArray(), [7, 5])
            : OrtValue.CreateTensorValueFromMemory(x.data<float>().ToArray(), [7, 5]);
        using var results = session.Run(new RunOptions(), ["float_input"], [input], ["output_label"]);
        string[] predicted = [.. network.Predict(x).Select(c => network.Spec.ClassNames[(int)c])];
        string[] runtimeLabels = names is null ? [.. results[0].GetTensorDataAsSpan<long>().ToArray().Select(l => l.ToString())] : [.. results[0].GetStringTensorAsArray()];
        Assert.Equal(runtimeLabels, predicted);
    }

    /// <summary>
    /// Provable repair of a StandardScaler + binary MLP pipeline on a table with string labels: the data's labels map onto
    /// the graph's class labels, every repair input is verified (float32, float64 and ONNX Runtime), and the written
    /// file is the user's graph with the new weights: its ZipMap, label path and [1, n] intercepts as they were, in the
    /// file's own float type (float64 for a DoubleTensorType model).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AScalerAndBinaryPipelineIsRepairedAndWrittenBackWhole(bool float64)
    {
        TestSupport.Init();
        using TempFolder dir = TestSupport.TempFolder();
        ModelProto model = SklearnOnnx.MlpClassifier([4, 12, 1], seed: 5, zipMap: !float64, scaler: true, labels: ["no", "yes"], float64);
        string path = dir.File("pipeline.onnx"), repaired = dir.File("repaired.onnx"), table = dir.File("t.csv");
        File.WriteAllBytes(path, model.ToByteArray());
        var random = new Random(7);
        var lines = new List<string> { "a,b,c,d,answer" };
        for (int i = 0; i < 80; i++)
            lines.Add(string.Join(",", Enumerable.Range(0, 4).Select(_ => (40 + 60 * random.NextDouble()).ToString("F2", System.Globalization.CultureInfo.InvariantCulture))) + (i % 2 == 0 ? ",yes" : ",no"));
        File.WriteAllLines(table, lines);

        (int code, string stdout, string err) = CliRunner.Run("repair", "--method", "provable", "--model", path, "--data", $"csv:{table}", "--repair-set", "failures:3",
            "--layer", "fc2", "--preserve", "10", "--out", repaired, "--threads", "2");
        Assert.True(code == CliApp.Success, err);
        Assert.Contains("provable: yes", stdout);
        Assert.Contains("verified in ONNX Runtime on all 3 repair inputs", stdout);

        ModelProto written = ModelProto.Parser.ParseFrom(File.ReadAllBytes(repaired));
        Assert.Equal(model.Graph.Node.Select(n => n.ToString()), written.Graph.Node.Select(n => n.ToString()));
        Assert.Equal(model.Graph.Output, written.Graph.Output);
        TensorProto intercepts = written.Graph.Initializer.Single(i => i.Name == "intercepts1");
        Assert.Equal([1L, 1L], intercepts.Dims);
        Assert.Equal((int)(float64 ? TensorProto.Types.DataType.Double : TensorProto.Types.DataType.Float), intercepts.DataType);
        Assert.NotEqual(model.Graph.Initializer.Single(i => i.Name == "coefficient1"), written.Graph.Initializer.Single(i => i.Name == "coefficient1"));
        Assert.Equal(model.Graph.Initializer.Single(i => i.Name == "coefficient0"), written.Graph.Initializer.Single(i => i.Name == "coefficient0"));
        Assert.Equal(["no", "yes"], OnnxImporter.Import(repaired).Spec.ClassNames);
    }

    /// <summary>
    /// <c>--onnx-output</c> may name a value inside the graph (the logits before skl2onnx's Softmax): the model reads its
    /// scores there and ONNX Runtime's check reads the same value; a name that is neither an output nor a value is one line.
    /// </summary>
    [Fact]
    public void AnInnerValueCanBeTheScores()
    {
        TestSupport.Init();
        using TempFolder dir = TestSupport.TempFolder();
        string path = dir.File("m.onnx");
        File.WriteAllBytes(path, SklearnOnnx.MlpClassifier([5, 8, 3], seed: 4).ToByteArray());
        Network logits = OnnxImporter.Import(path, new OnnxImportOptions { Output = "add_result1" });
        Assert.Equal(("add_result1", "add_result1"), (logits.OnnxOrigin!.Output, logits.OnnxOrigin.OutputName));
        Assert.Equal(["cast1", "fc1", "relu1", "fc2"], logits.Layers.Select(l => l.Name));
        using Tensor x = randn(4, 5, generator: new Generator(5));
        using Tensor runtime = OnnxRuntimeCheck.Run(path, x, "add_result1"), probabilities = OnnxImporter.Import(path).GraphOutput(x);
        Assert.True(logits.GraphOutput(x).sub(runtime).abs().max().item<float>() < 1e-5);
        Assert.True(runtime.softmax(1).sub(probabilities).abs().max().item<float>() < 1e-5);
        var error = Assert.Throws<ReparoInputException>(() => OnnxImporter.Import(path, new OnnxImportOptions { Output = "nope" }));
        Assert.Contains("the graph has no output 'nope'; its outputs: output_label, output_probability", error.Message);
        Assert.Contains("has no output 'nope'", Assert.Throws<ReparoInputException>(() => OnnxRuntimeCheck.Run(path, x, "nope")).Message);
    }

    /// <summary>
    /// ONNX Runtime reads a float value inside a token model's graph (int64 token ids in, float scores out): the extra
    /// output is declared float, not the input's int64.
    /// </summary>
    [Fact]
    public void AnInnerValueOfATokenModelIsReadAsFloat()
    {
        TestSupport.Init();
        DataSplits splits = DataCatalog.Load("fortunes:computers,love", new DataOptions { TrainLimit = 30 });
        using Network network = ModelZoo.Create("text:8", splits.Train, seed: 1);
        ModelProto model = ModelProto.Parser.ParseFrom(OnnxExporter.Export(network));
        string inner = model.Graph.Node[^1].Input[0];
        Assert.DoesNotContain(model.Graph.Output, o => o.Name == inner);
        using Tensor tokens = splits.Test.X.narrow(0, 0, 3);
        using Tensor values = OnnxRuntimeCheck.Run(model.ToByteArray(), tokens, inner);
        Assert.Equal(ScalarType.Float32, values.dtype);
        Assert.Equal(3, values.shape[0]);
    }

    /// <summary>
    /// Data whose classes are not the model's is one line, exit 2, for every command that reads a model and data (eval
    /// refused it already; repair and attribute took a two-class table for a three-class model).
    /// </summary>
    [Fact]
    public void DataWithOtherClassesThanTheModelsIsRefusedInOneLine()
    {
        TestSupport.Init();
        using TempFolder dir = TestSupport.TempFolder();
        string path = dir.File("three.onnx"), table = dir.File("t.csv");
        File.WriteAllBytes(path, SklearnOnnx.MlpClassifier([2, 4, 3], seed: 1).ToByteArray());
        File.WriteAllLines(table, Enumerable.Range(0, 20).Select(i => $"{i},{i % 5},{(i % 2 == 0 ? "a" : "b")}"));
        foreach (string[] args in new[]
        {
            new[] { "eval", "--model", path, "--data", $"csv:{table}" },
            ["repair", "--method", "provable", "--model", path, "--data", $"csv:{table}", "--repair-set", "failures:2", "--layer", "fc2", "--out", dir.File("r.onnx")],
            ["attribute", "--model", path, "--data", $"csv:{table}", "--index", "0", "--method", "ig"],
        })
        {
            (int code, _, string err) = CliRunner.Run(args);
            Assert.Equal(CliApp.BadInput, code);
            Assert.Contains("has 2 classes; the model has 3", err);
            Assert.DoesNotContain('\n', err.Trim());
        }
        Assert.False(File.Exists(dir.File("r.onnx")));
    }

    /// <summary>The Scaler computes (x − offset) · scale, per feature or with one value for all, in the input's float type.</summary>
    [Fact]
    public void ScalerSubtractsTheOffsetAndMultipliesByTheScale()
    {
        var node = new NodeProto { OpType = "Scaler", Domain = "ai.onnx.ml", Input = { "x" }, Output = { "y" } };
        node.Attribute.Add(new AttributeProto { Name = "offset", Type = AttributeProto.Types.AttributeType.Floats, Floats = { 1f, 2f } });
        node.Attribute.Add(new AttributeProto { Name = "scale", Type = AttributeProto.Types.AttributeType.Floats, Floats = { 0.5f } });
        var values = new Dictionary<string, Tensor> { ["x"] = tensor(new double[] { 3, 6, 5, 2 }).reshape(2, 2) };
        OnnxExecutor.Run([node], 15, values);
        Assert.Equal(ScalarType.Float64, values["y"].dtype);
        Assert.Equal([1.0, 2.0, 2.0, 0.0], values["y"].flatten().data<double>().ToArray());
        node.Attribute[1].Floats.Add([1f, 2f]);
        Assert.Contains("Scaler with 2 offsets and 3 scales", OnnxOperators.Unsupported(node, 15));
    }
}
