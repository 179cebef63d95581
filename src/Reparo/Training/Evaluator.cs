using Reparo.Data;
using Reparo.Models;

namespace Reparo.Training;

/// <summary>Accuracy, per-class accuracy and confusion matrix of a network on a dataset.</summary>
/// <param name="Accuracy">Share of samples predicted correctly.</param>
/// <param name="N">Number of samples.</param>
/// <param name="PerClassAccuracy">Accuracy on each class's samples (NaN for a class with none).</param>
/// <param name="ConfusionMatrix">Counts indexed [true class][predicted class].</param>
/// <param name="Predictions">Predicted class per sample.</param>
public sealed record EvaluationReport(double Accuracy, int N, double[] PerClassAccuracy, int[][] ConfusionMatrix, long[] Predictions)
{
    /// <summary>Indices (into the evaluated dataset) of the misclassified samples.</summary>
    public int[] Failures(Dataset data)
    {
        long[] labels = data.Labels();
        return Enumerable.Range(0, N).Where(i => Predictions[i] != labels[i]).ToArray();
    }
}

/// <summary>Batch evaluation of a network.</summary>
public static class Evaluator
{
    /// <summary>Evaluates <paramref name="network"/> on <paramref name="data"/>.</summary>
    public static EvaluationReport Evaluate(Network network, Dataset data, int batchSize = 1000)
    {
        Trainer.CheckCompatible(network, data);
        long[] predictions = network.Predict(data.X, batchSize);
        long[] labels = data.Labels();
        int classes = network.ClassCount;
        var confusion = Enumerable.Range(0, classes).Select(_ => new int[classes]).ToArray();
        for (int i = 0; i < labels.Length; i++) confusion[labels[i]][predictions[i]]++;
        double[] perClass = confusion.Select((row, c) => row.Sum() == 0 ? double.NaN : (double)row[c] / row.Sum()).ToArray();
        int correct = Enumerable.Range(0, classes).Sum(c => confusion[c][c]);
        return new EvaluationReport(labels.Length == 0 ? double.NaN : (double)correct / labels.Length, labels.Length, perClass, confusion, predictions);
    }

    /// <summary>
    /// The class probabilities (softmax of <see cref="Network.Scores"/>, float64) of every row of <paramref name="data"/>,
    /// in evaluation mode, <paramref name="batchSize"/> rows at a time.
    /// </summary>
    public static double[][] Probabilities(Network network, Dataset data, int batchSize = 1000)
    {
        Trainer.CheckCompatible(network, data);
        var rows = new double[data.Count][];
        network.InEvalMode(() =>
        {
            using var noGrad = TorchSharp.torch.no_grad();
            for (int start = 0; start < data.Count; start += batchSize)
            {
                using var scope = TorchSharp.torch.NewDisposeScope();
                int count = Math.Min(batchSize, data.Count - start);
                TorchSharp.torch.Tensor p = network.Scores(data.X.narrow(0, start, count)).softmax(-1).to(TorchSharp.torch.ScalarType.Float64).cpu();
                double[] values = p.data<double>().ToArray();
                int classes = (int)p.shape[1];
                for (int i = 0; i < count; i++) rows[start + i] = values[(i * classes)..((i + 1) * classes)];
            }
            return 0;
        });
        return rows;
    }

    /// <summary>Share of <paramref name="data"/> that <paramref name="network"/> classifies correctly.</summary>
    public static double Accuracy(Network network, Dataset data, int batchSize = 1000) => Evaluate(network, data, batchSize).Accuracy;
}
