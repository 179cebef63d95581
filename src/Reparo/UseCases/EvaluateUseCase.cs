using Reparo.Data;
using Reparo.Models;
using Reparo.Reporting;
using Reparo.Training;

namespace Reparo.UseCases;

/// <summary>Which part of the data a model is evaluated on.</summary>
public enum EvaluationSplit
{
    /// <summary>The test split.</summary>
    Test,

    /// <summary>The validation split.</summary>
    Validation,

    /// <summary>The training split.</summary>
    Train,
}

/// <summary>What <c>reparo eval</c> is asked to do.</summary>
/// <param name="Network">The model.</param>
/// <param name="ModelPath">Its file (reported).</param>
/// <param name="Data">The data spec (reported).</param>
/// <param name="Splits">The model's data.</param>
/// <param name="Split">Which split to evaluate on.</param>
/// <param name="Corruption">A corruption name (<see cref="Corruptions.Names"/>) to apply first, if any.</param>
/// <param name="Severity">Its severity, 1–5.</param>
/// <param name="Seed">Seed of the corruption.</param>
public sealed record EvaluateRequest(Network Network, string ModelPath, string Data, DataSplits Splits, EvaluationSplit Split, string? Corruption, int Severity, int Seed);

/// <summary><c>reparo eval</c>: a model's accuracy, per-class accuracy and confusion matrix on clean or corrupted data.</summary>
public static class EvaluateUseCase
{
    /// <summary>Corrupts the chosen split when asked and evaluates the model on it.</summary>
    public static ModelEvaluationReport Run(EvaluateRequest request)
    {
        Dataset dataset = request.Split switch { EvaluationSplit.Train => request.Splits.Train, EvaluationSplit.Validation => request.Splits.Validation, _ => request.Splits.Test };
        string? corruption = null;
        int? severity = null;
        if (request.Corruption is string name)
        {
            Corruption parsed = Corruptions.Parse(name);
            (corruption, severity) = (Corruptions.NameOf(parsed), request.Severity);
            dataset = Corruptions.Apply(dataset, parsed, request.Severity, request.Seed);
        }
        EvaluationReport report = Evaluator.Evaluate(request.Network, dataset);
        IReadOnlyList<string> names = request.Network.Spec.ClassNames;
        int[] failures = report.Failures(dataset);
        double[][] probabilities = failures.Length == 0 ? [] : Evaluator.Probabilities(request.Network, dataset);
        long[] labels = dataset.Labels();
        Misclassified[] misclassified = [.. failures.Select(i => new Misclassified(i, dataset.SourceIndices[i], dataset.SourceName(i), names[(int)labels[i]],
            names[(int)report.Predictions[i]], probabilities[i][report.Predictions[i]], probabilities[i][labels[i]]))];
        var evaluation = new ModelEvaluationReport(request.ModelPath, request.Data, request.Split.ToString().ToLowerInvariant(), corruption, severity, report.Accuracy, report.N,
            report.PerClassAccuracy, report.ConfusionMatrix, names, misclassified)
        {
            DatasetName = dataset.Name,
            ClassOrderHint = ClassOrder.Hint(report.ConfusionMatrix, dataset.ClassNames, names),
        };
        return evaluation with
        {
            MisclassifiedPictures = [.. evaluation.MostConfidentlyWrong().Select(m => InputPicture.Thumbnail(dataset.X[m.Index], request.Network,
                $"{m.Source} · labelled {m.Label} · predicted {m.Prediction} ({ReportText.Percent(m.Probability)})"))],
        };
    }
}
