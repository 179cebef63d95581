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

/// <summary>A model of the rectification experiment: a zoo architecture and its poisoned training's epochs.</summary>
/// <param name="Arch">The zoo architecture (<c>cnn</c>, <c>resnet</c>, <c>mlp:100x3</c>, …).</param>
/// <param name="Epochs">Training epochs.</param>
public sealed record RectificationModel(string Arch, int Epochs)
{
    /// <summary>Reads <c>ARCH@EPOCHS</c> (<c>cnn@4</c>, <c>mlp:100x3@2</c>).</summary>
    public static RectificationModel Parse(string text)
    {
        int at = text.LastIndexOf('@');
        if (at <= 0 || !int.TryParse(text[(at + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int epochs) || epochs < 1)
            throw new ReparoInputException($"'{text}' is not ARCH@EPOCHS (e.g. cnn@4)");
        return new RectificationModel(text[..at], epochs);
    }
}

/// <summary>What the rectification experiment runs.</summary>
/// <param name="Quick">The small plan: BadNets with one pair, two draws (minutes).</param>
/// <param name="Models">The models (null: <c>cnn@4</c> and <c>resnet@3</c>; quick: <c>cnn@2</c>).</param>
/// <param name="Methods">The methods, a subset of <see cref="RectificationExperimentPlan.Methods"/> (null: all of them).</param>
public sealed record RectificationPlanOptions(bool Quick = false, IReadOnlyList<RectificationModel>? Models = null, IReadOnlyList<string>? Methods = null);

/// <summary>One run of the rectification experiment: a method on a poisoned model with pairs drawn with a seed.</summary>
/// <param name="Arch">The zoo architecture.</param>
/// <param name="Poison">The model's poisoning (<c>badnets:0.1:0</c>, …).</param>
/// <param name="Epochs">The poisoned model's training epochs.</param>
/// <param name="Pairs">Cleansed pairs drawn.</param>
/// <param name="Method">The method (one of <see cref="RectificationExperimentPlan.Methods"/>).</param>
/// <param name="PairSeed">Seed of the pair and held-out draws.</param>
public sealed record RectificationStep(string Arch, string Poison, int Epochs, int Pairs, string Method, int PairSeed)
{
    internal bool Matches(RectificationExperimentRow row) =>
        row.Arch == Arch && row.Epochs == Epochs && row.PairSeed == PairSeed && row.Report.Pairs == Pairs && row.Report.Method == Method && row.Report.Poison == PoisonSpec.Parse(Poison).ToString();
}

/// <summary>
/// The plan of <c>reparo experiment rectification</c>: the benchmarks of Yang et al. (CVPR'26) on Fashion-MNIST on
/// <c>cnn</c> and <c>resnet</c>. Headline: the BadNets and blended Trojans from one cleansed pair, over
/// <see cref="HeadlineSeeds"/> pair draws, with Reparo's defaults (<c>default</c>), the paper's static and dynamic modes,
/// fine-tuning and the ClArC baselines (P-ClArC, A-ClArC; Anders et al. 2022). Beside it, one pair draw each: the spurious
/// artifact and BlockFashionMNIST leakage with the same methods, and every benchmark from 20 pairs. The quick plan is the
/// cnn with BadNets and one pair, two draws. The runs go through an <see cref="IExperimentStepRunner"/> (here, or on a
/// cluster's workers), each with <see cref="RectificationExperimentSession.Run"/>.
/// </summary>
public static partial class RectificationExperimentPlan
{
    /// <summary>The experiment's name, by which a worker finds its step function.</summary>
    public const string Name = "rectification";

    /// <summary>Pair draws of the headline rows.</summary>
    public const int HeadlineSeeds = 5;

    /// <summary>The methods compared, in table order.</summary>
    public static IReadOnlyList<string> Methods { get; } = ["default", "static", "dynamic", "ft", "p-clarc", "a-clarc"];

    /// <summary>Runs the plan on <paramref name="clean"/> Fashion-MNIST with models from <paramref name="models"/>.</summary>
    /// <param name="clean">Fashion-MNIST, clean.</param>
    /// <param name="models">Where the poisoned models are trained once and kept (before any run starts).</param>
    /// <param name="plan">What to run.</param>
    /// <param name="seed">Seed of the models.</param>
    /// <param name="command">The command line, recorded.</param>
    /// <param name="threads">Torch threads, recorded.</param>
    /// <param name="runner">Where the runs go (null: here, one after another).</param>
    /// <param name="notes">Hears each run as it ends.</param>
    /// <param name="partial">Called with the report so far after every run.</param>
    /// <param name="earlier">An interrupted run of the same plan: its runs are kept, not repeated.</param>
    public static RectificationExperimentReport Run(DataSplits clean, ModelCache models, RectificationPlanOptions plan, int seed, string command, int threads,
        IExperimentStepRunner? runner = null, IProgress<string>? notes = null, Action<RectificationExperimentReport>? partial = null, RectificationExperimentReport? earlier = null)
    {
        if (earlier is not null && earlier.ModelSeed != seed) throw new ReparoInputException($"--resume: the earlier run used model seed {earlier.ModelSeed}, this one {seed}");
        var clock = Stopwatch.StartNew();
        IReadOnlyList<RectificationStep> steps = Steps(plan);
        // Every earlier run the plan still has is carried over at once (in plan order), so a report written mid-run never drops one.
        var done = new RectificationExperimentRow?[steps.Count];
        for (int i = 0; i < steps.Count; i++) done[i] = earlier?.Rows.FirstOrDefault(steps[i].Matches);
        IEnumerable<RectificationExperimentRow> rows = done.OfType<RectificationExperimentRow>();
        double earlierMinutes = earlier?.Minutes ?? 0;
        RectificationExperimentReport Report(bool complete) => new(command, threads, seed, earlierMinutes + clock.Elapsed.TotalMinutes, complete, [.. rows]);
        int[] todo = [.. Enumerable.Range(0, steps.Count).Where(i => done[i] is null)];
        // Each poisoned model the remaining runs need is trained (or found in the cache) once, before any run.
        var files = new Dictionary<string, string>();
        foreach (RectificationStep step in todo.Select(i => steps[i]))
        {
            string name = ModelFileName(step, seed);
            if (!files.ContainsKey(name)) files[name] = models.LoadOrTrain(name, step.Arch, step.Epochs, clean, "fashion-mnist", seed, PoisonSpec.Parse(step.Poison)).Path;
        }
        using ProgressScope shown = WorkProgress.Begin("rectification experiment", todo.Length);
        var session = new RectificationExperimentSession(clean);
        (runner ?? InProcessStepRunner.Instance).Run<RectificationStep, RectificationExperimentRow>(Name,
            [.. todo.Select(i => new ExperimentStep<RectificationStep>(steps[i], files[ModelFileName(steps[i], seed)]))], (step, path) => session.Run(step, path!), (j, row) =>
            {
                RectificationStep step = steps[todo[j]];
                done[todo[j]] = row;
                notes?.Report($"[{clock.Elapsed.TotalMinutes:F1} min, {rows.Count()}/{steps.Count}] {step.Arch} {row.Report.Poison}, {step.Pairs} pair(s), {step.Method}, pair seed {step.PairSeed}: {Summary(row.Report)}");
                partial?.Invoke(Report(false));
                shown.Advance();
            });
        return Report(true);
    }

    /// <summary>The plan's runs, in order.</summary>
    public static IReadOnlyList<RectificationStep> Steps(RectificationPlanOptions plan)
    {
        IReadOnlyList<string> methods = plan.Methods ?? Methods;
        if (methods.Count == 0) throw new ReparoInputException("no rectification method given");
        if (methods.FirstOrDefault(m => !Methods.Contains(m)) is string unknown)
            throw new ReparoInputException($"unknown rectification method '{unknown}' (one of {string.Join(", ", Methods)})");
        IReadOnlyList<RectificationModel> models = plan.Models ?? (plan.Quick ? [new("cnn", 2)] : [new("cnn", 4), new("resnet", 3)]);
        var steps = new List<RectificationStep>();
        if (plan.Quick)
        {
            foreach (RectificationModel model in models)
                foreach (int pairSeed in new[] { 0, 1 })
                    foreach (string m in methods) steps.Add(new(model.Arch, "badnets:0.1:0", model.Epochs, 1, m, pairSeed));
            return steps;
        }
        // The headline first, model by model (the cnn's runs take seconds, the resnet's minutes).
        foreach (RectificationModel model in models)
            foreach (string poison in new[] { "badnets:0.1:0", "blend:0.1:0" })
                foreach (int pairSeed in Enumerable.Range(0, HeadlineSeeds))
                    foreach (string m in methods) steps.Add(new(model.Arch, poison, model.Epochs, 1, m, pairSeed));
        foreach (RectificationModel model in models)
        {
            foreach (string poison in new[] { "spurious:0.9:0", "block" })
                foreach (string m in methods) steps.Add(new(model.Arch, poison, model.Epochs, 1, m, 0));
            foreach (string poison in new[] { "badnets:0.1:0", "blend:0.1:0", "spurious:0.9:0", "block" })
                foreach (string m in methods) steps.Add(new(model.Arch, poison, model.Epochs, 20, m, 0));
        }
        return steps;
    }

    /// <summary>
    /// <c>default</c>: Reparo's defaults (<see cref="RectifyOptions.Recommended"/>); <c>static</c>/<c>dynamic</c>: the
    /// paper's modes exactly (<see cref="RectifyOptions.Paper"/>); <c>p-clarc</c>/<c>a-clarc</c>: the ClArC baselines at the classifier.
    /// </summary>
    internal static RectifyOptions Options(string method, int seed) => method switch
    {
        "default" => RectifyOptions.Recommended(seed: seed),
        _ => RectifyOptions.Paper(RectifyModes.Parse(method), seed),
    };

    private static string ModelFileName(RectificationStep step, int seed) =>
        $"rectify-{step.Arch}-{PoisonSpec.Parse(step.Poison).ToString().Replace(':', '-')}-e{step.Epochs}-s{seed}.reparo";

    private static string Summary(RectificationReport r)
    {
        string metric = r.Before.Asr is not null ? $"ASR {Percent(r.AsrBefore)} → {Percent(r.AsrAfter)}"
            : r.Before.SpuriousDeviation is not null ? $"spurious deviation {Percent(r.Before.SpuriousDeviation)} → {Percent(r.After.SpuriousDeviation)}"
            : $"leakage {Percent(r.Before.Leakage)} → {Percent(r.After.Leakage)}";
        return $"OA {Percent(r.AccuracyBefore)} → {Percent(r.AccuracyAfter)}, {metric}; layers {(r.Layers.Count == 0 ? "–" : string.Join(", ", r.Layers))}; {r.TimeS:F1} s";
    }

    private static string Percent(double? v) => v is double x && double.IsFinite(x) ? x.ToString("0.00%", System.Globalization.CultureInfo.InvariantCulture) : "–";
}

/// <summary>
/// The rectification experiment's step function, wherever it runs: loads the run's poisoned model (kept for the next run
/// on the same file), prepares the clean splits for it, measures it before (once per model file) and runs the method.
/// </summary>
/// <param name="clean">Fashion-MNIST, clean.</param>
public sealed class RectificationExperimentSession(DataSplits clean)
{
    private readonly Dictionary<string, RectificationMeasures> measured = [];
    private (string Path, Network Network, DataSplits Splits)? loaded;

    /// <summary>Runs <paramref name="step"/> on the model in <paramref name="modelPath"/>.</summary>
    public RectificationExperimentRow Run(RectificationStep step, string modelPath)
    {
        if (loaded?.Path != modelPath)
        {
            Network network = ModelFile.Load(modelPath);
            loaded = (modelPath, network, ModelInputs.PrepareSplits(clean, network));
        }
        (_, Network model, DataSplits splits) = loaded.Value;
        PoisonSpec spec = PoisonSpec.Parse(step.Poison);
        if (!measured.TryGetValue(modelPath, out RectificationMeasures? before)) measured[modelPath] = before = RectificationMetrics.Measure(model, spec, splits.Test);
        double load = MachineLoad.OneMinute();
        RectificationRun result = step.Method == "ft"
            ? RectificationRun.FineTune(model, spec, splits, step.Pairs, step.PairSeed, before)
            : RectificationRun.Execute(model, spec, splits, step.Pairs, RectificationExperimentPlan.Options(step.Method, step.PairSeed), 4000, step.PairSeed, step.Method, before);
        return new RectificationExperimentRow(step.Arch, step.Epochs, step.PairSeed, load, result.Report());
    }
}
