using System.Globalization;

namespace Reparo.Cli;

/// <summary>Memory sizes as the command line takes them: bytes, or a number with K, M, G or T (powers of 1024).</summary>
internal static class MemorySize
{
    /// <summary>The bytes <paramref name="text"/> names (null when it is null); anything else is a one-line input error naming <paramref name="option"/>.</summary>
    public static long? Parse(string? text, string option)
    {
        if (text is null) return null;
        string trimmed = text.Trim().TrimEnd('B', 'b');
        (string number, double scale) = trimmed.Length > 0 && char.ToUpperInvariant(trimmed[^1]) is var unit && "KMGT".Contains(unit)
            ? (trimmed[..^1], Math.Pow(1024, "KMGT".IndexOf(unit) + 1))
            : (trimmed, 1.0);
        if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && value > 0 && double.IsFinite(value) && value * scale < long.MaxValue)
            return (long)(value * scale);
        throw new ReparoInputException($"{option} '{text}' should be a positive size such as 8G, 512M or 1073741824");
    }

    /// <summary>Half of the memory this process may use (the machine's, or its container's limit).</summary>
    public static long HalfOfMachine() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2;
}
