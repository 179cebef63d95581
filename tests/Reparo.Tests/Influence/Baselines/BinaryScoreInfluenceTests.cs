using Google.Protobuf;
using Onnx;
using Reparo.Data;
using Reparo.Influence.Baselines;
using Reparo.Models;
using Reparo.Models.Onnx;
using static TorchSharp.torch;

namespace Reparo.Tests.Influence.Baselines;

/// <summary>
/// A binary classifier with one score z (a <c>BCEWithLogitsLoss</c> export) has the class scores [−z/2, z/2]: every
/// label-suspicion method ranks its training samples exactly as it ranks them for the same network written with those
/// two outputs (before, the last-layer methods refused it).
/// </summary>
public class BinaryScoreInfluenceTests
{
    /// <summary>3 features → Gemm(3→4) → Relu → Gemm(4→outputs), with the last layer's rows <paramref name="last"/>.</summary>
    private static Network Mlp(float[] hidden, float[] hiddenBias, float[] last, float[] lastBias)
    {
        int outputs = lastBias.Length;
        var model = new ModelProto { IrVersion = 8, ProducerName = "pytorch", ProducerVersion = "1.13.0", Graph = new GraphProto { Name = "g" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        GraphProto g = model.Graph;
        ValueInfoProto Value(string name, long width)
        {
            var shape = new TensorShapeProto();
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = width });
            return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } } };
        }
        void Initializer(string name, float[] values, params long[] dims)
        {
            var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
            t.Dims.Add(dims);
            t.FloatData.Add(values);
            g.Initializer.Add(t);
        }
        void Node(string op, string name, string[] inputs, string output)
        {
            var node = new NodeProto { Name = name, OpType = op };
            node.Input.Add(inputs);
            node.Output.Add(output);
            if (op == "Gemm") node.Attribute.Add(new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
            g.Node.Add(node);
        }
        g.Input.Add(Value("input", 3));
        g.Output.Add(Value("logits", outputs));
        Initializer("w1", hidden, 4, 3);
        Initializer("b1", hiddenBias, 4);
        Initializer("w2", last, outputs, 4);
        Initializer("b2", lastBias, outputs);
        Node("Gemm", "/fc1/Gemm", ["input", "w1", "b1"], "h");
        Node("Relu", "/relu/Relu", ["h"], "a");
        Node("Gemm", "/fc2/Gemm", ["a", "w2", "b2"], "logits");
        return OnnxImporter.Import(model.ToByteArray(), "m.onnx", null, new OnnxImportOptions());
    }

    [Theory]
    [InlineData("representer")]
    [InlineData("tracin-self")]
    [InlineData("kl-last")]
    [InlineData("loss")]
    public void AOneScoreModelIsRankedAsItsTwoOutputTwin(string method)
    {
        TestSupport.Init();
        var random = new Random(7);
        float[] Draw(int n) => [.. Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1))];
        float[] hidden = Draw(12), hiddenBias = Draw(4), w = Draw(4), b = Draw(1);
        using Network single = Mlp(hidden, hiddenBias, w, b);
        using Network twin = Mlp(hidden, hiddenBias, [.. w.Select(v => -v / 2), .. w.Select(v => v / 2)], [-b[0] / 2, b[0] / 2]);
        Assert.Equal(2, single.ClassCount);
        Assert.True(single.BinaryScoresLayer >= 0);
        Tensor x = tensor(Draw(3 * 40)).reshape(40, 3);
        Tensor y = tensor(Enumerable.Range(0, 40).Select(i => (long)(random.Next(2))).ToArray());
        var train = new Dataset("table", x, y, ["0", "1"], InputKind.Features);

        InfluenceScores one = LabelSuspicion.Rank(single, train, method), two = LabelSuspicion.Rank(twin, train, method);

        Assert.Equal(two.Ranking(), one.Ranking());
        for (int i = 0; i < one.Scores.Length; i++) Assert.Equal(two.Scores[i], one.Scores[i], 1e-6 * Math.Max(1, Math.Abs(two.Scores[i])));
    }
}
