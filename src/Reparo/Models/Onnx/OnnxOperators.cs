using System.Runtime.InteropServices;
using Onnx;
using Reparo.Io.Onnx;
using TorchSharp;
using static Reparo.Models.Onnx.OnnxAttributes;
using static TorchSharp.torch;

namespace Reparo.Models.Onnx;

/// <summary>
/// The ONNX operators Reparo computes with TorchSharp, with ONNX's semantics for opsets 9–21: attributes that became
/// inputs in later opsets (Reshape's shape, Squeeze/Unsqueeze axes, Slice, Pad, Split, ReduceMean axes at 18),
/// numpy broadcasting, negative axes, and ONNX's element types (int64 shape arithmetic stays int64, float64 stays
/// float64). The importer runs every node that is not an affine layer through <see cref="Run"/>.
/// </summary>
internal static class OnnxOperators
{
    private static readonly string[] LstmActivations = ["sigmoid", "tanh", "tanh"];
    private static readonly string[] GruActivations = ["sigmoid", "tanh"];

    /// <summary>Op types of the default ONNX domain (<c>""</c> or <c>"ai.onnx"</c>) that <see cref="Run"/> computes.</summary>
    public static IReadOnlySet<string> Supported { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "Gemm", "MatMul", "Conv", "Relu", "LeakyRelu", "PRelu", "Clip", "Elu", "Selu", "Softplus", "HardSigmoid", "HardSwish", "Sigmoid",
        "Tanh", "Gelu", "Erf", "Softmax", "LogSoftmax", "Abs", "Log", "Min", "MaxPool", "AveragePool",
        "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Reshape", "Transpose", "BatchNormalization", "Dropout", "Identity", "Pad", "Add", "Sub",
        "Mul", "Div", "Sqrt", "Pow", "Neg", "Exp", "LayerNormalization", "ReduceMean", "ReduceSum", "ReduceMax", "Max", "Not", "Gather", "LSTM", "GRU", "Shape", "Slice",
        "Concat", "Unsqueeze", "Squeeze", "Split", "Cast", "Constant", "ConstantOfShape", "Expand", "Where", "Equal",
    };

    /// <summary>Op types of the ONNX-ML domain (<c>ai.onnx.ml</c>) that <see cref="Run"/> computes: scikit-learn's StandardScaler as skl2onnx writes it.</summary>
    public static IReadOnlySet<string> MlSupported { get; } = new HashSet<string>(StringComparer.Ordinal) { "Scaler" };

    /// <summary>Whether <paramref name="node"/>'s op type is one <see cref="Run"/> computes in its domain (some attribute values may still be refused).</summary>
    public static bool IsKnown(NodeProto node) => node.Domain is "" or "ai.onnx" ? Supported.Contains(node.OpType) : node.Domain == "ai.onnx.ml" && MlSupported.Contains(node.OpType);

    /// <summary>
    /// Why <paramref name="node"/> cannot be run (an unsupported op, or an attribute value not supported such as Conv
    /// group ≠ 1 or an LSTM activation), or null when it can.
    /// </summary>
    public static string? Unsupported(NodeProto node, int opset)
    {
        if (node.Domain == "ai.onnx.ml") return MlSupported.Contains(node.OpType) ? ScalerProblem(node) : $"op {node.OpType} of domain 'ai.onnx.ml' is not supported";
        if (node.Domain is not ("" or "ai.onnx")) return $"domain '{node.Domain}' is not supported (only the default ONNX domain and ai.onnx.ml's Scaler)";
        if (!Supported.Contains(node.OpType)) return $"op {node.OpType} is not supported";
        // GlobalAveragePool, GlobalMaxPool, Not and Softplus are unchanged since opset 1, Elu, Selu and HardSigmoid since 6; the other ops
        // are implemented as opsets 9–21 define them.
        int earliest = node.OpType switch
        {
            "GlobalAveragePool" or "GlobalMaxPool" or "Not" or "Softplus" => 1,
            "Elu" or "Selu" or "HardSigmoid" => 6,
            _ => 9,
        };
        if (opset < earliest || opset > 21) return $"opset {opset} is outside the supported {earliest}–21";
        bool HasInput(int i) => node.Input.Count > i && node.Input[i].Length > 0;
        bool HasOutput(int i) => node.Output.Count > i && node.Output[i].Length > 0;
        switch (node.OpType)
        {
            case "Conv":
                if (Int(node, "group", 1) < 1) return $"Conv group {Int(node, "group", 1)}";
                if (Ints(node, "kernel_shape") is { Length: not (1 or 2) } k) return $"{k.Length}-D Conv (only 1-D and 2-D)";
                return AutoPadProblem(node);
            case "MaxPool" or "AveragePool":
                if (Ints(node, "kernel_shape") is not { Length: 1 or 2 }) return $"{Ints(node, "kernel_shape")?.Length ?? 0}-D {node.OpType} (only 1-D and 2-D)";
                if (node.OpType == "MaxPool" && HasOutput(1)) return "MaxPool's Indices output";
                if (node.OpType == "AveragePool" && Ints(node, "dilations") is { } d && d.Any(v => v != 1)) return "AveragePool with dilations";
                return AutoPadProblem(node);
            case "BatchNormalization":
                if (Int(node, "training_mode", 0) != 0) return "BatchNormalization in training mode";
                return HasOutput(1) || HasOutput(2) ? "BatchNormalization's running mean and variance outputs (training mode)" : null;
            case "Dropout":
                return HasInput(2) ? "Dropout with a training_mode input (training-mode dropout is random)" : null;
            case "Pad":
                return String(node, "mode", "constant") is "constant" or "reflect" or "edge" ? null : $"Pad mode '{String(node, "mode", "constant")}'";
            case "HardSwish":
                return opset < 14 ? $"HardSwish is not an operator of opset {opset} (added in 14)" : null;
            case "Gelu":
                if (opset < 20) return $"Gelu is not an operator of opset {opset} (added in 20)";
                return String(node, "approximate", "none") is "none" or "tanh" ? null : $"Gelu approximate '{String(node, "approximate", "none")}'";
            case "LayerNormalization":
                return opset < 17 ? $"LayerNormalization is not an operator of opset {opset} (added in 17)" : null;
            case "Cast":
                {
                    long to = Int(node, "to", 0);
                    if ((TensorProto.Types.DataType)to == TensorProto.Types.DataType.Bfloat16)
                        return "Cast to BFLOAT16 (ONNX 1.12's reference truncates, later ONNX versions and torch round to nearest even)";
                    return OnnxTensors.TorchType((int)to) is null ? $"Cast to {((TensorProto.Types.DataType)to).ToString().ToUpperInvariant()}" : null;
                }
            case "Constant":
                {
                    AttributeProto? value = node.Attribute.FirstOrDefault();
                    return value?.Name is "value" or "value_float" or "value_floats" or "value_int" or "value_ints"
                        ? null : $"Constant with attribute '{value?.Name}'";
                }
            case "LSTM" or "GRU":
                return RecurrentProblem(node);
            default:
                return null;
        }
    }

    /// <summary>
    /// Runs one node. <paramref name="inputs"/>[i] is null for an omitted optional input (empty name). Returns one tensor
    /// per node output (null for an optional output that is not computed). Bad shapes or missing inputs are a
    /// <see cref="ReparoInputException"/> naming the node.
    /// </summary>
    public static Tensor?[] Run(NodeProto node, int opset, IReadOnlyList<Tensor?> inputs)
    {
        if (Unsupported(node, opset) is string reason) throw new ReparoInputException($"{Describe(node)}: {reason}");
        using DisposeScope scope = NewDisposeScope();
        Tensor?[] computed;
        try
        {
            computed = Compute(node, opset, inputs);
        }
        catch (ExternalException e)
        {
            throw new ReparoInputException($"{Describe(node)}: {e.Message.Split('\n')[0].Trim()}", e);
        }
        var outputs = new Tensor?[node.Output.Count];
        for (int i = 0; i < outputs.Length && i < computed.Length; i++)
        {
            if (computed[i] is not Tensor t || node.Output[i].Length == 0) continue;
            // A result that is one of the inputs gets its own handle, so disposing one name never frees another.
            if (inputs.Any(x => ReferenceEquals(x, t))) t = t.alias();
            outputs[i] = t.MoveToOuterDisposeScope();
        }
        return outputs;
    }

    private static string Describe(NodeProto node) => node.Name.Length > 0 ? $"{node.OpType} node '{node.Name}'" : $"{node.OpType} node";

    private static string? AutoPadProblem(NodeProto node) =>
        String(node, "auto_pad", "NOTSET") is "NOTSET" or "VALID" or "SAME_UPPER" or "SAME_LOWER" ? null : $"auto_pad '{String(node, "auto_pad", "NOTSET")}'";

    private static string? RecurrentProblem(NodeProto node)
    {
        string direction = String(node, "direction", "forward");
        if (direction is not ("forward" or "reverse" or "bidirectional")) return $"{node.OpType} direction '{direction}'";
        if (Find(node, "clip") is not null) return $"{node.OpType} with clip";
        if (Int(node, "input_forget", 0) != 0) return "LSTM with input_forget";
        if (Int(node, "layout", 0) is not (0 or 1)) return $"{node.OpType} layout {Int(node, "layout", 0)}";
        if (Strings(node, "activations") is { } activations)
        {
            string[] defaults = node.OpType == "LSTM" ? LstmActivations : GruActivations;
            for (int i = 0; i < activations.Length; i++)
            {
                if (!string.Equals(activations[i], defaults[i % defaults.Length], StringComparison.OrdinalIgnoreCase))
                    return $"{node.OpType} activations [{string.Join(", ", activations)}] (only the defaults)";
            }
        }
        return null;
    }

    private static Tensor?[] Compute(NodeProto node, int opset, IReadOnlyList<Tensor?> inputs)
    {
        Tensor? Optional(int i) => i < inputs.Count ? inputs[i] : null;
        Tensor X(int i) => Optional(i) ?? throw new ReparoInputException($"{Describe(node)}: input {i} is required but missing");
        switch (node.OpType)
        {
            case "Identity": return [X(0)];
            case "Relu": return [nn.functional.relu(X(0))];
            case "LeakyRelu":
                {
                    Tensor x = X(0);
                    return [where(x >= 0, x, x * Float(node, "alpha", 0.01))];
                }
            case "PRelu":
                {
                    Tensor x = X(0);
                    return [where(x >= 0, x, x * X(1))];
                }
            case "Clip": return [Clip(node, opset, X(0), Optional(1), Optional(2))];
            case "Elu":
                {
                    Tensor x = X(0);
                    return [where(x >= 0, x, x.expm1() * Float(node, "alpha", 1))];
                }
            case "Selu":
                {
                    Tensor x = X(0);
                    double alpha = Float(node, "alpha", 1.67326319217681884765625), gamma = Float(node, "gamma", 1.05070102214813232421875);
                    return [where(x > 0, x, x.exp() * alpha - alpha) * gamma];
                }
            case "Softplus": return [nn.functional.softplus(X(0))];
            case "HardSigmoid": return [(X(0) * Float(node, "alpha", 0.2) + Float(node, "beta", 0.5)).clamp(0, 1)];
            case "HardSwish": return [X(0) * (X(0) / 6 + 0.5).clamp(0, 1)];
            case "Abs": return [X(0).abs()];
            case "Log": return [X(0).log()];
            case "Sigmoid": return [X(0).sigmoid()];
            case "Scaler":
                {
                    // ai.onnx.ml: y = (x − offset) · scale, one value for every feature or one per feature (the last axis).
                    Tensor x = X(0).is_floating_point() ? X(0) : X(0).to(ScalarType.Float32);
                    float[] offset = Floats(node, "offset") ?? [0f], scale = Floats(node, "scale") ?? [1f];
                    return [x.sub(tensor(offset).to(x.dtype)).mul(tensor(scale).to(x.dtype))];
                }
            case "Tanh": return [X(0).tanh()];
            case "Erf": return [X(0).erf()];
            case "Sqrt": return [X(0).sqrt()];
            case "Exp": return [X(0).exp()];
            case "Neg": return [X(0).neg()];
            case "Gelu": return [Gelu(X(0), String(node, "approximate", "none") == "tanh")];
            case "Add": return [X(0) + X(1)];
            case "Sub": return [X(0) - X(1)];
            case "Mul": return [X(0) * X(1)];
            case "Div": return [IsFloating(X(0)) ? X(0) / X(1) : X(0).div(X(1), RoundingMode.trunc)];
            case "Pow": return [X(0).pow(X(1)).to(X(0).dtype)];
            case "Equal": return [X(0).eq(X(1))];
            case "Not": return [X(0).logical_not()];
            case "Max":
                if (node.Input.Count == 0) throw new ReparoInputException($"{Describe(node)}: Max needs at least one input");
                return [Enumerable.Range(0, node.Input.Count).Select(X).Aggregate(maximum)];
            case "Where": return [where(X(0).to(ScalarType.Bool), X(1), X(2))];
            case "Softmax": return [Softmax(node, opset, X(0), log: false)];
            case "LogSoftmax": return [Softmax(node, opset, X(0), log: true)];
            case "Min":
                if (node.Input.Count == 0) throw new ReparoInputException($"{Describe(node)}: Min needs at least one input");
                return [Enumerable.Range(0, node.Input.Count).Select(X).Aggregate(minimum)];
            case "Gemm": return [Gemm(node, X(0), X(1), Optional(2))];
            case "MatMul": return [MatMul(node, X(0), X(1))];
            case "Conv" or "MaxPool" or "AveragePool" when X(0).dim() == 3:
                {
                    // 1-D: the 2-D node it equals over (N, C, 1, L).
                    Tensor?[] lifted = [X(0).unsqueeze(2), .. node.OpType == "Conv" ? new[] { X(1).unsqueeze(2), Optional(2) } : []];
                    return [.. Run(Lift1d(node), opset, lifted).Select(y => y?.squeeze(2))];
                }
            case "Conv": return [Conv(node, X(0), X(1), Optional(2))];
            case "MaxPool": return [MaxPool(node, X(0))];
            case "AveragePool": return [AveragePool(node, X(0))];
            case "GlobalAveragePool": return [X(0).mean([.. Enumerable.Range(2, (int)X(0).dim() - 2).Select(d => (long)d)], keepdim: true)];
            case "GlobalMaxPool": return [X(0).amax([.. Enumerable.Range(2, (int)X(0).dim() - 2).Select(d => (long)d)], keepdim: true)];
            case "Flatten":
                {
                    Tensor x = X(0);
                    // Flatten's axis may equal the rank (everything in the first dimension).
                    long given = Int(node, "axis", 1), axis = given < 0 ? given + x.dim() : given;
                    if (axis < 0 || axis > x.dim()) throw new ReparoInputException($"{Describe(node)}: axis {given} is out of range for rank {x.dim()}");
                    long outer = x.shape[..(int)axis].Aggregate(1L, (a, b) => a * b);
                    return [x.reshape(outer, x.shape[(int)axis..].Aggregate(1L, (a, b) => a * b))];
                }
            case "Reshape": return [Reshape(node, X(0), Longs(X(1)))];
            case "Transpose":
                {
                    Tensor x = X(0);
                    long[] perm = Ints(node, "perm") ?? [.. Enumerable.Range(0, (int)x.dim()).Reverse().Select(d => (long)d)];
                    return [x.permute([.. perm.Select(p => Axis(node, p, x.dim()))])];
                }
            case "BatchNormalization": return [BatchNorm(node, X(0), X(1), X(2), X(3), X(4))];
            case "Dropout":
                {
                    Tensor x = X(0);
                    return [x, opset >= 10 ? ones_like(x, ScalarType.Bool) : ones_like(x)];
                }
            case "Pad": return [Pad(node, opset, X(0), Optional(1), Optional(2), Optional(3))];
            case "LayerNormalization": return LayerNorm(node, X(0), X(1), Optional(2));
            case "ReduceMean": return [Reduce(node, opset >= 18, X(0), Optional(1), Reduction.Mean)];
            case "ReduceSum": return [Reduce(node, opset >= 13, X(0), Optional(1), Reduction.Sum)];
            case "ReduceMax": return [Reduce(node, opset >= 18, X(0), Optional(1), Reduction.Max)];
            case "Gather": return [Gather(node, X(0), X(1))];
            case "LSTM":
                SameFloatType(node, inputs, 4);
                return Lstm(node, X(0), X(1), X(2), Optional(3), Optional(4), Optional(5), Optional(6), Optional(7));
            case "GRU":
                SameFloatType(node, inputs, 4);
                return Gru(node, X(0), X(1), X(2), Optional(3), Optional(4), Optional(5));
            case "Shape": return [ShapeOf(node, X(0))];
            case "Slice": return [Slice(node, opset, X(0), Optional(1), Optional(2), Optional(3), Optional(4))];
            case "Concat":
                {
                    Tensor[] parts = [.. inputs.Select((t, i) => t ?? X(i))];
                    if (parts.Length == 0) throw new ReparoInputException($"{Describe(node)}: no inputs");
                    return [cat(parts, Axis(node, Int(node, "axis", 0), parts[0].dim()))];
                }
            case "Unsqueeze": return [Unsqueeze(node, X(0), opset >= 13 ? Longs(X(1)) : Ints(node, "axes") ?? [])];
            case "Squeeze": return [Squeeze(node, X(0), opset >= 13 ? (Optional(1) is { } a ? Longs(a) : null) : Ints(node, "axes"))];
            case "Split": return Split(node, opset, X(0), Optional(1));
            case "Cast": return [X(0).to(OnnxTensors.TorchType((int)Int(node, "to", 0))!.Value)];
            case "Constant": return [Constant(node)];
            case "ConstantOfShape":
                {
                    Tensor value = Find(node, "value") is { } v ? OnnxTensors.ToTorch(v.T, Describe(node), null) : zeros(1, ScalarType.Float32);
                    if (value.numel() != 1) throw new ReparoInputException($"{Describe(node)}: value must hold one element, not {value.numel()}");
                    return [value.reshape(Array.Empty<long>()).expand(Longs(X(0))).contiguous()];
                }
            case "Expand":
                {
                    Tensor x = X(0);
                    return [x.expand(Broadcast(node, x.shape, Longs(X(1)))).contiguous()];
                }
            default:
                throw new ReparoInputException($"{Describe(node)}: op {node.OpType} is not supported");
        }
    }

    private static bool IsFloating(Tensor t) => t.dtype is ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16;

    private static long[] Longs(Tensor t) => t.to(ScalarType.Int64).cpu().data<long>().ToArray();

    private static long Axis(NodeProto node, long axis, long rank)
    {
        if (axis < -rank || axis >= rank) throw new ReparoInputException($"{Describe(node)}: axis {axis} is out of range for rank {rank}");
        return axis < 0 ? axis + rank : axis;
    }

    private static long[] Broadcast(NodeProto node, long[] a, long[] b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var shape = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            long x = i - rank + a.Length >= 0 ? a[i - rank + a.Length] : 1;
            long y = i - rank + b.Length >= 0 ? b[i - rank + b.Length] : 1;
            if (x != y && x != 1 && y != 1)
                throw new ReparoInputException($"{Describe(node)}: shapes [{string.Join(", ", a)}] and [{string.Join(", ", b)}] do not broadcast");
            shape[i] = x == 1 ? y : x;
        }
        return shape;
    }

    private static Tensor Gelu(Tensor x, bool tanhApproximation) => tanhApproximation
        ? 0.5 * x * (1 + (Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3))).tanh())
        : 0.5 * x * (1 + (x / Math.Sqrt(2)).erf());

    /// <summary>Softmax or, with <paramref name="log"/>, LogSoftmax (the same axis rules).</summary>
    private static Tensor Softmax(NodeProto node, int opset, Tensor x, bool log)
    {
        Tensor Normalise(Tensor t, long dim) => log ? t.log_softmax(dim) : t.softmax(dim);
        if (opset >= 13) return Normalise(x, Axis(node, Int(node, "axis", -1), x.dim()));
        // Before opset 13 (Log)Softmax flattens the input to 2-D at axis and normalises each row.
        long axis = Axis(node, Int(node, "axis", 1), x.dim());
        long outer = x.shape[..(int)axis].Aggregate(1L, (a, b) => a * b);
        return Normalise(x.reshape(outer, -1), 1).reshape(x.shape);
    }

    /// <summary>Clip: bounds from attributes before opset 11, from optional inputs since (absent: unbounded).</summary>
    private static Tensor Clip(NodeProto node, int opset, Tensor x, Tensor? min, Tensor? max)
    {
        if (opset < 11)
            return x.clamp(Float(node, "min", double.NegativeInfinity), Float(node, "max", double.PositiveInfinity));
        Tensor result = x;
        if (min is not null) result = maximum(result, min.to(x.dtype));
        if (max is not null) result = minimum(result, max.to(x.dtype));
        return result;
    }

    /// <summary>
    /// torch's matmul after checking that the shapes agree: LibTorchSharp's matmul does not turn a shape error into an
    /// exception but aborts the process.
    /// </summary>
    private static Tensor MatMul(NodeProto node, Tensor a, Tensor b)
    {
        long[] x = a.shape, y = b.shape;
        if (x.Length == 0 || y.Length == 0) throw new ReparoInputException($"{Describe(node)}: a matrix product of a scalar");
        long inner = y.Length == 1 ? y[0] : y[^2];
        if (x[^1] != inner) throw new ReparoInputException($"{Describe(node)}: shapes [{string.Join(",", x)}] and [{string.Join(",", y)}] cannot be multiplied");
        long[] xBatch = x.Length > 2 ? x[..^2] : [], yBatch = y.Length > 2 ? y[..^2] : [];
        for (int i = 1; i <= Math.Min(xBatch.Length, yBatch.Length); i++)
            if (xBatch[^i] != yBatch[^i] && xBatch[^i] != 1 && yBatch[^i] != 1)
                throw new ReparoInputException($"{Describe(node)}: batch shapes [{string.Join(",", x)}] and [{string.Join(",", y)}] do not broadcast");
        return matmul(a, b);
    }

    private static Tensor Gemm(NodeProto node, Tensor a, Tensor b, Tensor? c)
    {
        if (a.dim() != 2 || b.dim() != 2) throw new ReparoInputException($"{Describe(node)}: A and B must be 2-D, not rank {a.dim()} and {b.dim()}");
        if (Int(node, "transA", 0) != 0) a = a.t();
        if (Int(node, "transB", 0) != 0) b = b.t();
        Tensor y = MatMul(node, a, b);
        double alpha = Float(node, "alpha", 1), beta = Float(node, "beta", 1);
        if (alpha != 1) y = (y * alpha).to(a.dtype);
        if (c is not null) y = y + (beta == 1 ? c : (c * beta).to(c.dtype));
        return y;
    }

    /// <summary>Why a Scaler cannot be run (offset or scale of two different lengths above one), or null.</summary>
    private static string? ScalerProblem(NodeProto node)
    {
        int offsets = Floats(node, "offset")?.Length ?? 1, scales = Floats(node, "scale")?.Length ?? 1;
        return offsets == 0 || scales == 0 || offsets > 1 && scales > 1 && offsets != scales ? $"Scaler with {offsets} offsets and {scales} scales" : null;
    }

    private static long[] Spatial(NodeProto node, string name, long fallback) => Ints(node, name) ?? [fallback, fallback];

    /// <summary>
    /// A 1-D Conv, MaxPool or AveragePool as the 2-D node it equals over inputs (N, C, 1, L) and, for a Conv, weights
    /// (out, in, 1, k): each spatial attribute gains a height entry of kernel 1, stride 1, dilation 1 and no padding.
    /// </summary>
    internal static NodeProto Lift1d(NodeProto node)
    {
        NodeProto lifted = node.Clone();
        foreach (AttributeProto attribute in lifted.Attribute)
        {
            int expected = attribute.Name switch { "kernel_shape" or "strides" or "dilations" => 1, "pads" => 2, _ => attribute.Ints.Count };
            if (attribute.Ints.Count != expected)
                throw new ReparoInputException($"{Describe(node)}: {attribute.Name} has {attribute.Ints.Count} values for a 1-D input, not {expected}");
            if (attribute.Name is "kernel_shape" or "strides" or "dilations")
            {
                attribute.Ints.Insert(0, 1);
            }
            else if (attribute.Name == "pads")
            {
                long[] pads = [0, attribute.Ints[0], 0, attribute.Ints[1]];
                attribute.Ints.Clear();
                attribute.Ints.Add(pads);
            }
        }
        return lifted;
    }

    /// <summary>The explicit (begin, end) padding of a 2-D conv or pool: pads, or what auto_pad implies.</summary>
    /// <summary>A 2-D Conv's or pool's padding before and after each spatial axis, auto_pad (SAME_UPPER, SAME_LOWER, VALID) resolved for an input of spatial <paramref name="size"/>.</summary>
    internal static (long[] Begin, long[] End) Pads(NodeProto node, long[] size, long[] kernel, long[] strides, long[] dilations)
    {
        string autoPad = String(node, "auto_pad", "NOTSET");
        if (autoPad is "SAME_UPPER" or "SAME_LOWER")
        {
            long[] begin = new long[2], end = new long[2];
            for (int i = 0; i < 2; i++)
            {
                long output = (size[i] + strides[i] - 1) / strides[i];
                long total = Math.Max(0, (output - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size[i]);
                (long small, long big) = (total / 2, total - total / 2);
                (begin[i], end[i]) = autoPad == "SAME_UPPER" ? (small, big) : (big, small);
            }
            return (begin, end);
        }
        if (autoPad == "VALID") return ([0, 0], [0, 0]);
        long[] pads = Ints(node, "pads") ?? [0, 0, 0, 0];
        if (pads.Length != 4) throw new ReparoInputException($"{Describe(node)}: pads has {pads.Length} values, not 4");
        return ([pads[0], pads[1]], [pads[2], pads[3]]);
    }

    private static void Check2d(NodeProto node, Tensor x)
    {
        if (x.dim() != 4) throw new ReparoInputException($"{Describe(node)}: input has rank {x.dim()}; only 2-D (N, C, H, W) is supported");
    }

    private static Tensor PadSpatial(Tensor x, (long[] Begin, long[] End) pads, double value) =>
        nn.functional.pad(x, [pads.Begin[1], pads.End[1], pads.Begin[0], pads.End[0]], PaddingModes.Constant, value);

    private static Tensor Conv(NodeProto node, Tensor x, Tensor w, Tensor? b)
    {
        Check2d(node, x);
        if (w.dim() != 4) throw new ReparoInputException($"{Describe(node)}: weight has rank {w.dim()}, not 4");
        long[] kernel = Ints(node, "kernel_shape") ?? [w.shape[2], w.shape[3]];
        long[] strides = Spatial(node, "strides", 1), dilations = Spatial(node, "dilations", 1);
        var pads = Pads(node, [x.shape[2], x.shape[3]], kernel, strides, dilations);
        // Grouped (depthwise when group = channels): each group of input channels feeds its own share of the outputs.
        long group = Int(node, "group", 1);
        if (x.shape[1] != w.shape[1] * group || w.shape[0] % group != 0)
            throw new ReparoInputException($"{Describe(node)}: {x.shape[1]} input channels and a weight of shape [{string.Join(",", w.shape)}] do not fit group {group}");
        return nn.functional.conv2d(PadSpatial(x, pads, 0), w, b, strides, [0, 0], dilations, group);
    }

    private static Tensor MaxPool(NodeProto node, Tensor x)
    {
        Check2d(node, x);
        long[] kernel = Ints(node, "kernel_shape")!;
        long[] strides = Spatial(node, "strides", 1), dilations = Spatial(node, "dilations", 1);
        var pads = Pads(node, [x.shape[2], x.shape[3]], kernel, strides, dilations);
        // Integer inputs pool in float64 (exact for every value MaxPool's integer types hold) and are cast back.
        Tensor input = IsFloating(x) ? x : x.to(ScalarType.Float64);
        Tensor y = nn.functional.max_pool2d(PadSpatial(input, pads, double.NegativeInfinity), kernel, strides, [0, 0], dilations, Int(node, "ceil_mode", 0) != 0);
        return y.to(x.dtype);
    }

    private static Tensor AveragePool(NodeProto node, Tensor x)
    {
        Check2d(node, x);
        long[] kernel = Ints(node, "kernel_shape")!;
        long[] strides = Spatial(node, "strides", 1);
        var pads = Pads(node, [x.shape[2], x.shape[3]], kernel, strides, [1, 1]);
        bool ceil = Int(node, "ceil_mode", 0) != 0;
        // Window sums over the explicitly padded input, divided by how many cells of each window count: the padding
        // only with count_include_pad; never the overhang of a ceil_mode window past the padded input.
        Tensor Sum(Tensor t) => nn.functional.avg_pool2d(t, kernel, strides, [0, 0], ceil, true, 1);
        Tensor sums = Sum(PadSpatial(x, pads, 0));
        Tensor cells = ones(1, 1, x.shape[2], x.shape[3], dtype: x.dtype);
        Tensor counts = Sum(PadSpatial(cells, pads, Int(node, "count_include_pad", 0) != 0 ? 1 : 0));
        return sums / counts;
    }

    private static Tensor Reshape(NodeProto node, Tensor x, long[] shape)
    {
        bool allowZero = Int(node, "allowzero", 0) != 0;
        long[] target = [.. shape.Select((s, i) => s == 0 && !allowZero ? (i < x.dim() ? x.shape[i] : throw new ReparoInputException($"{Describe(node)}: shape entry {i} is 0 but the input has rank {x.dim()}")) : s)];
        return x.reshape(target);
    }

    private static Tensor BatchNorm(NodeProto node, Tensor x, Tensor scale, Tensor bias, Tensor mean, Tensor variance)
    {
        long[] shape = [1, -1, .. Enumerable.Repeat(1L, (int)Math.Max(0, x.dim() - 2))];
        double epsilon = Float(node, "epsilon", 1e-5);
        Tensor std = (variance.reshape(shape) + epsilon).sqrt();
        return ((x - mean.reshape(shape)) / std * scale.reshape(shape) + bias.reshape(shape)).to(x.dtype);
    }

    private static Tensor Pad(NodeProto node, int opset, Tensor x, Tensor? padsInput, Tensor? valueInput, Tensor? axesInput)
    {
        long[] pads = opset >= 11
            ? Longs(padsInput ?? throw new ReparoInputException($"{Describe(node)}: input 1 (pads) is required but missing"))
            : Ints(node, "pads") ?? throw new ReparoInputException($"{Describe(node)}: attribute pads is missing");
        double value = opset >= 11 ? (valueInput is { } v && v.numel() > 0 ? v.to(ScalarType.Float64).reshape(-1)[0].item<double>() : 0) : Float(node, "value", 0);
        long rank = x.dim();
        long[] axes = axesInput is { } a ? [.. Longs(a).Select(ax => Axis(node, ax, rank))] : [.. Enumerable.Range(0, (int)rank).Select(d => (long)d)];
        if (pads.Length != 2 * axes.Length) throw new ReparoInputException($"{Describe(node)}: pads has {pads.Length} values for {axes.Length} axes");
        long[] begin = new long[rank], end = new long[rank];
        for (int i = 0; i < axes.Length; i++) (begin[axes[i]], end[axes[i]]) = (pads[i], pads[i + axes.Length]);
        string mode = String(node, "mode", "constant");
        if (mode == "constant")
        {
            long[] torchPads = [.. Enumerable.Range(0, (int)rank).Reverse().SelectMany(d => new[] { begin[d], end[d] })];
            return nn.functional.pad(x, torchPads, PaddingModes.Constant, value);
        }
        Tensor y = x;
        for (int d = 0; d < rank; d++)
        {
            if (begin[d] == 0 && end[d] == 0) continue;
            long n = y.shape[d];
            if (n == 0) throw new ReparoInputException($"{Describe(node)}: cannot {mode}-pad an empty axis {d}");
            if (mode == "reflect" && n == 1 && (begin[d] > 0 || end[d] > 0)) throw new ReparoInputException($"{Describe(node)}: cannot reflect-pad axis {d} of size 1");
            long period = 2 * (n - 1);
            long Source(long j)
            {
                if (mode == "edge") return Math.Clamp(j, 0, n - 1);
                long m = ((j % period) + period) % period;
                return m < n ? m : period - m;
            }
            long[] index = [.. Enumerable.Range(0, (int)Math.Max(0, n + begin[d] + end[d])).Select(k => Source(k - begin[d]))];
            y = y.index_select(d, tensor(index));
        }
        return y;
    }

    private static Tensor?[] LayerNorm(NodeProto node, Tensor x, Tensor scale, Tensor? bias)
    {
        long axis = Axis(node, Int(node, "axis", -1), x.dim());
        double epsilon = Float(node, "epsilon", 1e-5);
        // Statistics in float32 at least (stash_type), in float64 for float64 inputs.
        Tensor input = x.dtype == ScalarType.Float64 ? x : x.to(ScalarType.Float32);
        long[] dims = [.. Enumerable.Range((int)axis, (int)(x.dim() - axis)).Select(d => (long)d)];
        Tensor mean = input.mean(dims, keepdim: true);
        Tensor centred = input - mean;
        Tensor invStd = (centred.pow(2).mean(dims, keepdim: true) + epsilon).rsqrt();
        Tensor y = (centred * invStd).to(x.dtype) * scale;
        if (bias is not null) y = y + bias;
        return [y, mean, invStd];
    }

    private enum Reduction
    {
        Mean,
        Sum,
        Max,
    }

    /// <summary>ReduceMean, ReduceSum or ReduceMax; <paramref name="axesAsInput"/>: the opset gives the axes as an input, not an attribute.</summary>
    private static Tensor Reduce(NodeProto node, bool axesAsInput, Tensor x, Tensor? axesInput, Reduction reduction)
    {
        long[] axes = (axesAsInput ? (axesInput is { } a ? Longs(a) : null) : Ints(node, "axes")) ?? [];
        bool keep = Int(node, "keepdims", 1) != 0;
        if (axes.Length == 0)
        {
            if (Int(node, "noop_with_empty_axes", 0) != 0) return x;
            axes = [.. Enumerable.Range(0, (int)x.dim()).Select(d => (long)d)];
        }
        axes = [.. axes.Select(ax => Axis(node, ax, x.dim()))];
        if (axes.Length == 0) return x;
        return reduction switch
        {
            Reduction.Sum => x.sum(axes, keep).to(x.dtype),
            Reduction.Max => x.amax(axes, keep),
            _ => IsFloating(x) ? x.mean(axes, keep) : x.to(ScalarType.Float64).mean(axes, keep).to(x.dtype),
        };
    }

    private static Tensor Gather(NodeProto node, Tensor data, Tensor indices)
    {
        long axis = Axis(node, Int(node, "axis", 0), data.dim());
        long n = data.shape[axis];
        Tensor index = indices.to(ScalarType.Int64);
        if (index.numel() > 0 && (index.min().item<long>() < -n || index.max().item<long>() >= n))
            throw new ReparoInputException($"{Describe(node)}: an index is out of range for axis {axis} of size {n}");
        index = where(index < 0, index + n, index);
        Tensor picked = data.index_select(axis, index.reshape(-1));
        long[] shape = [.. data.shape[..(int)axis], .. indices.shape, .. data.shape[(int)(axis + 1)..]];
        return picked.reshape(shape);
    }

    private static Tensor ShapeOf(NodeProto node, Tensor x)
    {
        long rank = x.dim();
        long Clamp(long v) => Math.Clamp(v < 0 ? v + rank : v, 0, rank);
        long start = Clamp(Int(node, "start", 0)), end = Clamp(Int(node, "end", rank));
        return tensor(x.shape[(int)start..(int)Math.Max(start, end)]);
    }

    private static Tensor Slice(NodeProto node, int opset, Tensor x, Tensor? startsInput, Tensor? endsInput, Tensor? axesInput, Tensor? stepsInput)
    {
        long[] starts, ends;
        long[]? axes, steps = null;
        if (opset >= 10)
        {
            starts = Longs(startsInput ?? throw new ReparoInputException($"{Describe(node)}: input 1 (starts) is required but missing"));
            ends = Longs(endsInput ?? throw new ReparoInputException($"{Describe(node)}: input 2 (ends) is required but missing"));
            axes = axesInput is { } a ? Longs(a) : null;
            steps = stepsInput is { } s ? Longs(s) : null;
        }
        else
        {
            starts = Ints(node, "starts") ?? throw new ReparoInputException($"{Describe(node)}: attribute starts is missing");
            ends = Ints(node, "ends") ?? throw new ReparoInputException($"{Describe(node)}: attribute ends is missing");
            axes = Ints(node, "axes");
        }
        axes ??= [.. Enumerable.Range(0, starts.Length).Select(d => (long)d)];
        steps ??= [.. Enumerable.Repeat(1L, starts.Length)];
        if (ends.Length != starts.Length || axes.Length != starts.Length || steps.Length != starts.Length)
            throw new ReparoInputException($"{Describe(node)}: starts, ends, axes and steps differ in length");
        Tensor y = x;
        for (int i = 0; i < starts.Length; i++)
        {
            long axis = Axis(node, axes[i], x.dim()), n = x.shape[axis], step = steps[i];
            if (step == 0) throw new ReparoInputException($"{Describe(node)}: step 0 on axis {axis}");
            long start = starts[i] < 0 ? starts[i] + n : starts[i], end = ends[i] < 0 ? ends[i] + n : ends[i];
            (start, end) = step > 0 ? (Math.Clamp(start, 0, n), Math.Clamp(end, 0, n)) : (Math.Clamp(start, 0, n - 1), Math.Clamp(end, -1, n - 1));
            long count = step > 0 ? Math.Max(0, (end - start + step - 1) / step) : Math.Max(0, (start - end - step - 1) / -step);
            y = y.index_select(axis, arange(start, start + count * step, step, ScalarType.Int64).narrow(0, 0, count));
        }
        return y;
    }

    private static Tensor Unsqueeze(NodeProto node, Tensor x, long[] axes)
    {
        long rank = x.dim() + axes.Length;
        long[] sorted = [.. axes.Select(a => Axis(node, a, rank)).Order()];
        if (sorted.Distinct().Count() != sorted.Length) throw new ReparoInputException($"{Describe(node)}: repeated axes");
        var shape = x.shape.ToList();
        foreach (long a in sorted) shape.Insert((int)a, 1);
        return x.reshape([.. shape]);
    }

    private static Tensor Squeeze(NodeProto node, Tensor x, long[]? axes)
    {
        long[] remove = axes is null
            ? [.. Enumerable.Range(0, (int)x.dim()).Where(d => x.shape[d] == 1).Select(d => (long)d)]
            : [.. axes.Select(a => Axis(node, a, x.dim()))];
        foreach (long a in remove)
        {
            if (x.shape[a] != 1) throw new ReparoInputException($"{Describe(node)}: axis {a} has size {x.shape[a]}, not 1");
        }
        return x.reshape([.. x.shape.Where((_, d) => !remove.Contains(d))]);
    }

    private static Tensor?[] Split(NodeProto node, int opset, Tensor x, Tensor? splitInput)
    {
        long axis = Axis(node, Int(node, "axis", 0), x.dim());
        long n = x.shape[axis];
        long[]? sizes = opset >= 13 ? (splitInput is { } s ? Longs(s) : null) : Ints(node, "split");
        if (sizes is null)
        {
            long parts = opset >= 18 && Find(node, "num_outputs") is { } k ? k.I : node.Output.Count;
            if (parts <= 0) throw new ReparoInputException($"{Describe(node)}: {parts} outputs");
            if (n % parts != 0 && opset < 18) throw new ReparoInputException($"{Describe(node)}: axis {axis} of size {n} does not split into {parts} equal parts");
            long chunk = (n + parts - 1) / parts;
            sizes = [.. Enumerable.Range(0, (int)parts).Select(i => Math.Clamp(n - i * chunk, 0, chunk))];
        }
        if (sizes.Sum() != n) throw new ReparoInputException($"{Describe(node)}: split sizes [{string.Join(", ", sizes)}] do not add up to {n}");
        return [.. x.split(sizes, axis)];
    }

    private static Tensor Constant(NodeProto node)
    {
        AttributeProto value = node.Attribute[0];
        return value.Name switch
        {
            "value" => OnnxTensors.ToTorch(value.T, Describe(node), null),
            "value_float" => tensor(value.F),
            "value_floats" => tensor(value.Floats.ToArray()),
            "value_int" => tensor(value.I),
            "value_ints" => tensor(value.Ints.ToArray()),
            _ => throw new ReparoInputException($"{Describe(node)}: attribute '{value.Name}' is not supported"),
        };
    }

    /// <summary>Per-direction slices of a recurrent node's inputs, with the time-major layout and default states.</summary>
    private static (Tensor X, int Directions, long Hidden, Tensor? H0, Tensor? C0) RecurrentInputs(NodeProto node, Tensor x, Tensor w, Tensor? h0, Tensor? c0, long gates)
    {
        bool batchFirst = Int(node, "layout", 0) == 1;
        if (x.dim() != 3 || w.dim() != 3) throw new ReparoInputException($"{Describe(node)}: X and W must be 3-D, not rank {x.dim()} and {w.dim()}");
        int directions = String(node, "direction", "forward") == "bidirectional" ? 2 : 1;
        if (w.shape[0] != directions) throw new ReparoInputException($"{Describe(node)}: W has {w.shape[0]} directions, the direction attribute needs {directions}");
        long hidden = Int(node, "hidden_size", w.shape[1] / gates);
        if (w.shape[1] != gates * hidden) throw new ReparoInputException($"{Describe(node)}: W has {w.shape[1]} rows, not {gates} × hidden_size {hidden}");
        return batchFirst
            ? (x.transpose(0, 1), directions, hidden, h0?.transpose(0, 1), c0?.transpose(0, 1))
            : (x, directions, hidden, h0, c0);
    }

    private static Tensor?[] RecurrentOutputs(NodeProto node, List<Tensor> ys, List<Tensor> hs, List<Tensor>? cs)
    {
        Tensor y = stack(ys, 1), h = stack(hs, 0);
        Tensor? c = cs is null ? null : stack(cs, 0);
        if (Int(node, "layout", 0) == 1) return [y.permute(2, 0, 1, 3), h.transpose(0, 1), c?.transpose(0, 1)];
        return [y, h, c];
    }

    /// <summary>With sequence_lens: per step, a (batch, 1) mask of the sequences still running (null without sequence_lens).</summary>
    private static Func<long, Tensor>? ActiveMask(NodeProto node, Tensor? lengths, long steps, long batch, ScalarType type)
    {
        if (lengths is null) return null;
        long[] values = Longs(lengths);
        if (values.Length != batch || values.Any(v => v < 0 || v > steps))
            throw new ReparoInputException($"{Describe(node)}: sequence_lens [{string.Join(", ", values)}] must hold {batch} lengths between 0 and {steps}");
        Tensor valid = tensor(values).unsqueeze(1);
        return t => (valid > t).to(type);
    }

    /// <summary>
    /// One recurrent step under sequence_lens: finished sequences keep their state and output zeros (ONNX's padding);
    /// without a mask the new state is taken as it is. Returns (output, hidden, cell).
    /// </summary>
    private static (Tensor Y, Tensor H, Tensor? C) Advance(Tensor? active, Tensor hNext, Tensor h, Tensor? cNext, Tensor? c)
    {
        if (active is null) return (hNext, hNext, cNext);
        Tensor kept = 1 - active;
        return (active * hNext, active * hNext + kept * h, cNext is null ? null : active * cNext + kept * c!);
    }

    /// <summary>
    /// A one-line error unless every float input but <paramref name="lengthsInput"/> (the integer sequence lengths) has the
    /// data's element type, as ONNX's type constraint T demands: libtorch would abort the process on a mismatch in the
    /// cell's products.
    /// </summary>
    private static void SameFloatType(NodeProto node, IReadOnlyList<Tensor?> inputs, int lengthsInput)
    {
        ScalarType? data = inputs.Count > 0 ? inputs[0]?.dtype : null;
        for (int i = 1; i < inputs.Count; i++)
        {
            if (i != lengthsInput && inputs[i] is { } t && t.dtype != data)
                throw new ReparoInputException($"{Describe(node)}: input {i} is {t.dtype} but the data is {data}; ONNX requires one element type");
        }
    }

    private static bool Reversed(NodeProto node, int direction) =>
        String(node, "direction", "forward") == "reverse" || direction == 1;

    private static Tensor?[] Lstm(NodeProto node, Tensor x0, Tensor w, Tensor r, Tensor? b, Tensor? lengths, Tensor? h0, Tensor? c0, Tensor? p)
    {
        (Tensor x, int directions, long hidden, Tensor? hInit, Tensor? cInit) = RecurrentInputs(node, x0, w, h0, c0, 4);
        long steps = x.shape[0], batch = x.shape[1];
        Func<long, Tensor>? active = ActiveMask(node, lengths, steps, batch, x.dtype);
        List<Tensor> ys = [], hs = [], cs = [];
        for (int d = 0; d < directions; d++)
        {
            Tensor bias = b is null ? zeros(4 * hidden, dtype: x.dtype) : b[d].narrow(0, 0, 4 * hidden) + b[d].narrow(0, 4 * hidden, 4 * hidden);
            Tensor projected = MatMul(node, x, w[d].t()) + bias;
            Tensor rt = r[d].t();
            Tensor[]? peep = p is null ? null : p[d].chunk(3);
            Tensor h = hInit?[d] ?? zeros(batch, hidden, dtype: x.dtype);
            Tensor c = cInit?[d] ?? zeros(batch, hidden, dtype: x.dtype);
            var y = new Tensor[steps];
            for (long s = 0; s < steps; s++)
            {
                long t = Reversed(node, d) ? steps - 1 - s : s;
                Tensor[] g = (projected[t] + MatMul(node, h, rt)).chunk(4, -1);
                Tensor i = peep is null ? g[0] : g[0] + peep[0] * c, f = peep is null ? g[2] : g[2] + peep[2] * c;
                Tensor cNext = f.sigmoid() * c + i.sigmoid() * g[3].tanh();
                Tensor o = peep is null ? g[1] : g[1] + peep[1] * cNext;
                Tensor hNext = o.sigmoid() * cNext.tanh();
                (Tensor output, Tensor hidden, Tensor? cell) step = Advance(active?.Invoke(t), hNext, h, cNext, c);
                (y[t], h, c) = (step.output, step.hidden, step.cell!);
            }
            ys.Add(stack(y, 0));
            hs.Add(h);
            cs.Add(c);
        }
        return RecurrentOutputs(node, ys, hs, cs);
    }

    private static Tensor?[] Gru(NodeProto node, Tensor x0, Tensor w, Tensor r, Tensor? b, Tensor? lengths, Tensor? h0)
    {
        (Tensor x, int directions, long hidden, Tensor? hInit, _) = RecurrentInputs(node, x0, w, h0, null, 3);
        long steps = x.shape[0], batch = x.shape[1];
        Func<long, Tensor>? active = ActiveMask(node, lengths, steps, batch, x.dtype);
        bool linearBeforeReset = Int(node, "linear_before_reset", 0) != 0;
        List<Tensor> ys = [], hs = [];
        for (int d = 0; d < directions; d++)
        {
            Tensor wb = b is null ? zeros(3 * hidden, dtype: x.dtype) : b[d].narrow(0, 0, 3 * hidden);
            Tensor[] rb = (b is null ? zeros(3 * hidden, dtype: x.dtype) : b[d].narrow(0, 3 * hidden, 3 * hidden)).chunk(3);
            Tensor projected = MatMul(node, x, w[d].t()) + wb;
            Tensor[] rg = r[d].chunk(3);
            Tensor rzr = cat([rg[0], rg[1]], 0).t(), rh = rg[2].t();
            Tensor h = hInit?[d] ?? zeros(batch, hidden, dtype: x.dtype);
            var y = new Tensor[steps];
            for (long s = 0; s < steps; s++)
            {
                long t = Reversed(node, d) ? steps - 1 - s : s;
                Tensor[] xg = projected[t].chunk(3, -1);
                Tensor[] hg = MatMul(node, h, rzr).chunk(2, -1);
                Tensor z = (xg[0] + hg[0] + rb[0]).sigmoid(), reset = (xg[1] + hg[1] + rb[1]).sigmoid();
                Tensor candidate = linearBeforeReset
                    ? (xg[2] + reset * (MatMul(node, h, rh) + rb[2])).tanh()
                    : (xg[2] + MatMul(node, reset * h, rh) + rb[2]).tanh();
                (y[t], h, _) = Advance(active?.Invoke(t), (1 - z) * candidate + z * h, h, null, null);
            }
            ys.Add(stack(y, 0));
            hs.Add(h);
        }
        return RecurrentOutputs(node, ys, hs, null);
    }
}
