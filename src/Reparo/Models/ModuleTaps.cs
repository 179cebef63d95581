using static TorchSharp.torch;

namespace Reparo.Models;

/// <summary>
/// Any tensor-to-tensor module of a <see cref="Network"/>, addressed by its dotted name in
/// <c>network.named_modules()</c>: a top-level layer (<c>flatten</c>, <c>conv2</c>, <c>relu1</c>) or one nested in a
/// block (<c>block1.fc1</c>). Layer attribution reads and replaces such a module's output.
/// </summary>
/// <param name="Name">Dotted module path, e.g. <c>fc1</c> or <c>block1.conv2</c>.</param>
/// <param name="Module">The module.</param>
public sealed record ModuleTap(string Name, nn.Module<Tensor, Tensor> Module);

/// <summary>
/// Finds <see cref="ModuleTap"/>s and runs a network while reading or replacing one module's output with forward hooks.
/// Hooks fire only when the module is invoked through <c>call</c> (which every Reparo network does).
/// </summary>
public static class ModuleTaps
{
    /// <summary>Every named tensor-to-tensor module of the network (top-level layers and nested ones), in registration order.</summary>
    public static IReadOnlyList<ModuleTap> Of(Network network) =>
        [.. network.named_modules()
            .Where(m => m.name.Length > 0 && m.module is nn.Module<Tensor, Tensor>)
            .Select(m => new ModuleTap(m.name, (nn.Module<Tensor, Tensor>)m.module))];

    /// <summary>The module with this dotted name (case-insensitive); an unknown name is a <see cref="ReparoInputException"/> listing the valid names.</summary>
    public static ModuleTap Find(Network network, string name)
    {
        IReadOnlyList<ModuleTap> taps = Of(network);
        return taps.FirstOrDefault(t => string.Equals(t.Name, name, StringComparison.OrdinalIgnoreCase))
            ?? throw new ReparoInputException($"no layer '{name}'; layers are {string.Join(", ", taps.Select(t => t.Name))}");
    }

    /// <summary>
    /// Runs the whole network on <paramref name="x"/> and returns its output with the module's input and output
    /// (gradients flow if enabled). The module's input and output are detached from dispose scopes: the caller owns them.
    /// </summary>
    public static (Tensor Output, Tensor ModuleInput, Tensor ModuleOutput) Capture(Network network, ModuleTap tap, Tensor x)
    {
        Tensor? input = null, output = null;
        var hook = tap.Module.register_forward_hook((_, i, o) =>
        {
            // New handles (the input may be the caller's own x), taken out of the network's dispose scopes: the caller owns them.
            input = i.alias().DetachFromDisposeScope();
            output = o.alias().DetachFromDisposeScope();
            return o;
        });
        Tensor result;
        try
        {
            result = network.call(x);
        }
        finally
        {
            hook.remove();
        }
        if (input is null || output is null) throw new InvalidOperationException($"layer '{tap.Name}' was not reached by the forward pass");
        return (result, input, output);
    }

    /// <summary>
    /// The module's output when the network runs on <paramref name="x"/>, as a new tensor in the caller's dispose scope
    /// (detached from the graph; the last one if the module runs more than once).
    /// </summary>
    public static Tensor Output(Network network, ModuleTap tap, Tensor x)
    {
        Tensor? taken = null;
        using Tensor result = RunReplacing(network, tap, x, o =>
        {
            taken?.Dispose();
            taken = o.detach().DetachFromDisposeScope();
            return o;
        });
        using Tensor owned = taken!;
        return owned.clone();
    }

    /// <summary>Runs the whole network on <paramref name="x"/> with the module's output replaced by <paramref name="replace"/>(its computed output).</summary>
    public static Tensor RunReplacing(Network network, ModuleTap tap, Tensor x, Func<Tensor, Tensor> replace) =>
        Run(network, tap, x, (_, output) => replace(output));

    /// <summary>
    /// The class scores (<see cref="Network.Scores"/>) for <paramref name="x"/> with the module's output recomputed from its
    /// input by <paramref name="compute"/>.
    /// </summary>
    public static Tensor ScoresReplacingFromInput(Network network, ModuleTap tap, Tensor x, Func<Tensor, Tensor> compute) =>
        Run(network, tap, x, (input, _) => compute(input), network.Scores);

    private static Tensor Run(Network network, ModuleTap tap, Tensor x, Func<Tensor, Tensor, Tensor> replace, Func<Tensor, Tensor>? forward = null)
    {
        bool reached = false;
        var hook = tap.Module.register_forward_hook((_, i, o) =>
        {
            reached = true;
            return replace(i, o);
        });
        Tensor result;
        try
        {
            result = (forward ?? network.call)(x);
        }
        finally
        {
            hook.remove();
        }
        if (!reached) throw new InvalidOperationException($"layer '{tap.Name}' was not reached by the forward pass");
        return result;
    }
}
