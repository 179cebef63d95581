using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reparo.Models;

/// <summary>
/// A Linear, Conv1d or Conv2d module anywhere in a <see cref="Network"/> — a top-level layer (<c>fc1</c>, <c>conv2</c>) or one
/// nested in a block (<c>block1.conv1</c>, <c>block2.fc1</c>). Attribution at a layer, rank-one edits and layer
/// heuristics all address layers this way, so nested layers (residual and transformer blocks) are first-class.
/// </summary>
/// <param name="Name">Dotted module path, e.g. <c>fc1</c> or <c>block1.conv2</c>.</param>
/// <param name="Module">The module (a <see cref="Linear"/>, <see cref="Conv1d"/> or <see cref="Conv2d"/>).</param>
public sealed record AffineSite(string Name, nn.Module<Tensor, Tensor> Module)
{
    /// <summary>The Linear module, when this site is one.</summary>
    public Linear? AsLinear => Module as Linear;

    /// <summary>The convolution (Conv1d or Conv2d), when this site is one.</summary>
    public Convolution? AsConvolution => Module as Convolution;

    /// <summary>The weight: (out, in) for Linear, (out, in / groups, kh, kw) for Conv2d, (out, in / groups, k) for Conv1d.</summary>
    public Tensor Weight => AsLinear?.weight ?? AsConvolution!.weight!;

    /// <summary>The bias, if the module has one.</summary>
    public Tensor? Bias => AsLinear is { } linear ? linear.bias : AsConvolution!.bias;

    /// <summary>Number of weight entries (what a per-parameter score divides by).</summary>
    public long WeightCount => Weight.numel();
}

/// <summary>Finds <see cref="AffineSite"/>s and runs a network while reading or replacing one site's output (forward hooks).</summary>
public static class AffineSites
{
    /// <summary>Every Linear and Conv2d of the network, in forward order for sequential networks (nested ones within their layer's place).</summary>
    public static IReadOnlyList<AffineSite> Of(Network network) =>
        [.. network.named_modules()
            .Where(m => m.module is Linear or Conv1d or Conv2d)
            .OrderBy(m => network.LayerIndex(m.name.Split('.')[0]))
            .Select(m => new AffineSite(m.name, (nn.Module<Tensor, Tensor>)m.module))];

    /// <summary>The site with this dotted name (case-insensitive); an unknown name lists the sites.</summary>
    public static AffineSite Find(Network network, string name)
    {
        IReadOnlyList<AffineSite> sites = Of(network);
        name = network.Spec.ResolveName(name);
        return sites.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase))
            ?? throw new ReparoInputException($"no Linear or convolution layer '{name}'; editable layers are {string.Join(", ", sites.Select(s => s.Name))}");
    }

    /// <summary>Runs the whole network on <paramref name="x"/> and returns its output with the site's input and output (gradients flow if enabled).</summary>
    public static (Tensor Output, Tensor SiteInput, Tensor SiteOutput) Capture(Network network, AffineSite site, Tensor x) =>
        ModuleTaps.Capture(network, new ModuleTap(site.Name, site.Module), x);

    /// <summary>Runs the whole network on <paramref name="x"/> with the site's output replaced by <paramref name="replace"/>(its computed output).</summary>
    public static Tensor RunReplacing(Network network, AffineSite site, Tensor x, Func<Tensor, Tensor> replace) =>
        ModuleTaps.RunReplacing(network, new ModuleTap(site.Name, site.Module), x, replace);

    /// <summary>
    /// The class scores (<see cref="Network.Scores"/>) for <paramref name="x"/> as if the site's weight were
    /// <paramref name="weight"/> (same shape; the bias is kept). Gradients flow into <paramref name="weight"/>, so a weight
    /// change can be optimised without touching the module.
    /// </summary>
    public static Tensor ScoresWithWeight(Network network, AffineSite site, Tensor x, Tensor weight)
    {
        if (!weight.shape.SequenceEqual(site.Weight.shape)) throw new ArgumentException($"weight of shape [{string.Join(",", weight.shape)}] for layer '{site.Name}' of shape [{string.Join(",", site.Weight.shape)}]");
        return ModuleTaps.ScoresReplacingFromInput(network, new ModuleTap(site.Name, site.Module), x, input =>
        {
            if (site.AsLinear is not null) return nn.functional.linear(input, weight, site.Bias);
            Convolution conv = site.AsConvolution!;
            return conv is Conv1d
                ? nn.functional.conv1d(input, weight, site.Bias, conv.stride[0], conv.padding![0], conv.dilation[0], conv.groups)
                : nn.functional.conv2d(input, weight, site.Bias, conv.stride, conv.padding, conv.dilation, conv.groups);
        });
    }
}
