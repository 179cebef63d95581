using System.Diagnostics;
using Reparo.Data;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Experiments;

/// <summary>One architecture's measured training speed.</summary>
/// <param name="Architecture">Zoo specification.</param>
/// <param name="Parameters">Trainable scalars.</param>
/// <param name="BatchSize">Samples per step.</param>
/// <param name="Batches">Timed steps (after warm-up).</param>
/// <param name="TrainSamplesPerSecond">Forward + backward + Adam step throughput.</param>
/// <param name="InferenceSamplesPerSecond">Forward-only throughput without gradients.</param>
/// <param name="EpochSeconds">Projected time of one epoch over <paramref name="EpochSamples"/> samples.</param>
/// <param name="EpochSamples">Samples in one epoch of the benchmark's data.</param>
public sealed record TrainingSpeed(string Architecture, long Parameters, int BatchSize, int Batches, double TrainSamplesPerSecond,
    double InferenceSamplesPerSecond, double EpochSeconds, int EpochSamples);

/// <summary>Measures training and inference throughput of zoo models on real data (<c>reparo bench train</c>).</summary>
public static class TrainingBenchmark
{
    /// <summary>Times <paramref name="batches"/> training steps (after 3 warm-up steps) and as many forward passes.</summary>
    public static TrainingSpeed Measure(string architecture, Dataset data, int batchSize, int batches, int seed)
    {
        if (batches < 1) throw new ReparoInputException($"--batches must be positive, got {batches}");
        if (batchSize < 1 || batchSize > data.Count) throw new ReparoInputException($"--batch-size must be 1 to {data.Count}, got {batchSize}");
        using Network network = ModelZoo.Create(architecture, data, seed);
        using var optimizer = optim.Adam(network.parameters(), 1e-3);
        var rng = new Random(seed);
        Tensor Batch(Tensor source, int start) => source.narrow(0, start, batchSize);
        int[] starts = Enumerable.Range(0, batches + 3).Select(_ => rng.Next(data.Count - batchSize + 1)).ToArray();
        network.train();
        var clock = new Stopwatch();
        for (int i = 0; i < starts.Length; i++)
        {
            if (i == 3) clock.Start();
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            Tensor loss = nn.functional.cross_entropy(network.call(Batch(data.X, starts[i])), Batch(data.Y, starts[i]));
            loss.backward();
            optimizer.step();
        }
        double train = batches * (double)batchSize / clock.Elapsed.TotalSeconds;
        network.eval();
        clock.Reset();
        using (no_grad())
        {
            for (int i = 0; i < starts.Length; i++)
            {
                if (i == 3) clock.Start();
                using var scope = NewDisposeScope();
                network.call(Batch(data.X, starts[i]));
            }
        }
        double inference = batches * (double)batchSize / clock.Elapsed.TotalSeconds;
        return new TrainingSpeed(network.Spec.Architecture, network.ParameterCount, batchSize, batches, train, inference, data.Count / train, data.Count);
    }
}
