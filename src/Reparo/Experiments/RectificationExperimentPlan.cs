using System.Diagnostics;
using Reparo.Data;
using Reparo.Models;
using Reparo.Repair.Editing;
using Reparo.Reporting;
using Reparo.Runtime;

namespace Reparo.Experiments;

/// <summary>One run of the rectification experiment.</summary>
/// <param name="Arch">The zoo architecture.</param>
/// <param name="Epochs">The poisoned model's training epochs.</param>
/// <param name="PairSeed">Seed of the pair and held-out draws (the model's seed is the experiment's).</param>
/// <param name="LoadBefore">1-minute load average when the run started.</param>
/// <param name="Report">The run.</param>
public sealed record RectificationExperimentRow(string Arch, int Epochs, int PairSeed, double LoadBefore, RectificationReport Report);

/// <summary>The rectification experiment's result.</summary>
/// <param name="Command">The command line that produced it.</param>
/// <param name="Threads">Torch threads.</param>
/// <param name="ModelSeed">Seed of the poisoned models.</param>
/// <param name="Minutes">Wall time, the interrupted runs' included.</param>
/// <param name="Complete">Whether every planned run is in <paramref name="Rows"/>.</param>
/// <param name="Rows">Every run, in plan order.</param>
public sealed record RectificationExperimentReport(string Command, int Threads, int ModelSeed, double Minutes, bool Complete, IReadOnlyList<RectificationExperimentRow> Rows);

/// <summary>
/// The plan of <c>reparo experiment rectification</c>: the benchmarks of Yang et al. (CVPR'26) on Fashion-MNIST on
/// <c>cnn</c> and <c>resnet</c>. Headline: the BadNets and blended Trojans from one cleansed pair, over
/// <see cref="HeadlineSeeds"/> pair draws, with Reparo's defaults (<c>default</c>), the paper's static and dynamic modes,
/// fine-tuning and the ClArC baselines (P-ClArC, A-ClArC; Anders et al. 2022). Beside it, one pair draw each: the spurious
/// artifact and BlockFashionMNIST leakage with the same methods, and every benchmark from 20 pairs. The quick plan is the
/// cnn with BadNets and one pair, two draws.
/// </summary>
public static partial class RectificationExperimentPlan
{
    /// <summary>Pair draws of the headline rows.</summary>
    public const int HeadlineSeeds = 5;

    /// <summary>The methods compared, in table order.</summary>
    public static IReadOnlyList<string> Methods { get; } = ["default", "static", "dynamic", "ft", "p-clarc", "a-clarc"];

    private sealed record Step(string Arch, string Poison, int Epochs, int Pairs, string Method, int PairSeed)
    {
        public bool Matches(RectificationExperimentRow row) =>
            row.Arch == Arch && row.Epochs == Epochs && row.PairSeed == PairSeed && row.Report.Pairs == Pairs && row.Report.Method == Method && row.Report.Poison == PoisonSpec.Parse(Poison).ToString();
    }

    /// <summary>Runs the plan on <paramref name="clean"/> Fashion-MNIST with models from <paramref name="models"/>.</summary>
    /// <param name="clean">Fashion-MNIST, clean.</param>
    /// <param name="models">Where the poisoned models are trained once and kept.</param>
    /// <param name="quick">The small plan (minutes).</param>
    /// <param name="seed">Seed of the models.</param>
    /// <param name="command">The command line, recorded.</param>
    /// <param name="threads">Torch threads, recorded.</param>
    /// <param name="notes">Hears each run as it starts and ends.</param>
    /// <param name="partial">Called with the report so far after every run.</param>
    /// <param name="earlier">An interrupted run of the same plan: its runs are kept, not repeated.</param>
    public static RectificationExperimentReport Run(DataSplits clean, ModelCache models, bool quick, int seed, string command, int threads, IProgress<string>? notes = null,
        Action<RectificationExperimentReport>? partial = null, RectificationExperimentReport? earlier = null)
    {
        if (earlier is not null && earlier.ModelSeed != seed) throw new ReparoInputException($"--resume: the earlier run used model seed {earlier.ModelSeed}, this one {seed}");
        var clock = Stopwatch.StartNew();
        List<Step> steps = [.. Plan(quick)];
        // Every earlier run the plan still has is carried over at once (in plan order), so a report written mid-run never drops one.
        var done = new RectificationExperimentRow?[steps.Count];
        for (int i = 0; i < steps.Count; i++) done[i] = earlier?.Rows.FirstOrDefault(steps[i].Matches);
        IEnumerable<RectificationExperimentRow> rows = done.OfType<RectificationExperimentRow>();
        var trained = new Dictionary<string, Network>();
        var measured = new Dictionary<string, RectificationMeasures>();
        double earlierMinutes = earlier?.Minutes ?? 0;
        RectificationExperimentReport Report(bool complete) => new(command, threads, seed, earlierMinutes + clock.Elapsed.TotalMinutes, complete, [.. rows]);
        using ProgressScope shown = WorkProgress.Begin("rectification experiment", steps.Count);
        for (int index = 0; index < steps.Count; index++)
        {
            Step step = steps[index];
            if (done[index] is not null)
            {
                shown.Advance();
                continue;
            }
            shown.Describe($"{step.Arch} {step.Poison}: {step.Method}, pair seed {step.PairSeed}");
            PoisonSpec spec = PoisonSpec.Parse(step.Poison);
            string key = $"{step.Arch}-{spec}-e{step.Epochs}";
            if (!trained.TryGetValue(key, out Network? network))
            {
                string name = $"rectify-{step.Arch}-{spec.ToString().Replace(':', '-')}-e{step.Epochs}-s{seed}.reparo";
                trained[key] = network = models.LoadOrTrain(name, step.Arch, step.Epochs, clean, "fashion-mnist", seed, spec).Network;
            }
            DataSplits splits = ModelInputs.PrepareSplits(clean, network);
            if (!measured.TryGetValue(key, out RectificationMeasures? before)) measured[key] = before = RectificationMetrics.Measure(network, spec, splits.Test);
            double load = MachineLoad.OneMinute();
            RectificationRun result = step.Method == "ft"
                ? RectificationRun.FineTune(network, spec, splits, step.Pairs, step.PairSeed, before)
                : RectificationRun.Execute(network, spec, splits, step.Pairs, Options(step.Method, step.PairSeed), 4000, step.PairSeed, step.Method, before);
            done[index] = new RectificationExperimentRow(step.Arch, step.Epochs, step.PairSeed, load, result.Report());
            notes?.Report($"[{clock.Elapsed.TotalMinutes:F1} min, {rows.Count()}/{steps.Count}] {step.Arch} {spec}, {step.Pairs} pair(s), {step.Method}, pair seed {step.PairSeed}: {Summary(result.Report())}");
            partial?.Invoke(Report(false));
            shown.Advance();
        }
        return Report(true);
    }

    /// <summary>
    /// <c>default</c>: Reparo's defaults (<see cref="RectifyOptions.Recommended"/>); <c>static</c>/<c>dynamic</c>: the
    /// paper's modes exactly (<see cref="RectifyOptions.Paper"/>); <c>p-clarc</c>/<c>a-clarc</c>: the ClArC baselines at the classifier.
    /// </summary>
    private static RectifyOptions Options(string method, int seed) => method switch
    {
        "default" => RectifyOptions.Recommended(seed: seed),
        _ => RectifyOptions.Paper(RectifyModes.Parse(method), seed),
    };

    private static IEnumerable<Step> Plan(bool quick)
    {
        if (quick)
        {
            foreach (int pairSeed in new[] { 0, 1 })
                foreach (string m in Methods) yield return new Step("cnn", "badnets:0.1:0", 2, 1, m, pairSeed);
            yield break;
        }
        (string Arch, int Epochs)[] models = [("cnn", 4), ("resnet", 3)];
        // The headline first, model by model (the cnn's runs take seconds, the resnet's minutes).
        foreach ((string arch, int epochs) in models)
            foreach (string poison in new[] { "badnets:0.1:0", "blend:0.1:0" })
                foreach (int pairSeed in Enumerable.Range(0, HeadlineSeeds))
                    foreach (string m in Methods) yield return new Step(arch, poison, epochs, 1, m, pairSeed);
        foreach ((string arch, int epochs) in models)
        {
            foreach (string poison in new[] { "spurious:0.9:0", "block" })
                foreach (string m in Methods) yield return new Step(arch, poison, epochs, 1, m, 0);
            foreach (string poison in new[] { "badnets:0.1:0", "blend:0.1:0", "spurious:0.9:0", "block" })
                foreach (string m in Methods) yield return new Step(arch, poison, epochs, 20, m, 0);
        }
    }

    private static string Summary(RectificationReport r)
    {
        string metric = r.Before.Asr is not null ? $"ASR {Percent(r.AsrBefore)} → {Percent(r.AsrAfter)}"
            : r.Before.SpuriousDeviation is not null ? $"spurious deviation {Percent(r.Before.SpuriousDeviation)} → {Percent(r.After.SpuriousDeviation)}"
            : $"leakage {Percent(r.Before.Leakage)} → {Percent(r.After.Leakage)}";
        return $"OA {Percent(r.AccuracyBefore)} → {Percent(r.AccuracyAfter)}, {metric}; layers {(r.Layers.Count == 0 ? "–" : string.Join(", ", r.Layers))}; {r.TimeS:F1} s";
    }

    private static string Percent(double? v) => v is double x && double.IsFinite(x) ? x.ToString("0.00%", System.Globalization.CultureInfo.InvariantCulture) : "–";
}
