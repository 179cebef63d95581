using Reparo.Data;
using Reparo.Models;
using Reparo.Runtime;
using static TorchSharp.torch;

namespace Reparo.Influence;

/// <summary>
/// The concrete traces of a recurrent network over a dataset (Xie et al., ICML'21, Sec. 3.1, profiling: the hidden
/// state and the prediction of the head at every step). Steps of all samples are stored back to back in one flat
/// (S × H) float32 tensor; sample i owns rows <c>Offsets[i] .. Offsets[i] + Lengths[i]</c>. For token inputs
/// (left-padded with id 0) a trace starts at the first non-pad token; for image rows every row is a step.
/// </summary>
public sealed class RecurrentProfile : IDisposable
{
    private RecurrentProfile(Tensor states, int[] offsets, int[] lengths, int[] stepLabels, int[] symbols, long[] predictions, long[] labels, int classCount)
    {
        States = states;
        Offsets = offsets;
        Lengths = lengths;
        StepLabels = stepLabels;
        Symbols = symbols;
        Predictions = predictions;
        Labels = labels;
        ClassCount = classCount;
    }

    /// <summary>Hidden state after every real step of every sample, (S × H) float32.</summary>
    public Tensor States { get; }

    /// <summary>Where each sample's steps start in <see cref="States"/>.</summary>
    public int[] Offsets { get; }

    /// <summary>Each sample's number of real steps.</summary>
    public int[] Lengths { get; }

    /// <summary>The head's prediction after every step (length S).</summary>
    public int[] StepLabels { get; }

    /// <summary>The input symbol read at every step: the token id for text, 0 for image rows (length S).</summary>
    public int[] Symbols { get; }

    /// <summary>The network's final prediction for each sample.</summary>
    public long[] Predictions { get; }

    /// <summary>Each sample's true label.</summary>
    public long[] Labels { get; }

    /// <summary>Number of output classes.</summary>
    public int ClassCount { get; }

    /// <summary>Number of samples.</summary>
    public int Count => Lengths.Length;

    /// <summary>Total number of steps S.</summary>
    public int StepCount => StepLabels.Length;

    /// <summary>Each sample's number of real steps (every step of an image; a text's tokens after its left padding), without running the network.</summary>
    public static int[] StepLengths(Network network, Dataset data)
    {
        int steps = RecurrentSteps(network, data);
        long[]? ids = data.Kind == InputKind.Tokens ? data.X.contiguous().data<long>().ToArray() : null;
        var lengths = new int[data.Count];
        for (int i = 0; i < lengths.Length; i++) lengths[i] = ids is null ? steps : Vocabulary.Length(ids.AsSpan(i * steps, steps));
        return lengths;
    }

    /// <summary>
    /// Runs <paramref name="network"/> (recurrent, in evaluation mode, without gradients) over <paramref name="data"/>,
    /// <paramref name="batchSize"/> samples at a time, keeping every real step's hidden state and per-step prediction.
    /// </summary>
    public static RecurrentProfile Collect(Network network, Dataset data, int batchSize = 1000)
    {
        if (network.RecurrentLayerIndex < 0) throw new ReparoInputException($"influence analysis needs a recurrent model (lstm:H or gru:H), got '{network.Spec.Architecture}'");
        if (data.Kind != network.Spec.InputKind) throw new ReparoInputException($"the model reads {network.Spec.InputKind} inputs but '{data.Name}' holds {data.Kind}");
        if (batchSize < 1) throw new ReparoInputException($"batch size must be positive, got {batchSize}");
        bool tokens = data.Kind == InputKind.Tokens;
        int n = data.Count;
        int steps = RecurrentSteps(network, data);
        int[] lengths = StepLengths(network, data);
        var offsets = new int[n];
        long total = 0;
        for (int i = 0; i < n; i++)
        {
            offsets[i] = (int)total;
            total += lengths[i];
        }
        if (total > int.MaxValue) throw new ReparoInputException($"'{data.Name}' has {total} steps, more than one profile holds");

        int hidden = ((RecurrentSpec)network.Spec.Layers[network.RecurrentLayerIndex]).Hidden;
        Tensor states = empty([total, hidden], ScalarType.Float32);
        var stepLabels = new int[total];
        var symbols = new int[total];
        var predictions = new long[n];
        return network.InEvalMode(() =>
        {
            using var noGrad = no_grad();
            using ProgressScope shown = WorkProgress.Begin($"profile {n} samples", (n + batchSize - 1) / batchSize);
            for (int start = 0; start < n; start += batchSize)
            {
                using var scope = NewDisposeScope();
                int size = Math.Min(batchSize, n - start);
                RecurrentSteps run = network.Steps(data.X.narrow(0, start, size));
                Tensor labels = run.StepLogits.argmax(2);
                labels.select(1, -1).data<long>().CopyTo(predictions, start);
                Tensor mask = tokens ? data.X.narrow(0, start, size).ne(Vocabulary.PadId).to(ScalarType.Int64).cummax(1).values.to(ScalarType.Bool) : ones([size, steps], ScalarType.Bool);
                Tensor real = run.HiddenStates.masked_select(mask.unsqueeze(2)).reshape(-1, hidden);
                int from = offsets[start];
                states.narrow(0, from, real.shape[0]).copy_(real);
                labels.masked_select(mask).to(ScalarType.Int32).data<int>().CopyTo(stepLabels, from);
                if (tokens) data.X.narrow(0, start, size).masked_select(mask).to(ScalarType.Int32).data<int>().CopyTo(symbols, from);
                shown.Advance();
            }
            return new RecurrentProfile(states, offsets, lengths, stepLabels, symbols, predictions, data.Labels(), network.ClassCount);
        });
    }

    /// <summary>The steps of one sample: T for image rows (N, C, T, W), the sequence length for tokens (N, T).</summary>
    private static int RecurrentSteps(Network network, Dataset data) => data.Kind switch
    {
        InputKind.Tokens => (int)data.X.shape[1],
        InputKind.Image => (int)data.X.shape[2],
        _ => throw new ReparoInputException($"influence analysis reads image rows or token sequences, not {data.Kind} from '{data.Name}' for '{network.Spec.Architecture}'"),
    };

    /// <inheritdoc />
    public void Dispose() => States.Dispose();
}
