using System.Diagnostics;
using Reparo.Data;
using Reparo.Models;
using Reparo.Runtime;
using static TorchSharp.torch;

namespace Reparo.Training;

/// <summary>
/// Trains a <see cref="Network"/> with cross-entropy by mini-batches. Seeded: the batch order comes from
/// <see cref="TrainingOptions.Seed"/>, so the same seed, data, initial weights and thread count give the same weight bytes.
/// With a validation set it keeps the best epoch's weights and stops early after <see cref="TrainingOptions.Patience"/>
/// epochs without improvement. An optional callback sees the weights at the end of every epoch (e.g. to keep
/// <see cref="TrainingCheckpoint"/>s for TracIn).
/// </summary>
public static class Trainer
{
    /// <summary>Trains <paramref name="network"/> in place.</summary>
    /// <param name="network">The network to train.</param>
    /// <param name="train">Training data.</param>
    /// <param name="validation">Optional validation data for early stopping and keeping the best epoch.</param>
    /// <param name="options">How to train.</param>
    /// <param name="progress">Optional progress after every batch.</param>
    /// <param name="cancellation">Stops training between batches.</param>
    /// <param name="epochEnded">
    /// Optional callback after every finished epoch (after validation, before early stopping decides), with the network
    /// holding that epoch's weights and the epoch's record; it must not change the weights. The weights kept at the end
    /// may be an earlier epoch's (early stopping).
    /// </param>
    public static TrainingReport Train(Network network, Dataset train, Dataset? validation, TrainingOptions options,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default, Action<Network, EpochRecord>? epochEnded = null)
    {
        options.Validate();
        CheckCompatible(network, train);
        if (validation is not null) CheckCompatible(network, validation);
        manual_seed(options.Seed);
        var clock = Stopwatch.StartNew();
        var parameters = network.parameters().ToArray();
        optim.Optimizer optimizer = options.Optimizer == OptimizerKind.Adam
            ? optim.Adam(parameters, options.LearningRate, weight_decay: options.WeightDecay)
            : optim.SGD(parameters, options.LearningRate, momentum: options.Momentum, weight_decay: options.WeightDecay);
        var rng = new Random(options.Seed);
        int batches = (train.Count + options.BatchSize - 1) / options.BatchSize;
        var epochs = new List<EpochRecord>();
        Dictionary<string, Tensor>? best = null;
        double bestAccuracy = double.NegativeInfinity;
        int bestEpoch = 0, sinceBest = 0;
        bool stoppedEarly = false;
        double? lastAccuracy = null;
        using ProgressScope shown = WorkProgress.Begin($"train {network.Spec.Architecture}", (long)options.Epochs * batches);
        try
        {
            for (int epoch = 1; epoch <= options.Epochs; epoch++)
            {
                var epochClock = Stopwatch.StartNew();
                double rate = LearningRateAt(options, epoch);
                foreach (var group in optimizer.ParamGroups) group.LearningRate = rate;
                network.train();
                int[] order = Enumerable.Range(0, train.Count).ToArray();
                rng.Shuffle(order);
                double lossSum = 0;
                for (int b = 0; b < batches; b++)
                {
                    cancellation.ThrowIfCancellationRequested();
                    using var scope = NewDisposeScope();
                    int start = b * options.BatchSize, count = Math.Min(options.BatchSize, train.Count - start);
                    Tensor index = tensor(order.AsSpan(start, count).ToArray().Select(i => (long)i).ToArray());
                    Tensor x = train.X.index_select(0, index), y = train.Y.index_select(0, index);
                    optimizer.zero_grad();
                    Tensor loss = nn.functional.cross_entropy(network.call(x), y);
                    loss.backward();
                    optimizer.step();
                    double value = loss.item<float>();
                    if (!double.IsFinite(value)) throw new ReparoInputException($"training diverged at epoch {epoch}, batch {b + 1} (loss {value}); lower the learning rate");
                    lossSum += value;
                    progress?.Report(new TrainingProgress(epoch, options.Epochs, b + 1, batches, lossSum / (b + 1), lastAccuracy));
                    shown.Describe($"epoch {epoch}/{options.Epochs} loss {lossSum / (b + 1):F3}{(lastAccuracy is double a ? $" val {a:P1}" : "")}");
                    shown.Advance();
                }
                double? accuracy = validation is null ? null : Evaluator.Accuracy(network, validation);
                lastAccuracy = accuracy;
                epochs.Add(new EpochRecord(epoch, lossSum / batches, accuracy, rate, epochClock.Elapsed.TotalSeconds));
                epochEnded?.Invoke(network, epochs[^1]);
                if (validation is null || options.Patience == 0)
                {
                    bestEpoch = epoch;
                    continue;
                }
                if (accuracy > bestAccuracy)
                {
                    bestAccuracy = accuracy.Value;
                    bestEpoch = epoch;
                    sinceBest = 0;
                    DisposeAll(best);
                    best = network.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
                }
                else if (++sinceBest >= options.Patience)
                {
                    stoppedEarly = epoch < options.Epochs;
                    break;
                }
            }
            if (best is not null && bestEpoch != epochs[^1].Epoch)
            {
                using var noGrad = no_grad();
                foreach ((string name, Tensor value) in network.state_dict()) value.copy_(best[name]);
            }
        }
        finally
        {
            DisposeAll(best);
            optimizer.Dispose();
        }
        network.eval();
        return new TrainingReport(epochs, bestEpoch, stoppedEarly, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Checks that a dataset fits a network's input and classes, with a one-line error if not.</summary>
    public static void CheckCompatible(Network network, Dataset data)
    {
        if (data.Kind != network.Spec.InputKind || !data.SampleShape.SequenceEqual(network.Spec.InputShape))
            throw new ReparoInputException($"'{data.Name}' has {data.Kind.ToString().ToLowerInvariant()} inputs of shape [{string.Join(",", data.SampleShape)}]; the model expects {network.Spec.InputKind.ToString().ToLowerInvariant()} of shape [{string.Join(",", network.Spec.InputShape)}]");
        if (data.ClassCount != network.ClassCount)
            throw new ReparoInputException($"'{data.Name}' has {data.ClassCount} classes; the model has {network.ClassCount}{OtherOutputsHint(network)}");
        if (data.Kind == InputKind.Tokens && network.Vocabulary is { } own && !data.Vocabulary!.Tokens.SequenceEqual(own.Tokens))
            throw new ReparoInputException($"'{data.Name}' was encoded with another vocabulary than the model's");
    }

    /// <summary>For an ONNX graph with several outputs, which output was read and what the others are called.</summary>
    private static string OtherOutputsHint(Network network) => network.OnnxOrigin is { OtherOutputs.Count: > 0 } origin
        ? $" (read from the graph's output '{origin.OutputName ?? origin.Output}'; --onnx-output reads another: {string.Join(", ", origin.OtherOutputs)})"
        : "";

    private static double LearningRateAt(TrainingOptions options, int epoch) => options.Schedule switch
    {
        LearningRateSchedule.Constant => options.LearningRate,
        LearningRateSchedule.Cosine => options.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * (epoch - 1) / options.Epochs)),
        LearningRateSchedule.Step => options.LearningRate * (epoch > 0.75 * options.Epochs ? 0.01 : epoch > 0.5 * options.Epochs ? 0.1 : 1),
        _ => throw new ArgumentOutOfRangeException(nameof(options)),
    };

    private static void DisposeAll(Dictionary<string, Tensor>? tensors)
    {
        if (tensors is null) return;
        foreach (Tensor t in tensors.Values) t.Dispose();
    }
}
