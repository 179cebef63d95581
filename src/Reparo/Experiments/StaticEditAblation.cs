using System.Diagnostics;
using System.Globalization;
using System.Text;
using Reparo.Data;
using Reparo.Models;
using Reparo.Remediation;
using Reparo.Repair.Editing;
using Reparo.Reporting;
using Reparo.Runtime;
using static TorchSharp.torch;

namespace Reparo.Experiments;

/// <summary>How a single-key edit reaches the triggered test images: their keys' alignment with the pair's key in the edit's metric.</summary>
/// <param name="Median">Median over triggered test images of a = kᵀC⁻¹k* / k*ᵀC⁻¹k* (1: the image gets the pair's whole correction).</param>
/// <param name="Aligned">Triggered images with a ≥ 0.5.</param>
/// <param name="AsrAligned">Attack success rate after the edit among them.</param>
/// <param name="Unaligned">Triggered images with a &lt; 0.5.</param>
/// <param name="AsrUnaligned">Attack success rate after the edit among them.</param>
public sealed record StaticEditAlignment(double Median, int Aligned, double AsrAligned, int Unaligned, double AsrUnaligned);

/// <summary>One run of the ablation.</summary>
/// <param name="Factor">What the run varies (<c>paper</c> for the paper's static edit).</param>
/// <param name="Setting">The value it takes.</param>
/// <param name="PairSeed">Seed of the pair draw.</param>
/// <param name="Pairs">Cleansed pairs.</param>
/// <param name="Layer">The edited layer.</param>
/// <param name="Report">Before/after measures, rounds and timing.</param>
/// <param name="Alignment">For one vector-key pair: how the edit reaches the triggered test images.</param>
/// <param name="LoadBefore">1-minute load average when the run started.</param>
public sealed record StaticEditRun(string Factor, string Setting, int PairSeed, int Pairs, string Layer, RectificationReport Report, StaticEditAlignment? Alignment, double LoadBefore);

/// <summary>The ablation's result.</summary>
/// <param name="Command">The command line that produced it.</param>
/// <param name="Arch">The model's architecture.</param>
/// <param name="Poison">Its poisoning.</param>
/// <param name="Epochs">Its training epochs.</param>
/// <param name="ModelSeed">Its seed.</param>
/// <param name="Threads">Torch threads.</param>
/// <param name="Minutes">Wall time.</param>
/// <param name="Runs">Every run, in order.</param>
public sealed record StaticEditAblationReport(string Command, string Arch, string Poison, int Epochs, int ModelSeed, int Threads, double Minutes, IReadOnlyList<StaticEditRun> Runs);

/// <summary>
/// Why the paper's static edit (Yang et al., CVPR'26: one rank-one edit at the last feature layer from one cleansed
/// pair) leaves part of a BadNets Trojan in place: the same model rectified with the pair drawn, the key statistics
/// (ridge, sample count), the layer and its key definition (conv patch or channel keys) and the number of pairs varied
/// one at a time, each over several pair draws; for the single-pair vector-key edits, how far each triggered test
/// image's key is reached by the edit (<see cref="StaticEditAlignment"/>).
/// </summary>
public static class StaticEditAblation
{
    private sealed record Setting(string Factor, string Name, int Pairs, int StatisticsSamples, RectifyOptions Options);

    /// <summary>Runs the ablation on <paramref name="clean"/> Fashion-MNIST; the model is trained once and cached as the rectification experiment's.</summary>
    /// <param name="clean">Fashion-MNIST, clean.</param>
    /// <param name="models">Where the poisoned model is trained once and kept.</param>
    /// <param name="quick">Two pair draws, a few settings, a 2-epoch model.</param>
    /// <param name="seed">The model's seed.</param>
    /// <param name="command">The command line, recorded.</param>
    /// <param name="threads">Torch threads, recorded.</param>
    /// <param name="notes">Hears each run.</param>
    /// <param name="partial">Called with the report so far after every run.</param>
    public static StaticEditAblationReport Run(DataSplits clean, ModelCache models, bool quick, int seed, string command, int threads,
        IProgress<string>? notes = null, Action<StaticEditAblationReport>? partial = null)
    {
        const string arch = "cnn";
        int epochs = quick ? 2 : 4;
        PoisonSpec spec = PoisonSpec.Parse("badnets:0.1:0");
        string name = $"rectify-{arch}-{spec.ToString().Replace(':', '-')}-e{epochs}-s{seed}.reparo";
        Network network = models.LoadOrTrain(name, arch, epochs, clean, "fashion-mnist", seed, spec).Network;
        DataSplits splits = ModelInputs.PrepareSplits(clean, network);
        RectificationMeasures before = RectificationMetrics.Measure(network, spec, splits.Test);
        Dataset triggered = Poisoning.TriggeredTest(splits.Test, spec);
        Setting[] settings = [.. Settings(quick)];
        int[] pairSeeds = [.. Enumerable.Range(0, quick ? 2 : 5)];
        var runs = new List<StaticEditRun>();
        var clock = Stopwatch.StartNew();
        StaticEditAblationReport Report() => new(command, arch, spec.ToString(), epochs, seed, threads, clock.Elapsed.TotalMinutes, [.. runs]);
        using ProgressScope shown = WorkProgress.Begin("static edit ablation", settings.Length * pairSeeds.Length);
        foreach (Setting setting in settings)
            foreach (int pairSeed in pairSeeds)
            {
                shown.Describe($"{setting.Factor} {setting.Name}, pair seed {pairSeed}");
                double load = MachineLoad.OneMinute();
                RectificationRun run = RectificationRun.Execute(network, spec, splits, setting.Pairs, setting.Options with { Seed = pairSeed }, setting.StatisticsSamples, pairSeed,
                    $"static ({setting.Factor} {setting.Name})", before);
                string layer = run.Rectification.Rounds[0].Layer;
                StaticEditAlignment? alignment = setting.Pairs == 1 && setting.Options.Augment == 0 && !(setting.Options.Edit?.PreserveClean ?? false)
                    && AffineSites.Find(network, layer).AsConvolution is null
                    ? Alignment(network, AffineSites.Find(network, layer), run, triggered, spec.Class, splits.Train.X.narrow(0, 0, Math.Min(setting.StatisticsSamples, splits.Train.Count)), setting.Options.Ridge)
                    : null;
                runs.Add(new StaticEditRun(setting.Factor, setting.Name, pairSeed, setting.Pairs, layer, run.Report(), alignment, load));
                string reach = alignment is null ? "" : FormattableString.Invariant($", median alignment {alignment.Median:F2}");
                notes?.Report(FormattableString.Invariant(
                    $"[{clock.Elapsed.TotalMinutes:F1} min] {setting.Factor} {setting.Name}, pair seed {pairSeed}: {layer}, ASR {run.Before.Asr:P2} → {run.After.Asr:P2}, OA {run.Before.Accuracy:P2} → {run.After.Accuracy:P2}{reach}"));
                partial?.Invoke(Report());
                shown.Advance();
            }
        return Report();
    }

    private static IEnumerable<Setting> Settings(bool quick)
    {
        var paper = new RectifyOptions(RectifyMode.Static);
        yield return new Setting("paper", "fc1 (last feature layer), 1 pair, ridge 1e-3, 4000 statistics images", 1, 4000, paper);
        yield return new Setting("pairs", "5", 5, 4000, paper);
        if (!quick) yield return new Setting("pairs", "20", 20, 4000, paper);
        yield return new Setting("layer", "conv2, patch keys", 1, 4000, paper with { Layer = "conv2" });
        if (quick) yield break;
        yield return new Setting("ridge", "1e-6", 1, 4000, paper with { Ridge = 1e-6 });
        yield return new Setting("ridge", "1e-1", 1, 4000, paper with { Ridge = 1e-1 });
        yield return new Setting("statistics images", "500", 1, 500, paper);
        yield return new Setting("statistics images", "16000", 1, 16000, paper);
        yield return new Setting("layer", "conv1, patch keys", 1, 4000, paper with { Layer = "conv1" });
        yield return new Setting("layer", "conv2, channel keys", 1, 4000, paper with { Layer = "conv2", Edit = new EditOptions(KeyKind.Channel) });
        yield return new Setting("layer", "fc2 (the classifier)", 1, 4000, paper with { Layer = "fc2" });
        yield return new Setting("refinement", "clean twin's key held (--preserve-clean)", 1, 4000, paper with { Edit = new EditOptions(PreserveClean: true) });
        yield return new Setting("refinement", "pair transplanted onto 20 held-out images (--augment 20)", 1, 4000, paper with { Augment = 20 });
    }

    /// <summary>
    /// a = kᵀC⁻¹k* / k*ᵀC⁻¹k* for every triggered test image's key k at <paramref name="site"/> (k*: the pair's corrupted
    /// key): the edit ΔW = Λ(C⁻¹k*)ᵀ / (k*ᵀC⁻¹k*) adds a·Λ to that image's value, so a = 1 gives it the pair's whole correction.
    /// </summary>
    private static StaticEditAlignment Alignment(Network original, AffineSite site, RectificationRun run, Dataset triggered, int target, Tensor statisticsInputs, double ridge)
    {
        using var scope = NewDisposeScope();
        using var statistics = new KeyStatistics(original, statisticsInputs, ridge);
        Tensor c = statistics.SecondMoment(site, KeyKind.Vector);
        Tensor Keys(Tensor x)
        {
            using (no_grad())
            {
                (_, Tensor input, Tensor output) = AffineSites.Capture(original, site, x);
                output.Dispose();
                using (input) return LayerKeys.Keys(site, KeyKind.Vector, input);
            }
        }
        Tensor pair = Keys(run.Inputs.Corrupted); // 1 × d
        Tensor whitened = linalg.solve(c, pair.t()); // C⁻¹k*, d × 1
        Tensor alignment = cat([.. Enumerable.Range(0, (int)Math.Ceiling(triggered.Count / 1000.0))
            .Select(b => Keys(triggered.X.narrow(0, b * 1000L, Math.Min(1000, triggered.Count - b * 1000L))).matmul(whitened))], 0)
            .flatten().div(pair.matmul(whitened).item<double>());
        double[] a = alignment.data<double>().ToArray();
        long[] predicted = run.Rectification.Network.Predict(triggered.X);
        bool[] aligned = [.. a.Select(v => v >= 0.5)];
        double Asr(bool want)
        {
            int[] chosen = [.. Enumerable.Range(0, a.Length).Where(i => aligned[i] == want)];
            return chosen.Length == 0 ? double.NaN : chosen.Count(i => predicted[i] == target) / (double)chosen.Length;
        }
        double[] sorted = [.. a.Order()];
        return new StaticEditAlignment(sorted[sorted.Length / 2], aligned.Count(x => x), Asr(true), aligned.Count(x => !x), Asr(false));
    }

    /// <summary>The results file: one row per setting (mean ± sd and range over the pair draws), then the alignment per draw, then every run.</summary>
    public static string ToMarkdown(StaticEditAblationReport report, string jsonPath, string? partial = null)
    {
        static string P(double? v) => v is double x && double.IsFinite(x) ? x.ToString("0.00%", CultureInfo.InvariantCulture) : "–";
        StringBuilder text = ResultsMarkdown.Heading("Why the paper's static edit leaves part of the Trojan (rectification ablation)", report.Command, report.Threads, report.Minutes, partial);
        ResultsMarkdown.SourceAndLoad(text, Path.GetFileName(jsonPath), report.Runs.Select(r => r.LoadBefore), report.Threads);
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Model: `{report.Arch}` trained {report.Epochs} epochs (seed {report.ModelSeed}) with `{report.Poison}` (the rectification experiment's model). Static mode: one rank-one edit, no held-out rollback. Each setting changes one thing from the paper's static edit and runs over the same pair draws (pairs from the validation split, seeds 0, 1, …). ASR is at the trained corner (bottom-right); OA is clean test accuracy.");
        text.AppendLine();
        text.AppendLine("| factor | setting | draws | ASR after (mean ± sd) | ASR range | OA change (points) | other corners after (mean) |");
        text.AppendLine("|---|---|---:|---|---|---|---|");
        foreach (var group in report.Runs.GroupBy(r => (r.Factor, r.Setting)))
        {
            StaticEditRun[] rows = [.. group];
            double[] asr = [.. rows.Select(r => r.Report.AsrAfter ?? double.NaN)];
            MeanStd a = MeanStd.Of(asr), oa = MeanStd.Of([.. rows.Select(r => (r.Report.AccuracyAfter - r.Report.AccuracyBefore) * 100)]);
            string corners = rows[0].Report.After.AsrByCorner is { } c0
                ? string.Join(", ", c0.Keys.Where(k => k != "bottom-right").Select(k => $"{k} {P(rows.Average(r => r.Report.After.AsrByCorner![k]))}"))
                : "–";
            text.AppendLine(CultureInfo.InvariantCulture, $"| {group.Key.Factor} | {group.Key.Setting} | {rows.Length} | {P(a.Mean)} ± {P(a.Std)} | {P(asr.Min())} – {P(asr.Max())} | {oa.Mean:+0.00;-0.00;0.00} ± {oa.Std:0.00} | {corners} |");
        }
        StaticEditRun[] aligned = [.. report.Runs.Where(r => r.Alignment is not null)];
        if (aligned.Length > 0)
        {
            text.AppendLine();
            text.AppendLine("How a one-pair vector-key edit reaches the triggered test images: the edit adds a·(v*_clean − W k*) to an image's value, with a = kᵀC⁻¹k* / k*ᵀC⁻¹k*; a = 1 gives the image the pair's whole correction.");
            text.AppendLine();
            text.AppendLine("| factor | setting | pair seed | layer | median a | images with a ≥ 0.5 | their ASR after | images with a < 0.5 | their ASR after |");
            text.AppendLine("|---|---|---:|---|---:|---:|---|---:|---|");
            foreach (StaticEditRun r in aligned)
            {
                StaticEditAlignment x = r.Alignment!;
                text.AppendLine(CultureInfo.InvariantCulture, $"| {r.Factor} | {r.Setting} | {r.PairSeed} | {r.Layer} | {x.Median:F2} | {x.Aligned} | {P(x.AsrAligned)} | {x.Unaligned} | {P(x.AsrUnaligned)} |");
            }
        }
        text.AppendLine();
        text.AppendLine("## Every run");
        text.AppendLine();
        text.AppendLine("| factor | setting | pair seed | layer | ASR before → after | OA before → after | held-out drop | corners after | edit s | total s | load |");
        text.AppendLine("|---|---|---:|---|---|---|---|---|---:|---:|---:|");
        foreach (StaticEditRun r in report.Runs)
        {
            RectificationReport x = r.Report;
            string corners = x.After.AsrByCorner is { } c ? string.Join(", ", c.Select(kv => $"{kv.Key} {P(kv.Value)}")) : "–";
            text.AppendLine(CultureInfo.InvariantCulture, $"| {r.Factor} | {r.Setting} | {r.PairSeed} | {r.Layer} | {P(x.AsrBefore)} → {P(x.AsrAfter)} | {P(x.AccuracyBefore)} → {P(x.AccuracyAfter)} | {P(x.HeldOutAccuracyBefore - x.HeldOutAccuracyAfter)} | {corners} | {x.Time.Edit:F2} | {x.TimeS:F2} | {r.LoadBefore:F2} |");
        }
        return text.ToString();
    }
}
