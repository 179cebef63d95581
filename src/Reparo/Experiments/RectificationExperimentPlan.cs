using System.Diagnostics;
using Reparo.Data;
using Reparo.Models;
using Reparo.Repair.Editing;
using Reparo.Reporting;
using Reparo.Runtime;

namespace Reparo.Experiments;

/// <summary>One run of the rectification experiment: the model's architecture and the run's report.</summary>
/// <param name="Arch">The zoo architecture.</param>
/// <param name="Report">The run.</param>
public sealed record RectificationExperimentRow(string Arch, RectificationReport Report);

/// <summary>
/// The plan of <c>reparo experiment rectification</c>: the benchmarks of Yang et al. (CVPR'26) on Fashion-MNIST — BadNets
/// and blended Trojans, a spurious artifact and BlockFashionMNIST feature leakage — on <c>cnn</c> and <c>resnet</c>, each
/// rectified from n = 1 and n = 20 cleansed pairs (the paper's static and dynamic modes and Reparo's refinements) beside
/// fine-tuning and the ClArC baselines (P-ClArC, A-ClArC; Anders et al. 2022) with the same pairs; the quick plan is the
/// cnn with BadNets and one pair.
/// </summary>
public static partial class RectificationExperimentPlan
{
    private sealed record Step(string Arch, string Poison, int Epochs, int Pairs, string Method);

    /// <summary>Runs the plan on <paramref name="clean"/> Fashion-MNIST with models from <paramref name="models"/>.</summary>
    /// <param name="clean">Fashion-MNIST, clean.</param>
    /// <param name="models">Where the poisoned models are trained once and kept.</param>
    /// <param name="quick">The small plan (minutes).</param>
    /// <param name="seed">Seed of the models, pairs and held-out draws.</param>
    /// <param name="notes">Hears each run as it starts.</param>
    /// <param name="runDone">Called after each run with the rows so far and the number of runs planned.</param>
    public static IReadOnlyList<RectificationExperimentRow> Run(DataSplits clean, ModelCache models, bool quick, int seed, IProgress<string>? notes = null,
        Action<IReadOnlyList<RectificationExperimentRow>, int>? runDone = null)
    {
        var rows = new List<RectificationExperimentRow>();
        var clock = Stopwatch.StartNew();
        List<Step> steps = [.. Plan(quick)];
        var trained = new Dictionary<string, Network>();
        var measured = new Dictionary<string, RectificationMeasures>();
        using ProgressScope shown = WorkProgress.Begin("rectification experiment", steps.Count);
        foreach (Step step in steps)
        {
            shown.Describe($"{step.Arch} {step.Poison}: {step.Method}");
            PoisonSpec spec = PoisonSpec.Parse(step.Poison);
            string key = $"{step.Arch}-{spec}-e{step.Epochs}";
            if (!trained.TryGetValue(key, out Network? network))
            {
                string name = $"rectify-{step.Arch}-{spec.ToString().Replace(':', '-')}-e{step.Epochs}-s{seed}.reparo";
                trained[key] = network = models.LoadOrTrain(name, step.Arch, step.Epochs, clean, "fashion-mnist", seed, spec).Network;
            }
            DataSplits splits = ModelInputs.PrepareSplits(clean, network);
            if (!measured.TryGetValue(key, out RectificationMeasures? before)) measured[key] = before = RectificationMetrics.Measure(network, spec, splits.Test);
            notes?.Report($"[{clock.Elapsed.TotalMinutes:F1} min] {step.Arch} {spec}: {step.Method} with {step.Pairs} pair(s)");
            RectificationRun result = step.Method == "ft"
                ? RectificationRun.FineTune(network, spec, splits, step.Pairs, seed, before)
                : RectificationRun.Execute(network, spec, splits, step.Pairs, Options(step.Method, seed), 4000, seed, step.Method, before);
            rows.Add(new RectificationExperimentRow(step.Arch, result.Report()));
            runDone?.Invoke(rows, steps.Count);
            shown.Advance();
        }
        return rows;
    }

    /// <summary>
    /// The paper's static and dynamic modes, Reparo's refinements of each (<c>+</c>: the clean twin's keys held and
    /// each pair transplanted onto 20 held-out images), and the ClArC baselines (<c>p-clarc</c>, <c>a-clarc</c>) at the classifier.
    /// </summary>
    private static RectifyOptions Options(string method, int seed)
    {
        if (method is "p-clarc" or "a-clarc") return new RectifyOptions(RectifyModes.Parse(method), Seed: seed);
        bool refined = method.EndsWith('+');
        var mode = method.StartsWith("static", StringComparison.Ordinal) ? RectifyMode.Static : RectifyMode.Dynamic;
        return refined ? new RectifyOptions(mode, Edit: new EditOptions(PreserveClean: true), Augment: 20, Seed: seed, NextOnRollback: true) : new RectifyOptions(mode, Seed: seed);
    }

    private static IEnumerable<Step> Plan(bool quick)
    {
        if (quick)
        {
            foreach (string m in new[] { "ft", "static", "dynamic", "static+", "dynamic+", "p-clarc", "a-clarc" }) yield return new Step("cnn", "badnets:0.1:0", 2, 1, m);
            yield break;
        }
        // Every benchmark on both models: one pair with each method, twenty pairs with fine-tuning, the paper's two modes and the ClArC baselines.
        foreach ((string arch, int epochs) in new[] { ("cnn", 4), ("resnet", 3) })
            foreach (string poison in new[] { "badnets:0.1:0", "blend:0.1:0", "spurious:0.9:0", "block" })
            {
                foreach (string m in new[] { "ft", "static", "dynamic", "dynamic+", "p-clarc", "a-clarc" }) yield return new Step(arch, poison, epochs, 1, m);
                foreach (string m in new[] { "ft", "static", "dynamic", "p-clarc", "a-clarc" }) yield return new Step(arch, poison, epochs, 20, m);
            }
    }
}
