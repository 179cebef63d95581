using System.Globalization;
using System.Text.Json.Serialization;
using Reparo.Training;
using static Reparo.Reporting.ReportText;

namespace Reparo.Reporting;

/// <summary>What <c>reparo train</c> did: the model trained, its epochs, its test accuracy and, for poisoned data, the poison's effect (the command's JSON).</summary>
/// <param name="Arch">The architecture spec.</param>
/// <param name="Data">The data spec it was trained on.</param>
/// <param name="Seed">Seed of the initial weights, batches and poisoning.</param>
/// <param name="Threads">Threads it trained with.</param>
/// <param name="Parameters">Trainable parameters.</param>
/// <param name="Epochs">Every finished epoch.</param>
/// <param name="BestEpoch">The epoch whose weights were kept.</param>
/// <param name="StoppedEarly">Whether early stopping ended training.</param>
/// <param name="ValidationAccuracy">Validation accuracy of the kept epoch.</param>
/// <param name="TestAccuracy">Accuracy on the test split.</param>
/// <param name="TestN">Test samples.</param>
/// <param name="PerClassAccuracy">Test accuracy per class (NaN for a class with no test sample).</param>
/// <param name="TimeS">Training wall time, seconds.</param>
/// <param name="SamplesPerS">Training samples per second over the epochs.</param>
/// <param name="Out">Where the model was saved.</param>
/// <param name="Poison">The poison's effect, when the data was poisoned.</param>
public sealed record TrainedModelReport(string Arch, string Data, int Seed, int Threads, long Parameters, IReadOnlyList<EpochRecord> Epochs,
    int BestEpoch, bool StoppedEarly, double? ValidationAccuracy, double TestAccuracy, int TestN, double[] PerClassAccuracy,
    double TimeS, double SamplesPerS, string Out, PoisonEffect? Poison) : IReportDocument
{
    /// <summary>Training and validation samples left out (<c>--exclude</c>).</summary>
    public int Excluded { get; init; }

    /// <summary>The class names, for the per-class table of the document.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> ClassNames { get; init; } = [];

    /// <summary>What the user should know before using the model, e.g. that it predicts no better than the most common class.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>The run as a document: test accuracy and the poison's effect first, then the settings, the epochs and the per-class accuracy.</summary>
    public ReportDocument ToDocument()
    {
        List<string> summary =
        [
            $"Trained {Arch} on {Data}: test accuracy {Percent(TestAccuracy)} on {TestN} samples, keeping epoch {BestEpoch} of {Epochs.Count}{(StoppedEarly ? " (stopped early)" : "")}. Saved to {Out}.",
        ];
        if (Poison is { } poison) summary.Add($"Poisoned with {poison.Spec} ({Count(poison.Poisoned, "image")}): {poison.Effect}.");
        summary.AddRange(Warnings.Select(warning => $"Warning: {warning}."));
        var sections = new List<ReportSection>
        {
            new("Training", [new ReportKeyValues(
            [
                new("architecture", Arch),
                new("parameters", Count(Parameters)),
                new("data", Data),
                new("seed", Seed.ToString(CultureInfo.InvariantCulture)),
                new("threads", Threads.ToString(CultureInfo.InvariantCulture)),
                new("validation accuracy (kept epoch)", ValidationAccuracy is double v ? Percent(v) : "-"),
                new("training time", Seconds(TimeS)),
                new("samples per second", Number(SamplesPerS)),
                new("model file", Out),
            ])]),
            new("Epochs", [new ReportTable(["epoch", "train loss", "validation accuracy", "learning rate", "seconds"],
                [.. Epochs.Select(e => (IReadOnlyList<string>)[e.Epoch.ToString(CultureInfo.InvariantCulture), e.TrainLoss.ToString("F4", CultureInfo.InvariantCulture),
                    e.ValidationAccuracy is double a ? Percent(a) : "-", Number(e.LearningRate), Seconds(e.Seconds)])],
                $"Epoch {BestEpoch}'s weights were kept.")]),
            new("Test accuracy per class", [new ReportTable(["class", "accuracy"],
                [.. PerClassAccuracy.Select((a, c) => (IReadOnlyList<string>)[c < ClassNames.Count ? ClassNames[c] : c.ToString(CultureInfo.InvariantCulture), Percent(a)])])]),
        };
        return new ReportDocument($"Training {Arch} on {Data}", summary, sections);
    }
}

/// <summary>What poisoning the training data did to the trained model: ASR for Trojans, the artifact's cost for spurious, block-test accuracy for block.</summary>
/// <param name="Spec">The poisoning.</param>
/// <param name="Poisoned">Images poisoned (training and validation).</param>
/// <param name="Asr">Trojans: attack success rate with the trigger at the bottom right.</param>
/// <param name="SpuriousDeviation">Spurious: accuracy lost on the other classes' test images with the artifact.</param>
/// <param name="AccuracyArtifact">Spurious: accuracy on those images with the artifact.</param>
/// <param name="FlippedToClass">Spurious: share of those images sent to the poisoned class.</param>
/// <param name="Accuracy">Block: accuracy on block test images.</param>
public sealed record PoisonEffect(string Spec, int Poisoned, double? Asr, double? SpuriousDeviation, double? AccuracyArtifact,
    double? FlippedToClass, double? Accuracy)
{
    /// <summary>The effect in words, e.g. <c>attack success rate 98.00 %</c>.</summary>
    [JsonIgnore]
    public string Effect => this switch
    {
        { Asr: double asr } => $"attack success rate {Percent(asr)} (trigger at the bottom right, on test images not of the target class)",
        { SpuriousDeviation: double deviation } => $"accuracy with the artifact {Percent(AccuracyArtifact ?? double.NaN)} on the other classes' test images (deviation {Percent(deviation)}, {Percent(FlippedToClass ?? double.NaN)} flipped to the poisoned class)",
        _ => $"accuracy on block test images {Percent(Accuracy ?? double.NaN)}",
    };
}
