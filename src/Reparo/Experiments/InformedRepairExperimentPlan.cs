using System.Diagnostics;
using Reparo.Data;
using Reparo.Localisation;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Runtime;

namespace Reparo.Experiments;

/// <summary>
/// The plan of <c>reparo experiment informed</c>: the informed-repair study (<see cref="InformedRepairStudy"/>) over
/// several Fashion-MNIST models and repair sets — MLPs, an LSTM head and a ViT with fog, rotation and Trojan failures,
/// and a CNN (fine-tuning and editing only: its LPs are far beyond any time limit); the quick plan is one MLP with fog
/// and Trojan failures.
/// </summary>
public static partial class InformedRepairExperimentPlan
{
    private sealed record Step(string Arch, string? Poison, int Epochs, string RepairSet, int[] Sizes, string[] Methods, string Cache = "experiment");

    /// <summary>Runs the plan and returns the study over all its cases.</summary>
    /// <param name="clean">Fashion-MNIST, clean.</param>
    /// <param name="models">Where the models are trained once and kept.</param>
    /// <param name="quick">The small plan (minutes).</param>
    /// <param name="settings">Repair settings of every repair (solver time limit, seed).</param>
    /// <param name="maxLpNonzeros">Provable repairs whose predicted LP has more nonzeros are skipped.</param>
    /// <param name="notes">Hears each step as it starts and the study's progress.</param>
    /// <param name="stepDone">Called after each step with the study so far, the steps done and the steps planned.</param>
    public static StudyReport Run(DataSplits clean, ModelCache models, bool quick, RepairSettings settings, long maxLpNonzeros, IProgress<string>? notes = null,
        Action<StudyReport, int, int>? stepDone = null)
    {
        var clock = Stopwatch.StartNew();
        var cases = new List<StudyCase>();
        var analyses = new List<RepairSetProfile>();
        List<Step> steps = [.. Plan(quick)];
        using ProgressScope shown = WorkProgress.Begin("informed repair experiment", steps.Count);
        for (int i = 0; i < steps.Count; i++)
        {
            Step step = steps[i];
            shown.Describe($"{step.Arch} {step.RepairSet}");
            PoisonSpec? poison = step.Poison is null ? null : PoisonSpec.Parse(step.Poison);
            string name = poison is null ? ModelCache.FileName(step.Cache, step.Arch, step.Epochs, settings.Seed)
                : $"rectify-{step.Arch}-{poison.ToString().Replace(':', '-')}-e{step.Epochs}-s{settings.Seed}.reparo";
            Network network = models.LoadOrTrain(name, step.Arch, step.Epochs, clean, "fashion-mnist", settings.Seed, poison).Network;
            DataSplits splits = ModelInputs.PrepareSplits(clean, network);
            notes?.Report($"[{clock.Elapsed.TotalMinutes:F1} min] {step.Arch}{(poison is null ? "" : $" ({poison})")}: {step.RepairSet} at sizes {string.Join(", ", step.Sizes)}, {string.Join(", ", step.Methods)}");
            StudyReport part = InformedRepairStudy.Run(network, splits, new InformedRepairOptions
            {
                RepairSets = [step.RepairSet],
                Sizes = step.Sizes,
                Methods = step.Methods,
                Heuristics = LayerHeuristics.All,
                Settings = settings,
                Seed = settings.Seed,
                MaxLpNonzeros = maxLpNonzeros,
            }, notes);
            cases.AddRange(part.Cases);
            analyses.AddRange(part.Analyses);
            stepDone?.Invoke(InformedRepairStudy.Summarise(cases, analyses, part.Tolerance), i + 1, steps.Count);
            shown.Advance();
        }
        return InformedRepairStudy.Summarise(cases, analyses, 0.10);
    }

    private static IEnumerable<Step> Plan(bool quick)
    {
        string[] all = ["provable", "ft", "edit"];
        if (quick)
        {
            yield return new Step("mlp:100x3", null, 10, "fog:3", [10, 25], all);
            yield return new Step("mlp:100x3", "badnets:0.1:0", 10, "trojan", [10], all);
            yield break;
        }
        int[] sizes = [10, 25, 50, 100];
        foreach (string arch in (string[])["mlp:100x3", "mlp:200x9"])
        {
            yield return new Step(arch, null, 10, "fog:3", sizes, all);
            yield return new Step(arch, "badnets:0.1:0", 10, "trojan", sizes, all);
        }
        yield return new Step("mlp:100x3", null, 10, "rotations:-10:10:3", sizes, all);
        yield return new Step("lstm:64", null, 2, "fog:3", sizes, all, "demo");
        yield return new Step("lstm:64", "badnets:0.1:0", 2, "trojan", sizes, all);
        yield return new Step("vit", null, 3, "fog:3", sizes, all);
        yield return new Step("vit", "badnets:0.1:0", 3, "trojan", sizes, all);
        // The CNN's LPs (millions of nonzeros at every convolution and at fc1) run far beyond any time limit here.
        yield return new Step("cnn", null, 10, "fog:3", sizes, ["ft", "edit"]);
        yield return new Step("cnn", "badnets:0.1:0", 4, "trojan", sizes, ["ft", "edit"]);
    }
}
