using System.CommandLine;
using System.Globalization;
using Reparo.Data;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Repair.Provable;
using Reparo.Reporting;
using Reparo.UseCases;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo repair --method provable|prdnn|lastlayer|ft|mft|lookup --model M --data D --repair-set SPEC --layer L --out M2 --json R</c>:
/// repairs a model on a repair set, re-checks the result independently and reports efficacy, drawdown, generalisation,
/// locality, time and LP size. A model is written only when the verifier accepted every region.
/// </summary>
internal static class RepairCommand
{
    /// <summary>The options that choose and tune a repair method (shared with the experiments).</summary>
    internal sealed class MethodArguments
    {
        public Option<string?> Layer { get; } = new("--layer") { Description = "Layer to edit: name (fc2, block1.fc1) or index; 'all' for ft/mft; 'auto' to let the informed-repair rule choose", HelpName = "NAME|INDEX|auto" };
        public Option<string?> Rows { get; } = new("--rows") { Description = "Only these output rows/channels of the layer change: START:END (end exclusive)", HelpName = "a:b" };
        public Option<string> Solver { get; } = new("--solver") { Description = "LP solver: block-ipm (default: Reparo's interior point on the LP's block structure; falls back to highs), highs, glop, pdlp, clp or gurobi", DefaultValueFactory = _ => "block-ipm" };
        public Option<double> Epsilon { get; } = new("--epsilon") { Description = "Margin of the correct logit over every other", DefaultValueFactory = _ => 1e-3 };
        public Option<double> Bound { get; } = new("--bound") { Description = "Bound on every parameter change", DefaultValueFactory = _ => 3 };
        public Option<double?> TimeLimit { get; } = new("--time-limit") { Description = "Time limit in seconds for the solver (LP methods: all of one repair's solves together)", HelpName = "S" };

        public Option<string?> MaxMemory { get; } = new("--max-memory")
        {
            Description = "Refuse a provable LP whose memory (at least twice its storage, counted before it is built) exceeds SIZE (e.g. 8G, 512M; default: half of this machine's memory)",
            HelpName = "SIZE",
        };
        public Option<int?> SolverThreads { get; } = new("--solver-threads") { Description = "Solver threads (default: the solver's)" };
        public Option<double?> FeasibilityTolerance { get; } = new("--feasibility-tolerance") { Description = "Solver primal/dual feasibility tolerance" };
        public Option<double?> OptimalityTolerance { get; } = new("--optimality-tolerance") { Description = "Solver optimality tolerance" };
        public Option<string[]> SolverOptions { get; } = new("--solver-option") { Description = "Further solver option NAME=VALUE in the solver's own names (repeatable); unknown names are errors", HelpName = "NAME=VALUE" };
        public Option<string> Objective { get; } = new("--objective") { Description = "What the LP minimises: param (max + mean |parameter change|) or aprnn (APRNN's L∞ + normalised L1 over the repair points' output changes and the parameter changes together)", DefaultValueFactory = _ => "param", HelpName = "param|aprnn" };
        public Option<int?> Preserve { get; } = new("--preserve") { Description = $"LP methods: keep N correctly classified training inputs (seeded) in the LP, as --preserve-as says (locality; 0: none; default {PreserveRequest.DefaultCount} for provable, 0 for the paper baselines prdnn and lastlayer)", HelpName = "N" };
        public Option<string> PreserveAs { get; } = new("--preserve-as") { Description = "How the LP keeps the preserved inputs: penalised-layer (default: W·mean |change| of the repaired layer's outputs on them added to the objective; nothing held and nothing after the layer walked, every row inside one neuron's block, so the solve stays cheap; whether they keep their class is measured, not promised), hard (their activation patterns held and their class kept by the margin; they enter the LP only as far as a solution breaks them) or penalised (their patterns held, W·(L∞ + mean L1) of their logit changes added to the objective; every input adds rows that link the whole layer, so the solve slows quickly as they grow: keep them to tens)", DefaultValueFactory = _ => "penalised-layer", HelpName = "penalised-layer|hard|penalised" };
        public Option<double?> PreserveWeight { get; } = new("--preserve-weight") { Description = $"The weight W of --preserve-as penalised-layer (default {PreserveRequest.DefaultLayerPenalty}) or penalised (default {PreserveRequest.DefaultPenalty})", HelpName = "W" };
        public Option<double> LogitWeight { get; } = new("--logit-weight") { Description = "Add W·(L∞ + mean L1) of the logit changes on the repair points to the LP objective (drawdown proxy)", DefaultValueFactory = _ => 0 };
        public Option<bool> ConstraintGeneration { get; } = new("--constraint-generation") { Description = "Hold back the sign rows of switched-off neurons and add them only when violated (same optimum; several solves)" };
        public Option<double> LearningRate { get; } = new("--lr") { Description = "ft/mft: Adam learning rate", DefaultValueFactory = _ => 1e-3 };
        public Option<int> MaxSteps { get; } = new("--max-steps") { Description = "ft/mft: step budget", DefaultValueFactory = _ => 2000 };
        public Option<double> ChangePenalty { get; } = new("--change-penalty") { Description = "mft: penalty on the squared parameter change", DefaultValueFactory = _ => 1e-2 };

        private bool hasLayerOptions;

        public void AddTo(Command command, bool layerOptions = true)
        {
            hasLayerOptions = layerOptions;
            if (layerOptions)
            {
                command.Options.Add(Layer);
                command.Options.Add(Rows);
            }
            foreach (Option option in new Option[] { Solver, Epsilon, Bound, TimeLimit, MaxMemory, SolverThreads, FeasibilityTolerance, OptimalityTolerance, SolverOptions, Objective, Preserve, PreserveAs, PreserveWeight, LogitWeight, ConstraintGeneration, LearningRate, MaxSteps, ChangePenalty })
                command.Options.Add(option);
        }

        public RepairSettings Read(ParseResult parse, int seed, string? exportLp = null) => new()
        {
            Layer = hasLayerOptions ? parse.GetValue(Layer) ?? "" : "",
            Rows = hasLayerOptions && parse.GetValue(Rows) is string rows ? ParseRows(rows) : null,
            Epsilon = Positive(parse.GetValue(Epsilon), "--epsilon"),
            Bound = Positive(parse.GetValue(Bound), "--bound"),
            Solver = new LpSolverOptions
            {
                Solver = LpSolverOptions.ParseSolver(parse.GetValue(Solver)!),
                TimeLimitSeconds = parse.GetValue(TimeLimit),
                Threads = parse.GetValue(SolverThreads),
                FeasibilityTolerance = parse.GetValue(FeasibilityTolerance),
                OptimalityTolerance = parse.GetValue(OptimalityTolerance),
                Extra = ParseSolverOptions(parse.GetValue(SolverOptions) ?? []),
            },
            ExportLpPath = exportLp,
            Objective = ProvableRepair.ParseObjective(parse.GetValue(Objective)!),
            LogitChangeWeight = parse.GetValue(LogitWeight),
            ConstraintGeneration = parse.GetValue(ConstraintGeneration),
            LearningRate = parse.GetValue(LearningRate),
            MaxSteps = parse.GetValue(MaxSteps),
            ChangePenalty = parse.GetValue(ChangePenalty),
            MaxMemoryBytes = MemorySize.Parse(parse.GetValue(MaxMemory), "--max-memory") ?? MemorySize.HalfOfMachine(),
            Seed = seed,
        };

        /// <summary>
        /// The <c>--preserve</c> request on <paramref name="train"/> (null for 0). Without the option, <paramref name="defaultCount"/>
        /// inputs at most (fewer if the model gets fewer right); with it, exactly that many or an input error.
        /// </summary>
        public PreserveRequest? PreserveFrom(ParseResult parse, int defaultCount, Dataset train, int seed)
        {
            (double? penalty, PreservedChange on) = PreservePenalty(parse);
            return parse.GetValue(Preserve) switch
            {
                null => defaultCount > 0 ? new PreserveRequest(train, defaultCount, seed, AtMost: true, penalty, on) : null,
                0 => null,
                < 0 and var n => throw new ReparoInputException($"--preserve must be 0 or more, got {n}"),
                var n => new PreserveRequest(train, n.Value, seed, Penalty: penalty, PenaltyOn: on),
            };
        }

        /// <summary>The weight of the preserved inputs' penalised change (null for hard constraints) and where it is measured (<c>--preserve-as</c>, <c>--preserve-weight</c>).</summary>
        private (double? Weight, PreservedChange On) PreservePenalty(ParseResult parse)
        {
            double? weight = parse.GetValue(PreserveWeight);
            (double? Weight, PreservedChange On) Penalised(PreservedChange on, double byDefault)
            {
                double w = weight ?? byDefault;
                return w > 0 && double.IsFinite(w) ? (w, on) : throw new ReparoInputException($"--preserve-weight must be a positive number, got {w}");
            }
            return parse.GetValue(PreserveAs)!.Trim().ToLowerInvariant() switch
            {
                "hard" => weight is null ? (null, PreservedChange.Logits) : throw new ReparoInputException("--preserve-weight weighs --preserve-as penalised-layer or penalised; --preserve-as hard has no weight"),
                "penalised" or "penalized" => Penalised(PreservedChange.Logits, PreserveRequest.DefaultPenalty),
                "penalised-layer" or "penalized-layer" => Penalised(PreservedChange.LayerOutput, PreserveRequest.DefaultLayerPenalty),
                var other => throw new ReparoInputException($"unknown --preserve-as '{other}'; choose penalised-layer, hard or penalised"),
            };
        }

        private static double Positive(double value, string name) =>
            value > 0 && double.IsFinite(value) ? value : throw new ReparoInputException($"{name} must be a positive number, got {value}");

        private static (int, int) ParseRows(string text)
        {
            string[] parts = text.Split(':');
            if (parts.Length == 2 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out int a) && int.TryParse(parts[1], CultureInfo.InvariantCulture, out int b) && a >= 0 && b > a)
                return (a, b);
            throw new ReparoInputException($"--rows '{text}' should be START:END with 0 ≤ START < END");
        }

        private static Dictionary<string, string> ParseSolverOptions(string[] items)
        {
            var result = new Dictionary<string, string>();
            foreach (string item in items)
            {
                int eq = item.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0) throw new ReparoInputException($"--solver-option '{item}' should be NAME=VALUE");
                result[item[..eq].Trim()] = item[(eq + 1)..].Trim();
            }
            return result;
        }
    }

    public static Command Create(CliContext cli)
    {
        var method = new Option<string>("--method") { Description = $"Repair method: {string.Join(", ", RepairMethods.Names)}", Required = true, HelpName = "METHOD" };
        var model = new Option<string>("--model") { Description = "The model file", Required = true, HelpName = "PATH" };
        var repairSet = new Option<string>("--repair-set") { Description = "What to repair: CORRUPTION:SEVERITY:N (fog:3:100: the first N corrupted test images the model gets wrong), CORRUPTION:SEVERITY:N:any (the first N whatever it predicts), failures:N (the first N test inputs it gets wrong, any data), file:PATH, npz:PATH (x, y, optional regions), rotations:MIN:MAX:K:N[:CORRUPTION:SEVERITY], trojan:N", Required = true, HelpName = "SPEC" };
        var output = new Option<string?>("--out") { Description = "Write the repaired model here (only if verified and a plain network)", HelpName = "PATH" };
        var exportLp = new Option<string?>("--export-lp") { Description = "Write the LP in MPS format (LP methods)", HelpName = "PATH" };
        var data = new DataArguments();
        var arguments = new MethodArguments();
        var reportFile = new ReportArgument();
        var command = new Command("repair", "Repair a model on a repair set and verify the result independently") { method, model, repairSet, output, exportLp };
        data.AddTo(command);
        arguments.AddTo(command);
        reportFile.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string modelPath = parse.GetValue(model)!;
            string? outPath = parse.GetValue(output);
            string? reportPath = reportFile.Read(parse);
            RepairSettings settings = arguments.Read(parse, run.Seed, parse.GetValue(exportLp));
            string methodName = RepairMethods.Require(parse.GetValue(method)!);
            Network network = run.LoadModel(modelPath);
            DataSplits splits = data.Load(parse, network);
            settings = settings with { Preserve = arguments.PreserveFrom(parse, methodName == "provable" ? PreserveRequest.DefaultCount : 0, splits.Train, run.Seed) };
            var request = new RepairRequest(methodName, network, splits, parse.GetValue(repairSet)!, settings, run.Seed, outPath, Evidence: reportPath is not null);
            (RepairReport report, bool written, string? notWritten) = RepairUseCase.Run(request, new OutLines(run));
            if (notWritten is not null) run.Note(notWritten);
            Print(run.Out, report);
            if (written)
                run.Out.WriteLine($"repaired model written to {outPath}" + (report.VerifiedOnnxRuntime == true ? $" (verified in ONNX Runtime on all {report.Vertices} repair inputs, smallest margin {report.OnnxRuntimeMinMargin:G4})" : ""));
            run.WriteJson(report);
            if (reportPath is not null) run.WriteReport(reportPath, report.ToDocument());
            if (report.VerifiedOnnxRuntime == false)
                throw new ReparoInputException($"the repaired ONNX model misclassifies a repair input in ONNX Runtime (smallest margin {report.OnnxRuntimeMinMargin:G4}); no model written");
            if (report.Verified) return CliApp.Success;
            throw new ReparoInputException($"repair {report.Status}: {report.Message}" + (outPath is null || report.Message.Contains("no model written", StringComparison.Ordinal) ? "" : "; no model written"));
        });
        return command;
    }

    /// <summary>Progress lines of the repair, on the command's output.</summary>
    private sealed class OutLines(CommandRun run) : IProgress<string>
    {
        public void Report(string value) => run.Out.MarkupLine(Markup.Escape(value));
    }

    /// <summary>Prints a report as a table plus the provable line.</summary>
    internal static void Print(IAnsiConsole console, RepairReport r)
    {
        var table = new Table().AddColumns("measure", "value");
        table.AddRow("method / layer", Markup.Escape($"{r.Method} / {r.Layer}"));
        table.AddRow("status", r.Status);
        table.AddRow("efficacy (verified)", $"{r.Efficacy:P1}");
        table.AddRow("drawdown", $"{r.Drawdown:P2} ({r.Metrics.AccuracyBefore:P2} → {r.Metrics.AccuracyAfter:P2})");
        if (!double.IsNaN(r.Metrics.GeneralizationBefore))
            table.AddRow("generalisation", $"{r.Generalization:+0.00%;-0.00%} ({r.Metrics.GeneralizationBefore:P2} → {r.Metrics.GeneralizationAfter:P2})");
        table.AddRow("param Δ L∞ / L1", $"{r.ParamDeltaLinf:G4} / {r.ParamDeltaL1:G4}");
        table.AddRow("changed predictions", $"{r.ChangedPredictions:P2}");
        table.AddRow("time prepare | encode/solve/verify/total", $"{r.TimeS.Prepare:F2} | {r.TimeS.Encode:F2} / {r.TimeS.Solve:F2} / {r.TimeS.Verify:F2} / {r.TimeS.Total:F2} s");
        if (r.Lp is { } lp) table.AddRow("LP rows × cols, nonzeros", $"{lp.Rows:N0} × {lp.Cols:N0}, {lp.Nonzeros:N0} ({r.Solver})");
        if (r.VerifiedOnnxRuntime is bool ort) table.AddRow("ONNX Runtime on the written file", $"{(ort ? "verified" : "FAILED")}, smallest margin {r.OnnxRuntimeMinMargin:G4}");
        console.Write(table);
        foreach (string note in r.Notes) console.WriteLine("  " + note);
        console.MarkupLine(Markup.Escape(r.Message));
    }
}
