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
}
