using Reparo.Attribution;
using Reparo.Models;
using Reparo.Repair.Editing;
using Reparo.Reporting;
using static Reparo.Reporting.ReportText;
using static TorchSharp.torch;

namespace Reparo.Experiments;

public sealed partial class RectificationRun : IReportDocument
{
    /// <summary>The most pairs whose attribution heatmaps a report draws.</summary>
    public const int MaxHeatmapPairs = 4;

    /// <summary>
    /// The run as a document: the summary, the measures before and after, every round, and integrated-gradients heatmaps
    /// of the first pairs' clean and corrupted inputs under the model before and after (each for the class it predicts).
    /// </summary>
    public ReportDocument ToDocument()
    {
        var summary = new List<string>();
        string wrong = Before.Asr is double asr ? $"triggered test inputs went to the attack's target {Percent(asr)} of the time (attack success rate)"
            : Before.SpuriousDeviation is double dev ? $"the artifact cost the other classes {Percent(dev)} accuracy (spurious deviation)"
            : Before.Leakage is double leak ? $"{Percent(leak)} of the attribution fell on the null block (leakage)"
            : $"the pairs' clean and corrupted predictions differed by {Number(Rectification.GapBefore)} (total variation)";
        summary.Add($"What was wrong: in the model ({(Poison == "user" ? "the user's pairs" : $"poisoned with {Poison}")}), {wrong}; clean test accuracy {Percent(Before.Accuracy)}.");
        string asrChange = Before.Asr is double a ? $"attack success rate {Percent(a)} → {Percent(After.Asr ?? double.NaN)}, " : "";
        summary.Add(Rectification.Layers.Count == 0
            ? $"What changed: nothing was kept ({Rectification.StopReason})."
            : $"What changed: {Method} rectification from {Count(Pairs, "cleansed pair")} edited {string.Join(", ", Rectification.Layers)}; {asrChange}clean test accuracy {Percent(Before.Accuracy)} → {Percent(After.Accuracy)}; stopped: {Rectification.StopReason}.");
        if (Method is "p-clarc" or "a-clarc")
            summary.Add($"Checked, not proven: {Method} is a baseline (Class Artifact Compensation, Anders et al. 2022) that keeps its change unconditionally; held-out validation accuracy went {Percent(Rectification.HeldOutAccuracyBefore)} → {Percent(Rectification.HeldOutAccuracyAfter)} and the pairs' gap {Number(Rectification.GapBefore)} → {Number(Rectification.GapAfter)}.");
        else summary.Add($"Checked, not proven: the edits were kept only while held-out validation accuracy stayed within the budget ({Percent(Rectification.HeldOutAccuracyBefore)} → {Percent(Rectification.HeldOutAccuracyAfter)}); the pairs' gap went {Number(Rectification.GapBefore)} → {Number(Rectification.GapAfter)}.");
        RectifyTiming t = Rectification.Time;
        summary.Add($"Cost: {Seconds(t.Total)} in all (statistics {Seconds(t.Statistics)}, localise {Seconds(t.Localise)}, edit {Seconds(t.Edit)}, evaluate {Seconds(t.Evaluate)}).");

        var measures = new List<IReadOnlyList<string>> { new[] { "clean test accuracy", Percent(Before.Accuracy), Percent(After.Accuracy) } };
        if (Before.Asr is double asrBefore) measures.Add(["attack success rate", Percent(asrBefore), Percent(After.Asr ?? double.NaN)]);
        if (Before.AsrByCorner is { } corners)
            measures.AddRange(corners.Select(c => (IReadOnlyList<string>)[$"attack success rate, trigger {c.Key}", Percent(c.Value), Percent(After.AsrByCorner?.GetValueOrDefault(c.Key) ?? double.NaN)]));
        if (Before.SpuriousDeviation is double deviation) measures.Add(["spurious deviation", Percent(deviation), Percent(After.SpuriousDeviation ?? double.NaN)]);
        if (Before.Leakage is double leakage) measures.Add(["leakage (IG mass on the null block)", Percent(leakage), Percent(After.Leakage ?? double.NaN)]);
        measures.Add(["held-out accuracy", Percent(Rectification.HeldOutAccuracyBefore), Percent(Rectification.HeldOutAccuracyAfter)]);
        measures.Add(["pair gap", Number(Rectification.GapBefore), Number(Rectification.GapAfter)]);
        var sections = new List<ReportSection>
        {
            new("Before and after", [new ReportTable(["measure", "before", "after"], measures)]),
            new("Rounds", [new ReportTable(["round", "layer", "solver", "‖ΔW‖", "pair gap", "held-out accuracy", "kept"],
                [.. Rectification.Rounds.Select(r => (IReadOnlyList<string>)[r.Round.ToString(System.Globalization.CultureInfo.InvariantCulture), r.Layer, r.Solver, Number(r.DeltaNorm),
                    $"{Number(r.GapBefore)} → {Number(r.GapAfter)}", Percent(r.HeldOutAccuracy), r.Kept ? "kept" : "rolled back"])])]),
        };
        if (Original.Spec.InputKind == Data.InputKind.Image) sections.Add(new ReportSection("Attributions of the pairs", Heatmaps()));
        return new ReportDocument($"Rectification: {Method} from {Count(Pairs, "pair")}", summary, sections);
    }

    private List<ReportBlock> Heatmaps()
    {
        using var scope = NewDisposeScope();
        int n = Math.Min(MaxHeatmapPairs, Inputs.Labels.Length);
        var blocks = new List<ReportBlock>
        {
            new ReportParagraph("Integrated gradients (zero baseline, 32 steps) for the class each model predicts: the input in grey on the left, "
                + "the attribution on the right (red for, blue against, scaled to its largest value)."),
        };
        IReadOnlyList<string> names = Original.Spec.ClassNames;
        var ig = new IntegratedGradients();
        var options = new AttributionOptions { Steps = 32 };
        for (int i = 0; i < n; i++)
        {
            var items = new List<ReportThumbnail>();
            foreach ((string input, Tensor x) in new[] { ("clean", Inputs.Clean.narrow(0, i, 1)), ("corrupted", Inputs.Corrupted.narrow(0, i, 1)) })
            {
                foreach ((string when, Network model) in new[] { ("before", Original), ("after", Rectification.Network) })
                {
                    long predicted = model.Predict(x)[0];
                    using AttributionResult result = ig.Attribute(model, x, [predicted], options);
                    items.Add(new ReportThumbnail($"{input}, {when}: predicted {names[(int)predicted]}", Heatmap.Encode(x[0], result.Values[0])));
                }
            }
            blocks.Add(new ReportGallery(items, $"Pair {i + 1} (true class {names[(int)Inputs.Labels[i]]})"));
        }
        return blocks;
    }
}
