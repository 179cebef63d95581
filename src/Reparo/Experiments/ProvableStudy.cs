using System.Diagnostics;
using System.Globalization;
using System.Text;
using Reparo.Data;
using Reparo.Models;
using Reparo.Remediation;
using Reparo.Repair;
using Reparo.Repair.Provable;
using Reparo.Reporting;
using Reparo.Runtime;

namespace Reparo.Experiments;

/// <summary>One configuration of a repair method as the study names it.</summary>
/// <param name="Name">The row name, e.g. <c>provable (default)</c>, <c>provable (aprnn objective)</c>.</param>
/// <param name="Method">The repair method (<see cref="RepairMethods.Names"/>).</param>
/// <param name="Objective">The LP objective.</param>
/// <param name="Preserve">Preserved training inputs (0: none).</param>
/// <param name="Penalty">The weight of their penalised change (<see cref="PreserveRequest.Penalty"/>; null: hard constraints).</param>
/// <param name="PenaltyOn">Where that change is measured (<see cref="PreserveRequest.PenaltyOn"/>).</param>
public sealed record ProvableVariant(string Name, string Method, LpObjective Objective = LpObjective.Param, int Preserve = 0, double? Penalty = null,
    PreservedChange PenaltyOn = PreservedChange.Logits);

/// <summary>One repair the study runs.</summary>
/// <param name="Section">Which part of the results it belongs to.</param>
/// <param name="Arch">The zoo architecture.</param>
/// <param name="Epochs">Training epochs.</param>
/// <param name="Seed">Seed of the model's training and of the corruption.</param>
/// <param name="Layer">The layer repaired.</param>
/// <param name="RepairSet">The repair-set specification.</param>
/// <param name="Variant">The method and its settings.</param>
/// <param name="Rows">Output rows or channels that change (null: all).</param>
/// <param name="TimeLimitSeconds">The LP solver's time limit for this step (null: the study's).</param>
public sealed record ProvableStep(string Section, string Arch, int Epochs, int Seed, string Layer, string RepairSet, ProvableVariant Variant, (int Start, int End)? Rows = null,
    double? TimeLimitSeconds = null);

/// <summary>A step and its outcome.</summary>
/// <param name="Section">Part of the results.</param>
/// <param name="Arch">Architecture.</param>
/// <param name="Seed">Model and corruption seed.</param>
/// <param name="Variant">Row name of the method and settings.</param>
/// <param name="Preserve">Preserved inputs given to the LP.</param>
/// <param name="LoadBefore">The machine's 1-minute load average when the step started.</param>
/// <param name="Report">The repair report (efficacy, drawdown, generalisation, times, LP size).</param>
public sealed record ProvableRun(string Section, string Arch, int Seed, string Variant, int Preserve, double LoadBefore, RepairReport Report);

/// <summary>The study's settings.</summary>
public sealed record ProvableStudyOptions
{
    /// <summary>The small version: one small model size, small repair sets, minutes instead of hours.</summary>
    public bool Quick { get; init; }

    /// <summary>Model seeds of the <c>mlp:100x3</c> rows (the first also runs the locality, size, rotation and CNN sections).</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [0, 1, 2, 3, 4];

    /// <summary>Model seeds of the <c>mlp:200x9</c> rows (empty: not run).</summary>
    public IReadOnlyList<int> LargeSeeds { get; init; } = [0, 1, 2];

    /// <summary>Preserved inputs of the default provable repair.</summary>
    public int DefaultPreserve { get; init; } = PreserveRequest.DefaultCount;

    /// <summary>LP solver settings.</summary>
    public LpSolverOptions Solver { get; init; } = new() { TimeLimitSeconds = 1800 };
}

/// <summary>The study's result: every run, and how it was produced.</summary>
/// <param name="Command">The command line that produced it.</param>
/// <param name="Threads">Torch threads.</param>
/// <param name="Cores">Logical processors of the machine.</param>
/// <param name="Minutes">Wall time of the whole run.</param>
/// <param name="Solver">The LP solver.</param>
/// <param name="DefaultPreserve">Preserved inputs of the default provable repair.</param>
/// <param name="Runs">Every run, in order.</param>
/// <param name="CarriedOver">How many of the first runs were carried over from an interrupted run of the same study (<c>--resume</c>); their times were measured then.</param>
/// <param name="Skipped">Steps not run because the same variant, model and repair set already hit its solver budget on an earlier seed.</param>
public sealed record ProvableStudyReport(string Command, int Threads, int Cores, double Minutes, string Solver, int DefaultPreserve, IReadOnlyList<ProvableRun> Runs, int CarriedOver = 0,
    IReadOnlyList<ProvableSkip>? Skipped = null);

/// <summary>A step the study did not run, and why.</summary>
/// <param name="Section">The step's section.</param>
/// <param name="Arch">Its architecture.</param>
/// <param name="Seed">Its model seed.</param>
/// <param name="Variant">Its variant.</param>
/// <param name="RepairSet">Its repair set.</param>
/// <param name="Reason">Why it was not run.</param>
public sealed record ProvableSkip(string Section, string Arch, int Seed, string Variant, string RepairSet, string Reason);

/// <summary>
/// The provable-repair experiments (APRNN, Tao et al. PLDI'23, Exp. 1 and 3, on Fashion-MNIST) with Reparo's refinements
/// side by side: APRNN's own objective and repair-set protocol (the first N corrupted images whatever the prediction,
/// <c>:any</c>) against Reparo's (parameter objective, failures only), the locality-preserving default (<c>--preserve</c>),
/// PRDNN, the last-layer LP, fine-tuning and MFT, over several model seeds; then drawdown and LP cost against the number
/// of preserved inputs and against the layer, repair-set sizes, rotation polytopes and a CNN.
/// </summary>
public static class ProvableStudy
{
    /// <summary>The steps, in the order they run.</summary>
    public static IReadOnlyList<ProvableStep> Plan(ProvableStudyOptions options)
    {
        var steps = new List<ProvableStep>();
        int n = options.Quick ? 20 : 100, epochs = options.Quick ? 8 : 10, preserve = DefaultPreserve(options), penalisedCount = options.Quick ? 20 : 50;
        ProvableVariant defaultProvable = new("provable (default)", "provable", Preserve: preserve, Penalty: PreserveRequest.DefaultLayerPenalty, PenaltyOn: PreservedChange.LayerOutput);
        // The other forms of locality: the earlier default (300 inputs held by hard constraints), and fewer inputs whose
        // logit change is penalised.
        ProvableVariant hard = Hard(options.Quick ? 100 : EarlierDefaultCount), penalised = Penalised(penalisedCount);
        ProvableVariant[] sideBySide =
        [
            defaultProvable,
            hard,
            penalised,
            new("provable (param objective, no preserve)", "provable"),
            new("provable (aprnn objective)", "provable", LpObjective.Aprnn),
            new("prdnn", "prdnn"),
            new("lastlayer", "lastlayer"),
            new("ft", "ft"),
            new("mft", "mft"),
        ];
        const string exp1 = "Exp. 1 (fog point repair), side by side";
        // The headline rows (the default, the earlier default, the penalised logit form, APRNN's objective, PRDNN,
        // fine-tuning) run on every seed; the others on the first.
        ProvableVariant[] headline = [.. sideBySide.Where(v => v == defaultProvable || v == hard || v == penalised || v.Objective == LpObjective.Aprnn || v.Method is "prdnn" or "ft")];
        // The large model's LPs are the longest; they run after the small model's sections (a partial run still has those),
        // each with a solver budget of 15 minutes, and only the headline rows beyond its first seed. The hard and penalised
        // rows are not run there: 300 hard inputs ran out of the budget in the last full run (committed 2026-12-01), and
        // with 30 penalised inputs the second solve is the whole program, for HiGHS (docs/results/preserve-forms.md).
        void SideBySide(string arch, string layer, IReadOnlyList<int> seeds, double? limit, ProvableVariant[] first, ProvableVariant[] later)
        {
            for (int s = 0; s < seeds.Count; s++)
                foreach (string set in new[] { $"fog:3:{n}", $"fog:3:{n}:any" })
                    foreach (ProvableVariant v in s > 0 ? later : first)
                        steps.Add(new ProvableStep(exp1, arch, epochs, seeds[s], layer, set, v, TimeLimitSeconds: limit));
        }
        void Large() => SideBySide("mlp:200x9", "fc7", options.Quick ? [] : options.LargeSeeds, 900, [.. sideBySide.Except([hard, penalised])], [.. headline.Except([hard, penalised])]);
        SideBySide("mlp:100x3", "fc2", options.Seeds, null, sideBySide, sideBySide);
        if (options.Seeds.Count == 0)
        {
            Large();
            return steps;
        }

        int first = options.Seeds[0];
        const string locality = "Locality: preserved inputs";
        foreach (int count in options.Quick ? new[] { 0, 50 } : [0, 100, 300, 1000])
            steps.Add(new ProvableStep(locality, "mlp:100x3", epochs, first, "fc2", $"fog:3:{n}", count == 0 ? NoPreserve : Hard(count)));
        // A penalised input's output changes are rows that link every neuron of the layer in the LP, and the dense Schur
        // complement on those rows grows with their cube: the counts stop at 100.
        foreach (int count in options.Quick ? new[] { 20 } : [30, 50, 100])
            steps.Add(new ProvableStep(locality, "mlp:100x3", epochs, first, "fc2", $"fog:3:{n}", Penalised(count)));
        // The default's form: each input adds one row per neuron inside that neuron's block, so block-ipm's blocks grow
        // with the count (at 1,000: 1,202-row blocks, 3.34E+10 multiply-adds per factorisation, 66 s at 1a4e4e0;
        // docs/results/preserve-forms.md, "The default form with 1,000 inputs").
        foreach (int count in options.Quick ? new[] { 20 } : [50, 100, 300, 1000])
            steps.Add(new ProvableStep(locality, "mlp:100x3", epochs, first, "fc2", $"fog:3:{n}", PenalisedLayer(count)));
        // fc1's LP is 7.8 times wider than fc2's (784 inputs per neuron); it gets a solver budget of 10 minutes (the rows
        // with and without preserved inputs ended in 2-4 minutes at 3462468, docs/results/lp-solvers.md).
        foreach (string layer in options.Quick ? new[] { "fc2", "fc3" } : ["fc1", "fc2", "fc3"])
            foreach (ProvableVariant v in new[] { NoPreserve, defaultProvable, hard, penalised })
                steps.Add(new ProvableStep("Locality: layer", "mlp:100x3", epochs, first, layer, $"fog:3:{n}", v, TimeLimitSeconds: layer == "fc1" ? 600 : null));
        foreach (int size in options.Quick ? new[] { 10, 40 } : [10, 25, 50, 200])
            steps.Add(new ProvableStep("Exp. 1 sizes", "mlp:100x3", epochs, first, "fc2", $"fog:3:{size}", defaultProvable));
        Large();
        steps.Add(options.Quick
            ? new ProvableStep("Exp. 3 (rotation polytopes)", "mlp:100x3", epochs, first, "fc1", "rotations:-30:30:3:2", defaultProvable)
            // 35 polytopes at fc1 (784 inputs per neuron) with the preserved inputs ran past 35 minutes: a budget of 15 minutes per solve.
            : new ProvableStep("Exp. 3 (rotation polytopes)", "mlp:100x9", epochs, first, "fc1", "rotations:-30:30:7:5", defaultProvable, TimeLimitSeconds: 900));
        if (!options.Quick)
        {
            // A convolution's LP holds every output position of the edited channels: each gets a solver budget of 10 minutes.
            steps.Add(new ProvableStep("CNN", "cnn", epochs, first, "conv2", "fog:3:10", defaultProvable, (0, 4), TimeLimitSeconds: 600));
            steps.Add(new ProvableStep("CNN", "cnn", epochs, first, "fc1", "fog:3:10", defaultProvable, TimeLimitSeconds: 600));
        }
        return steps;
    }

    private static readonly ProvableVariant NoPreserve = new("provable (preserve 0)", "provable");

    /// <summary><paramref name="count"/> preserved inputs held by hard constraints.</summary>
    private static ProvableVariant Hard(int count) => new($"provable (preserve {count}, hard)", "provable", Preserve: count);

    /// <summary><paramref name="count"/> preserved inputs whose logit change is penalised with the default weight.</summary>
    private static ProvableVariant Penalised(int count) => new($"provable (preserve {count}, penalised)", "provable", Preserve: count, Penalty: PreserveRequest.DefaultPenalty);

    /// <summary><paramref name="count"/> preserved inputs whose change at the repaired layer's outputs is penalised with the default weight (the default's form).</summary>
    private static ProvableVariant PenalisedLayer(int count) =>
        new($"provable (preserve {count}, penalised-layer)", "provable", Preserve: count, Penalty: PreserveRequest.DefaultLayerPenalty, PenaltyOn: PreservedChange.LayerOutput);

    /// <summary>The preserved inputs of the earlier default, held by hard constraints (its row stands beside the default's).</summary>
    private const int EarlierDefaultCount = 300;

    /// <summary>Preserved inputs of the default provable rows: the option's, at most 100 in the quick version.</summary>
    public static int DefaultPreserve(ProvableStudyOptions options) => options.Quick ? Math.Min(options.DefaultPreserve, 100) : options.DefaultPreserve;

    /// <summary>Provable repairs whose whole program would have more nonzeros than this are not attempted (<see cref="RepairStatus.TooLarge"/>).</summary>
    public const long MaxLpNonzeros = 45_000_000;

    /// <summary>The experiment's name, by which a worker finds its step function.</summary>
    public const string Name = "provable";

    /// <summary>
    /// Runs every step of <paramref name="options"/>'s plan through <paramref name="runner"/>, each with
    /// <see cref="ProvableExperimentSession.Run"/>. A step with a solver budget of its own is skipped when an earlier seed
    /// of the same section, model, variant and repair set ran out of it, so the steps go in waves: each wave is the
    /// longest run of the remaining steps (in plan order) in which no such step follows another of its kind; in process
    /// that is plan order, step after step.
    /// </summary>
    /// <param name="modelFile">The file of the trained model of an (architecture, epochs, seed), trained if need be; asked once per model, before its steps run.</param>
    /// <param name="splits">Fashion-MNIST.</param>
    /// <param name="options">The study's settings.</param>
    /// <param name="command">The command line, recorded in the report.</param>
    /// <param name="threads">Torch threads, recorded.</param>
    /// <param name="runner">Where the steps run (null: here, one after another).</param>
    /// <param name="progress">One line per step finished or skipped.</param>
    /// <param name="partial">Called with the runs so far after every step (to save partial results).</param>
    /// <param name="resume">An interrupted run of the same study: its runs that match the plan's first steps are kept, not re-run.</param>
    public static ProvableStudyReport Run(Func<string, int, int, string> modelFile, DataSplits splits, ProvableStudyOptions options, string command, int threads,
        IExperimentStepRunner? runner = null, IProgress<string>? progress = null, Action<ProvableStudyReport>? partial = null, ProvableStudyReport? resume = null)
    {
        var clock = Stopwatch.StartNew();
        IReadOnlyList<ProvableStep> steps = Plan(options);
        string solver = LpSolverOptions.Name(options.Solver.Solver);
        (List<ProvableRun> carried, List<ProvableSkip> carriedSkips, bool[] done) = resume is null ? ([], [], new bool[steps.Count]) : CarriedOver(resume, steps, command, threads, solver, DefaultPreserve(options));
        int carriedSteps = done.Count(d => d);
        var ran = new ProvableRun?[steps.Count];
        var skips = new ProvableSkip?[steps.Count];
        List<ProvableRun> Runs() => [.. carried, .. ran.OfType<ProvableRun>()];
        double earlierMinutes = resume is null ? 0 : resume.Minutes;
        ProvableStudyReport Report() => new(command, threads, Environment.ProcessorCount, earlierMinutes + clock.Elapsed.TotalMinutes,
            solver, DefaultPreserve(options), Runs(), carried.Count, [.. carriedSkips, .. skips.OfType<ProvableSkip>()]);
        if (carriedSteps > 0) progress?.Report($"carried over {carriedSteps} of {steps.Count} steps from the interrupted run");
        int[] todo = [.. Enumerable.Range(0, steps.Count).Where(i => !done[i])];
        var files = new Dictionary<(string, int, int), string>();
        string File(ProvableStep step)
        {
            var key = (step.Arch, step.Epochs, step.Seed);
            if (!files.TryGetValue(key, out string? path)) files[key] = path = modelFile(step.Arch, step.Epochs, step.Seed);
            return path;
        }
        using ProgressScope shown = WorkProgress.Begin("provable study", todo.Length);
        var session = new ProvableExperimentSession(splits, options.Solver);
        int finished = carriedSteps;
        for (int next = 0; next < todo.Length;)
        {
            var wave = new List<int>();
            for (; next < todo.Length; next++)
            {
                ProvableStep step = steps[todo[next]];
                if (step.TimeLimitSeconds is not null && wave.Any(i => SameRows(steps[i], step))) break;
                wave.Add(todo[next]);
            }
            var toRun = new List<int>();
            foreach (int index in wave)
            {
                ProvableStep step = steps[index];
                if (OverBudgetBefore(Runs(), step) is { } earlier)
                {
                    // A later seed of an LP that ran out of its solver budget would spend the budget again for no figure.
                    skips[index] = new ProvableSkip(step.Section, step.Arch, step.Seed, step.Variant.Name, step.RepairSet, Inv($"seed {earlier.Seed} hit the {step.TimeLimitSeconds:0} s solver budget"));
                    progress?.Report($"[{clock.Elapsed.TotalMinutes:F1} min, {++finished}/{steps.Count}] {step.Section}: {step.Variant.Name} on {step.Arch} (seed {step.Seed}) skipped: {skips[index]!.Reason}");
                    partial?.Invoke(Report());
                    shown.Advance();
                    continue;
                }
                toRun.Add(index);
            }
            (runner ?? InProcessStepRunner.Instance).Run<ProvableStep, ProvableRun>(Name, [.. toRun.Select(i => new ExperimentStep<ProvableStep>(steps[i], File(steps[i])))], (step, path) => session.Run(step, path!), (j, run) =>
            {
                ProvableStep step = steps[toRun[j]];
                ran[toRun[j]] = run;
                RepairReport report = run.Report;
                progress?.Report($"[{clock.Elapsed.TotalMinutes:F1} min, {++finished}/{steps.Count}] {step.Section}: {step.Variant.Name} on {step.Arch} (seed {step.Seed}) at {step.Layer}, {step.RepairSet}: "
                    + $"{report.Status}, efficacy {report.Efficacy:P1}, drawdown {report.Drawdown:P2}, generalisation {report.Generalization:+0.00%;-0.00%}, {report.TimeS.Total:F1} s");
                partial?.Invoke(Report());
                shown.Advance();
            });
        }
        return Report();
    }

    /// <summary>Whether two steps are the same row of the results (section, model, variant, repair set) for another seed.</summary>
    private static bool SameRows(ProvableStep a, ProvableStep b) =>
        a.Section == b.Section && a.Arch == b.Arch && a.Variant.Name == b.Variant.Name && a.RepairSet == b.RepairSet && a.Seed != b.Seed;

    /// <summary>
    /// The earlier run of the same section, model, variant and repair set (another seed) whose LP solve hit its time limit,
    /// when <paramref name="step"/> has a solver budget of its own; such a step is skipped. (Fine-tuning's step budget also
    /// ends as a time limit, but it has no LP and costs a minute: it always runs.)
    /// </summary>
    private static ProvableRun? OverBudgetBefore(IEnumerable<ProvableRun> runs, ProvableStep step) =>
        step.TimeLimitSeconds is null ? null : runs.FirstOrDefault(r => r.Section == step.Section && r.Arch == step.Arch && r.Seed != step.Seed
            && r.Variant == step.Variant.Name && r.Report.RepairSet == step.RepairSet && r.Report.Lp is not null
            && r.Report.Status == RepairReport.StatusName(RepairStatus.TimeLimit));

    /// <summary>
    /// The runs and skips of <paramref name="earlier"/> that are steps of the plan (matched by section, model, seed,
    /// variant and repair set; earlier records the plan no longer has are dropped), in their earlier order, and which
    /// steps they cover; an earlier run made with another command, thread count, solver or default preservation is refused.
    /// </summary>
    private static (List<ProvableRun> Runs, List<ProvableSkip> Skipped, bool[] Done) CarriedOver(ProvableStudyReport earlier, IReadOnlyList<ProvableStep> steps, string command, int threads, string solver, int preserve)
    {
        if (earlier.Command != command || earlier.Threads != threads || earlier.Solver != solver || earlier.DefaultPreserve != preserve)
            throw new ReparoInputException($"cannot resume: the earlier run was `{earlier.Command}` (solver {earlier.Solver}, {earlier.Threads} threads, preserve {earlier.DefaultPreserve}), this one is `{command}` (solver {solver}, {threads} threads, preserve {preserve})");
        var done = new bool[steps.Count];
        bool Claim(string section, string arch, int seed, string variant, string set, Func<ProvableStep, bool> valid)
        {
            for (int i = 0; i < steps.Count; i++)
            {
                ProvableStep s = steps[i];
                if (done[i] || s.Section != section || s.Arch != arch || s.Seed != seed || s.Variant.Name != variant || s.RepairSet != set || !valid(s)) continue;
                done[i] = true;
                return true;
            }
            return false;
        }
        List<ProvableRun> kept = [.. earlier.Runs.Where(r => Claim(r.Section, r.Arch, r.Seed, r.Variant, r.Report.RepairSet, _ => true))];
        // A skip stands only while the rule still skips that step given the runs kept.
        List<ProvableSkip> skipped = [.. (earlier.Skipped ?? []).Where(k => Claim(k.Section, k.Arch, k.Seed, k.Variant, k.RepairSet, step => OverBudgetBefore(kept, step) is not null))];
        return (kept, skipped, done);
    }

    /// <summary>The results file: aggregated tables (mean ± sd over seeds), the goals checked, then every run.</summary>
    public static string ToMarkdown(ProvableStudyReport report, string jsonPath, bool complete = true)
    {
        var text = new StringBuilder();
        text.AppendLine("# Provable repair experiments (APRNN protocol on Fashion-MNIST)");
        text.AppendLine();
        IReadOnlyList<ProvableSkip> skips = report.Skipped ?? [];
        if (!complete) text.AppendLine($"**Partial: {report.Runs.Count + skips.Count} steps of the plan are done; the rest have not run yet (`--resume` continues the run from its JSON).**").AppendLine();
        double[] loads = [.. report.Runs.Select(r => r.LoadBefore).Where(double.IsFinite)];
        text.AppendLine(Inv($"Produced by `{report.Command}` ({report.Threads} threads, {report.Cores} cores, {report.Minutes:F1} min in all); every figure below is in [{Path.GetFileName(jsonPath)}](data/{Path.GetFileName(jsonPath)})."));
        if (report.CarriedOver > 0)
            text.AppendLine(Inv($"The first {report.CarriedOver} runs were carried over from an interrupted run of the same command (`--resume`); their times were measured then, under the load given per run below."));
        // The study's own threads account for a load of about report.Threads; one more runnable task means other work.
        int busy = loads.Count(load => load >= report.Threads + 1);
        text.AppendLine(Inv($"Machine load (1-minute average) when the steps started: {(loads.Length == 0 ? "unknown" : $"median {Median(loads):F2}, max {loads.Max():F2}")} on {report.Cores} cores; the study's own {report.Threads} threads account for about {report.Threads}, so a value of {report.Threads + 1} or more means other work inflated the timings{(busy > 0 ? $" ({busy} of {loads.Length} runs started so: their seconds are not the method's cost on an idle machine)" : "")}."));
        text.AppendLine();
        text.AppendLine(Inv($"LP solver: {report.Solver}; ε = 1e-3, bound ±3. Efficacy is the independent verifier's (float32 and float64 re-run of every point or vertex). Drawdown: clean test accuracy before − after, on the test set without the repair images. Generalisation: accuracy gain on the rest of the corrupted test set (rotations: the same images rotated every 0.1°, vertex angles excluded). `fog:3:N` takes the first N fog images the model gets wrong (Reparo's protocol); `fog:3:N:any` the first N fog images whatever the prediction (APRNN's). Variants: **provable (default)** is Reparo's default, the parameter objective plus {PreserveRequest.DefaultLayerPenalty:G3}·mean |change of the repaired layer's outputs| on {report.DefaultPreserve} preserved training inputs (nothing held for them; their classes are measured, not constrained); **provable (preserve N, penalised-layer)** is the default's form with N inputs; **provable (preserve N, hard)** holds N preserved inputs by hard constraints (pattern and margin; with 300, the earlier default); **provable (preserve N, penalised)** keeps N preserved inputs' activation patterns and adds {PreserveRequest.DefaultPenalty:G3}·(L∞ + mean L1) of their logit changes to the objective instead of their margin rows; **provable (param objective, no preserve)** is Reparo's LP before locality; **provable (aprnn objective)** is APRNN's joint L∞ + normalised L1 over output and parameter changes, without preserved inputs. An LP whose whole program (preserved inputs included) the encoder's counting walk predicts above {MaxLpNonzeros:N0} nonzeros is not attempted (status too_large)."));
        foreach (IGrouping<string, ProvableRun> section in report.Runs.GroupBy(r => r.Section))
        {
            text.AppendLine();
            text.AppendLine($"## {section.Key}");
            text.AppendLine();
            text.AppendLine("| model | layer | repair set | method | seeds | verified | efficacy | drawdown | generalisation | Δ L∞ | preserved kept | solve s | total s | LP rows × cols (nnz) |");
            text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var g in section.GroupBy(r => (r.Arch, r.Report.Layer, r.Report.RepairSet, r.Variant)))
            {
                ProvableRun[] rows = [.. g];
                RepairReport last = rows[^1].Report;
                string lp = last.Lp is { } s ? Inv($"{s.Rows:N0} × {s.Cols:N0} ({s.Nonzeros:N0})") : "–";
                string kept = rows.All(r => r.Report.PreservedKept is not null) && rows[0].Preserve > 0 ? Inv($"{rows.Average(r => (double)r.Report.PreservedKept!.Value / r.Preserve):P1}") : "–";
                string plain = last.ModelKind is null || last.PlainNetwork ? "" : " (not a plain network)";
                text.AppendLine(Inv($"| {g.Key.Arch} | {g.Key.Layer} | {g.Key.RepairSet} | {g.Key.Variant}{plain} | {rows.Length} | {rows.Count(r => r.Report.Verified)}/{rows.Length} | {Pm(rows, r => r.Efficacy)} | {Pm(rows, r => r.Drawdown)} | {Pm(rows, r => r.Generalization)} | {Pm(rows, r => r.ParamDeltaLinf, "G3")} | {kept} | {Pm(rows, r => r.TimeS.Solve, "F1")} | {Pm(rows, r => r.TimeS.Total, "F1")} | {lp} |"));
            }
        }
        if (skips.Count > 0)
        {
            text.AppendLine();
            text.AppendLine("Not run (a later seed of an LP that ran out of its solver budget is skipped; the seeds column above counts what ran):");
            text.AppendLine();
            foreach (ProvableSkip skip in skips)
                text.AppendLine($"- {skip.Section}: {skip.Variant} on {skip.Arch} (seed {skip.Seed}), {skip.RepairSet}: {skip.Reason}.");
        }
        AppendGoals(text, report);
        text.AppendLine();
        text.AppendLine("## Every run");
        text.AppendLine();
        text.AppendLine("| section | model | seed | layer | repair set | method | status | efficacy | drawdown | generalisation (before → after) | Δ L∞ | Δ L1 | changed preds | encode / solve / verify / total s | LP rows × cols (nnz) | load |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (ProvableRun r in report.Runs)
        {
            RepairReport x = r.Report;
            string lp = x.Lp is { } s ? Inv($"{s.Rows:N0} × {s.Cols:N0} ({s.Nonzeros:N0})") : "–";
            text.AppendLine(Inv($"| {r.Section} | {r.Arch} | {r.Seed} | {x.Layer} | {x.RepairSet} | {r.Variant} | {x.Status} | {P(x.Efficacy)} | {P(x.Drawdown)} | {P(x.Generalization)} ({P(x.Metrics.GeneralizationBefore)} → {P(x.Metrics.GeneralizationAfter)}) | {x.ParamDeltaLinf:G3} | {x.ParamDeltaL1:G3} | {P(x.ChangedPredictions)} | {x.TimeS.Encode:F2} / {x.TimeS.Solve:F2} / {x.TimeS.Verify:F2} / {x.TimeS.Total:F2} | {lp} | {r.LoadBefore:F2} |"));
        }
        return text.ToString();
    }

    /// <summary>The issue's goals for the default provable repair under the failures protocol, checked against the runs; a seed that was not verified is named with its status and solve time (the measured reason of a miss).</summary>
    private static void AppendGoals(StringBuilder text, ProvableStudyReport report)
    {
        ProvableRun[] exp1 = [.. report.Runs.Where(r => r.Section.StartsWith("Exp. 1 (fog", StringComparison.Ordinal) && !r.Report.RepairSet.EndsWith(":any", StringComparison.Ordinal))];
        if (exp1.Length == 0) return;
        text.AppendLine();
        text.AppendLine("## Goals (failures protocol, default settings)");
        text.AppendLine();
        foreach ((string arch, double goal, double aprnn) in new[] { ("mlp:100x3", 0.015, 0.0128), ("mlp:200x9", 0.03, 0.0138) })
        {
            ProvableRun[] mine = [.. exp1.Where(r => r.Arch == arch && r.Variant == "provable (default)")];
            ProvableRun[] ft = [.. exp1.Where(r => r.Arch == arch && r.Variant == "ft")];
            if (mine.Length == 0) continue;
            double drawdown = mine.Average(r => r.Report.Drawdown), generalisation = mine.Average(r => r.Report.Generalization);
            int verified = mine.Count(r => r.Report.Verified);
            string ftPart = ft.Length == 0 ? "no ft rows" : Inv($"ft {P(ft.Average(r => r.Report.Generalization))}: {(generalisation >= ft.Average(r => r.Report.Generalization) ? "met" : "missed")}");
            string why = string.Join("; ", mine.Where(r => !r.Report.Verified).Select(r => Inv($"seed {r.Seed}: {r.Report.Status} after {r.Report.TimeS.Solve:F1} s of solving")));
            text.AppendLine(Inv($"- {arch}, {mine[0].Report.RepairSet}: drawdown {P(drawdown)} over {mine.Length} seeds (goal ≤ {P(goal)}; APRNN reports {P(aprnn)}): **{(drawdown <= goal ? "met" : "missed")}**; verified efficacy 100 % in {verified}/{mine.Length} seeds: **{(verified == mine.Length ? "met" : "missed")}**{(why.Length > 0 ? $" ({why})" : "")}; generalisation {P(generalisation)} against {ftPart}."));
        }
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static string P(double v) => double.IsNaN(v) ? "–" : v.ToString("0.00%", CultureInfo.InvariantCulture);

    /// <summary>Mean ± sample standard deviation over the rows (the mean alone for one row); percentages unless a format is given.</summary>
    private static string Pm(ProvableRun[] rows, Func<RepairReport, double> value, string? format = null)
    {
        double[] v = [.. rows.Select(r => value(r.Report))];
        string F(double x) => format is null ? P(x) : x.ToString(format, CultureInfo.InvariantCulture);
        if (v.Length == 1) return F(v[0]);
        MeanStd summary = MeanStd.Of(v);
        return $"{F(summary.Mean)} ± {F(summary.Std)}";
    }

    private static double Median(double[] values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}

/// <summary>
/// The provable experiment's step function, wherever it runs: the step's model (kept for the next step on the same
/// file), its repair problem (built once per model and repair set: corrupting the test set and choosing the failures is
/// the same for every method), the repair and its report.
/// </summary>
/// <param name="splits">Fashion-MNIST.</param>
/// <param name="solver">The study's LP solver settings (a step's own time limit replaces theirs).</param>
public sealed class ProvableExperimentSession(DataSplits splits, LpSolverOptions solver)
{
    private readonly Dictionary<string, RepairProblem> problems = [];
    private (string Path, Network Network)? loaded;

    /// <summary>Runs <paramref name="step"/> on the model in <paramref name="modelPath"/>.</summary>
    public ProvableRun Run(ProvableStep step, string modelPath)
    {
        if (loaded?.Path != modelPath)
        {
            loaded = (modelPath, ModelFile.Load(modelPath));
            problems.Clear();
        }
        Network network = loaded.Value.Network;
        if (!problems.TryGetValue(step.RepairSet, out RepairProblem? problem)) problems[step.RepairSet] = problem = RepairSetSpec.Build(step.RepairSet, network, splits, step.Seed);
        var settings = new RepairSettings
        {
            Layer = step.Layer,
            Rows = step.Rows,
            Solver = step.TimeLimitSeconds is { } limit ? solver with { TimeLimitSeconds = limit } : solver,
            MaxLpNonzeros = ProvableStudy.MaxLpNonzeros,
            Objective = step.Variant.Objective,
            Preserve = step.Variant.Preserve > 0 ? new PreserveRequest(splits.Train, step.Variant.Preserve, step.Seed, Penalty: step.Variant.Penalty, PenaltyOn: step.Variant.PenaltyOn) : null,
            Seed = step.Seed,
        };
        double load = MachineLoad.OneMinute();
        RepairResult result = RepairMethods.Create(step.Variant.Method, settings).Repair(problem);
        return new ProvableRun(step.Section, step.Arch, step.Seed, step.Variant.Name, step.Variant.Preserve, load, RepairReport.Create(problem, result));
    }
}
