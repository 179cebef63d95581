using System.Globalization;
using System.Text.Json.Serialization;
using Reparo.Attribution;
using static Reparo.Reporting.ReportText;

namespace Reparo.Reporting;

/// <summary>One class's softmax probability.</summary>
/// <param name="Class">The class name.</param>
/// <param name="Probability">Its probability for the explained input.</param>
public sealed record ClassProbability(string Class, double Probability);

/// <summary>Integrated gradients on the raw input, summarised.</summary>
/// <param name="Method">The attribution method (<c>ig</c>).</param>
/// <param name="Baseline">The baseline: <c>zeros</c>, or <c>training mean</c> (the training split's average row) for a table.</param>
/// <param name="Steps">Gauss–Legendre path points.</param>
/// <param name="Target">The class explained (the prediction).</param>
/// <param name="Sum">Σ attributions.</param>
/// <param name="Delta">f_t(x) − f_t(baseline), which <paramref name="Sum"/> should match (completeness).</param>
/// <param name="CompletenessGap">The relative completeness gap.</param>
/// <param name="L1">Σ |attributions|.</param>
/// <param name="Top">The features with the largest |attribution|, largest first.</param>
public sealed record InputAttributionSummary(string Method, string Baseline, int Steps, string Target, double Sum, double? Delta, double? CompletenessGap, double L1,
    IReadOnlyList<FeatureAttribution> Top);

/// <summary>One candidate layer's score for "most editable".</summary>
/// <param name="Layer">The layer's dotted name.</param>
/// <param name="Score">Σ |layer-IG attribution| at the layer's output (the score the layer is chosen by).</param>
/// <param name="Sum">Σ layer-IG attribution (by completeness ≈ the same logit difference at every layer).</param>
public sealed record LayerAttributionScore(string Layer, double Score, double Sum);

/// <summary>The layer chosen as the most editable for one input, with every candidate's score.</summary>
/// <param name="Rule">How it was chosen, in words.</param>
/// <param name="Layer">The chosen layer: the argmax of <paramref name="Scores"/>.</param>
/// <param name="Scores">Every candidate (every Linear/Conv2d, forward order).</param>
public sealed record LayerAttributionChoice(string Rule, string Layer, IReadOnlyList<LayerAttributionScore> Scores);

/// <summary>A training sample near the explained input.</summary>
/// <param name="Rank">1 for the nearest.</param>
/// <param name="TrainIndex">Its index in the training split.</param>
/// <param name="SourceIndex">Its index in the source data.</param>
/// <param name="Source">Where to find it: its file in an image folder, <c>FILE:LINE</c> of a table or text file, else its source index (<see cref="Data.Dataset.SourceName"/>).</param>
/// <param name="Label">Its label.</param>
/// <param name="Distance">Euclidean distance in the feature space the explanation names.</param>
public sealed record TrainingNeighbour(int Rank, int TrainIndex, int SourceIndex, string Source, string Label, double Distance);

/// <summary>The RNNRepair part of an explanation of a recurrent model's prediction.</summary>
/// <param name="Failing">Whether the prediction is wrong.</param>
/// <param name="FaultStep">The step (0-based count of steps that still predicted the label) where the per-step prediction leaves the truth, if any.</param>
/// <param name="FaultToken">The token read at the step after the fault step, for text.</param>
/// <param name="States">Abstract states of the model (K).</param>
/// <param name="Top">The most influential training samples (smallest temporal-feature distance first).</param>
public sealed record InfluenceSummary(bool Failing, int? FaultStep, string? FaultToken, int States, IReadOnlyList<TrainingNeighbour> Top);

/// <summary>
/// What <c>reparo explain</c> reports for one test input: the prediction with its probabilities, integrated gradients
/// on the input, the most editable layer with every candidate's score, the nearest training samples, and for a
/// recurrent model with an influence model the influential training samples and the fault step. Serialises to the
/// command's snake_case JSON; pictures are for the report only.
/// </summary>
/// <param name="Model">The model file.</param>
/// <param name="Data">The data set.</param>
/// <param name="Index">The test-split index explained.</param>
/// <param name="SourceIndex">Its index in the source data.</param>
/// <param name="Source">Where to find it (<see cref="Data.Dataset.SourceName"/>).</param>
/// <param name="Label">Its true label.</param>
/// <param name="Prediction">The model's prediction.</param>
/// <param name="Correct">Whether they agree.</param>
/// <param name="Probabilities">Softmax probabilities, class order.</param>
/// <param name="InputAttribution">Integrated gradients on the input; null for token inputs, which have no gradient.</param>
/// <param name="EditableLayer">The most editable layer, null when the model has no Linear/Conv2d.</param>
/// <param name="NeighbourSpace">The space the neighbours' distances are measured in.</param>
/// <param name="Neighbours">The nearest training samples, nearest first.</param>
/// <param name="Influence">The influence part, when an influence model was given.</param>
public sealed record Explanation(string Model, string Data, int Index, int SourceIndex, string Source, string Label, string Prediction, bool Correct,
    IReadOnlyList<ClassProbability> Probabilities, InputAttributionSummary? InputAttribution, LayerAttributionChoice? EditableLayer, string NeighbourSpace,
    IReadOnlyList<TrainingNeighbour> Neighbours, InfluenceSummary? Influence) : IReportDocument
{
    /// <summary>The input beside its attribution (PNG), for the report.</summary>
    [JsonIgnore]
    public byte[]? AttributionPicture { get; init; }

    /// <summary>The input, for the report.</summary>
    [JsonIgnore]
    public ReportThumbnail? InputThumbnail { get; init; }

    /// <summary>The neighbours' pictures, for the report (same order as <see cref="Neighbours"/>).</summary>
    [JsonIgnore]
    public IReadOnlyList<ReportThumbnail> NeighbourThumbnails { get; init; } = [];

    /// <summary>The influence explanation's own document (trace and influential samples), for the report.</summary>
    [JsonIgnore]
    public InfluenceExplanation? InfluenceDocument { get; init; }

    /// <inheritdoc />
    public ReportDocument ToDocument()
    {
        string what = $"{Data} test sample {Source}";
        var summary = new List<string>
        {
            Correct
                ? $"The model predicts {what} correctly: {Prediction} ({Percent(Probabilities.First(p => p.Class == Prediction).Probability)})."
                : $"The model predicts {Prediction} ({Percent(Probabilities.First(p => p.Class == Prediction).Probability)}) for {what}, whose label is {Label}.",
        };
        if (EditableLayer is { } chosen) summary.Add($"The most editable layer for this input is {chosen.Layer}: {chosen.Rule}.");
        if (Neighbours.Count > 0) summary.Add($"Its nearest training samples ({NeighbourSpace}) are labelled {string.Join(", ", Neighbours.Select(n => n.Label))} (nearest first).");
        if (Influence is { } inf)
            summary.Add(inf.Failing ? inf.FaultStep is int f ? $"The per-step prediction leaves the truth after step {f}." : "No step predicts the true label." : "Every influence query agrees with the label.");
        summary.Add("Not a proof: attributions and distances describe this one input; they do not show the model is right or wrong elsewhere.");

        var sections = new List<ReportSection>();
        var prediction = new List<ReportBlock>();
        if (InputThumbnail is { } thumb) prediction.Add(new ReportGallery([thumb]));
        prediction.Add(new ReportKeyValues([new("label", Label), new("prediction", Prediction), new("correct", Correct ? "yes" : "no")]));
        prediction.Add(new ReportTable(["class", "probability"], [.. Probabilities.OrderByDescending(p => p.Probability).Select(p => (IReadOnlyList<string>)[p.Class, Percent(p.Probability)])]));
        sections.Add(new ReportSection("Prediction", prediction));
        if (InputAttribution is { } ia)
        {
            var blocks = new List<ReportBlock>
            {
                new ReportParagraph($"Integrated gradients of the {ia.Target} logit on the input ({ia.Steps} Gauss–Legendre steps, {ia.Baseline} baseline): "
                    + $"Σ attributions {Number(ia.Sum)}" + (ia.Delta is double d ? $", f(x) − f(baseline) {Number(d)}" : "") + $", Σ |attributions| {Number(ia.L1)}."),
            };
            if (AttributionPicture is { } png) blocks.Add(new ReportFigure(png, "The input (left) and its attribution (right: red raises the predicted logit, blue lowers it)", "Input attribution heatmap"));
            blocks.Add(new ReportTable(["feature", "input", "attribution"], [.. ia.Top.Select(t => (IReadOnlyList<string>)[t.Name, t.Input is double v ? Number(v) : "–", Number(t.Value)])],
                "The features with the largest |attribution|"));
            sections.Add(new ReportSection("Input attribution", blocks));
        }
        if (EditableLayer is { } layer)
        {
            sections.Add(new ReportSection("Most editable layer", [
                new ReportParagraph(layer.Rule),
                new ReportTable(["layer", "Σ |attribution|", "Σ attribution"],
                    [.. layer.Scores.Select(s => (IReadOnlyList<string>)[s.Layer + (s.Layer == layer.Layer ? "  ← chosen" : ""), Number(s.Score), Number(s.Sum)])]),
            ]));
        }
        sections.Add(new ReportSection("Nearest training samples", [
            new ReportParagraph($"Distances are Euclidean, in {NeighbourSpace}."),
            new ReportTable(["rank", "training sample", "label", "distance"],
                [.. Neighbours.Select(n => (IReadOnlyList<string>)[n.Rank.ToString(CultureInfo.InvariantCulture), n.Source, n.Label, Number(n.Distance)])]),
            .. NeighbourThumbnails.Count > 0 ? [new ReportGallery(NeighbourThumbnails)] : Array.Empty<ReportBlock>(),
        ]));
        if (InfluenceDocument is { } influence) sections.AddRange(influence.ToDocument().AsPart("Influence"));
        return new ReportDocument($"Explanation: {what}", summary, sections);
    }
}
