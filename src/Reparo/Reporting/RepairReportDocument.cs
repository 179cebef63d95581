using Reparo.Repair;
using static Reparo.Reporting.ReportText;

namespace Reparo.Reporting;

public sealed partial record RepairReport : IReportDocument
{
    /// <summary>The report as a document: the summary (what was wrong, what changed, verified or not, the cost), then the details; richer with <see cref="Evidence"/>.</summary>
    public ReportDocument ToDocument() => new($"Repair: {Method} at {Layer}", Summary(), Sections());

    private List<string> Summary()
    {
        var summary = new List<string>();
        if (Evidence is { } e)
        {
            int wrong = e.Samples.Count(s => s.Before != s.Label);
            summary.Add($"What was wrong: the model misclassified {wrong} of the {Count(e.Samples.Count, "repair region")} it was shown from {RepairSet}"
                + (Regions > e.Samples.Count ? $" (the first {e.Samples.Count} of {Regions})." : "."));
        }
        else
        {
            summary.Add($"What was wrong: the repair set {RepairSet}, {Count(Regions, "region")} with {Count(Vertices, "vertex", "vertices")}.");
        }
        if (ModelKind is null)
        {
            summary.Add($"What changed: nothing; no repaired model resulted ({Status}: {Message}).");
        }
        else
        {
            string generalisation = double.IsNaN(Metrics.GeneralizationBefore) ? ""
                : $"; on held-out inputs like the failures {Percent(Metrics.GeneralizationBefore)} → {Percent(Metrics.GeneralizationAfter)}";
            summary.Add($"What changed: {Method} edited {Layer} (largest parameter change {Number(ParamDeltaLinf)}, sum {Number(ParamDeltaL1)}); "
                + $"{Percent(ChangedPredictions)} of the clean held-out predictions changed and clean accuracy went {Percent(Metrics.AccuracyBefore)} → {Percent(Metrics.AccuracyAfter)} (drawdown {Percent(Drawdown)}){generalisation}.");
        }
        string margins = MinMarginFloat32 is double m32 && MinMarginFloat64 is double m64
            ? $"; smallest margins {Number(m32)} (float32) and {Number(m64)} (float64) against guard bands {Number(GuardBandFloat32 ?? 0)} and {Number(GuardBandFloat64 ?? 0)}"
            : "";
        summary.Add(Verified
            ? $"Verified: the independent check accepted all {Count(Regions, "region")} in float32 and float64{margins}."
            : $"Not verified: the independent check accepted {Percent(Efficacy)} of the regions{margins}. {Message}");
        string lp = Lp is { } size ? $"; LP of {Count(size.Rows)} rows × {Count(size.Cols)} columns, {Count(size.Nonzeros)} nonzeros ({Solver})" : "";
        summary.Add($"Cost: {Seconds(TimeS.Prepare)} to prepare the repair set, then {Seconds(TimeS.Total)} for the repair (encode {Seconds(TimeS.Encode)}, solve {Seconds(TimeS.Solve)}, verify {Seconds(TimeS.Verify)}){lp}.");
        return summary;
    }

    private List<ReportSection> Sections()
    {
        var sections = new List<ReportSection>();
        var compare = new List<IReadOnlyList<string>>
        {
            new[] { "clean held-out accuracy", Percent(Metrics.AccuracyBefore), Percent(Metrics.AccuracyAfter), Points(-Drawdown) },
        };
        if (!double.IsNaN(Metrics.GeneralizationBefore))
            compare.Add(["generalisation (held-out inputs like the failures)", Percent(Metrics.GeneralizationBefore), Percent(Metrics.GeneralizationAfter), Points(Generalization)]);
        if (Evidence is { } e && e.Samples.Count > 0)
        {
            double right = (double)e.Samples.Count(s => s.Before == s.Label) / e.Samples.Count;
            double rightAfter = e.Samples.Count(s => s.After == s.Label) / (double)e.Samples.Count;
            compare.Add(["repair set, first vertex right", Percent(right), ModelKind is null ? "n/a" : Percent(rightAfter), ModelKind is null ? "n/a" : Points(rightAfter - right)]);
        }
        var blocks = new List<ReportBlock>
        {
            new ReportTable(["measure", "before", "after", "change"], compare),
            new ReportKeyValues(Outcome()),
            new ReportParagraph(Message),
        };
        blocks.AddRange(Notes.Select(n => new ReportNote(n)));
        sections.Add(new ReportSection("Before and after", blocks));
        if (LayerChoice is { } choice)
        {
            sections.Add(new ReportSection("Layer choice",
            [
                new ReportParagraph($"The {choice.Heuristic} rule chose {choice.Layer}: {choice.Reason}"),
                new ReportTable(["layer", "score"], [.. choice.Scores.Select(s => (IReadOnlyList<string>)[s.Layer, Number(s.Score)])]),
            ]));
        }
        if (Evidence is not { } evidence) return sections;
        var confusion = new List<ReportBlock> { new ReportMatrix("before the repair", evidence.ClassNames, evidence.ConfusionBefore) };
        if (evidence.ConfusionAfter is { } after) confusion.Add(new ReportMatrix("after the repair", evidence.ClassNames, after));
        sections.Add(new ReportSection("Confusion matrices on the clean held-out set", confusion));
        if (evidence.Layers.Count > 0)
        {
            sections.Add(new ReportSection("Parameter change per layer",
            [
                new ReportTable(["layer", "parameters", "changed", "largest |Δ| (L∞)", "sum |Δ| (L1)"],
                    [.. evidence.Layers.Select(l => (IReadOnlyList<string>)[l.Layer, Count(l.Parameters), Count(l.Changed), Number(l.Linf), Number(l.L1)])]),
            ]));
        }
        string Name(long c) => c >= 0 && c < evidence.ClassNames.Count ? evidence.ClassNames[(int)c] : c.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var thumbnails = evidence.Samples.Select(s =>
        {
            string caption = $"{s.Id} · true: {Name(s.Label)} · before: {Name(s.Before)}" + (s.After is long a ? $" · after: {Name(a)}" : "")
                + (s.MarginFloat32 is double margin ? $" · margin {Number(margin)}" : "") + (s.Passed == false ? " · NOT verified" : "")
                + (s.Vertices > 1 ? $" · first of {s.Vertices} vertices" : "");
            return new ReportThumbnail(caption, s.Png, s.Text);
        }).ToArray();
        string shown = Regions > evidence.Samples.Count ? $"the first {evidence.Samples.Count} of {Regions} regions" : $"all {Count(Regions, "region")}";
        sections.Add(new ReportSection("Repair set", [new ReportGallery(thumbnails, $"{RepairSet}: {shown}, with the predictions before and after the repair and the verifier's float32 margin.")]));
        return sections;
    }

    private List<KeyValuePair<string, string>> Outcome()
    {
        var rows = new List<KeyValuePair<string, string>>
        {
            new("status", Status),
            new("method / layer", $"{Method} / {Layer}" + (Objective is null ? "" : $" (objective {Objective})")),
            new("repair set", $"{RepairSet}: {Count(Regions, "region")}, {Count(Vertices, "vertex", "vertices")}"),
            new("efficacy (verified share)", Percent(Efficacy)),
            new("drawdown", Percent(Drawdown)),
            new("parameter change L∞ / L1", $"{Number(ParamDeltaLinf)} / {Number(ParamDeltaL1)}"),
            new("changed clean predictions", Percent(ChangedPredictions)),
            new("time prepare | encode / solve / verify / total", $"{Seconds(TimeS.Prepare)} | {Seconds(TimeS.Encode)} / {Seconds(TimeS.Solve)} / {Seconds(TimeS.Verify)} / {Seconds(TimeS.Total)}"),
        };
        if (Lp is { } lp) rows.Add(new("LP rows × columns, nonzeros", $"{Count(lp.Rows)} × {Count(lp.Cols)}, {Count(lp.Nonzeros)} ({Solver})"));
        if (Epsilon is double epsilon) rows.Add(new("LP margin ε", Number(epsilon)));
        if (MinMarginFloat32 is double m32) rows.Add(new("smallest margin float32 / float64", $"{Number(m32)} / {Number(MinMarginFloat64 ?? double.NaN)}"));
        if (GuardBandFloat32 is double g32) rows.Add(new("guard band float32 / float64", $"{Number(g32)} / {Number(GuardBandFloat64 ?? double.NaN)}"));
        string fewer = PreservedRequested is int asked ? $" (held instead of {asked}: infeasible with all of them)" : "";
        string form = PreservedPenalty is null ? "" : $" ({PreservedOutcome.Describe(PreservedPenalty, PreservedPenaltyOn)})";
        if (Preserved > 0) rows.Add(new("preserved training inputs kept", (PreservedKept is int kept ? $"{kept} of {Preserved}" : $"{Preserved} given") + fewer + form));
        else if (PreservedRequested is int none) rows.Add(new("preserved training inputs", $"none held: the LP was infeasible with any of the {none} asked for"));
        if (ModelKind is not null) rows.Add(new("repaired model", ModelKind));
        if (VerifiedOnnxRuntime is bool ort) rows.Add(new("ONNX Runtime on the written file", $"{(ort ? "verified" : "FAILED")}, smallest margin {Number(OnnxRuntimeMinMargin ?? double.NaN)}"));
        return rows;
    }
}
