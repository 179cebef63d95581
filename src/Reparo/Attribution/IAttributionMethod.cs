using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Attribution;

/// <summary>
/// An attribution method: explains the target logit of every sample in a batch by a score for every input feature (or,
/// for layer methods, for every unit of one layer's output). Implementations put the network in evaluation mode while
/// they run and restore its previous mode afterwards; they are deterministic for a fixed thread count.
/// </summary>
public interface IAttributionMethod
{
    /// <summary>The method's command-line name (<c>saliency</c>, <c>gradxinput</c>, <c>ig</c>, <c>layer-ig</c>).</summary>
    string Name { get; }

    /// <summary>Attributes the logit of <paramref name="targets"/>[i] for every sample i of <paramref name="inputs"/> (N, …).</summary>
    /// <param name="network">The network to explain; its parameters are not changed.</param>
    /// <param name="inputs">A batch of inputs (N, …).</param>
    /// <param name="targets">One class index per sample (length N).</param>
    /// <param name="options">Baseline, number of steps, integration rule and internal batch size (path methods only).</param>
    AttributionResult Attribute(Network network, Tensor inputs, long[] targets, AttributionOptions options);
}
