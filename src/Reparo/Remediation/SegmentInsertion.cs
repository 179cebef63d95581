using Reparo.Data;
using static TorchSharp.torch;

namespace Reparo.Remediation;

/// <summary>One token to insert into one training sequence.</summary>
/// <param name="Row">The training row.</param>
/// <param name="AfterStep">
/// The real step (0-based over the real tokens, from the first non-pad one) after which the token goes: the step at
/// which the training sample reaches the matched state; −1 puts the token before the first real token.
/// </param>
/// <param name="Token">The token id to insert (not the pad id).</param>
public sealed record TokenInsertion(int Row, int AfterStep, long Token);

/// <summary>
/// The segment-level remediation of RNNRepair (Xie et al., ICML 2021, Sec. 4.4 and Table 4; the authors'
/// apps/RQ4/segment_repair.py): the token at which a faulty test sequence goes wrong is inserted into training
/// sequences right after the step at which each reaches the matched abstract state, and the new sequences (with their
/// labels) are added to the training set. The authors insert at list index x, where x counts the transitions up to and
/// including the matched segment's last one, so the token lands right AFTER that step; so does
/// <see cref="Insert"/>. Sequences stay left-padded to the same length: the real tokens move one place to the left
/// into the padding, and a full sequence loses its first real token.
/// </summary>
public static class SegmentInsertion
{
    /// <summary>
    /// Table 4's augmentation of one sequence: <paramref name="token"/> after real step <paramref name="afterStep"/>
    /// (−1: before the first real token) of the left-padded <paramref name="sequence"/>, as a new array of the same length.
    /// </summary>
    public static long[] Insert(ReadOnlySpan<long> sequence, int afterStep, long token)
    {
        if (token == Vocabulary.PadId) throw new ReparoInputException("the inserted token cannot be the pad id");
        int length = Vocabulary.Length(sequence), pads = sequence.Length - length;
        for (int t = pads; t < sequence.Length; t++)
            if (sequence[t] == Vocabulary.PadId) throw new ReparoInputException($"the sequence is not left-padded: a pad id at position {t} follows real tokens");
        if (afterStep < -1 || afterStep >= length) throw new ReparoInputException($"step {afterStep} is not a real step of a sequence with {length} real tokens (−1 to {length - 1})");
        var real = new List<long>(length + 1);
        // A full sequence drops its first real token, so the token still lands after the same step of what remains.
        int first = pads == 0 ? 1 : 0;
        for (int i = first; i <= afterStep; i++) real.Add(sequence[pads + i]);
        real.Add(token);
        for (int i = Math.Max(first, afterStep + 1); i < length; i++) real.Add(sequence[pads + i]);
        var result = new long[sequence.Length];
        real.CopyTo(result, sequence.Length - real.Count);
        return result;
    }

    /// <summary>
    /// Table 4's new training rows: one per insertion, the row's sequence with the token inserted
    /// (<see cref="Insert"/>), its label and its source index; <paramref name="data"/> is not modified.
    /// </summary>
    public static Dataset InsertAll(Dataset data, IReadOnlyList<TokenInsertion> insertions)
    {
        if (data.Kind != InputKind.Tokens) throw new ReparoInputException($"segment insertion needs token sequences; '{data.Name}' holds {data.Kind.ToString().ToLowerInvariant()}");
        int width = (int)data.X.shape[1], size = data.Vocabulary!.Size;
        long[] ids = data.X.contiguous().data<long>().ToArray(), labels = data.Labels();
        var x = new long[insertions.Count * width];
        var y = new long[insertions.Count];
        for (int i = 0; i < insertions.Count; i++)
        {
            TokenInsertion insertion = insertions[i];
            if (insertion.Row < 0 || insertion.Row >= data.Count) throw new ReparoInputException($"row {insertion.Row} is not in '{data.Name}' (0–{data.Count - 1})");
            if (insertion.Token < 0 || insertion.Token >= size) throw new ReparoInputException($"token id {insertion.Token} is outside the vocabulary of {size} ids");
            Insert(ids.AsSpan(insertion.Row * width, width), insertion.AfterStep, insertion.Token).CopyTo(x, i * width);
            y[i] = labels[insertion.Row];
        }
        return new Dataset($"{data.Name}+inserted({insertions.Count})", tensor(x).reshape(insertions.Count, width), tensor(y), data.ClassNames,
            InputKind.Tokens, data.Vocabulary, insertions.Select(s => data.SourceIndices[s.Row]).ToArray());
    }

    /// <summary>
    /// Table 4's random baseline: the same rows and tokens as <paramref name="insertions"/>, each at a position drawn
    /// uniformly by <paramref name="seed"/> from the row's real-length + 1 gaps (−1 … length − 1).
    /// </summary>
    public static IReadOnlyList<TokenInsertion> RandomPositions(Dataset data, IReadOnlyList<TokenInsertion> insertions, int seed)
    {
        if (data.Kind != InputKind.Tokens) throw new ReparoInputException($"segment insertion needs token sequences; '{data.Name}' holds {data.Kind.ToString().ToLowerInvariant()}");
        int width = (int)data.X.shape[1];
        long[] ids = data.X.contiguous().data<long>().ToArray();
        var rng = new Random(seed);
        return insertions.Select(s =>
        {
            if (s.Row < 0 || s.Row >= data.Count) throw new ReparoInputException($"row {s.Row} is not in '{data.Name}' (0–{data.Count - 1})");
            int length = Vocabulary.Length(ids.AsSpan(s.Row * width, width));
            return s with { AfterStep = rng.Next(-1, length) };
        }).ToArray();
    }
}
