using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;

namespace Reparo.Experiments;

/// <summary>The ways <see cref="FuzzMutator"/> changes a file.</summary>
internal enum FuzzMutationKind
{
    /// <summary>One bit flipped.</summary>
    BitFlip,

    /// <summary>One to eight bytes overwritten with random values.</summary>
    ByteOverwrite,

    /// <summary>The file cut short.</summary>
    Truncate,

    /// <summary>Random bytes appended.</summary>
    Extend,

    /// <summary>An extreme 32- or 64-bit integer, little- or big-endian, written at a random offset.</summary>
    ExtremeInteger,

    /// <summary>Two chunks of the file swapped.</summary>
    ChunkSwap,

    /// <summary>A chunk of the file repeated after itself.</summary>
    ChunkDuplicate,

    /// <summary>A number in a text file replaced by a huge, negative, NaN or out-of-range one.</summary>
    NumberReplace,

    /// <summary>A bracket or brace removed from a text file.</summary>
    BracketRemove,

    /// <summary>A field (a run between separators) of a text file duplicated.</summary>
    FieldDuplicate,
}

/// <summary>
/// A seeded file mutator: the same seed gives the same sequence of mutations. Text files get text-level mutations
/// (numbers, brackets, fields) half of the time, byte-level mutations otherwise.
/// </summary>
internal sealed partial class FuzzMutator(int seed)
{
    private static readonly long[] Extremes = [0, -1, int.MaxValue, int.MinValue, 1L << 31, 1L << 40, long.MaxValue];
    private static readonly string[] Numbers = ["1e309", "-1e309", "NaN", "-1", "0", "-0", "2147483648", "-2147483649", "9223372036854775808", "99999999999999999999", "1e-400", "Infinity", "4294967296"];
    private static readonly FuzzMutationKind[] ByteKinds =
        [FuzzMutationKind.BitFlip, FuzzMutationKind.ByteOverwrite, FuzzMutationKind.Truncate, FuzzMutationKind.Extend, FuzzMutationKind.ExtremeInteger, FuzzMutationKind.ChunkSwap, FuzzMutationKind.ChunkDuplicate];
    private static readonly FuzzMutationKind[] TextKinds = [FuzzMutationKind.NumberReplace, FuzzMutationKind.BracketRemove, FuzzMutationKind.FieldDuplicate];

    private readonly Random _random = new(seed);

    /// <summary>Applies one to three mutations to a copy of <paramref name="bytes"/>; returns the result and what was done.</summary>
    public (byte[] Bytes, string Description, IReadOnlyList<FuzzMutationKind> Kinds) Mutate(byte[] bytes, bool text)
    {
        int count = 1 + _random.Next(3);
        var kinds = new List<FuzzMutationKind>();
        var steps = new List<string>();
        byte[] result = bytes;
        for (int i = 0; i < count; i++)
        {
            FuzzMutationKind kind = text && _random.Next(2) == 0 ? TextKinds[_random.Next(TextKinds.Length)] : ByteKinds[_random.Next(ByteKinds.Length)];
            (result, string step) = Apply(kind, result);
            kinds.Add(kind);
            steps.Add(step);
        }
        return (result, string.Join("; ", steps), kinds);
    }

    private (byte[] Bytes, string Description) Apply(FuzzMutationKind kind, byte[] bytes)
    {
        if (bytes.Length == 0 && kind is not FuzzMutationKind.Extend) return (bytes, $"{kind} (empty file, unchanged)");
        switch (kind)
        {
            case FuzzMutationKind.BitFlip:
                {
                    byte[] copy = [.. bytes];
                    int at = _random.Next(copy.Length), bit = _random.Next(8);
                    copy[at] ^= (byte)(1 << bit);
                    return (copy, $"bit {bit} flipped at {at}");
                }
            case FuzzMutationKind.ByteOverwrite:
                {
                    byte[] copy = [.. bytes];
                    int at = _random.Next(copy.Length), n = Math.Min(1 + _random.Next(8), copy.Length - at);
                    for (int i = 0; i < n; i++) copy[at + i] = (byte)_random.Next(256);
                    return (copy, $"{n} bytes overwritten at {at}");
                }
            case FuzzMutationKind.Truncate:
                {
                    int length = _random.Next(bytes.Length);
                    return (bytes[..length], $"truncated to {length} of {bytes.Length} bytes");
                }
            case FuzzMutationKind.Extend:
                {
                    byte[] junk = new byte[1 + _random.Next(64)];
                    _random.NextBytes(junk);
                    return ([.. bytes, .. junk], $"{junk.Length} junk bytes appended");
                }
            case FuzzMutationKind.ExtremeInteger:
                {
                    long value = Extremes[_random.Next(Extremes.Length)];
                    int width = _random.Next(2) == 0 ? 4 : 8;
                    bool big = _random.Next(2) == 0;
                    byte[] copy = [.. bytes];
                    int at = _random.Next(Math.Max(1, copy.Length - width + 1));
                    Span<byte> raw = stackalloc byte[8];
                    if (big) BinaryPrimitives.WriteInt64BigEndian(raw, value); else BinaryPrimitives.WriteInt64LittleEndian(raw, value);
                    ReadOnlySpan<byte> written = width == 8 ? raw : big ? raw[4..] : raw[..4];
                    for (int i = 0; i < width && at + i < copy.Length; i++) copy[at + i] = written[i];
                    return (copy, $"int{width * 8} {(big ? "big" : "little")}-endian {value} written at {at}");
                }
            case FuzzMutationKind.ChunkSwap:
                {
                    int n = 1 + _random.Next(Math.Max(1, bytes.Length / 4));
                    int a = _random.Next(bytes.Length - n + 1), b = _random.Next(bytes.Length - n + 1);
                    byte[] copy = [.. bytes];
                    bytes.AsSpan(a, n).CopyTo(copy.AsSpan(b));
                    bytes.AsSpan(b, n).CopyTo(copy.AsSpan(a));
                    return (copy, $"{n}-byte chunks at {a} and {b} swapped");
                }
            case FuzzMutationKind.ChunkDuplicate:
                {
                    int n = 1 + _random.Next(Math.Max(1, bytes.Length / 4));
                    int at = _random.Next(bytes.Length - n + 1);
                    return ([.. bytes[..(at + n)], .. bytes[at..]], $"{n}-byte chunk at {at} duplicated");
                }
            case FuzzMutationKind.NumberReplace:
                {
                    string text = Encoding.UTF8.GetString(bytes);
                    MatchCollection numbers = NumberPattern().Matches(text);
                    if (numbers.Count == 0) return (bytes, "no number to replace");
                    Match match = numbers[_random.Next(numbers.Count)];
                    string replacement = Numbers[_random.Next(Numbers.Length)];
                    return (Encoding.UTF8.GetBytes(text[..match.Index] + replacement + text[(match.Index + match.Length)..]), $"number '{match.Value}' at {match.Index} replaced by {replacement}");
                }
            case FuzzMutationKind.BracketRemove:
                {
                    int[] brackets = Enumerable.Range(0, bytes.Length).Where(i => bytes[i] is (byte)'[' or (byte)']' or (byte)'{' or (byte)'}').ToArray();
                    if (brackets.Length == 0) return (bytes, "no bracket to remove");
                    int at = brackets[_random.Next(brackets.Length)];
                    return ([.. bytes[..at], .. bytes[(at + 1)..]], $"'{(char)bytes[at]}' removed at {at}");
                }
            default:
                {
                    int[] separators = [-1, .. Enumerable.Range(0, bytes.Length).Where(i => bytes[i] is (byte)',' or (byte)'\n' or (byte)'\t'), bytes.Length];
                    int field = _random.Next(separators.Length - 1);
                    int start = separators[field] + 1, end = Math.Min(bytes.Length, separators[field + 1] + 1);
                    return ([.. bytes[..end], .. bytes[start..]], $"field at {start}–{end} duplicated");
                }
        }
    }

    [GeneratedRegex(@"-?\d+(\.\d+)?([eE][-+]?\d+)?")]
    private static partial Regex NumberPattern();
}
