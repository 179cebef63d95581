using System.Globalization;
using System.Text;
using Reparo.Reporting;

namespace Reparo.Experiments;

public static partial class RectificationExperimentPlan
{
    /// <summary>The results file of <c>reparo experiment rectification</c>: one table per poisoning; <paramref name="partial"/> marks a run still going.</summary>
    public static string ToMarkdown(IReadOnlyList<RectificationExperimentRow> rows, string command, int threads, double minutes, string? partial = null)
    {
        string P(double? v) => v is double x && double.IsFinite(x) ? x.ToString("0.00%", CultureInfo.InvariantCulture) : "–";
        StringBuilder text = ResultsMarkdown.Heading("Attribution-guided rectification (Yang et al., CVPR'26) on Fashion-MNIST", command, threads, minutes, partial);
        text.AppendLine("Pairs come from the validation split; the held-out accuracy budget (ε = 1 point) is checked on the rest of it; OA and the");
        text.AppendLine("attack/spurious/leakage measures are on the test split. Paper (CIFAR-10, one pair): ASR 99.94 % → 1.34 %, OA drop 0.02 points;");
        text.AppendLine("fine-tuning with one pair: ASR 73.07 %. Methods: `ft` fine-tunes every layer on the pairs (Adam 1e-4, until they are right, ≤ 200 steps);");
        text.AppendLine("`static`/`dynamic` are the paper's modes; `static+`/`dynamic+` add Reparo's refinements (`--preserve-clean --augment 20 --next-on-rollback`);");
        text.AppendLine("`p-clarc`/`a-clarc` are the Class Artifact Compensation baselines (Anders et al. 2022) at the classifier's input, with the artifact direction");
        text.AppendLine("from the same pairs: P-ClArC projects it out (folded into the classifier), A-ClArC fine-tunes the classifier on 4000 clean training");
        text.AppendLine("features, half moved to the artifact along it (Adam 1e-3, 5 epochs).");
        foreach (IGrouping<string, RectificationExperimentRow> group in rows.GroupBy(r => r.Report.Poison))
        {
            text.AppendLine();
            text.AppendLine($"## {group.Key}");
            text.AppendLine();
            text.AppendLine("| model | pairs | method | layers | OA before → after | measure before → after | other corners after | held-out drop | localise + edit s | total s |");
            text.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
            foreach (RectificationExperimentRow row in group)
            {
                RectificationReport r = row.Report;
                string measure = r.Before.Asr is not null ? $"ASR {P(r.AsrBefore)} → {P(r.AsrAfter)}"
                    : r.Before.SpuriousDeviation is not null ? $"deviation {P(r.Before.SpuriousDeviation)} → {P(r.After.SpuriousDeviation)} (artifact acc. {P(r.Before.ArtifactAccuracy)} → {P(r.After.ArtifactAccuracy)})"
                    : $"leakage {P(r.Before.Leakage)} → {P(r.After.Leakage)}";
                string corners = r.After.AsrByCorner is { } c ? string.Join(", ", c.Where(kv => kv.Key != "bottom-right").Select(kv => $"{kv.Key} {P(kv.Value)}")) : "";
                string layers = r.Layers.Count == 0 ? "–" : string.Join(", ", r.Layers);
                text.AppendLine(CultureInfo.InvariantCulture, $"| {row.Arch} | {r.Pairs} | {r.Method} | {layers} | {P(r.AccuracyBefore)} → {P(r.AccuracyAfter)} | {measure} | {corners} | {P(r.HeldOutAccuracyBefore - r.HeldOutAccuracyAfter)} | {r.Time.LocaliseAndEdit:F2} | {r.TimeS:F2} |");
            }
        }
        return text.ToString();
    }
}
