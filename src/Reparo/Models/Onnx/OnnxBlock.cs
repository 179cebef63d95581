using Google.Protobuf;
using Onnx;
using Reparo.Io.Onnx;
using static TorchSharp.torch;

namespace Reparo.Models.Onnx;

/// <summary>A constant an <see cref="OnnxBlockSpec"/> reads (a folded initializer or shape value), saved as a buffer.</summary>
/// <param name="Value">The ONNX value name the block's nodes refer to.</param>
/// <param name="Dtype">Element type (<c>float32</c>, <c>int64</c>, …).</param>
/// <param name="Shape">Its shape.</param>
public sealed record OnnxConstantSpec(string Value, string Dtype, long[] Shape);

/// <summary>
/// An affine node of an <see cref="OnnxBlockSpec"/> (Gemm, MatMul with a constant weight, possibly fused with the Add of
/// its bias, or Conv) that Reparo holds as a Linear or Conv2d module, so it is a repairable, tappable layer.
/// </summary>
/// <param name="Node">Index of the node in the block.</param>
/// <param name="Name">Reparo's name of the module (<c>fc3</c>, <c>conv2</c>); addressed as <c>BLOCK.NAME</c>.</param>
/// <param name="Output">The ONNX value the module's output stands for (the fused Add's output for MatMul + Add).</param>
/// <param name="In">Input features or channels.</param>
/// <param name="Out">Output features or channels.</param>
/// <param name="Bias">Whether the module has a bias.</param>
/// <param name="Kernel">Conv only: kernel height and width, or length for a 1-D Conv (null for Linear).</param>
/// <param name="Strides">Conv only: strides.</param>
/// <param name="Dilations">Conv only: dilations.</param>
/// <param name="Pads">Conv only: pads as (top, left, bottom, right), or (begin, end) for a 1-D Conv.</param>
/// <param name="Groups">Conv only: channel groups (the Conv's <c>group</c>; as many as input channels for a depthwise convolution).</param>
public sealed record OnnxAffineSpec(int Node, string Name, string Output, int In, int Out, bool Bias,
    int[]? Kernel = null, int[]? Strides = null, int[]? Dilations = null, int[]? Pads = null, int Groups = 1)
{
    /// <summary>Whether this is a convolution (else a Linear map over the last dimension).</summary>
    public bool IsConv => Kernel is not null;

    internal nn.Module<Tensor, Tensor> CreateModule()
    {
        if (!IsConv) return nn.Linear(In, Out, hasBias: Bias);
        if (Kernel!.Length == 1)
            return nn.Conv1d(In, Out, Kernel[0], stride: Strides![0], padding: Math.Min(Pads![0], Pads[1]), dilation: Dilations![0], groups: Groups, bias: Bias);
        (long top, long left, long bottom, long right) = (Pads![0], Pads[1], Pads[2], Pads[3]);
        // Symmetric padding stays in the module; the asymmetric remainder is applied by the block before it.
        return nn.Conv2d(In, Out, (Kernel![0], Kernel[1]), stride: (Strides![0], Strides[1]),
            padding: (Math.Min(top, bottom), Math.Min(left, right)), dilation: (Dilations![0], Dilations[1]), groups: Groups, bias: Bias);
    }

    /// <summary>The padding left over after the module's symmetric part, as torch's (left, right, top, bottom), or null.</summary>
    internal long[]? ExtraPadding()
    {
        if (!IsConv) return null;
        long[] extra;
        if (Kernel!.Length == 1)
        {
            long both = Math.Min(Pads![0], Pads[1]);
            extra = [Pads[0] - both, Pads[1] - both];
        }
        else
        {
            (long top, long left, long bottom, long right) = (Pads![0], Pads[1], Pads[2], Pads[3]);
            long h = Math.Min(top, bottom), w = Math.Min(left, right);
            extra = [left - w, right - w, top - h, bottom - h];
        }
        return extra.All(e => e == 0) ? null : extra;
    }

    /// <summary>One-line description.</summary>
    public string Describe() => !IsConv ? $"Linear({In} → {Out})"
        : $"Conv{Kernel!.Length}d({In} → {Out}, k{string.Join("×", Kernel)}, s{string.Join("×", Strides!)}, pads {string.Join(",", Pads!)}{(Groups == 1 ? "" : $", groups {Groups}")})";
}

/// <summary>
/// A part of an imported ONNX graph with one input and one output that Reparo does not map onto one of its own layer
/// kinds: a residual block, an attention block, or a single node such as Softmax or Transpose. Its nodes are kept as
/// ONNX nodes (saved in ONNX's JSON form) and run by Reparo's ONNX operators; its affine nodes are Linear or Conv2d
/// modules (<see cref="Affine"/>), so methods that work at any affine layer reach them as <c>NAME.fc3</c>.
/// </summary>
/// <param name="Name">Reparo's layer name (<c>block1</c>, <c>softmax1</c>, …).</param>
/// <param name="Opset">The model's default-domain opset.</param>
/// <param name="Input">The ONNX value the block reads.</param>
/// <param name="Output">The ONNX value the block produces.</param>
/// <param name="Nodes">The block's nodes in order, each as ONNX's JSON form of a <c>NodeProto</c>.</param>
/// <param name="Constants">The constants the nodes read, saved as the module's buffers.</param>
/// <param name="Affine">The nodes held as modules.</param>
public sealed record OnnxBlockSpec(string Name, int Opset, string Input, string Output, IReadOnlyList<string> Nodes,
    IReadOnlyList<OnnxConstantSpec> Constants, IReadOnlyList<OnnxAffineSpec> Affine) : LayerSpec(Name)
{
    internal override nn.Module<Tensor, Tensor> CreateModule() => new OnnxBlockModule(this);

    /// <summary>
    /// Whether the block, applied to class scores (N, classes), keeps the strict order of each sample's scores: Softmax
    /// or LogSoftmax over the classes (axis 1 or -1), Sigmoid, Identity, Dropout (inference). Every margin between two
    /// classes then keeps its sign in exact arithmetic; where floating point saturates (a Sigmoid of large scores), the
    /// verifier's guard band on the output's margins catches it.
    /// </summary>
    internal bool KeepsClassOrder => Affine.Count == 0 && Nodes.Select(NodeProto.Parser.ParseJson).All(node => node.OpType switch
    {
        "Softmax" or "LogSoftmax" => OnnxAttributes.Int(node, "axis", Opset >= 13 ? -1 : 1) is 1 or -1,
        "Sigmoid" or "Identity" or "Dropout" => true,
        _ => false,
    });

    internal override long StateElementsAtLeast()
    {
        if (Nodes is null || Constants is null || Affine is null) throw new ReparoInputException($"layer '{Name}': ONNX block lacks its nodes, constants or affine list");
        long total = 0;
        foreach (OnnxConstantSpec c in Constants)
        {
            if (c?.Shape is null || c.Shape.Any(d => d < 0)) throw new ReparoInputException($"layer '{Name}': constant '{c?.Value}' has no valid shape");
            _ = OnnxConstants.TypeOf(c.Dtype);
            total = checked(total + c.Shape.Aggregate(1L, (a, d) => checked(a * d)));
        }
        foreach (OnnxAffineSpec a in Affine)
        {
            if (a is null || a.In < 1 || a.Out < 1 || a.Node < 0 || a.Node >= Nodes.Count)
                throw new ReparoInputException($"layer '{Name}': affine node '{a?.Name}' has sizes {a?.In}→{a?.Out} or node {a?.Node} out of range");
            long weights = checked((long)a.In * a.Out);
            if (a.IsConv)
            {
                if (a.Kernel!.Length is not (1 or 2) || a.Strides?.Length != a.Kernel.Length || a.Dilations?.Length != a.Kernel.Length || a.Pads?.Length != 2 * a.Kernel.Length
                    || a.Kernel.Any(k => k < 1) || a.Strides.Any(k => k < 1) || a.Dilations.Any(k => k < 1) || a.Pads.Any(k => k < 0)
                    || a.Groups < 1 || a.In % a.Groups != 0 || a.Out % a.Groups != 0)
                    throw new ReparoInputException($"layer '{Name}': convolution '{a.Name}' has an invalid kernel, stride, dilation, padding or group count");
                weights = a.Kernel.Aggregate(weights / a.Groups, (product, k) => checked(product * k));
            }
            total = checked(total + weights);
        }
        return total;
    }

    /// <inheritdoc />
    public override string Describe()
    {
        IEnumerable<string> ops = Nodes.Select(n => NodeProto.Parser.ParseJson(n).OpType);
        string list = string.Join(", ", ops.GroupBy(o => o).Select(g => g.Count() == 1 ? g.Key : $"{g.Key}×{g.Count()}"));
        return Nodes.Count == 1 ? $"ONNX {list}" : $"ONNX block ({list})";
    }

    /// <summary>A node's ONNX JSON form.</summary>
    internal static string ToJson(NodeProto node) => JsonFormatter.Default.Format(node);
}

/// <summary>Runs an <see cref="OnnxBlockSpec"/>: affine nodes through their modules (so hooks fire), the rest through <see cref="OnnxOperators"/>.</summary>
internal sealed class OnnxBlockModule : nn.Module<Tensor, Tensor>
{
    private readonly OnnxBlockSpec spec;
    private readonly NodeProto[] nodes;
    private readonly Dictionary<int, (OnnxAffineSpec Spec, nn.Module<Tensor, Tensor> Module)> affine = [];
    private readonly List<(string Value, string Buffer)> constants = [];

    public OnnxBlockModule(OnnxBlockSpec spec) : base(spec.Name)
    {
        this.spec = spec;
        nodes = [.. spec.Nodes.Select(NodeProto.Parser.ParseJson)];
        for (int i = 0; i < spec.Constants.Count; i++)
        {
            OnnxConstantSpec c = spec.Constants[i];
            string buffer = $"const{i}";
            register_buffer(buffer, zeros(c.Shape, OnnxConstants.TypeOf(c.Dtype)));
            constants.Add((c.Value, buffer));
        }
        foreach (OnnxAffineSpec a in spec.Affine)
        {
            nn.Module<Tensor, Tensor> module = a.CreateModule();
            register_module(a.Name, module);
            affine[a.Node] = (a, module);
        }
    }

    /// <summary>The block's constants by ONNX value name (the module's buffers).</summary>
    public IReadOnlyDictionary<string, Tensor> Constants()
    {
        Dictionary<string, Tensor> buffers = named_buffers(recurse: false).ToDictionary(b => b.name, b => b.buffer);
        return constants.ToDictionary(c => c.Value, c => buffers[c.Buffer]);
    }

    /// <summary>The block's description.</summary>
    public OnnxBlockSpec Spec => spec;

    /// <summary>The block's nodes in order.</summary>
    public IReadOnlyList<NodeProto> Nodes => nodes;

    /// <summary>The affine unit (spec and module) that node <paramref name="node"/> is, or null.</summary>
    public (OnnxAffineSpec Spec, nn.Module<Tensor, Tensor> Module)? Affine(int node) => affine.TryGetValue(node, out var unit) ? unit : null;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return Values(x)[spec.Output].MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Every value of the block for the input <paramref name="x"/>, by ONNX value name: the input, the constants and each
    /// node's outputs (the tensors belong to the caller's dispose scope).
    /// </summary>
    public Dictionary<string, Tensor> Values(Tensor x)
    {
        Dictionary<string, Tensor> values = Start(x);
        for (int i = 0; i < nodes.Length; i++) Step(i, values);
        return values;
    }

    /// <summary>The values before the first node: the block's input <paramref name="x"/> and its constants (for <see cref="Step"/>).</summary>
    internal Dictionary<string, Tensor> Start(Tensor x) => new(Constants(), StringComparer.Ordinal) { [spec.Input] = x };

    /// <summary>
    /// Computes node <paramref name="i"/> from <paramref name="values"/> and adds its outputs there: an affine unit through
    /// its module, a Cast of float data as the identity, any other node through <see cref="OnnxOperators"/>.
    /// </summary>
    internal void Step(int i, Dictionary<string, Tensor> values)
    {
        NodeProto node = nodes[i];
        if (affine.TryGetValue(i, out var unit))
        {
            Tensor input = values[node.Input[0]];
            if (unit.Spec.ExtraPadding() is { } pad) input = nn.functional.pad(input, pad);
            values[unit.Spec.Output] = unit.Module.call(input);
            return;
        }
        var inputs = node.Input.Select(name => name.Length == 0 ? null : values.GetValueOrDefault(name)
            ?? throw new ReparoInputException($"{spec.Name}: node '{node.Name}' reads '{name}', which nothing computed")).ToArray();
        if (KeepsFloatType(node, inputs))
        {
            values[node.Output[0]] = inputs[0]!;
            return;
        }
        Tensor?[] outputs = OnnxOperators.Run(node, spec.Opset, inputs);
        for (int o = 0; o < node.Output.Count && o < outputs.Length; o++)
        {
            if (node.Output[o].Length > 0 && outputs[o] is { } value) values[node.Output[o]] = value;
        }
    }

    /// <summary>
    /// Whether <paramref name="node"/> is a Cast from float data to another float type (skl2onnx casts its input to
    /// float32, or to float64 for a DoubleTensorType model): the network computes in one float type, float32 with its
    /// parameters, or float64 in the verifier's re-run, with every parameter and constant float64; the data keeps it
    /// through the Cast, as through every other op.
    /// </summary>
    private static bool KeepsFloatType(NodeProto node, Tensor?[] inputs) =>
        node.OpType == "Cast" && inputs is [{ } x] && x.is_floating_point()
        && OnnxTensors.TorchType((int)OnnxAttributes.Int(node, "to", 0)) is ScalarType.Float64 or ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16;
}

/// <summary>Element type names of saved constants.</summary>
internal static class OnnxConstants
{
    public static ScalarType TypeOf(string dtype) => dtype switch
    {
        "float32" => ScalarType.Float32,
        "float64" => ScalarType.Float64,
        "float16" => ScalarType.Float16,
        "int64" => ScalarType.Int64,
        "int32" => ScalarType.Int32,
        "int16" => ScalarType.Int16,
        "int8" => ScalarType.Int8,
        "uint8" => ScalarType.Byte,
        "bool" => ScalarType.Bool,
        _ => throw new ReparoInputException($"unknown constant type '{dtype}'"),
    };

    public static string NameOf(ScalarType type) => type switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.Float64 => "float64",
        ScalarType.Float16 => "float16",
        ScalarType.Int64 => "int64",
        ScalarType.Int32 => "int32",
        ScalarType.Int16 => "int16",
        ScalarType.Int8 => "int8",
        ScalarType.Byte => "uint8",
        ScalarType.Bool => "bool",
        _ => throw new ReparoInputException($"constants of type {type} are not supported"),
    };
}
