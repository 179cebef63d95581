using System.Globalization;
using System.Text;
using Reparo.Localisation;

namespace Reparo.Experiments;

public static partial class InformedRepairExperimentPlan
{
    /// <summary>The results file of <c>reparo experiment informed</c>: the setup, the summary table and the repair-set analyses; <paramref name="partial"/> marks a run still going.</summary>
    public static string ToMarkdown(StudyReport report, string command, int threads, double minutes, string? png, string? partial, double timeLimit, long maxLp)
    {
        StringBuilder text = ResultsMarkdown.Heading("Informed repair: which layer to repair (heuristics against brute force)", command, threads, minutes, partial);
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"LP repairs: HiGHS with a {timeLimit} s time limit; layers whose predicted LP exceeds {maxLp:N0} nonzeros are not attempted (status `skipped_lp_too_large`, counted as failed).");
        text.AppendLine();
        text.AppendLine("Every case is a (model, repair set of one size, method): the method repairs at every candidate layer (brute force), and each heuristic's pick is judged against the best of those runs (highest efficacy, then lowest drawdown). \"Within 10 %\": the pick repaired as much as the best and its drawdown is at most max(1.1 × best, best + 0.1 point). Cost: the heuristic's scoring plus the one repair at its pick, over the time of all brute-force repairs.");
        if (png is not null) text.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"![share of cases within 10 % per heuristic and method]({Path.GetFileName(png)})");
        text.AppendLine();
        text.AppendLine("## Summary");
        text.AppendLine();
        text.Append(InformedRepairStudy.ToMarkdown(report));
        text.AppendLine();
        text.AppendLine("## Repair-set analysis (before any repair)");
        foreach (RepairSetProfile profile in report.Analyses) text.AppendLine().Append(profile.ToMarkdown());
        return text.ToString();
    }
}
