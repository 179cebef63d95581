using Reparo.Models;
using Reparo.Models.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reparo.Repair.Provable;

/// <summary>An affine layer's parameters in float64, flattened, with its geometry.</summary>
internal sealed class AffineParameters
{
    private AffineParameters(string site, double[] weight, double[] bias, bool hasBias, int outputs, int positions, ConvGeometry? conv)
    {
        Positions = positions;
        Site = site;
        Weight = weight;
        Bias = bias;
        HasBias = hasBias;
        Outputs = outputs;
        Conv = conv;
    }

    /// <summary>The module's dotted path in the network (<c>fc2</c>, <c>block1.conv3</c>).</summary>
    public string Site { get; }

    /// <summary>Linear: (out, in) row-major. Conv: (out, in, kh, kw) row-major.</summary>
    public double[] Weight { get; }

    /// <summary>The bias (zeros when the module has none).</summary>
    public double[] Bias { get; }

    /// <summary>Whether the module has a bias (else a bias change cannot be written back).</summary>
    public bool HasBias { get; }

    /// <summary>Output rows (Linear) or channels (Conv2d).</summary>
    public int Outputs { get; }

    public ConvGeometry? Conv { get; }

    /// <summary>Linear: how many positions (tokens) the map is applied to, each over the input's last axis (1 for a (batch, features) input).</summary>
    public int Positions { get; }

    /// <summary>Weights per output row or channel (Linear: inputs; Conv: in·kh·kw).</summary>
    public int WeightsPerOutput => Weight.Length / Outputs;

    public static bool IsAffine(LayerSpec spec) => spec is LinearSpec or Conv1dSpec or Conv2dSpec;

    /// <summary>Reads layer <paramref name="index"/> of <paramref name="network"/>; <paramref name="inputShape"/> is its per-sample input shape.</summary>
    public static AffineParameters Read(Network network, int index, long[] inputShape)
    {
        NetworkLayer layer = network.Layers[index];
        return layer.Spec switch
        {
            LinearSpec => Read(layer.Name, layer.Module, [1, .. inputShape], null),
            Conv1dSpec conv => Read(layer.Name, layer.Module, [1, .. inputShape], [conv.Padding, conv.Padding]),
            Conv2dSpec conv => Read(layer.Name, layer.Module, [1, .. inputShape], [conv.Padding, conv.Padding, conv.Padding, conv.Padding]),
            _ => throw new ReparoInputException($"layer {layer.Name} is {layer.Spec.Describe()}, not an affine (Linear or convolution) layer"),
        };
    }

    /// <summary>The affine module of node <paramref name="node"/> of ONNX block <paramref name="block"/> (site <c>block.module</c>), for an input of <paramref name="inputShape"/> (one sample).</summary>
    public static AffineParameters Read(OnnxBlockModule block, int node, long[] inputShape)
    {
        (OnnxAffineSpec spec, nn.Module<Tensor, Tensor> module) = block.Affine(node) ?? throw new ArgumentException($"node {node} of block {block.Spec.Name} is no affine module");
        return Read($"{block.Spec.Name}.{spec.Name}", module, inputShape, spec.Pads);
    }

    /// <summary>
    /// Reads a Linear module (over the input's last axis) or a Conv1d or Conv2d module at <paramref name="site"/>; <paramref name="inputShape"/> is
    /// its input shape for one sample (a batch of one, wherever its batch axis is; a convolution's is first), <paramref name="pads"/> a convolution's full padding (top, left, bottom, right; begin, end for a Conv1d),
    /// which may exceed the module's own symmetric padding (an ONNX block pads the remainder before the module). A Conv1d
    /// is read as the Conv2d it equals over inputs (C, 1, L), so its geometry and weights keep their flat order.
    /// </summary>
    public static AffineParameters Read(string site, nn.Module<Tensor, Tensor> module, long[] inputShape, int[]? pads)
    {
        switch (module)
        {
            case Linear linear:
                return new AffineParameters(site, Values(linear.weight!), BiasOrZero(linear.bias, linear.weight!), linear.bias is not null, (int)linear.weight!.shape[0],
                    (int)inputShape[..^1].Aggregate(1L, (a, b) => a * b), null);
            case Conv2d conv:
                {
                    Tensor w = conv.weight!;
                    var geometry = new ConvGeometry((int)w.shape[1], (int)inputShape[2], (int)inputShape[3], (int)w.shape[0], ((int)w.shape[2], (int)w.shape[3]),
                        ((int)conv.stride[0], (int)conv.stride[1]), ((int)conv.dilation[0], (int)conv.dilation[1]), pads!, (int)conv.groups);
                    return new AffineParameters(site, Values(w), BiasOrZero(conv.bias, w), conv.bias is not null, (int)w.shape[0], 1, geometry);
                }
            case Conv1d conv:
                {
                    Tensor w = conv.weight!;
                    var geometry = new ConvGeometry((int)w.shape[1], 1, (int)inputShape[2], (int)w.shape[0], (1, (int)w.shape[2]),
                        (1, (int)conv.stride[0]), (1, (int)conv.dilation[0]), [0, pads![0], 0, pads[1]], (int)conv.groups);
                    return new AffineParameters(site, Values(w), BiasOrZero(conv.bias, w), conv.bias is not null, (int)w.shape[0], 1, geometry);
                }
            default:
                throw new ReparoInputException($"{site} is not a Linear or convolution module");
        }
    }

    private static double[] BiasOrZero(Tensor? bias, Tensor weight) => bias is null ? new double[weight.shape[0]] : Values(bias);

    private static double[] Values(Tensor t) => t.detach().to(ScalarType.Float64).contiguous().data<double>().ToArray();
}

/// <summary>
/// A convolution's shapes and, for every output position, its receptive field (any kernel, strides, dilations and
/// asymmetric padding, and channel groups: output channel o reads only its group's input channels, <see cref="GroupOffset"/>).
/// </summary>
internal sealed class ConvGeometry
{
    /// <param name="inChannels">Input channels of one group (all of them when there is one group).</param>
    /// <param name="height">Input height.</param>
    /// <param name="width">Input width.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="kernel">Kernel (height, width).</param>
    /// <param name="stride">Strides (vertical, horizontal).</param>
    /// <param name="dilation">Dilations (vertical, horizontal).</param>
    /// <param name="pads">Zero padding (top, left, bottom, right).</param>
    /// <param name="groups">Channel groups.</param>
    public ConvGeometry(int inChannels, int height, int width, int outChannels, (int H, int W) kernel, (int H, int W) stride, (int H, int W) dilation, int[] pads, int groups)
    {
        InChannels = inChannels;
        Groups = groups;
        Height = height;
        Width = width;
        OutChannels = outChannels;
        OutHeight = (height + pads[0] + pads[2] - dilation.H * (kernel.H - 1) - 1) / stride.H + 1;
        OutWidth = (width + pads[1] + pads[3] - dilation.W * (kernel.W - 1) - 1) / stride.W + 1;
        Taps = new (int Input, int Tap)[OutHeight * OutWidth][];
        for (int oy = 0; oy < OutHeight; oy++)
            for (int ox = 0; ox < OutWidth; ox++)
            {
                var taps = new List<(int, int)>();
                for (int c = 0; c < inChannels; c++)
                    for (int i = 0; i < kernel.H; i++)
                        for (int j = 0; j < kernel.W; j++)
                        {
                            int y = oy * stride.H + i * dilation.H - pads[0], x = ox * stride.W + j * dilation.W - pads[1];
                            if (y < 0 || y >= height || x < 0 || x >= width) continue;
                            taps.Add(((c * height + y) * width + x, (c * kernel.H + i) * kernel.W + j));
                        }
                Taps[oy * OutWidth + ox] = taps.ToArray();
            }
    }

    public int InChannels { get; }
    public int Groups { get; }
    public int Height { get; }
    public int Width { get; }
    public int OutChannels { get; }
    public int OutHeight { get; }
    public int OutWidth { get; }

    /// <summary>Per output position (oy·OutWidth + ox): (flat input index within the first group's channels, flat kernel index within one output channel) of each valid tap.</summary>
    public (int Input, int Tap)[][] Taps { get; }

    /// <summary>What to add to a tap's input index for output channel <paramref name="outChannel"/>: the start of its group's input channels.</summary>
    public int GroupOffset(int outChannel) => outChannel / (OutChannels / Groups) * InChannels * Height * Width;

    public int Positions => OutHeight * OutWidth;
}

/// <summary>A 2-D max-pool's windows: for every output element (per sample, flat), the flat input indices it takes the maximum of.</summary>
internal static class PoolWindows
{
    /// <summary>The windows of a pool over a (channels, height, width) input whose output is (channels, outHeight, outWidth); padding cells are left out.</summary>
    public static int[][] Of(long[] input, long[] output, (long H, long W) kernel, (long H, long W) stride, (long H, long W) dilation, (long Top, long Left) pads)
    {
        long channels = input[0], h = input[1], w = input[2], oh = output[1], ow = output[2];
        var windows = new int[channels * oh * ow][];
        for (long c = 0; c < channels; c++)
            for (long oy = 0; oy < oh; oy++)
                for (long ox = 0; ox < ow; ox++)
                {
                    var window = new List<int>();
                    for (long i = 0; i < kernel.H; i++)
                        for (long j = 0; j < kernel.W; j++)
                        {
                            long y = oy * stride.H + i * dilation.H - pads.Top, x = ox * stride.W + j * dilation.W - pads.Left;
                            if (y >= 0 && y < h && x >= 0 && x < w) window.Add((int)((c * h + y) * w + x));
                        }
                    windows[(c * oh + oy) * ow + ox] = [.. window];
                }
        return windows;
    }

    /// <summary>The windows of Reparo's own max-pool (kernel = stride, no padding) over a (channels, height, width) input.</summary>
    public static int[][] Of(MaxPool2dSpec pool, long[] input) =>
        Of(input, [input[0], input[1] / pool.Kernel, input[2] / pool.Kernel], (pool.Kernel, pool.Kernel), (pool.Kernel, pool.Kernel), (1, 1), (0, 0));

    /// <summary>
    /// The windows of an ONNX max node (<see cref="Activations.IsMax"/>) with input shape <paramref name="input"/> and
    /// output shape <paramref name="output"/> (both with a batch of one; <paramref name="value"/> reads a constant input,
    /// ReduceMax's axes since opset 18): a MaxPool's windows, a GlobalMaxPool's channel, a ReduceMax's reduced axes.
    /// </summary>
    public static int[][] Of(Onnx.NodeProto node, int opset, string where, Func<string, Tensor> value, long[] input, long[] output)
    {
        if (node.OpType == "MaxPool") return Of(node, where, input, output);
        long count = input.Skip(1).Aggregate(1L, (a, b) => a * b);
        long[]? given = node.OpType == "GlobalMaxPool" ? [.. Enumerable.Range(2, input.Length - 2).Select(d => (long)d)]
            : opset >= 18 ? (node.Input.Count > 1 && node.Input[1].Length > 0 ? value(node.Input[1]).to(ScalarType.Int64).data<long>().ToArray() : null)
            : OnnxAttributes.Ints(node, "axes");
        if (given is null or [])
        {
            // No axes: every axis, or (noop_with_empty_axes) the identity.
            if (OnnxAttributes.Int(node, "noop_with_empty_axes", 0) != 0) return [.. Enumerable.Range(0, (int)count).Select(i => new[] { i })];
            given = [.. Enumerable.Range(0, input.Length).Select(d => (long)d)];
        }
        long[] axes = [.. given.Select(a => a < 0 ? a + input.Length : a)];
        if (axes.Contains(0))
            throw new ReparoInputException($"{where} node {node.Name} is a {node.OpType} over the batch axis; provable repair encodes maxima within one sample only");
        // Output element of each input element: its coordinates with the reduced axes dropped, in row-major order.
        var windows = new List<int>[output.Skip(1).Aggregate(1L, (a, b) => a * b)];
        for (int o = 0; o < windows.Length; o++) windows[o] = [];
        for (long i = 0; i < count; i++)
        {
            long rest = i, target = 0, scale = 1;
            for (int d = input.Length - 1; d >= 1; d--)
            {
                long coordinate = rest % input[d];
                rest /= input[d];
                if (axes.Contains(d)) continue;
                target += coordinate * scale;
                scale *= input[d];
            }
            windows[target].Add((int)i);
        }
        return [.. windows.Select(w => w.ToArray())];
    }

    /// <summary>The windows of an ONNX MaxPool node with input shape <paramref name="input"/> and output shape <paramref name="output"/> (both with the batch).</summary>
    private static int[][] Of(Onnx.NodeProto node, string where, long[] input, long[] output)
    {
        if (OnnxAttributes.String(node, "auto_pad", "NOTSET") is not ("NOTSET" or "VALID"))
            throw new ReparoInputException($"{where} node {node.Name} is a MaxPool with auto_pad {OnnxAttributes.String(node, "auto_pad", "NOTSET")}; provable repair encodes MaxPool with explicit pads only");
        // A 1-D MaxPool's windows are the 2-D node's over (C, 1, L).
        if (input.Length == 3) return Of(OnnxOperators.Lift1d(node), where, [input[0], input[1], 1, input[2]], [output[0], output[1], 1, output[2]]);
        long[] kernel = OnnxAttributes.Ints(node, "kernel_shape")!;
        long[] strides = OnnxAttributes.Ints(node, "strides") ?? [1, 1], dilations = OnnxAttributes.Ints(node, "dilations") ?? [1, 1];
        long[] pads = OnnxAttributes.String(node, "auto_pad", "NOTSET") == "VALID" ? [0, 0, 0, 0] : OnnxAttributes.Ints(node, "pads") ?? [0, 0, 0, 0];
        return Of(input[1..], output[1..], (kernel[0], kernel[1]), (strides[0], strides[1]), (dilations[0], dilations[1]), (pads[0], pads[1]));
    }
}
