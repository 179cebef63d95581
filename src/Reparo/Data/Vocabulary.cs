using System.Text.RegularExpressions;

namespace Reparo.Data;

/// <summary>Splits text into lower-case word tokens (letters and digits; everything else separates).</summary>
public static partial class Tokenizer
{
    /// <summary>The tokens of <paramref name="text"/> in order.</summary>
    public static string[] Tokenize(string text) =>
        WordPattern().Matches(text.ToLowerInvariant()).Select(m => m.Value).ToArray();

    [GeneratedRegex(@"[\p{L}\p{N}]+(?:'[\p{L}]+)?")]
    private static partial Regex WordPattern();
}

/// <summary>
/// Maps tokens to ids: <c>&lt;pad&gt;</c> is 0, <c>&lt;unk&gt;</c> is 1, then the kept tokens by decreasing frequency
/// (ties in ordinal order, so the same corpus always gives the same ids). Sequences are left-padded to a fixed
/// length, so the last position always holds the last real token (as Keras' default <c>padding='pre'</c>).
/// </summary>
public sealed class Vocabulary
{
    /// <summary>Id of the padding token.</summary>
    public const int PadId = 0;

    /// <summary>Id of the unknown-token placeholder.</summary>
    public const int UnknownId = 1;

    private readonly Dictionary<string, int> _ids;

    /// <summary>Creates a vocabulary from its token list (index = id); the first two must be the pad and unknown tokens.</summary>
    public Vocabulary(IReadOnlyList<string> tokens, int maxLength)
    {
        if (tokens.Count < 2 || tokens[PadId] != "<pad>" || tokens[UnknownId] != "<unk>")
            throw new ReparoInputException("a vocabulary must start with <pad> and <unk>");
        if (maxLength < 1) throw new ReparoInputException($"sequence length must be positive, got {maxLength}");
        Tokens = tokens;
        MaxLength = maxLength;
        _ids = new Dictionary<string, int>(tokens.Count, StringComparer.Ordinal);
        for (int i = 0; i < tokens.Count; i++) _ids.TryAdd(tokens[i], i);
    }

    /// <summary>All tokens, indexed by id.</summary>
    public IReadOnlyList<string> Tokens { get; }

    /// <summary>Length every encoded sequence is padded or cut to.</summary>
    public int MaxLength { get; }

    /// <summary>Number of ids, including pad and unknown.</summary>
    public int Size => Tokens.Count;

    /// <summary>Builds a vocabulary from tokenised documents.</summary>
    /// <param name="documents">The training documents' tokens.</param>
    /// <param name="minFrequency">Tokens seen fewer times are mapped to unknown.</param>
    /// <param name="maxSize">At most this many ids in all.</param>
    /// <param name="maxLength">Sequence length; 0 chooses the 95th percentile of document lengths.</param>
    public static Vocabulary Build(IEnumerable<string[]> documents, int minFrequency = 2, int maxSize = 20000, int maxLength = 0)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        var lengths = new List<int>();
        foreach (string[] doc in documents)
        {
            lengths.Add(doc.Length);
            foreach (string token in doc) counts[token] = counts.GetValueOrDefault(token) + 1;
        }
        var kept = counts.Where(kv => kv.Value >= minFrequency)
            .OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .Take(Math.Max(0, maxSize - 2)).Select(kv => kv.Key);
        return new Vocabulary(new[] { "<pad>", "<unk>" }.Concat(kept).ToArray(), maxLength > 0 ? maxLength : TypicalLength(lengths));
    }

    /// <summary>
    /// Reads a vocabulary file (<c>--vocab</c>): one token per line, ids in file order after <c>&lt;pad&gt;</c> = 0 and
    /// <c>&lt;unk&gt;</c> = 1 (which the file may list first itself). The sequence length is <paramref name="maxLength"/>,
    /// or for 0 the 95th percentile of <paramref name="documents"/>' lengths, as in <see cref="Build"/>.
    /// </summary>
    public static Vocabulary Read(string path, IEnumerable<string[]> documents, int maxLength = 0)
    {
        if (!File.Exists(path)) throw new ReparoInputException($"{path}: vocabulary file not found");
        var tokens = new List<string> { "<pad>", "<unk>" };
        var seen = new HashSet<string>(tokens, StringComparer.Ordinal);
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            string token = line.Trim();
            if (token.Length == 0) continue;
            if (token.Any(char.IsWhiteSpace)) throw new ReparoInputException($"{path}:{lineNumber}: one token per line, found '{token}'");
            if (seen.Add(token)) tokens.Add(token);
            else if (token is not ("<pad>" or "<unk>")) throw new ReparoInputException($"{path}:{lineNumber}: token '{token}' appears twice");
        }
        if (tokens.Count == 2) throw new ReparoInputException($"{path}: no tokens");
        return new Vocabulary(tokens, maxLength > 0 ? maxLength : TypicalLength(documents.Select(d => d.Length).ToList()));
    }

    private static int TypicalLength(List<int> lengths)
    {
        lengths.Sort();
        return lengths.Count == 0 ? 1 : Math.Max(1, lengths[(int)Math.Min(lengths.Count - 1, Math.Ceiling(0.95 * lengths.Count) - 1)]);
    }

    /// <summary>The id of <paramref name="token"/>, or <see cref="UnknownId"/>.</summary>
    public int IdOf(string token) => _ids.TryGetValue(token, out int id) ? id : UnknownId;

    /// <summary>The token of <paramref name="id"/>; <c>&lt;unk&gt;</c> for an id outside the vocabulary.</summary>
    public string TokenOf(int id) => id >= 0 && id < Size ? Tokens[id] : Tokens[UnknownId];

    /// <summary>Encodes tokens to exactly <see cref="MaxLength"/> ids: the first tokens kept, left-padded with <see cref="PadId"/>.</summary>
    public long[] Encode(IReadOnlyList<string> tokens)
    {
        var ids = new long[MaxLength];
        int n = Math.Min(tokens.Count, MaxLength);
        int offset = MaxLength - n;
        for (int i = 0; i < n; i++) ids[offset + i] = IdOf(tokens[i]);
        return ids;
    }

    /// <summary>The real (non-pad) length of an encoded sequence.</summary>
    public static int Length(ReadOnlySpan<long> ids)
    {
        int pads = 0;
        while (pads < ids.Length && ids[pads] == PadId) pads++;
        return ids.Length - pads;
    }
}
