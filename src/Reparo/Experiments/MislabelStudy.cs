using System.Diagnostics;
using System.Globalization;
using System.Text;
using Reparo.Data;
using Reparo.Influence;
using Reparo.Influence.Baselines;
using Reparo.Models;
using Reparo.Remediation;
using Reparo.Runtime;
using Reparo.Training;

namespace Reparo.Experiments;

/// <summary>Settings of <see cref="MislabelStudy"/> (defaults: the authors' Trouser vs Dress set-up with modest epochs).</summary>
public sealed record MislabelOptions
{
    /// <summary>Every method <see cref="MislabelStudy"/> knows, in report order.</summary>
    public static readonly IReadOnlyList<string> AllMethods = ["rnnrepair", "kl-last", "kl-cg", "tracin-self", "tracin-test", "representer", "random"];

    /// <summary>The two original class ids of the binary task (the first becomes 0, the second 1).</summary>
    public IReadOnlyList<int> Classes { get; init; } = [1, 3];

    /// <summary>The original class id whose training labels are flipped to the other class.</summary>
    public int FlipClass { get; init; } = 1;

    /// <summary>Share of the flip class's training labels flipped.</summary>
    public double Share { get; init; } = 0.3;

    /// <summary>The recurrent network trained (a <see cref="ModelZoo"/> spec).</summary>
    public string Architecture { get; init; } = "lstm:100";

    /// <summary>Training epochs of every model (clean, flipped and retrained).</summary>
    public int Epochs { get; init; } = 5;

    /// <summary>Mini-batch size of training.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Adam's learning rate.</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Seed of the flips, of both models' training, of the Hessian subsample and of the random ranking.</summary>
    public int Seed { get; init; }

    /// <summary>The rankings computed, from <see cref="AllMethods"/>.</summary>
    public IReadOnlyList<string> Methods { get; init; } = AllMethods;

    /// <summary>Step of the found-vs-examined curve in percent (must divide 100).</summary>
    public int CurveStep { get; init; } = 5;

    /// <summary>Shares of the ranking (percent) whose flips are restored before retraining.</summary>
    public IReadOnlyList<int> RestorePercents { get; init; } = [10, 20];

    /// <summary>One retrained model per seed for every restore row.</summary>
    public IReadOnlyList<int> RetrainSeeds { get; init; } = [1];

    /// <summary>λ of <c>kl-cg</c> (all parameters; the LSTM's Hessian is indefinite, so it must exceed its most negative eigenvalue).</summary>
    public double Damping { get; init; } = 0.1;

    /// <summary>λ of <c>kl-last</c> (the last-layer Hessian is positive semi-definite, so a small value suffices).</summary>
    public double LastLayerDamping { get; init; } = 0.01;

    /// <summary>Training rows the <c>kl-cg</c> Hessian is averaged over (0 = all).</summary>
    public int HessianSamples { get; init; } = 1000;

    /// <summary>Conjugate-gradient iterations of <c>kl-cg</c> at most.</summary>
    public int CgIterations { get; init; } = 50;

    /// <summary>Abstract states K of RNNRepair's model (the authors' <c>-components 32</c>; no sweep).</summary>
    public int States { get; init; } = 32;

    /// <summary>Throws a <see cref="ReparoInputException"/> if a value is out of range.</summary>
    public void Validate()
    {
        if (Classes.Count != 2 || Classes[0] == Classes[1]) throw new ReparoInputException($"give two different classes, got {string.Join(",", Classes)}");
        if (!Classes.Contains(FlipClass)) throw new ReparoInputException($"the flip class {FlipClass} must be one of the classes {Classes[0]},{Classes[1]}");
        if (!(Share > 0 && Share <= 1)) throw new ReparoInputException($"the flipped share must be in (0, 1], got {Share}");
        if (Epochs < 1) throw new ReparoInputException($"epochs must be at least 1, got {Epochs}");
        if (Methods.Count == 0) throw new ReparoInputException("give at least one method");
        foreach (string method in Methods)
            if (!AllMethods.Contains(method)) throw new ReparoInputException($"unknown method '{method}'; choose from {string.Join(", ", AllMethods)}");
        if (Methods.Distinct().Count() != Methods.Count) throw new ReparoInputException("a method is named twice");
        if (CurveStep < 1 || CurveStep > 100 || 100 % CurveStep != 0) throw new ReparoInputException($"the curve step must divide 100, got {CurveStep}");
        foreach (int percent in RestorePercents)
            if (percent < 1 || percent > 100) throw new ReparoInputException($"restore percents must lie in 1–100, got {percent}");
        if (RetrainSeeds.Count == 0 && RestorePercents.Count > 0) throw new ReparoInputException("give at least one retrain seed");
        if (!(Damping >= 0) || !(LastLayerDamping >= 0)) throw new ReparoInputException($"damping must be non-negative, got {Damping} and {LastLayerDamping}");
        if (States < 1) throw new ReparoInputException($"abstract states must be at least 1, got {States}");
        if (CgIterations < 1) throw new ReparoInputException($"conjugate-gradient iterations must be at least 1, got {CgIterations}");
        Training(Seed).Validate();
    }

    /// <summary>The training settings of every model, with <paramref name="seed"/>.</summary>
    public TrainingOptions Training(int seed) => new()
    {
        Epochs = Epochs,
        BatchSize = BatchSize,
        LearningRate = LearningRate,
        Patience = 0,
        Schedule = LearningRateSchedule.Constant,
        Seed = seed,
    };
}

/// <summary>Retraining after restoring some flipped labels.</summary>
/// <param name="Percent">Share of the ranking whose flips were restored (null for the references).</param>
/// <param name="Restored">Flipped rows given their clean label back.</param>
/// <param name="TargetsFixed">Target tests the retrained models predict right (mean ± std over seeds).</param>
/// <param name="TestAccuracy">Test accuracy of the retrained models.</param>
public sealed record MislabelRestore(int? Percent, int Restored, MeanStd TargetsFixed, MeanStd TestAccuracy);

/// <summary>One ranking method's result.</summary>
/// <param name="Method">The method (<see cref="MislabelOptions.AllMethods"/>).</param>
/// <param name="Flips">Share of all flips found in the top x %.</param>
/// <param name="InfluentialFlips">Share of the influential flips found in the top x % (null when there are none).</param>
/// <param name="Seconds">Wall time of the ranking (RNNRepair: model build included; TracIn: checkpoints excluded).</param>
/// <param name="Restores">One row per restore percent.</param>
/// <param name="Details">Method-specific figures (CG iterations and residual, parameters, K).</param>
public sealed record MislabelMethod(string Method, MislabelCurve Flips, MislabelCurve? InfluentialFlips, double Seconds, IReadOnlyList<MislabelRestore> Restores,
    IReadOnlyDictionary<string, double> Details);

/// <summary>What <see cref="MislabelStudy.Run"/> measured.</summary>
/// <param name="Options">The settings.</param>
/// <param name="Task">The binary task's name.</param>
/// <param name="TrainingRows">Training rows of the binary task.</param>
/// <param name="Flips">Flipped training labels.</param>
/// <param name="InfluentialFlips">Flipped rows the flipped model predicts with their (wrong) training label.</param>
/// <param name="TargetTests">Test inputs the clean model gets right and the flipped model wrong.</param>
/// <param name="TestRows">Test rows of the binary task.</param>
/// <param name="CleanAccuracy">Test accuracy of the model trained on clean labels.</param>
/// <param name="FlippedAccuracy">Test accuracy of the model trained on flipped labels.</param>
/// <param name="Methods">One entry per method, in the order asked for.</param>
/// <param name="NothingRestored">Retraining on the flipped labels (reference; null without restore percents).</param>
/// <param name="AllRestored">Retraining on the clean labels (reference; null without restore percents).</param>
/// <param name="Seconds">Wall time of the whole study.</param>
public sealed record MislabelReport(MislabelOptions Options, string Task, int TrainingRows, int Flips, int InfluentialFlips, int TargetTests, int TestRows,
    double CleanAccuracy, double FlippedAccuracy, IReadOnlyList<MislabelMethod> Methods, MislabelRestore? NothingRestored, MislabelRestore? AllRestored, double Seconds)
{
    private static readonly int[] TablePercents = [5, 10, 20, 30, 50];

    /// <summary>The study as a Markdown section: set-up counts, flips found vs share checked, AUC, time, and the repairs after restoring.</summary>
    public string ToMarkdown()
    {
        var text = new StringBuilder();
        string Line(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
        text.AppendLine(Line($"### {Task}: {Options.Share:P0} of class {Options.FlipClass} flipped, {Options.Architecture}, {Options.Epochs} epochs"));
        text.AppendLine();
        text.AppendLine(Line($"{TrainingRows} training rows, {Flips} flips ({InfluentialFlips} influential), {TestRows} test rows, {TargetTests} target tests; test accuracy clean {CleanAccuracy:P2}, flipped {FlippedAccuracy:P2}; {Seconds / 60:F1} min."));
        text.AppendLine();
        int[] shown = [.. TablePercents.Where(p => p % Options.CurveStep == 0)];
        text.AppendLine("| method | " + string.Join(" | ", shown.Select(p => $"{p} %")) + " | AUC | influential " + string.Join(" | influential ", shown.Select(p => $"{p} %")) + " | AUC (infl.) | time (s) |");
        text.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---:|", 2 * shown.Length + 3)));
        foreach (MislabelMethod m in Methods)
        {
            string Cells(MislabelCurve? c) => c is null
                ? string.Concat(shown.Select(_ => " – |")) + " – |"
                : string.Concat(shown.Select(p => Line($" {c.Points.First(q => q.Percent == p).Share:P1} |"))) + Line($" {c.Area:F3} |");
            text.AppendLine($"| {m.Method} |{Cells(m.Flips)}{Cells(m.InfluentialFlips)}" + Line($" {m.Seconds:F1} |"));
        }
        if (NothingRestored is null) return text.ToString();
        text.AppendLine();
        text.AppendLine(Line($"Repaired after restoring the flips found in the top x % and retraining ({Options.RetrainSeeds.Count} seed(s); target tests right of {TargetTests}, test accuracy):"));
        text.AppendLine();
        text.AppendLine("| method | x | restored | target tests right | test accuracy |");
        text.AppendLine("|---|---:|---:|---:|---:|");
        string Row(string name, MislabelRestore r) =>
            Line($"| {name} | {(r.Percent is int p ? $"{p} %" : "–")} | {r.Restored} | {r.TargetsFixed.Mean:F1} ± {r.TargetsFixed.Std:F1} | {r.TestAccuracy.Mean:P2} ± {r.TestAccuracy.Std:P2} |");
        text.AppendLine(Row("nothing restored", NothingRestored));
        foreach (MislabelMethod m in Methods)
            foreach (MislabelRestore r in m.Restores) text.AppendLine(Row(m.Method, r));
        text.AppendLine(Row("all flips restored", AllRestored!));
        return text.ToString();
    }
}

/// <summary>
/// RNNRepair's mislabel finding (Xie et al., ICML'21, Sec. 4.2 and Fig. 4; the authors' apps/RQ3/dataclean_bin.py,
/// sgd_infl.py and retrain.py): a clean and a flipped recurrent model on a two-class subset, every training row ranked
/// by RNNRepair's transition scores of the target tests and by the influence baselines, the share of (influential)
/// flips found in the top x %, and the test errors repaired by restoring the flips found and retraining.
/// </summary>
public static class MislabelStudy
{
    /// <summary>Runs the study on <paramref name="fashion"/> (any image data set with the chosen classes; its validation split is unused).</summary>
    public static MislabelReport Run(DataSplits fashion, MislabelOptions options, IProgress<string>? progress = null)
    {
        options.Validate();
        var total = Stopwatch.StartNew();
        DataSplits binary = LabelNoise.BinarySubset(fashion, options.Classes[0], options.Classes[1]);
        int from = options.FlipClass == options.Classes[0] ? 0 : 1;
        NoisyLabels noisy = LabelNoise.Flip(binary.Train, from, options.Share, options.Seed);

        progress?.Report($"training the clean model on {binary.Train.Count} rows");
        using Network clean = ModelZoo.Create(options.Architecture, binary.Train, options.Seed);
        Trainer.Train(clean, binary.Train, null, options.Training(options.Seed));
        progress?.Report($"training the flipped model ({noisy.FlippedRows.Count} flips)");
        using Network flipped = ModelZoo.Create(options.Architecture, noisy.Train, options.Seed);
        var checkpoints = new List<TrainingCheckpoint>();
        bool tracin = options.Methods.Any(m => m.StartsWith("tracin", StringComparison.Ordinal));
        try
        {
            Trainer.Train(flipped, noisy.Train, null, options.Training(options.Seed),
                epochEnded: tracin ? (n, e) => checkpoints.Add(TrainingCheckpoint.Capture(n, e)) : null);
            return Study(binary, noisy, clean, flipped, checkpoints, options, total, progress);
        }
        finally
        {
            foreach (TrainingCheckpoint c in checkpoints) c.Dispose();
        }
    }

    /// <summary>Sec. 4.2's measurement once both models are trained: influential flips, target tests, rankings, curves and restores.</summary>
    private static MislabelReport Study(DataSplits binary, NoisyLabels noisy, Network clean, Network flipped, IReadOnlyList<TrainingCheckpoint> checkpoints,
        MislabelOptions options, Stopwatch total, IProgress<string>? progress)
    {
        long[] trainPredictions = flipped.Predict(noisy.Train.X), noisyLabels = noisy.Train.Labels();
        int[] influential = [.. noisy.FlippedRows.Where(r => trainPredictions[r] == noisyLabels[r])];
        long[] testLabels = binary.Test.Labels(), cleanTest = clean.Predict(binary.Test.X), flippedTest = flipped.Predict(binary.Test.X);
        int[] targets = [.. Enumerable.Range(0, testLabels.Length).Where(i => cleanTest[i] == testLabels[i] && flippedTest[i] != testLabels[i])];
        if (targets.Length == 0) throw new ReparoInputException("the flipped model gets no test input wrong that the clean model gets right; there is nothing to explain (flip a larger share or train longer)");
        Dataset targetTests = binary.Test.Subset(targets);
        double cleanAccuracy = cleanTest.Zip(testLabels).Count(p => p.First == p.Second) / (double)testLabels.Length;
        double flippedAccuracy = flippedTest.Zip(testLabels).Count(p => p.First == p.Second) / (double)testLabels.Length;
        progress?.Report($"{influential.Length} influential flips, {targets.Length} target tests");

        var flips = noisy.FlippedRows.ToHashSet();
        var retrained = new Dictionary<string, MislabelRestore>();
        MislabelRestore Retrain(int? percent, IReadOnlyList<int> rows)
        {
            int[] restored = [.. rows.Where(flips.Contains).Order()];
            string key = string.Join(",", restored);
            if (retrained.TryGetValue(key, out MislabelRestore? known)) return known with { Percent = percent };
            progress?.Report($"retraining with {restored.Length} flips restored");
            Dataset train = restored.Length == 0 ? noisy.Train : LabelNoise.Restore(noisy, restored);
            RetrainComparisonResult r = RetrainComparison.Run(train, null, binary.Test, targetTests,
                new RetrainOptions(options.Architecture, options.Training(options.Seed), options.RetrainSeeds));
            return retrained[key] = new MislabelRestore(percent, restored.Length, r.FaultsFixed, r.TestAccuracy);
        }

        var methods = new List<MislabelMethod>();
        using ProgressScope shown = WorkProgress.Begin("mislabel study", options.Methods.Count);
        foreach (string method in options.Methods)
        {
            progress?.Report($"ranking by {method}");
            shown.Describe(method);
            (int[] ranking, double seconds, IReadOnlyDictionary<string, double> details) = Rank(method, noisy.Train, flipped, targetTests, checkpoints, options);
            MislabelCurve curve = LabelNoise.Curve(ranking, noisy.FlippedRows, options.CurveStep);
            MislabelCurve? influentialCurve = influential.Length == 0 ? null : LabelNoise.Curve(ranking, influential, options.CurveStep);
            var restores = options.RestorePercents.Select(p => Retrain(p, ranking[..(int)((long)ranking.Length * p / 100)])).ToArray();
            methods.Add(new MislabelMethod(method, curve, influentialCurve, seconds, restores, details));
            shown.Advance();
        }
        MislabelRestore? nothing = null, all = null;
        if (options.RestorePercents.Count > 0)
        {
            nothing = Retrain(null, []);
            all = Retrain(null, noisy.FlippedRows);
        }
        return new MislabelReport(options, binary.Train.Name, noisy.Train.Count, noisy.FlippedRows.Count, influential.Length, targets.Length, testLabels.Length,
            cleanAccuracy, flippedAccuracy, methods, nothing, all, total.Elapsed.TotalSeconds);
    }

    /// <summary>One method's ranking of every training row, most suspicious first, with its wall time and details (Sec. 4.2's compared techniques).</summary>
    private static (int[] Ranking, double Seconds, IReadOnlyDictionary<string, double> Details) Rank(string method, Dataset train, Network flipped, Dataset targets,
        IReadOnlyList<TrainingCheckpoint> checkpoints, MislabelOptions options)
    {
        if (method == "rnnrepair") return RnnRepairRanking(train, flipped, targets, options);
        long[] targetLabels = targets.Labels();
        InfluenceScores scores = method switch
        {
            "kl-last" => new KohLiangInfluence(new KohLiangOptions { Solver = KohLiangSolver.LastLayerExact, Damping = options.LastLayerDamping })
                .TestInfluence(flipped, train, targets.X, targetLabels),
            "kl-cg" => ConjugateGradientInfluence(flipped, train, targets, targetLabels, options),
            "tracin-self" => new TracIn(checkpoints).SelfInfluence(flipped, train),
            "tracin-test" => new TracIn(checkpoints).TestInfluence(flipped, train, targets.X, targetLabels),
            "representer" => new RepresenterPoints().SelfInfluence(flipped, train),
            _ => new RandomInfluence(options.Seed).SelfInfluence(flipped, train),
        };
        return (scores.Ranking(), scores.Seconds, scores.Details);
    }

    /// <summary>
    /// Koh &amp; Liang over all parameters. The LSTM's Hessian is indefinite, so when conjugate gradient meets negative
    /// curvature the damping is raised to 1.5× what that curvature calls for (at least doubled) and the solve restarts (at most ten times);
    /// the damping used is reported as the <c>damping</c> detail.
    /// </summary>
    private static InfluenceScores ConjugateGradientInfluence(Network flipped, Dataset train, Dataset targets, long[] targetLabels, MislabelOptions options)
    {
        double damping = options.Damping;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                InfluenceScores scores = new KohLiangInfluence(new KohLiangOptions
                {
                    Solver = KohLiangSolver.ConjugateGradient,
                    Damping = damping,
                    HessianSamples = options.HessianSamples,
                    MaxIterations = options.CgIterations,
                    Tolerance = 1e-4,
                    Seed = options.Seed,
                }).TestInfluence(flipped, train, targets.X, targetLabels);
                return scores with { Details = new Dictionary<string, double>(scores.Details) { ["damping"] = damping, ["attempts"] = attempt } };
            }
            catch (IndefiniteHessianException e) when (attempt < 10)
            {
                damping = Math.Max(2 * damping, 1.5 * e.RequiredDamping);
            }
        }
    }

    /// <summary>
    /// RNNRepair's ranking (Sec. 4.2, <c>dataclean_bin.py</c>): the flipped model's abstract model with K fixed, the
    /// target tests' traces, and every training row scored by the share of their transitions its trace contains.
    /// </summary>
    private static (int[] Ranking, double Seconds, IReadOnlyDictionary<string, double> Details) RnnRepairRanking(Dataset train, Network flipped, Dataset targets, MislabelOptions options)
    {
        var clock = Stopwatch.StartNew();
        var influenceOptions = new InfluenceOptions
        {
            Abstraction = new AbstractionOptions { Candidates = [options.States], Mixture = new GaussianMixtureOptions(Seed: options.Seed) },
        };
        using InfluenceModel model = InfluenceModel.Build(flipped, train, influenceOptions);
        TraceSet traces = model.Abstract(targets);
        double[] scores = model.TransitionScores(Enumerable.Range(0, traces.Count).Select(i => traces[i]), TransitionScope.All);
        int[] ranking = [.. Enumerable.Range(0, scores.Length).OrderByDescending(i => scores[i]).ThenBy(i => i)];
        var details = new Dictionary<string, double> { ["k"] = model.Report.K, ["transitions"] = model.Report.Transitions, ["mean_stability"] = model.Report.MeanStability };
        return (ranking, clock.Elapsed.TotalSeconds, details);
    }
}
