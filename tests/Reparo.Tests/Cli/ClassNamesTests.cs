using System.Text.Json;
using Google.Protobuf;
using Onnx;
using Reparo.Cli;
using Reparo.Training;

namespace Reparo.Tests.Cli;

/// <summary>
/// An ONNX model that names no classes (a PyTorch export) and data whose label names sort into another order than the
/// model's outputs: <c>eval</c> warns with the relabelling the confusion matrix favours, <c>--class-names</c> names the
/// outputs, data labels map onto them by name, and a written-back model records them.
/// </summary>
public class ClassNamesTests
{
    /// <summary>One Gemm with the identity as weights: output c is feature c, so the class is the larger feature.</summary>
    private static ModelProto LargerFeature()
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "pytorch", ProducerVersion = "1.13.0", Graph = new GraphProto { Name = "g" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        GraphProto g = model.Graph;
        TypeProto Type(params long[] dims)
        {
            var shape = new TensorShapeProto();
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
            foreach (long d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
            return new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } };
        }
        g.Input.Add(new ValueInfoProto { Name = "input", Type = Type(2) });
        g.Output.Add(new ValueInfoProto { Name = "logits", Type = Type(2) });
        var w = new TensorProto { Name = "w", DataType = (int)TensorProto.Types.DataType.Float };
        w.Dims.Add([2, 2]);
        w.FloatData.Add([1f, 0f, 0f, 1f]);
        var b = new TensorProto { Name = "b", DataType = (int)TensorProto.Types.DataType.Float };
        b.Dims.Add(2);
        b.FloatData.Add([0f, 0f]);
        g.Initializer.Add([w, b]);
        var gemm = new NodeProto { Name = "/fc/Gemm", OpType = "Gemm" };
        gemm.Input.Add(["input", "w", "b"]);
        gemm.Output.Add("logits");
        gemm.Attribute.Add(new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        g.Node.Add(gemm);
        return model;
    }

    /// <summary>Rows whose label says which feature is larger: output 0 is <c>b_first</c>, output 1 <c>a_second</c> (sorted: the other way round).</summary>
    private static void WriteTable(string path) =>
        File.WriteAllLines(path, ["x0,x1,label", .. Enumerable.Range(0, 60).Select(i => i % 2 == 0 ? $"{i % 7 + 1},{-(i % 5) - 1},b_first" : $"{-(i % 3) - 1},{i % 4 + 1},a_second")]);

    private static double Accuracy(string json) => JsonDocument.Parse(json).RootElement.GetProperty("accuracy").GetDouble();

    [Fact]
    public void EvalWarnsOfLabelsInAnotherOrderAndClassNamesMapThemByName()
    {
        TestSupport.Init();
        using TempFolder dir = TestSupport.TempFolder();
        string model = dir.File("m.onnx"), table = dir.File("t.csv"), named = dir.File("named.onnx");
        File.WriteAllBytes(model, LargerFeature().ToByteArray());
        WriteTable(table);
        byte[] before = File.ReadAllBytes(model);

        (int code, string json, string err) = CliRunner.Run("eval", "--model", model, "--data", $"csv:{table}", "--json", "-");
        Assert.True(code == CliApp.Success, err);
        Assert.Equal(0, Accuracy(json));
        string hint = JsonDocument.Parse(json).RootElement.GetProperty("class_order_hint").GetString()!;
        Assert.Contains("a_second as the model's 1", hint);
        Assert.Contains("b_first as the model's 0", hint);
        Assert.Contains("100.00 %", hint);
        Assert.Contains("Warning: the labels look like the model's classes in another order", err);

        (code, json, err) = CliRunner.Run("eval", "--model", model, "--data", $"csv:{table}", "--class-names", "b_first,a_second", "--json", "-");
        Assert.True(code == CliApp.Success, err);
        Assert.Equal(1, Accuracy(json));
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(json).RootElement.GetProperty("class_order_hint").ValueKind);
        Assert.Equal(["b_first", "a_second"], JsonDocument.Parse(json).RootElement.GetProperty("class_names").EnumerateArray().Select(e => e.GetString()));

        // A written-back model records the names: read again without the option, it classifies the table by them.
        (code, _, err) = CliRunner.Run("export", "--model", model, "--class-names", "b_first,a_second", "--out", named);
        Assert.True(code == CliApp.Success, err);
        (code, json, err) = CliRunner.Run("eval", "--model", named, "--data", $"csv:{table}", "--json", "-");
        Assert.True(code == CliApp.Success, err);
        Assert.Equal(1, Accuracy(json));
        Assert.Equal(before, File.ReadAllBytes(model));
    }

    [Theory]
    [InlineData("b_first", "1 class names for 2 classes")]
    [InlineData("x,x", "class names repeat (x)")]
    [InlineData("x,", "a class name is empty")]
    [InlineData("x,y", "label 'a_second' is neither a class of the model (x, y) nor a class index")]
    public void BadClassNamesAreOneLine(string names, string message)
    {
        TestSupport.Init();
        using TempFolder dir = TestSupport.TempFolder();
        string model = dir.File("m.onnx"), table = dir.File("t.csv");
        File.WriteAllBytes(model, LargerFeature().ToByteArray());
        WriteTable(table);
        (int code, _, string err) = CliRunner.Run("eval", "--model", model, "--data", $"csv:{table}", "--class-names", names);
        Assert.Equal(CliApp.BadInput, code);
        Assert.Contains(message, err);
        Assert.DoesNotContain('\n', err.Trim());
    }

    [Fact]
    public void AReparoModelFileRefusesClassNames()
    {
        TestSupport.Init();
        using TempFolder dir = TestSupport.TempFolder();
        string model = dir.File("m.reparo");
        Reparo.Models.ModelFile.Save(Reparo.Models.ModelZoo.Create("mlp:4x1", TestSupport.RandomImages(10, size: 4, seed: 1), seed: 1), model);
        (int code, _, string err) = CliRunner.Run("inspect", model, "--class-names", "a,b");
        Assert.Equal(CliApp.BadInput, code);
        Assert.Contains("a Reparo model file records its own", err);
    }

    [Fact]
    public void TheBestRelabellingIsTheAssignmentWithTheLargestDiagonal()
    {
        Assert.Equal([1, 0], ClassOrder.BestRelabelling([[1, 9], [8, 2]]));
        Assert.Equal([1, 2, 0], ClassOrder.BestRelabelling([[0, 5, 0], [0, 0, 7], [6, 0, 0]]));
        var random = new Random(4);
        for (int trial = 0; trial < 50; trial++)
        {
            int n = random.Next(2, 6);
            int[][] confusion = [.. Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, n).Select(_ => random.Next(0, 20)).ToArray())];
            int[] best = ClassOrder.BestRelabelling(confusion);
            Assert.Equal(n, best.Distinct().Count());
            int Sum(IReadOnlyList<int> p) => Enumerable.Range(0, n).Sum(c => confusion[c][p[c]]);
            Assert.Equal(Permutations(n).Max(Sum), Sum(best));
        }
        Assert.Null(ClassOrder.Hint([[9, 1], [2, 8]], ["a", "b"], ["0", "1"]));
        Assert.Null(ClassOrder.Hint([[5, 4], [4, 5]], ["a", "b"], ["0", "1"])); // a gain under a quarter
    }

    private static IEnumerable<int[]> Permutations(int n) => n == 1 ? [[0]]
        : Permutations(n - 1).SelectMany(p => Enumerable.Range(0, n).Select(at => (int[])[.. p.Take(at), n - 1, .. p.Skip(at)]));
}
