using Google.Protobuf;
using Onnx;

namespace Reparo.Tests.Models;

/// <summary>
/// ONNX graphs written the way sklearn-onnx (skl2onnx) converts a scikit-learn <c>MLPClassifier</c>, optionally behind a
/// <c>StandardScaler</c> in a pipeline: Cast of the input, MatMul + Add (intercepts shaped [1, n]) with Relu between
/// layers, Softmax (binary: Sigmoid, then Concat(1 − p, p)) as the probabilities, ArgMax → ArrayFeatureExtractor →
/// Reshape → Cast as the label, and by default a ZipMap turning the probabilities into one map per row. The outputs
/// are skl2onnx's defaults: <c>output_label</c> (int64) first, then <c>output_probability</c>.
/// </summary>
internal static class SklearnOnnx
{
    private const string Ml = "ai.onnx.ml";

    /// <summary>
    /// The graph of an MLP with the given layer widths (input first; a last width of 1 is a binary classifier), random
    /// weights from <paramref name="seed"/>; class labels 0, 1, … as int32, or <paramref name="labels"/> as strings.
    /// </summary>
    public static ModelProto MlpClassifier(int[] widths, int seed, bool zipMap = true, bool scaler = false, string[]? labels = null, bool float64 = false)
    {
        int type = float64 ? (int)TensorProto.Types.DataType.Double : (int)TensorProto.Types.DataType.Float;
        var random = new Random(seed);
        int classes = widths[^1] == 1 ? 2 : widths[^1];
        if (labels is not null && labels.Length != classes) throw new ArgumentException("one label per class");
        var model = new ModelProto { IrVersion = 8, ProducerName = "skl2onnx", ProducerVersion = "1.16.0", Graph = new GraphProto { Name = "mlp" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 15 });
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = Ml, Version = 1 });
        GraphProto g = model.Graph;
        g.Input.Add(Tensor("float_input", type, widths[0]));
        string h = "float_input";
        if (scaler)
        {
            var offsets = Enumerable.Range(0, widths[0]).Select(_ => (float)(random.NextDouble() * 100)).ToArray();
            var scales = Enumerable.Range(0, widths[0]).Select(_ => (float)(0.01 + random.NextDouble())).ToArray();
            g.Node.Add(new NodeProto
            {
                Name = "Scaler",
                OpType = "Scaler",
                Domain = Ml,
                Input = { h },
                Output = { "variable" },
                Attribute = { Floats("offset", offsets), Floats("scale", scales) },
            });
            h = "variable";
        }
        g.Node.Add(new NodeProto { Name = "Cast", OpType = "Cast", Input = { h }, Output = { "cast_input" }, Attribute = { Int("to", type) } });
        h = "cast_input";
        for (int i = 0; i + 1 < widths.Length; i++)
        {
            g.Initializer.Add(Typed(OnnxImportTests.UniformFloats($"coefficient{i}", random, 1 / Math.Sqrt(widths[i]), widths[i], widths[i + 1]), float64));
            g.Initializer.Add(Typed(OnnxImportTests.UniformFloats($"intercepts{i}", random, 0.1, 1, widths[i + 1]), float64));
            g.Node.Add(new NodeProto { Name = $"MatMul{i}", OpType = "MatMul", Input = { h, $"coefficient{i}" }, Output = { $"mul_result{i}" } });
            g.Node.Add(new NodeProto { Name = $"Add{i}", OpType = "Add", Input = { $"mul_result{i}", $"intercepts{i}" }, Output = { $"add_result{i}" } });
            h = $"add_result{i}";
            if (i + 2 < widths.Length)
            {
                g.Node.Add(new NodeProto { Name = $"Relu{i}", OpType = "Relu", Input = { h }, Output = { $"next_activations{i}" } });
                h = $"next_activations{i}";
            }
        }
        if (widths[^1] == 1)
        {
            g.Node.Add(new NodeProto { Name = "Sigmoid", OpType = "Sigmoid", Input = { h }, Output = { "out_activations_result" } });
            var unity = new TensorProto { Name = "unity", DataType = (int)TensorProto.Types.DataType.Float };
            unity.FloatData.Add(1);
            g.Initializer.Add(Typed(unity, float64));
            g.Node.Add(new NodeProto { Name = "Sub", OpType = "Sub", Input = { "unity", "out_activations_result" }, Output = { "negative_class_proba" } });
            g.Node.Add(new NodeProto { Name = "Concat", OpType = "Concat", Input = { "negative_class_proba", "out_activations_result" }, Output = { "probabilities" }, Attribute = { Int("axis", 1) } });
        }
        else
        {
            g.Node.Add(new NodeProto { Name = "Softmax", OpType = "Softmax", Input = { h }, Output = { "out_activations_result" } });
            g.Node.Add(new NodeProto { Name = "Identity", OpType = "Identity", Input = { "out_activations_result" }, Output = { "probabilities" } });
        }
        var classIds = new TensorProto { Name = "classes", DataType = (int)(labels is null ? TensorProto.Types.DataType.Int32 : TensorProto.Types.DataType.String) };
        classIds.Dims.Add(classes);
        if (labels is null) classIds.Int32Data.Add(Enumerable.Range(0, classes));
        else classIds.StringData.Add(labels.Select(ByteString.CopyFromUtf8));
        g.Initializer.Add(classIds);
        g.Node.Add(new NodeProto { Name = "ArgMax", OpType = "ArgMax", Input = { "probabilities" }, Output = { "argmax_output" }, Attribute = { Int("axis", 1) } });
        g.Node.Add(new NodeProto { Name = "ArrayFeatureExtractor", OpType = "ArrayFeatureExtractor", Domain = Ml, Input = { "classes", "argmax_output" }, Output = { "array_feature_extractor_result" } });
        var minusOne = new TensorProto { Name = "shape_tensor", DataType = (int)TensorProto.Types.DataType.Int64 };
        minusOne.Dims.Add(1);
        minusOne.Int64Data.Add(-1);
        g.Initializer.Add(minusOne);
        g.Node.Add(new NodeProto { Name = "Reshape", OpType = "Reshape", Input = { "array_feature_extractor_result", "shape_tensor" }, Output = { "reshaped_result" } });
        if (labels is null) g.Node.Add(new NodeProto { Name = "Cast1", OpType = "Cast", Input = { "reshaped_result" }, Output = { "output_label" }, Attribute = { Int("to", 7) } });
        else g.Node.Add(new NodeProto { Name = "Identity2", OpType = "Identity", Input = { "reshaped_result" }, Output = { "output_label" } });
        int labelType = labels is null ? 7 : (int)TensorProto.Types.DataType.String;
        var label = new ValueInfoProto { Name = "output_label", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = labelType, Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimParam = "N" } } } } } };
        g.Output.Add(label);
        if (zipMap)
        {
            AttributeProto classLabels = labels is null
                ? new AttributeProto { Name = "classlabels_int64s", Type = AttributeProto.Types.AttributeType.Ints, Ints = { Enumerable.Range(0, classes).Select(c => (long)c) } }
                : new AttributeProto { Name = "classlabels_strings", Type = AttributeProto.Types.AttributeType.Strings, Strings = { labels.Select(ByteString.CopyFromUtf8) } };
            g.Node.Add(new NodeProto { Name = "ZipMap", OpType = "ZipMap", Domain = Ml, Input = { "probabilities" }, Output = { "output_probability" }, Attribute = { classLabels } });
            var map = new TypeProto { MapType = new TypeProto.Types.Map { KeyType = labelType, ValueType = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } } } };
            g.Output.Add(new ValueInfoProto { Name = "output_probability", Type = new TypeProto { SequenceType = new TypeProto.Types.Sequence { ElemType = map } } });
        }
        else
        {
            g.Node.Add(new NodeProto { Name = "Identity1", OpType = "Identity", Input = { "probabilities" }, Output = { "output_probability" } });
            g.Output.Add(Tensor("output_probability", type, classes));
        }
        return model;
    }

    private static ValueInfoProto Tensor(string name, int type, long width) => new()
    {
        Name = name,
        Type = new TypeProto
        {
            TensorType = new TypeProto.Types.Tensor
            {
                ElemType = type,
                Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimParam = "N" }, new TensorShapeProto.Types.Dimension { DimValue = width } } },
            },
        },
    };

    /// <summary><paramref name="floats"/> as it is, or as float64 (skl2onnx's DoubleTensorType) with the same values.</summary>
    private static TensorProto Typed(TensorProto floats, bool float64)
    {
        if (!float64) return floats;
        var doubles = new TensorProto { Name = floats.Name, DataType = (int)TensorProto.Types.DataType.Double };
        doubles.Dims.Add(floats.Dims);
        doubles.DoubleData.Add(floats.FloatData.Select(v => (double)v));
        return doubles;
    }

    private static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static AttributeProto Floats(string name, float[] values) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Floats, Floats = { values } };
}
