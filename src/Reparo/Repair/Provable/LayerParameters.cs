using Reparo.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reparo.Repair.Provable;

/// <summary>An affine layer's parameters in float64, flattened, with its geometry.</summary>
internal sealed class AffineParameters
{
    private AffineParameters(int layer, double[] weight, double[] bias, int outputs, ConvGeometry? conv)
    {
        Layer = layer;
        Weight = weight;
        Bias = bias;
        Outputs = outputs;
        Conv = conv;
    }

    public int Layer { get; }

    /// <summary>Linear: (out, in) row-major. Conv: (out, in, kh, kw) row-major.</summary>
    public double[] Weight { get; }

    public double[] Bias { get; }

    /// <summary>Output rows (Linear) or channels (Conv2d).</summary>
    public int Outputs { get; }

    public ConvGeometry? Conv { get; }

    /// <summary>Weights per output row or channel (Linear: inputs; Conv: in·kh·kw).</summary>
    public int WeightsPerOutput => Weight.Length / Outputs;

    public static bool IsAffine(LayerSpec spec) => spec is LinearSpec or Conv2dSpec;

    /// <summary>Reads layer <paramref name="index"/> of <paramref name="network"/>; <paramref name="inputShape"/> is its per-sample input shape.</summary>
    public static AffineParameters Read(Network network, int index, long[] inputShape)
    {
        NetworkLayer layer = network.Layers[index];
        switch (layer.Spec)
        {
            case LinearSpec linear:
                {
                    Linear module = layer.AsLinear!;
                    return new AffineParameters(index, Values(module.weight!), Values(module.bias!), linear.Out, null);
                }
            case Conv2dSpec conv:
                {
                    Conv2d module = layer.AsConv2d!;
                    var geometry = new ConvGeometry(conv.In, (int)inputShape[1], (int)inputShape[2], conv.Out, conv.Kernel, conv.Stride, conv.Padding);
                    return new AffineParameters(index, Values(module.weight!), Values(module.bias!), conv.Out, geometry);
                }
            default:
                throw new ReparoInputException($"layer {layer.Name} is {layer.Spec.Describe()}, not an affine (Linear or Conv2d) layer");
        }
    }

    private static double[] Values(Tensor t) => t.detach().to(ScalarType.Float64).contiguous().data<double>().ToArray();
}

/// <summary>A convolution's shapes and, for every output position, its receptive field.</summary>
internal sealed class ConvGeometry
{
    public ConvGeometry(int inChannels, int height, int width, int outChannels, int kernel, int stride, int padding)
    {
        InChannels = inChannels;
        Height = height;
        Width = width;
        OutChannels = outChannels;
        Kernel = kernel;
        OutHeight = (height + 2 * padding - kernel) / stride + 1;
        OutWidth = (width + 2 * padding - kernel) / stride + 1;
        Taps = new (int Input, int Tap)[OutHeight * OutWidth][];
        for (int oy = 0; oy < OutHeight; oy++)
            for (int ox = 0; ox < OutWidth; ox++)
            {
                var taps = new List<(int, int)>();
                for (int c = 0; c < inChannels; c++)
                    for (int i = 0; i < kernel; i++)
                        for (int j = 0; j < kernel; j++)
                        {
                            int y = oy * stride + i - padding, x = ox * stride + j - padding;
                            if (y < 0 || y >= height || x < 0 || x >= width) continue;
                            taps.Add(((c * height + y) * width + x, (c * kernel + i) * kernel + j));
                        }
                Taps[oy * OutWidth + ox] = taps.ToArray();
            }
    }

    public int InChannels { get; }
    public int Height { get; }
    public int Width { get; }
    public int OutChannels { get; }
    public int Kernel { get; }
    public int OutHeight { get; }
    public int OutWidth { get; }

    /// <summary>Per output position (oy·OutWidth + ox): (flat input index, flat kernel index within one output channel) of each valid tap.</summary>
    public (int Input, int Tap)[][] Taps { get; }

    public int Positions => OutHeight * OutWidth;
}
