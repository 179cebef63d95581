using System.Diagnostics;
using Reparo.Data;
using Reparo.Localisation;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Runtime;

namespace Reparo.Experiments;

/// <summary>One step of the informed-repair experiment: a study of one model on one repair set at one size, with some methods.</summary>
/// <param name="Arch">The zoo architecture.</param>
/// <param name="Poison">The model's poisoning, if any (<c>badnets:0.1:0</c>).</param>
/// <param name="Epochs">Training epochs.</param>
/// <param name="RepairSet">The repair set's template (<c>fog:3</c>, <c>trojan</c>, <c>rotations:-10:10:3</c>).</param>
/// <param name="Size">The repair set's size.</param>
/// <param name="Methods">The repair methods.</param>
/// <param name="Cache">The model cache's purpose name for a clean model (shared with other commands' models).</param>
public sealed record InformedRepairStep(string Arch, string? Poison, int Epochs, string RepairSet, int Size, IReadOnlyList<string> Methods, string Cache = "experiment");

/// <summary>
/// The plan of <c>reparo experiment informed</c>: the informed-repair study (<see cref="InformedRepairStudy"/>) over
/// several Fashion-MNIST models and repair sets — MLPs, an LSTM head and a ViT with fog, rotation and Trojan failures,
/// and a CNN (fine-tuning and editing only: its LPs are far beyond any time limit); the quick plan is one MLP with fog
/// and Trojan failures. Each step (a model, a repair set, a size) goes through an <see cref="IExperimentStepRunner"/>
/// (here, or on a cluster's workers) with <see cref="InformedRepairExperimentSession.Run"/>.
/// </summary>
public static partial class InformedRepairExperimentPlan
{
    /// <summary>The experiment's name, by which a worker finds its step function.</summary>
    public const string Name = "informed";

    /// <summary>Runs the plan and returns the study over all its cases.</summary>
    /// <param name="clean">Fashion-MNIST, clean.</param>
    /// <param name="models">Where the models are trained once and kept (before any step runs).</param>
    /// <param name="quick">The small plan (minutes).</param>
    /// <param name="settings">Repair settings of every repair (solver time limit, seed).</param>
    /// <param name="maxLpNonzeros">Provable repairs whose predicted LP has more nonzeros are skipped.</param>
    /// <param name="runner">Where the steps run (null: here, one after another).</param>
    /// <param name="notes">Hears each step as it ends.</param>
    /// <param name="stepDone">Called after each step with the study so far (steps in plan order), the steps done and the steps planned.</param>
    public static StudyReport Run(DataSplits clean, ModelCache models, bool quick, RepairSettings settings, long maxLpNonzeros, IExperimentStepRunner? runner = null,
        IProgress<string>? notes = null, Action<StudyReport, int, int>? stepDone = null)
    {
        var clock = Stopwatch.StartNew();
        IReadOnlyList<InformedRepairStep> steps = Steps(quick);
        var files = new Dictionary<string, string>();
        foreach (InformedRepairStep step in steps)
        {
            (string name, PoisonSpec? poison) = ModelFileName(step, settings.Seed);
            if (!files.ContainsKey(name)) files[name] = models.LoadOrTrain(name, step.Arch, step.Epochs, clean, "fashion-mnist", settings.Seed, poison).Path;
        }
        var results = new StudyCaseResult[]?[steps.Count];
        StudyReport SoFar() => Combine(results.OfType<StudyCaseResult[]>());
        var session = new InformedRepairExperimentSession(clean, settings, maxLpNonzeros);
        using ProgressScope shown = WorkProgress.Begin("informed repair experiment", steps.Count);
        int done = 0;
        (runner ?? InProcessStepRunner.Instance).Run<InformedRepairStep, StudyCaseResult[]>(Name,
            [.. steps.Select(step => new ExperimentStep<InformedRepairStep>(step, files[ModelFileName(step, settings.Seed).Name]))], (step, path) => session.Run(step, path!), (i, cases) =>
            {
                InformedRepairStep step = steps[i];
                results[i] = cases;
                notes?.Report($"[{clock.Elapsed.TotalMinutes:F1} min, {++done}/{steps.Count}] {step.Arch}{(step.Poison is null ? "" : $" ({step.Poison})")}: {step.RepairSet} at size {step.Size}, {string.Join(", ", step.Methods)}");
                stepDone?.Invoke(SoFar(), done, steps.Count);
                shown.Advance();
            });
        return SoFar();
    }

    /// <summary>Puts steps' cases together (every step's repair set analysed once, as in its own study) into the study over all of them.</summary>
    private static StudyReport Combine(IEnumerable<StudyCaseResult[]> steps)
    {
        StudyReport[] parts = [.. steps.Select(cases => InformedRepairStudy.Combine(cases, 0.10))];
        return InformedRepairStudy.Summarise([.. parts.SelectMany(p => p.Cases)], [.. parts.SelectMany(p => p.Analyses)], 0.10);
    }

    private static (string Name, PoisonSpec? Poison) ModelFileName(InformedRepairStep step, int seed)
    {
        PoisonSpec? poison = step.Poison is null ? null : PoisonSpec.Parse(step.Poison);
        return (poison is null ? ModelCache.FileName(step.Cache, step.Arch, step.Epochs, seed)
            : $"rectify-{step.Arch}-{poison.ToString().Replace(':', '-')}-e{step.Epochs}-s{seed}.reparo", poison);
    }

    /// <summary>The plan's steps in order: model by model, repair set by repair set, size by size.</summary>
    public static IReadOnlyList<InformedRepairStep> Steps(bool quick)
    {
        string[] all = ["provable", "ft", "edit"];
        var studies = new List<(string Arch, string? Poison, int Epochs, string RepairSet, int[] Sizes, string[] Methods, string Cache)>();
        if (quick)
        {
            studies.Add(("mlp:100x3", null, 10, "fog:3", [10, 25], all, "experiment"));
            studies.Add(("mlp:100x3", "badnets:0.1:0", 10, "trojan", [10], all, "experiment"));
        }
        else
        {
            int[] sizes = [10, 25, 50, 100];
            foreach (string arch in (string[])["mlp:100x3", "mlp:200x9"])
            {
                studies.Add((arch, null, 10, "fog:3", sizes, all, "experiment"));
                studies.Add((arch, "badnets:0.1:0", 10, "trojan", sizes, all, "experiment"));
            }
            studies.Add(("mlp:100x3", null, 10, "rotations:-10:10:3", sizes, all, "experiment"));
            studies.Add(("lstm:64", null, 2, "fog:3", sizes, all, "demo"));
            studies.Add(("lstm:64", "badnets:0.1:0", 2, "trojan", sizes, all, "experiment"));
            studies.Add(("vit", null, 3, "fog:3", sizes, all, "experiment"));
            studies.Add(("vit", "badnets:0.1:0", 3, "trojan", sizes, all, "experiment"));
            // The CNN's LPs (millions of nonzeros at every convolution and at fc1) run far beyond any time limit here.
            studies.Add(("cnn", null, 10, "fog:3", sizes, ["ft", "edit"], "experiment"));
            studies.Add(("cnn", "badnets:0.1:0", 4, "trojan", sizes, ["ft", "edit"], "experiment"));
        }
        return [.. from s in studies from size in s.Sizes select new InformedRepairStep(s.Arch, s.Poison, s.Epochs, s.RepairSet, size, s.Methods, s.Cache)];
    }
}

/// <summary>
/// The informed-repair experiment's step function, wherever it runs: the study's cases of one model, repair set and size
/// (<see cref="InformedRepairStudy.Plan"/>, each with <see cref="InformedRepairSession"/>); the model is kept for the next
/// step on the same file.
/// </summary>
/// <param name="clean">Fashion-MNIST, clean.</param>
/// <param name="settings">Repair settings of every repair (solver time limit, seed).</param>
/// <param name="maxLpNonzeros">Provable repairs whose predicted LP has more nonzeros are skipped.</param>
public sealed class InformedRepairExperimentSession(DataSplits clean, RepairSettings settings, long maxLpNonzeros)
{
    private (string Path, Network Network, DataSplits Splits)? loaded;

    /// <summary>Runs the cases of <paramref name="step"/> on the model in <paramref name="modelPath"/>, in plan order.</summary>
    public StudyCaseResult[] Run(InformedRepairStep step, string modelPath)
    {
        if (loaded?.Path != modelPath)
        {
            Network network = ModelFile.Load(modelPath);
            loaded = (modelPath, network, ModelInputs.PrepareSplits(clean, network));
        }
        (_, Network model, DataSplits splits) = loaded.Value;
        var options = new InformedRepairOptions
        {
            RepairSets = [step.RepairSet],
            Sizes = [step.Size],
            Methods = step.Methods,
            Heuristics = LayerHeuristics.All,
            Settings = settings,
            Seed = settings.Seed,
            MaxLpNonzeros = maxLpNonzeros,
        };
        var session = new InformedRepairSession(model, splits, options);
        return [.. InformedRepairStudy.Plan(model, options).Select(key => session.Run(key))];
    }
}
