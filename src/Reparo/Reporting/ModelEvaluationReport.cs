using System.Globalization;
using System.Text.Json.Serialization;
using static Reparo.Reporting.ReportText;

namespace Reparo.Reporting;

/// <summary>A sample the model gets wrong.</summary>
/// <param name="Index">Its row in the evaluated split.</param>
/// <param name="SourceIndex">Its index in the source data.</param>
/// <param name="Source">Where to find it: its file in an image folder, <c>FILE:LINE</c> of a table or text file, else its source index.</param>
/// <param name="Label">Its label.</param>
/// <param name="Prediction">What the model predicts.</param>
/// <param name="Probability">The probability the model gives its prediction.</param>
/// <param name="LabelProbability">The probability the model gives the label.</param>
public sealed record Misclassified(int Index, int SourceIndex, string Source, string Label, string Prediction, double Probability, double LabelProbability);

/// <summary>What <c>reparo eval</c> measured: accuracy, per-class accuracy and the confusion matrix of a model on one split (the command's JSON).</summary>
/// <param name="Model">The model file.</param>
/// <param name="Data">The data spec.</param>
/// <param name="Split"><c>test</c>, <c>validation</c> or <c>train</c>.</param>
/// <param name="Corruption">The corruption applied first, if any.</param>
/// <param name="Severity">Its severity (1–5), with <paramref name="Corruption"/>.</param>
/// <param name="Accuracy">Share of samples classified correctly.</param>
/// <param name="N">Samples evaluated.</param>
/// <param name="PerClassAccuracy">Accuracy per true class (NaN for a class with no sample).</param>
/// <param name="ConfusionMatrix">Counts[true][predicted].</param>
/// <param name="ClassNames">The class names.</param>
/// <param name="Misclassified">Every sample the model gets wrong, in the split's order.</param>
public sealed record ModelEvaluationReport(string Model, string Data, string Split, string? Corruption, int? Severity, double Accuracy, int N,
    double[] PerClassAccuracy, int[][] ConfusionMatrix, IReadOnlyList<string> ClassNames, IReadOnlyList<Misclassified> Misclassified) : IReportDocument
{
    /// <summary>How many misclassified samples the document lists (the most confidently wrong first); the JSON has them all.</summary>
    public const int Listed = 20;

    /// <summary>The listed misclassified samples' pictures, for the report (same order as the document's table).</summary>
    [JsonIgnore]
    public IReadOnlyList<ReportThumbnail> MisclassifiedPictures { get; init; } = [];

    /// <summary>The evaluated dataset's name, e.g. <c>digits (test)</c>.</summary>
    [JsonIgnore]
    public string DatasetName { get; init; } = "";

    /// <summary>
    /// One line when the labels look like the model's classes in another order (<see cref="Training.ClassOrder.Hint"/>):
    /// reading the data's classes otherwise would raise the accuracy by a quarter or more; null otherwise.
    /// </summary>
    public string? ClassOrderHint { get; init; }

    /// <summary>What was evaluated, in words: the split and the corruption, if any.</summary>
    [JsonIgnore]
    public string Subject => Corruption is null ? $"the {Split} split of {Data}" : $"the {Split} split of {Data} with {Corruption} at severity {Severity}";

    /// <summary>The evaluation as a document: accuracy first, the weakest class, then the per-class table and the confusion matrix.</summary>
    public ReportDocument ToDocument()
    {
        List<string> summary = [$"{Model}: accuracy {Percent(Accuracy)} on {N} samples of {Subject}."];
        int[] measured = [.. Enumerable.Range(0, PerClassAccuracy.Length).Where(c => !double.IsNaN(PerClassAccuracy[c]))];
        if (measured.Length > 1)
        {
            int weakest = measured.MinBy(c => PerClassAccuracy[c]);
            summary.Add($"The weakest class is {Name(weakest)}: {Percent(PerClassAccuracy[weakest])} of its {ConfusionMatrix[weakest].Sum()} samples right.");
        }
        if (ClassOrderHint is string hint) summary.Add($"Warning: {hint}.");
        var sections = new List<ReportSection>
        {
            new("Per class", [new ReportTable(["class", "accuracy", "n"],
                [.. PerClassAccuracy.Select((a, c) => (IReadOnlyList<string>)[Name(c), Percent(a), ConfusionMatrix[c].Sum().ToString(CultureInfo.InvariantCulture)])])]),
            new("Confusion matrix", [new ReportMatrix($"Predictions on {Subject}", ClassNames, [.. ConfusionMatrix.Select(row => (IReadOnlyList<long>)[.. row.Select(v => (long)v)])])]),
        };
        if (Misclassified.Count > 0)
        {
            List<ReportBlock> blocks =
            [
                new ReportTable(["sample", "label", "prediction", "p(prediction)", "p(label)"],
                    [.. MostConfidentlyWrong().Select(m => (IReadOnlyList<string>)[m.Source, m.Label, m.Prediction, Percent(m.Probability), Percent(m.LabelProbability)])],
                    $"{Math.Min(Listed, Misclassified.Count)} of the {Misclassified.Count} misclassified samples, the most confidently wrong first (the JSON lists them all, in the split's order)"),
            ];
            if (MisclassifiedPictures.Count > 0) blocks.Add(new ReportGallery(MisclassifiedPictures));
            sections.Add(new ReportSection("Misclassified", blocks));
        }
        return new ReportDocument($"Evaluation of {Model}", summary, sections);
    }

    /// <summary>The misclassified samples the document lists: the <see cref="Listed"/> with the highest probability on their prediction (ties: split order).</summary>
    public IEnumerable<Misclassified> MostConfidentlyWrong() => Misclassified.OrderByDescending(m => m.Probability).ThenBy(m => m.Index).Take(Listed);

    private string Name(int c) => c < ClassNames.Count ? ClassNames[c] : c.ToString(CultureInfo.InvariantCulture);
}
