using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Training;

/// <summary>
/// A copy of a network's weights at the end of one training epoch, with the learning rate that epoch used: what TracIn
/// (Pruthi et al., NeurIPS'20) sums over. Capture one per epoch through the <c>epochEnded</c> callback of
/// <see cref="Trainer.Train"/>. Owns its tensors; <see cref="Dispose"/> frees them.
/// </summary>
public sealed class TrainingCheckpoint : IDisposable
{
    private readonly Dictionary<string, Tensor> weights;

    private TrainingCheckpoint(int epoch, double learningRate, Dictionary<string, Tensor> weights)
    {
        Epoch = epoch;
        LearningRate = learningRate;
        this.weights = weights;
    }

    /// <summary>The epoch (1-based) at whose end the weights were taken.</summary>
    public int Epoch { get; }

    /// <summary>The learning rate of that epoch (η_c in TracIn).</summary>
    public double LearningRate { get; }

    /// <summary>Copies <paramref name="network"/>'s parameters and buffers as they are now, labelled with <paramref name="epoch"/>'s number and learning rate.</summary>
    public static TrainingCheckpoint Capture(Network network, EpochRecord epoch)
    {
        using var noGrad = no_grad();
        return new TrainingCheckpoint(epoch.Epoch, epoch.LearningRate,
            network.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope()));
    }

    /// <summary>Overwrites <paramref name="network"/>'s parameters and buffers with the checkpoint's (same architecture).</summary>
    public void LoadInto(Network network)
    {
        using var noGrad = no_grad();
        Dictionary<string, Tensor> target = network.state_dict();
        if (target.Count != weights.Count) throw new ReparoInputException($"the epoch-{Epoch} checkpoint does not fit '{network.Spec.Architecture}': architectures differ");
        foreach ((string name, Tensor value) in target)
        {
            if (!weights.TryGetValue(name, out Tensor? saved) || !saved.shape.SequenceEqual(value.shape))
                throw new ReparoInputException($"the epoch-{Epoch} checkpoint does not fit '{network.Spec.Architecture}' at '{name}': architectures differ");
            value.copy_(saved);
        }
    }

    /// <summary>Frees the copied tensors.</summary>
    public void Dispose()
    {
        foreach (Tensor t in weights.Values) t.Dispose();
        weights.Clear();
    }
}
