using System.Globalization;
using System.Text;

namespace Reparo.Experiments;

/// <summary>What every experiment's results file starts with.</summary>
public static class ResultsMarkdown
{
    /// <summary>The title, the partial note (if any) and the "Produced by" line every results file starts with.</summary>
    public static StringBuilder Heading(string title, string command, int threads, double minutes, string? partial)
    {
        var text = new StringBuilder();
        text.AppendLine($"# {title}");
        text.AppendLine();
        if (partial is not null) text.AppendLine($"**Partial: the run was still going ({partial} done).**").AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Produced by `{command}` on {DateTime.UtcNow:yyyy-MM-dd} ({threads} threads, {minutes:F1} min in all).");
        return text;
    }

    /// <summary>
    /// Where every figure comes from (the JSON next to the file, under data/) and how busy the machine was when the runs
    /// started (1-minute load averages; a run with at least threads + 1 counts as sharing the machine).
    /// </summary>
    public static void SourceAndLoad(StringBuilder text, string jsonName, IEnumerable<double> loadsAtStart, int threads)
    {
        text.AppendLine(CultureInfo.InvariantCulture, $"Every figure below is in [{jsonName}](data/{jsonName}).");
        double[] loads = [.. loadsAtStart.Where(double.IsFinite).Order()];
        if (loads.Length == 0) return;
        double median = loads.Length % 2 == 1 ? loads[loads.Length / 2] : (loads[loads.Length / 2 - 1] + loads[loads.Length / 2]) / 2;
        int busy = loads.Count(l => l >= threads + 1);
        text.AppendLine(CultureInfo.InvariantCulture,
            $"Machine load (1-minute average) when the runs started: median {median:F2}, max {loads[^1]:F2} ({busy} of {loads.Length} runs started with other work running{(busy > 0 ? ": their times are inflated" : "")}).");
    }
}
