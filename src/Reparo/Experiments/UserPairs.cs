using Reparo.Data;
using Reparo.Io;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Experiments;

/// <summary>
/// Cleansed pairs the user brings for a model Reparo did not poison itself (<c>reparo rectify --pairs npz:PATH</c>),
/// and optionally the user's triggered inputs to measure the attack success rate on (<c>--trigger-test npz:PATH</c>).
/// Inputs are as raw as the model's data (uint8 ÷ 255; the model applies its own preprocessing).
/// </summary>
/// <param name="Corrupted">The corrupted (triggered) inputs, (n, …input shape).</param>
/// <param name="Clean">Their clean twins, same shape.</param>
/// <param name="Labels">The pairs' true classes: the archive's <c>labels</c>, else the model's predictions on the clean twins.</param>
/// <param name="Triggered">Triggered inputs whose true class is not the target, or null without <c>--trigger-test</c>.</param>
/// <param name="Target">The class the trigger sends inputs to (when <see cref="Triggered"/> is given).</param>
/// <param name="Description">Where the pairs came from, for reports.</param>
public sealed record UserPairs(Tensor Corrupted, Tensor Clean, long[] Labels, Dataset? Triggered, int? Target, string Description)
{
    /// <summary>
    /// Reads the pairs archive (<c>corrupted</c>, <c>clean</c>, optional <c>labels</c>) and the optional triggered-input
    /// archive (<c>x</c>, optional <c>y</c>, the inputs' true classes, whose rows of the target class are left out, and an
    /// optional scalar <c>target</c>). The target is <paramref name="target"/> (<c>--target</c>) or the archive's.
    /// </summary>
    public static UserPairs Read(string pairsPath, string? triggerTestPath, int? target, Network network)
    {
        IReadOnlyDictionary<string, NpyArray> arrays = NpyReader.ReadNpz(pairsPath);
        if (!arrays.TryGetValue("corrupted", out NpyArray? corruptedArray) || !arrays.TryGetValue("clean", out NpyArray? cleanArray))
            throw new ReparoInputException($"{pairsPath}: a pairs archive needs arrays 'corrupted' and 'clean' (and optionally 'labels'); it has {string.Join(", ", arrays.Keys)}");
        if (!corruptedArray.Shape.SequenceEqual(cleanArray.Shape))
            throw new ReparoInputException($"{pairsPath}: corrupted {corruptedArray.ShapeText} and clean {cleanArray.ShapeText} must have the same shape");
        Tensor corrupted = ModelInputs.FromArray(corruptedArray, network), clean = ModelInputs.FromArray(cleanArray, network);
        int n = (int)corrupted.shape[0];
        if (n == 0) throw new ReparoInputException($"{pairsPath}: no pairs");
        long[] labels = arrays.TryGetValue("labels", out NpyArray? labelArray) ? ReadLabels(labelArray, n, network) : network.Predict(clean);
        if (triggerTestPath is null)
        {
            if (target is not null) throw new ReparoInputException("--target goes with --trigger-test");
            return new UserPairs(corrupted, clean, labels, null, null, $"npz:{pairsPath}");
        }
        IReadOnlyDictionary<string, NpyArray> trigger = NpyReader.ReadNpz(triggerTestPath);
        if (!trigger.TryGetValue("x", out NpyArray? xArray))
            throw new ReparoInputException($"{triggerTestPath}: a trigger-test archive needs an array 'x' (and optionally 'y' and 'target'); it has {string.Join(", ", trigger.Keys)}");
        if (target is null && trigger.TryGetValue("target", out NpyArray? targetArray))
        {
            long[] value = targetArray.ToInt64();
            if (value.Length != 1 || targetArray.Shape.Length != 0) throw new ReparoInputException($"{targetArray.Name}: expected one integer, shape {targetArray.ShapeText}");
            target = (int)Math.Clamp(value[0], -1, int.MaxValue);
        }
        if (target is not int c) throw new ReparoInputException($"{triggerTestPath}: the attack's target class is unknown; pass --target C or store a scalar 'target' in the archive");
        if (c < 0 || c >= network.ClassCount) throw new ReparoInputException($"target {c} is not a class of the model (0–{network.ClassCount - 1})");
        Tensor x = ModelInputs.FromArray(xArray, network);
        long[] y = trigger.TryGetValue("y", out NpyArray? yArray) ? ReadLabels(yArray, (int)x.shape[0], network) : new long[x.shape[0]];
        int[] rows = trigger.ContainsKey("y") ? Enumerable.Range(0, y.Length).Where(i => y[i] != c).ToArray() : Enumerable.Range(0, y.Length).ToArray();
        if (rows.Length == 0) throw new ReparoInputException($"{triggerTestPath}: no triggered inputs outside the target class {c}");
        var all = new Dataset($"npz:{Path.GetFileName(triggerTestPath)}", x, tensor(y), network.Spec.ClassNames, network.Spec.InputKind);
        return new UserPairs(corrupted, clean, labels, all.Subset(rows), c, $"npz:{pairsPath}");
    }

    private static long[] ReadLabels(NpyArray array, int count, Network network)
    {
        long[] labels = array.ToInt64();
        if (array.Shape.Length != 1 || labels.Length != count) throw new ReparoInputException($"{array.Name}: shape {array.ShapeText}; expected ({count},), one label per input");
        int bad = Array.FindIndex(labels, l => l < 0 || l >= network.ClassCount);
        if (bad >= 0) throw new ReparoInputException($"{array.Name}: label {labels[bad]} is not a class of the model (0–{network.ClassCount - 1})");
        return labels;
    }
}
