using System.Globalization;
using System.Text;
using Reparo.Remediation;
using Reparo.Repair.Editing;
using Reparo.Reporting;

namespace Reparo.Experiments;

public static partial class RectificationExperimentPlan
{
    /// <summary>
    /// The results file of <c>reparo experiment rectification</c>: the headline (mean ± sd over the pair draws, beside the
    /// goals), then every benchmark's single-draw rows, then every run; <paramref name="jsonName"/> is the JSON it comes from.
    /// </summary>
    public static string ToMarkdown(RectificationExperimentReport report, string jsonName, string? partial = null)
    {
        StringBuilder text = ResultsMarkdown.Heading("Attribution-guided rectification (Yang et al., CVPR'26) on Fashion-MNIST", report.Command, report.Threads, report.Minutes, partial);
        ResultsMarkdown.SourceAndLoad(text, jsonName, report.Rows.Select(r => r.LoadBefore), report.Threads);
        text.AppendLine();
        text.AppendLine("Pairs come from the validation split; the held-out accuracy budget (ε = 1 point) is checked on the rest of it; OA and the");
        text.AppendLine("attack/spurious/leakage measures are on the test split. Paper (CIFAR-10, one pair): ASR 99.94 % → 1.34 %, OA drop 0.02 points;");
        text.AppendLine("fine-tuning with one pair: ASR 73.07 %. Methods: `default` is `reparo rectify` as shipped (the paper's dynamic loop with the clean");
        text.AppendLine("twins' keys held, the trigger moved to the other cells of a 3 × 3 grid held, the pairs transplanted onto 20 held-out images in all (⌈20 / pairs⌉ each), the next");
        text.AppendLine("layer tried after a rollback, a round that closes under a quarter of the gap rolled back, 200 more transplants (⌈200 / pairs⌉ per pair) held back and");
        text.AppendLine("those the trigger still steers once the pairs' gap is closed added to the pairs, at most 5 kept edits, pair gap δ = 0.01);");
        text.AppendLine("`static`/`dynamic` are the paper's modes exactly (`--paper`); `ft` fine-tunes every");
        text.AppendLine("layer on the pairs (Adam 1e-4, until they are right, ≤ 200 steps); `p-clarc`/`a-clarc` are the Class Artifact Compensation");
        text.AppendLine("baselines (Anders et al. 2022) at the classifier's input, with the artifact direction from the same pairs: P-ClArC projects it out");
        text.AppendLine("(folded into the classifier), A-ClArC fine-tunes the classifier on 4000 clean training features, half moved along it (Adam 1e-3, 5 epochs).");

        RectificationExperimentRow[] headline = [.. report.Rows.Where(r => r.Report.Pairs == 1 && r.Report.Before.Asr is not null)];
        if (headline.Any(r => r.PairSeed > 0))
        {
            text.AppendLine();
            text.AppendLine("## Trojans from one cleansed pair (mean ± sd over pair draws)");
            text.AppendLine();
            text.AppendLine("Goals for `default`: ASR ≤ 2 %, clean accuracy drop ≤ 0.5 point, the attack with the trigger at each other corner up by ≤ 1 point.");
            text.AppendLine("Corner columns: the attack after (change from before, points); blended triggers cover the whole image and have no corners.");
            text.AppendLine();
            text.AppendLine("| model | poison | method | draws | ASR after | OA change (points) | held-out drop (points) | bottom-left | top-left | top-right | goals met | total s |");
            text.AppendLine("|---|---|---|---:|---|---|---|---|---|---|---|---:|");
            foreach (var group in headline.GroupBy(r => (r.Arch, r.Report.Poison, r.Report.Method)).OrderBy(g => g.Key.Arch == "cnn" ? 0 : 1).ThenBy(g => g.Key.Poison).ThenBy(g => MethodOrder(g.Key.Method)))
            {
                RectificationReport[] runs = [.. group.Select(r => r.Report)];
                MeanStd asr = MeanStd.Of([.. runs.Select(r => r.AsrAfter!.Value * 100)]);
                MeanStd oa = MeanStd.Of([.. runs.Select(r => (r.AccuracyAfter - r.AccuracyBefore) * 100)]);
                MeanStd heldOut = MeanStd.Of([.. runs.Select(r => (r.HeldOutAccuracyBefore - r.HeldOutAccuracyAfter) * 100)]);
                var cornerRises = new List<double>();
                string Corner(string name)
                {
                    if (runs[0].Before.AsrByCorner?.ContainsKey(name) != true || runs[0].Before.Asr is null) return "–";
                    MeanStd after = MeanStd.Of([.. runs.Select(r => r.After.AsrByCorner![name] * 100)]);
                    double rise = runs.Average(r => (r.After.AsrByCorner![name] - r.Before.AsrByCorner![name]) * 100);
                    cornerRises.Add(rise);
                    return FormattableString.Invariant($"{after.Mean:F2} % ({rise:+0.00;-0.00;0.00})");
                }
                string corners = string.Join(" | ", new[] { "bottom-left", "top-left", "top-right" }.Select(Corner));
                bool isCorneredTrojan = runs[0].Poison.StartsWith("badnets", StringComparison.Ordinal);
                bool met = asr.Mean <= 2 && oa.Mean >= -0.5 && (!isCorneredTrojan || cornerRises.All(r => r <= 1));
                string Sd(MeanStd v) => runs.Length > 1 ? v.Std.ToString("F2", CultureInfo.InvariantCulture) : "–";
                string verdict = (met ? "yes" : "no") + (runs.Length < HeadlineSeeds ? $" ({runs.Length} of {HeadlineSeeds} draws so far)" : "");
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {group.Key.Arch} | {group.Key.Poison} | {group.Key.Method} | {runs.Length} | {asr.Mean:F2} % ± {Sd(asr)} | {oa.Mean:+0.00;-0.00;0.00} ± {Sd(oa)} | {heldOut.Mean:F2} ± {Sd(heldOut)} | {corners} | {verdict} | {runs.Average(r => r.TimeS):F1} |");
            }
            var misses = headline.Where(r => r.Report.Method == "default").GroupBy(r => (r.Arch, r.Report.Poison))
                .Where(g => !g.Any(r => r.Report.AsrAfter is null) && (g.Average(r => r.Report.AsrAfter!.Value) > 0.02 || g.Average(r => r.Report.AccuracyAfter - r.Report.AccuracyBefore) < -0.005)).ToArray();
            if (misses.Length > 0)
            {
                text.AppendLine();
                text.AppendLine("Where `default` misses its ASR or accuracy goal, draw by draw (layers of the kept edits, and why the loop stopped):");
                text.AppendLine();
                foreach (var miss in misses)
                    foreach (RectificationExperimentRow row in miss.OrderBy(r => r.PairSeed))
                        text.AppendLine(CultureInfo.InvariantCulture,
                            $"- {miss.Key.Arch} {miss.Key.Poison}, draw {row.PairSeed}: ASR {Percent(row.Report.AsrAfter)}, OA {(row.Report.AccuracyAfter - row.Report.AccuracyBefore) * 100:+0.00;-0.00;0.00} points, "
                            + $"{row.Report.Rounds.Count} rounds, kept at {(row.Report.Layers.Count == 0 ? "–" : string.Join(" → ", row.Report.Layers))}; {row.Report.StopReason}");
            }
            text.AppendLine();
            text.AppendLine("Before (the poisoned models, bottom-right trigger and the other corners):");
            text.AppendLine();
            foreach (var model in headline.GroupBy(r => (r.Arch, r.Report.Poison)).Select(g => g.First()))
            {
                RectificationMeasures b = model.Report.Before;
                string corners = b.AsrByCorner is { } c ? ", " + string.Join(", ", c.Select(kv => $"{kv.Key} {Percent(kv.Value)}")) : "";
                text.AppendLine(CultureInfo.InvariantCulture, $"- {model.Arch} ({model.Epochs} epochs), {model.Report.Poison}: OA {Percent(b.Accuracy)}, ASR {Percent(b.Asr)}{corners}");
            }
        }

        RectificationExperimentRow[] single = [.. report.Rows.Where(r => r.PairSeed == 0)];
        foreach (IGrouping<string, RectificationExperimentRow> group in single.GroupBy(r => r.Report.Poison))
        {
            text.AppendLine();
            text.AppendLine($"## {group.Key} (pair seed 0)");
            text.AppendLine();
            text.AppendLine("| model | pairs | method | layers | OA before → after | measure before → after | other corners after | held-out drop | localise + edit s | total s |");
            text.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
            foreach (RectificationExperimentRow row in group)
            {
                RectificationReport r = row.Report;
                string measure = r.Before.Asr is not null ? $"ASR {Percent(r.AsrBefore)} → {Percent(r.AsrAfter)}"
                    : r.Before.SpuriousDeviation is not null ? $"deviation {Percent(r.Before.SpuriousDeviation)} → {Percent(r.After.SpuriousDeviation)} (artifact acc. {Percent(r.Before.ArtifactAccuracy)} → {Percent(r.After.ArtifactAccuracy)})"
                    : $"leakage {Percent(r.Before.Leakage)} → {Percent(r.After.Leakage)}";
                string corners = r.After.AsrByCorner is { } c ? string.Join(", ", c.Where(kv => kv.Key != "bottom-right").Select(kv => $"{kv.Key} {Percent(kv.Value)}")) : "";
                string layers = r.Layers.Count == 0 ? "–" : string.Join(", ", r.Layers);
                text.AppendLine(CultureInfo.InvariantCulture, $"| {row.Arch} | {r.Pairs} | {r.Method} | {layers} | {Percent(r.AccuracyBefore)} → {Percent(r.AccuracyAfter)} | {measure} | {corners} | {Percent(r.HeldOutAccuracyBefore - r.HeldOutAccuracyAfter)} | {r.Time.LocaliseAndEdit:F2} | {r.TimeS:F2} |");
            }
        }

        RectificationExperimentRow[] drawn = [.. report.Rows.Where(r => r.PairSeed > 0)];
        if (drawn.Length > 0)
        {
            text.AppendLine();
            text.AppendLine("## The other pair draws");
            text.AppendLine();
            text.AppendLine("| model | poison | method | pair seed | layers | ASR after | OA before → after | other corners after | held-out drop | total s | load |");
            text.AppendLine("|---|---|---|---:|---|---|---|---|---|---:|---:|");
            foreach (RectificationExperimentRow row in drawn)
            {
                RectificationReport r = row.Report;
                string corners = r.After.AsrByCorner is { } c ? string.Join(", ", c.Where(kv => kv.Key != "bottom-right").Select(kv => $"{kv.Key} {Percent(kv.Value)}")) : "";
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {row.Arch} | {r.Poison} | {r.Method} | {row.PairSeed} | {(r.Layers.Count == 0 ? "–" : string.Join(", ", r.Layers))} | {Percent(r.AsrAfter)} | {Percent(r.AccuracyBefore)} → {Percent(r.AccuracyAfter)} | {corners} | {Percent(r.HeldOutAccuracyBefore - r.HeldOutAccuracyAfter)} | {r.TimeS:F1} | {row.LoadBefore:F2} |");
            }
        }
        return text.ToString();
    }

    private static int MethodOrder(string method) => Methods.ToList().IndexOf(method) is var i and >= 0 ? i : Methods.Count;
}
