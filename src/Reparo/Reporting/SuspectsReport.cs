using System.Globalization;
using System.Text.Json.Serialization;
using static Reparo.Reporting.ReportText;

namespace Reparo.Reporting;

/// <summary>A training sample suspected of a wrong label.</summary>
/// <param name="Rank">1 for the most suspicious.</param>
/// <param name="TrainIndex">Its row in the training split.</param>
/// <param name="SourceIndex">Its index in the source data.</param>
/// <param name="Source">Where to find it: its file in an image folder, <c>FILE:LINE</c> of a table or text file, else its source index.</param>
/// <param name="Label">The label it was trained with.</param>
/// <param name="Prediction">What the model predicts for it.</param>
/// <param name="LabelProbability">The probability the model gives its label.</param>
/// <param name="Score">The method's self-influence score (higher: more unusual for the model).</param>
public sealed record Suspect(int Rank, int TrainIndex, int SourceIndex, string Source, string Label, string Prediction, double LabelProbability, double Score);

/// <summary>What <c>reparo influence suspects</c> found (the command's JSON; pictures are for the report only).</summary>
/// <param name="Model">The model file.</param>
/// <param name="Data">The training split ranked.</param>
/// <param name="Method">The self-influence method.</param>
/// <param name="TrainCount">Training samples ranked.</param>
/// <param name="Disagreements">Training samples whose label the model does not predict.</param>
/// <param name="Seconds">The ranking's wall time.</param>
/// <param name="Details">The method's own figures (damping, iterations, …).</param>
/// <param name="Suspects">The most suspicious samples, most suspicious first.</param>
public sealed record SuspectsReport(string Model, string Data, string Method, int TrainCount, int Disagreements, double Seconds,
    IReadOnlyDictionary<string, double> Details, IReadOnlyList<Suspect> Suspects) : IReportDocument
{
    /// <summary>The suspects' pictures, for the report (same order as <see cref="Suspects"/>).</summary>
    [JsonIgnore]
    public IReadOnlyList<ReportThumbnail> Pictures { get; init; } = [];

    /// <inheritdoc />
    public ReportDocument ToDocument()
    {
        var summary = new List<string>
        {
            $"The {Suspects.Count} training samples of {Data} (of {TrainCount}) most unusual for the model by {Method} self-influence, most suspicious first: look at their labels first.",
            $"The model predicts another class than the label for {Disagreements} of the {TrainCount} training samples.",
            "Not a proof: a high score marks a sample the model finds unusual for its label; a correctly labelled but rare or ambiguous sample scores high too.",
        };
        var blocks = new List<ReportBlock>
        {
            new ReportTable(["rank", "training sample", "label", "prediction", "p(label)", "score"],
                [.. Suspects.Select(s => (IReadOnlyList<string>)[s.Rank.ToString(CultureInfo.InvariantCulture), s.Source, s.Label, s.Prediction, Percent(s.LabelProbability), Number(s.Score)])]),
        };
        if (Pictures.Count > 0) blocks.Add(new ReportGallery(Pictures));
        blocks.Add(new ReportParagraph($"Ranked in {Number(Seconds)} s" + (Details.Count == 0 ? "." : $" ({string.Join(", ", Details.Select(d => $"{d.Key} {Number(d.Value)}"))}).")));
        return new ReportDocument($"Suspected labels: {Data}", summary, [new ReportSection("Suspects", blocks)]);
    }
}
