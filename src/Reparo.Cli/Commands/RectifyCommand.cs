using System.CommandLine;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Repair.Editing;
using Reparo.UseCases;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo rectify --model M --data D --pairs trojan:1 --mode dynamic|static|p-clarc|a-clarc --layer auto|K --budget 0.01 --out M2 --json R</c>:
/// attribution-guided rectification (Yang et al., CVPR'26) of a Trojan, spurious-correlation or feature-leakage model from
/// n cleansed pairs drawn from the validation split, with before/after measurements on the test split; or, for a model
/// Reparo did not poison, from the user's pairs (<c>--pairs npz:PATH</c>, ASR on <c>--trigger-test npz:PATH</c>). The
/// ClArC baselines run from the same pairs with <c>--mode p-clarc|a-clarc</c>; the use case picks the method.
/// </summary>
internal static class RectifyCommand
{
    /// <summary>The options that tune a rectification (shared with the experiment).</summary>
    internal sealed class RectifyArguments
    {
        public Option<string> Mode { get; } = CreateMode();
        public Option<bool> Paper { get; } = new("--paper")
        {
            Description = "The paper's method exactly (Yang et al., CVPR'26). Reparo's defaults differ in seven ways, each also an option: the clean twins' keys are held "
                + "(--preserve-clean), the corruption moved elsewhere in the image is held (--hold-elsewhere), the pairs are transplanted onto 20 held-out images in all (--augment 20), "
                + "a rolled-back layer is followed by the next most editable one (--next-on-rollback), "
                + "a round that closes less than a quarter of the gap is rolled back (--min-gap-closed 0.25), 200 more transplants are held back and those the corruption "
                + "still steers after the edits join the pairs (--held-back 200), and the loop runs to a pair gap of 0.01 (--gap; the paper: 0.05). "
                + "Options given explicitly apply on top of either base",
        };
        public Option<string> Layer { get; } = new("--layer") { Description = "auto (localise by editability; with p-clarc/a-clarc: the classifier) or a layer's dotted name (fc1, block1.conv2; ClArC needs a Linear layer)", DefaultValueFactory = _ => "auto", HelpName = "auto|NAME" };
        public Option<double> Budget { get; } = new("--budget") { Description = "ε: most held-out accuracy the edits may cost (0.01 = 1 point)", DefaultValueFactory = _ => 0.01 };
        public Option<double> Gap { get; } = new("--gap") { Description = $"δ: stop once the pairs' clean/corrupted prediction gap (total variation) is at most this (default {RectifyOptions.RecommendedGap}; with --paper 0.05)", HelpName = "DELTA" };
        public Option<int> MaxRounds { get; } = new("--max-rounds") { Description = "Most edits the dynamic loop keeps (a rolled-back round does not count: it stops the loop or, with --next-on-rollback, excludes its layer)", DefaultValueFactory = _ => 5 };
        public Option<EditabilityScore> Score { get; } = new("--score") { Description = "Editability score: raw or perparameter", DefaultValueFactory = _ => EditabilityScore.Raw };
        public Option<EditSolver> Solver { get; } = new("--solver") { Description = "Edit solver: auto, closedform, leastsquares or iterative", DefaultValueFactory = _ => EditSolver.Auto };
        public Option<KeyKind> Keys { get; } = new("--keys") { Description = "Keys: auto, vector, patch or channel", DefaultValueFactory = _ => KeyKind.Auto };
        public Option<bool> PreserveClean { get; } = new("--preserve-clean") { Description = "Hold the clean twins' keys to their values (default true; with --paper false)", HelpName = "true|false" };
        public Option<bool> HoldElsewhere { get; } = new("--hold-elsewhere") { Description = "Hold what the layer does with the corruption moved to the other cells of a 3 × 3 grid of the image (default true; with --paper false)", HelpName = "true|false" };
        public Option<double> Ridge { get; } = new("--ridge") { Description = "Ridge of the key second moment, relative to its mean eigenvalue", DefaultValueFactory = _ => 1e-3 };
        public Option<int> Augment { get; } = new("--augment") { Description = $"Transplant the pairs' corruption onto this many held-out images in all, ⌈N / pairs⌉ per pair (default {RectifyOptions.RecommendedAugment}; with --paper 0)", HelpName = "N" };
        public Option<bool> NextOnRollback { get; } = new("--next-on-rollback") { Description = "After a rollback try the next most editable layer instead of stopping (default true; with --paper false)", HelpName = "true|false" };
        public Option<double> MinGapClosed { get; } = new("--min-gap-closed") { Description = $"Roll back a dynamic round whose edit closes less than this share of the gap above δ, so the next layer is tried (default {RectifyOptions.RecommendedMinGapClosed}; with --paper 0: never)", HelpName = "SHARE" };
        public Option<int> HeldBack { get; } = new("--held-back") { Description = $"Transplant the pairs' corruption onto this many more held-out images in all (⌈N / pairs⌉ per pair), kept out of the edits: once the pairs' gap is at most δ, those the corruption still steers (to the class it gave the pair) join the pairs and the loop goes on (default {RectifyOptions.RecommendedHeldBack}; with --paper 0: no check)", HelpName = "N" };
        public Option<int> IgSteps { get; } = new("--ig-steps") { Description = "Layer-IG steps for localisation", DefaultValueFactory = _ => 16 };
        public Option<int> StatisticsSamples { get; } = new("--statistics-samples") { Description = "Clean training images the key second moments are estimated on", DefaultValueFactory = _ => 4000 };

        private static Option<string> CreateMode()
        {
            var mode = new Option<string>("--mode")
            {
                Description = "dynamic (localise → edit → check, with rollback), static (one edit at the last feature layer), or a baseline: "
                    + "p-clarc / a-clarc, Class Artifact Compensation (Anders et al. 2022), which finds the artifact's direction in the classifier's input from the same pairs "
                    + "and projects it out (p-clarc) or fine-tunes the classifier on clean features moved along it (a-clarc)",
                DefaultValueFactory = _ => "dynamic",
                HelpName = string.Join("|", RectifyModes.Names),
            };
            mode.AcceptOnlyFromAmong([.. RectifyModes.Names]);
            return mode;
        }

        public void AddTo(Command command)
        {
            foreach (Option option in new Option[] { Mode, Paper, Layer, Budget, Gap, MaxRounds, Score, Solver, Keys, PreserveClean, HoldElsewhere, Ridge, Augment, NextOnRollback, MinGapClosed, HeldBack, IgSteps, StatisticsSamples })
                command.Options.Add(option);
        }

        /// <summary>Reparo's defaults (or the paper's with <c>--paper</c>), then every option the user gave.</summary>
        public RectifyOptions Read(ParseResult parse, int seed)
        {
            RectifyMode mode = RectifyModes.Parse(parse.GetValue(Mode)!);
            RectifyOptions start = parse.GetValue(Paper) ? RectifyOptions.Paper(mode, seed) : RectifyOptions.Recommended(mode, seed);
            T Given<T>(Option<T> option, T fallback) => parse.GetResult(option) is { Implicit: false } ? parse.GetValue(option)! : fallback;
            EditOptions edit = start.Edit ?? new EditOptions();
            return start with
            {
                Layer = parse.GetValue(Layer)!,
                Budget = parse.GetValue(Budget),
                Gap = Given(Gap, start.Gap),
                MaxRounds = parse.GetValue(MaxRounds),
                Score = parse.GetValue(Score),
                IgSteps = parse.GetValue(IgSteps),
                Edit = edit with
                {
                    Keys = parse.GetValue(Keys),
                    Solver = parse.GetValue(Solver),
                    PreserveClean = Given(PreserveClean, edit.PreserveClean),
                    HoldElsewhere = Given(HoldElsewhere, edit.HoldElsewhere),
                },
                Ridge = parse.GetValue(Ridge),
                Augment = Given(Augment, start.Augment),
                NextOnRollback = Given(NextOnRollback, start.NextOnRollback),
                MinGapClosed = Given(MinGapClosed, start.MinGapClosed),
                HeldBack = Given(HeldBack, start.HeldBack),
            };
        }
    }

    public static Command Create(CliContext cli)
    {
        var model = new Option<string>("--model") { Description = "The model file (trained with reparo train --poison, or give --poison)", Required = true, HelpName = "PATH" };
        var pairs = new Option<string>("--pairs") { Description = "Cleansed pairs: trojan:N, spurious:N or block:N (drawn from the validation split), or npz:PATH (arrays corrupted, clean, optional labels)", Required = true, HelpName = "KIND:N|npz:PATH" };
        var triggerTest = new Option<string?>("--trigger-test") { Description = "With --pairs npz:PATH: triggered inputs to measure the attack success rate on, npz:PATH (x, optional y and scalar target)", HelpName = "npz:PATH" };
        var target = new Option<int?>("--target") { Description = "With --trigger-test: the class the trigger sends inputs to (default: the archive's target)", HelpName = "C" };
        var poison = new Option<string?>("--poison") { Description = $"The model's poisoning when its file does not record it: {PoisonSpec.SpecHelp}", HelpName = "SPEC" };
        var output = new Option<string?>("--out") { Description = "Write the rectified model here", HelpName = "PATH" };
        var data = new DataArguments();
        var arguments = new RectifyArguments();
        var reportFile = new ReportArgument();
        var command = new Command("rectify", "Remove a Trojan, spurious correlation or feature leakage with rank-one edits from a few cleansed pairs (or with the ClArC baselines: --mode p-clarc|a-clarc)") { model, pairs, poison, output, triggerTest, target };
        data.AddTo(command);
        arguments.AddTo(command);
        reportFile.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string modelPath = parse.GetValue(model)!;
            string? outPath = parse.GetValue(output);
            string? reportPath = reportFile.Read(parse);
            RectifyOptions options = arguments.Read(parse, run.Seed);
            var request = new RectifyRequest(run.LoadModel(modelPath), modelPath, parse.GetValue(pairs)!, parse.GetValue(triggerTest), parse.GetValue(target), parse.GetValue(poison),
                options, parse.GetValue(arguments.StatisticsSamples), run.Seed, network => data.Load(parse, network), outPath);
            RectificationRun result = RectifyUseCase.Run(request);
            Print(run.Out, result);
            if (outPath is not null) run.Out.WriteLine($"rectified model written to {outPath}");
            run.WriteJson(result.Report(outPath));
            if (reportPath is not null) run.WriteReport(reportPath, result.ToDocument());
            return CliApp.Success;
        });
        return command;
    }

    internal static void Print(IAnsiConsole console, RectificationRun r)
    {
        var table = new Table().AddColumns("measure", "before", "after");
        table.AddRow("clean test accuracy", $"{r.Before.Accuracy:P2}", $"{r.After.Accuracy:P2}");
        if (r.Before.Asr is double asr) table.AddRow("attack success rate", $"{asr:P2}", $"{r.After.Asr:P2}");
        if (r.Before.AsrByCorner is { } corners)
            foreach ((string corner, double value) in corners) table.AddRow($"  ASR, trigger {corner}", $"{value:P2}", $"{r.After.AsrByCorner![corner]:P2}");
        if (r.Before.SpuriousDeviation is double dev)
        {
            table.AddRow("accuracy, other classes clean", $"{r.Before.OthersAccuracy:P2}", $"{r.After.OthersAccuracy:P2}");
            table.AddRow("accuracy, with artifact", $"{r.Before.ArtifactAccuracy:P2}", $"{r.After.ArtifactAccuracy:P2}");
            table.AddRow("spurious deviation", $"{dev:P2}", $"{r.After.SpuriousDeviation:P2}");
        }
        if (r.Before.Leakage is double leak) table.AddRow("leakage (IG mass on null block)", $"{leak:P2}", $"{r.After.Leakage:P2}");
        table.AddRow("held-out accuracy", $"{r.Rectification.HeldOutAccuracyBefore:P2}", $"{r.Rectification.HeldOutAccuracyAfter:P2}");
        table.AddRow("pair gap", $"{r.Rectification.GapBefore:G3}", $"{r.Rectification.GapAfter:G3}");
        console.Write(table);
        foreach (RectificationRound round in r.Rectification.Rounds)
        {
            if (round.Scores.Count > 0)
                console.MarkupLine(Markup.Escape($"round {round.Round}: layer auto chose {round.Layer}, the most editable (attribution its rank-one edit carries: {string.Join(", ", round.Scores.OrderByDescending(s => s.Raw).Take(4).Select(s => $"{s.Layer} {s.Raw:G3}"))}); evidence: docs/results/informed-repair.md"));
            console.MarkupLine(Markup.Escape($"round {round.Round}: {round.Layer} ({round.Solver}, ‖ΔW‖ {round.DeltaNorm:G3}) gap {round.GapBefore:G3} → {round.GapAfter:G3}, held-out {round.HeldOutAccuracy:P2}, {(round.Kept ? "kept" : "rolled back")}"
                + (round.HeldBackStillSteered is int steered ? $"; the corruption still steers {steered} held-back pair(s)" : "")));
        }
        RectifyTiming t = r.Rectification.Time;
        console.MarkupLine(Markup.Escape($"layers {string.Join(", ", r.Rectification.Layers)}; stopped: {r.Rectification.StopReason}; localise + edit {t.LocaliseAndEdit:F2} s (statistics {t.Statistics:F2} s, evaluation {t.Evaluate:F2} s, total {t.Total:F2} s)"));
    }
}
