using System.Diagnostics;
using System.Globalization;
using System.Text;
using Reparo.Data;
using Reparo.Influence.Baselines;
using Reparo.Models;
using Reparo.Remediation;
using Reparo.Runtime;
using Reparo.Training;

namespace Reparo.Experiments;

/// <summary>One method's ranking of one noisy training set.</summary>
/// <param name="Method">The method (<see cref="LabelSuspicion.Methods"/>, or <c>random</c>).</param>
/// <param name="Flips">Flipped labels found in the top x % of the ranking, x = 5, 10, …, 100, with the area under that curve.</param>
/// <param name="PrecisionAtFlips">Share of flipped rows among the top n, n the number of flipped rows (equal to the share of flips found there).</param>
/// <param name="Seconds">Wall time of the ranking (for <c>loss</c>, the forward pass over the training set).</param>
/// <param name="Details">The method's own figures (Newton iterations, stationarity, damping, …).</param>
/// <param name="RetrainedTestAccuracy">Clean test accuracy of the same model retrained (same seed) without the ranking's top n training rows, n the number of flips.</param>
public sealed record SuspectsMethodResult(string Method, MislabelCurve Flips, double PrecisionAtFlips, double Seconds, IReadOnlyDictionary<string, double> Details,
    double RetrainedTestAccuracy);

/// <summary>One model seed: the noisy data, the model trained on it, every method's ranking.</summary>
/// <param name="Seed">Seed of the subset, the noise and the training.</param>
/// <param name="TrainRows">Training rows ranked.</param>
/// <param name="Flipped">Flipped training labels among them.</param>
/// <param name="TestAccuracy">The model's accuracy on the clean test split.</param>
/// <param name="OracleTestAccuracy">Clean test accuracy of the same model retrained without exactly the flipped rows (what a perfect ranking's top n gives).</param>
/// <param name="TrainSeconds">Training wall time.</param>
/// <param name="LoadBefore">1-minute load average when the seed's run started.</param>
/// <param name="Methods">Every method's result, in the study's order.</param>
public sealed record SuspectsRun(int Seed, int TrainRows, int Flipped, double TestAccuracy, double OracleTestAccuracy, double TrainSeconds, double LoadBefore,
    IReadOnlyList<SuspectsMethodResult> Methods);

/// <summary>The study's result.</summary>
/// <param name="Command">The command line that produced it.</param>
/// <param name="Arch">The model's architecture.</param>
/// <param name="Epochs">Its training epochs.</param>
/// <param name="TrainRows">Training rows drawn from Fashion-MNIST's training part (then the validation share is held out).</param>
/// <param name="Noise">Share of training and validation labels flipped.</param>
/// <param name="Threads">Torch threads.</param>
/// <param name="Minutes">Wall time.</param>
/// <param name="Runs">One run per seed.</param>
public sealed record SuspectsStudyReport(string Command, string Arch, int Epochs, int TrainRows, double Noise, int Threads, double Minutes, IReadOnlyList<SuspectsRun> Runs);

/// <summary>
/// How well <c>reparo influence suspects</c> finds wrong labels: Fashion-MNIST with symmetric label noise
/// (<see cref="LabelNoise.Symmetric"/>) on the training and validation parts, a zoo model trained on it per seed, and
/// the training set ranked by every method of <see cref="LabelSuspicion"/> at the final weights and by random, the
/// flipped rows being the ground truth (found in the top x %, as RNNRepair's Fig. 4 measures; precision at n flips),
/// and the model retrained without each ranking's top n rows (what <c>train --exclude</c> does with a suspects list),
/// against retraining without exactly the flips.
/// </summary>
public static class SuspectsStudy
{
    /// <summary>The rankings compared: the command's methods, then random.</summary>
    public static readonly IReadOnlyList<string> Compared = [.. LabelSuspicion.Methods, RandomInfluence.MethodName];

    /// <summary>Runs the study.</summary>
    /// <param name="clean">Fashion-MNIST, clean.</param>
    /// <param name="seeds">One run per seed.</param>
    /// <param name="arch">The zoo architecture trained.</param>
    /// <param name="epochs">Its training epochs.</param>
    /// <param name="trainRows">Rows drawn from the training part (seeded) before the validation share is held out.</param>
    /// <param name="noise">Share of labels flipped.</param>
    /// <param name="command">The command line, recorded.</param>
    /// <param name="threads">Torch threads, recorded.</param>
    /// <param name="notes">Hears each run.</param>
    public static SuspectsStudyReport Run(DataSplits clean, IReadOnlyList<int> seeds, string arch, int epochs, int trainRows, double noise, string command, int threads,
        IProgress<string>? notes = null)
    {
        if (seeds.Count == 0) throw new ReparoInputException("give at least one seed");
        if (trainRows < 100 || trainRows > clean.Train.Count)
            throw new ReparoInputException($"--train-rows must be 100 to {clean.Train.Count}, got {trainRows}");
        if (!(noise > 0 && noise < 1)) throw new ReparoInputException($"--noise must be in (0, 1), got {noise}");
        var clock = Stopwatch.StartNew();
        var runs = new List<SuspectsRun>();
        using ProgressScope shown = WorkProgress.Begin("suspects study", seeds.Count);
        foreach (int seed in seeds)
        {
            shown.Describe($"seed {seed}");
            double load = MachineLoad.OneMinute();
            Dataset pool = clean.Train.Subset(DataCatalog.Permutation(clean.Train.Count, seed)[..trainRows]);
            (Dataset fit, Dataset validation) = DataCatalog.HoldOut(pool, 0.1, seed, "fashion-mnist");
            NoisyLabels noisy = LabelNoise.Symmetric(fit, noise, seed);
            NoisyLabels noisyValidation = LabelNoise.Symmetric(validation, noise, seed + 1);
            Network Train(Dataset rows)
            {
                Network trained = ModelZoo.Create(arch, rows, seed);
                Trainer.Train(trained, rows, noisyValidation.Train, new TrainingOptions { Epochs = epochs, Seed = seed });
                return trained;
            }
            double RetrainedWithout(IEnumerable<int> dropped)
            {
                var drop = dropped.ToHashSet();
                return Evaluator.Accuracy(Train(noisy.Train.Subset([.. Enumerable.Range(0, noisy.Train.Count).Where(i => !drop.Contains(i))])), clean.Test);
            }
            var trainClock = Stopwatch.StartNew();
            Network network = Train(noisy.Train);
            double trainSeconds = trainClock.Elapsed.TotalSeconds;
            double accuracy = Evaluator.Accuracy(network, clean.Test);
            var methods = new List<SuspectsMethodResult>();
            foreach (string method in Compared)
            {
                InfluenceScores scores = method == RandomInfluence.MethodName ? new RandomInfluence(seed).SelfInfluence(network, noisy.Train) : LabelSuspicion.Rank(network, noisy.Train, method);
                int[] ranking = scores.Ranking();
                var flipped = noisy.FlippedRows.ToHashSet();
                double precision = (double)ranking.Take(flipped.Count).Count(flipped.Contains) / flipped.Count;
                methods.Add(new SuspectsMethodResult(method, LabelNoise.Curve(ranking, noisy.FlippedRows, 5), precision, scores.Seconds, scores.Details,
                    RetrainedWithout(ranking.Take(flipped.Count))));
            }
            runs.Add(new SuspectsRun(seed, noisy.Train.Count, noisy.FlippedRows.Count, accuracy, RetrainedWithout(noisy.FlippedRows), trainSeconds, load, methods));
            string precisions = string.Join(", ", methods.Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.Method} {m.PrecisionAtFlips:P1}")));
            notes?.Report(string.Create(CultureInfo.InvariantCulture, $"[{clock.Elapsed.TotalMinutes:F1} min] seed {seed}: test accuracy {accuracy:P2}; precision at n flips {precisions}"));
            shown.Advance();
        }
        return new SuspectsStudyReport(command, arch, epochs, trainRows, noise, threads, clock.Elapsed.TotalMinutes, runs);
    }

    /// <summary>The results file: the set-up, then one row per method with mean ± sd over the seeds.</summary>
    public static string ToMarkdown(SuspectsStudyReport report, string jsonName)
    {
        StringBuilder text = ResultsMarkdown.Heading("Suspected labels: self-influence on symmetric label noise", report.Command, report.Threads, report.Minutes, null);
        ResultsMarkdown.SourceAndLoad(text, jsonName, report.Runs.Select(r => r.LoadBefore), report.Threads);
        text.AppendLine();
        SuspectsRun first = report.Runs[0];
        text.AppendLine(CultureInfo.InvariantCulture, $"Set-up: per seed, {report.TrainRows} Fashion-MNIST training images drawn (seeded), 10 % of them held out for validation, and {report.Noise:P0} of the training and of the validation labels replaced by a random other class (symmetric noise; {first.Flipped} of {first.TrainRows} training labels for seed {first.Seed}). A `{report.Arch}` is trained on them for {report.Epochs} epochs (Adam, early stopping on the noisy validation part) and its training set ranked by each method of `reparo influence suspects` at the final weights, and at random; the flipped rows are the ground truth. "
            + $"Test accuracy on the clean test split: {MeanSd(report.Runs.Select(r => r.TestAccuracy), percent: true)} over {report.Runs.Count} seeds ({string.Join(", ", report.Runs.Select(r => r.Seed))}); "
            + $"retrained (same seed) without exactly the flipped rows: {MeanSd(report.Runs.Select(r => r.OracleTestAccuracy), percent: true)}.");
        text.AppendLine();
        text.AppendLine("Columns: the share of all flipped labels found among the top 5 %, 10 % and 20 % of the ranking (a random ranking finds 5 %, 10 % and 20 %), precision at n (the share of flips among the top n rows, n the number of flips), the area under the found-vs-examined curve at steps of 5 % (random: about 0.5), the ranking's seconds (for `loss`, the forward pass over the training set), and the clean test accuracy of the model retrained (same seed, same noisy validation part) without the ranking's top n rows, as `train --exclude` does with a list of `influence suspects`.");
        text.AppendLine();
        text.AppendLine("| method | seeds | found in top 5 % | found in top 10 % | found in top 20 % | precision at n | area | seconds | test accuracy retrained without the top n |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (string method in Compared)
        {
            SuspectsMethodResult[] results = [.. report.Runs.SelectMany(r => r.Methods.Where(m => m.Method == method))];
            if (results.Length == 0) continue;
            string Found(int percent) => MeanSd(results.Select(m => m.Flips.Points.First(p => p.Percent == percent).Share), percent: true);
            text.AppendLine(CultureInfo.InvariantCulture, $"| {method} | {results.Length} | {Found(5)} | {Found(10)} | {Found(20)} | {MeanSd(results.Select(m => m.PrecisionAtFlips), percent: true)} | {MeanSd(results.Select(m => m.Flips.Area), percent: false)} | {MeanSd(results.Select(m => m.Seconds), percent: false)} | {MeanSd(results.Select(m => m.RetrainedTestAccuracy), percent: true)} |");
        }
        SuspectsMethodResult[] Of(string method) => [.. report.Runs.SelectMany(r => r.Methods.Where(m => m.Method == method))];
        string best = LabelSuspicion.Methods.MaxBy(m => Of(m).Average(r => r.PrecisionAtFlips))!;
        double Retrained(string method) => Of(method).Average(r => r.RetrainedTestAccuracy);
        text.AppendLine();
        text.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Reading: {best} finds the most flips ({100 * Of(best).Average(r => r.PrecisionAtFlips):F1} % of them in its top n, random {100 * Of(RandomInfluence.MethodName).Average(r => r.PrecisionAtFlips):F1} %). "
            + $"Retrained without its top n rows the model reaches {100 * Retrained(best):F2} % on the clean test split, against {100 * Retrained(RandomInfluence.MethodName):F2} % without n random rows, "
            + $"{100 * report.Runs.Average(r => r.OracleTestAccuracy):F2} % without exactly the flips and {100 * report.Runs.Average(r => r.TestAccuracy):F2} % trained on every row: "
            + $"at this noise level the flips cost this model {100 * (report.Runs.Average(r => r.OracleTestAccuracy) - report.Runs.Average(r => r.TestAccuracy)):F2} points, "
            + $"and dropping {best}'s suspects recovers {100 * (Retrained(best) - Retrained(RandomInfluence.MethodName)):F2} points more than dropping as many random rows."));
        return text.ToString();
    }

    private static string MeanSd(IEnumerable<double> values, bool percent)
    {
        MeanStd summary = MeanStd.Of([.. values]);
        return percent
            ? string.Create(CultureInfo.InvariantCulture, $"{100 * summary.Mean:F1} % ± {100 * summary.Std:F1}")
            : string.Create(CultureInfo.InvariantCulture, $"{summary.Mean:G3} ± {summary.Std:G2}");
    }
}
