using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Reparo.Data;
using Reparo.Evaluation;
using Reparo.Models;
using Reparo.Repair;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment provable [--quick]</c>: the APRNN experiments (Tao et al. PLDI'23) re-run on Fashion-MNIST —
/// Exp. 1 (fog point repair, every method side by side, then repair-set sizes), Exp. 3 (rotation polytopes) and a CNN
/// repaired at a convolution and at its first linear layer. Prints tables, writes JSON and a Markdown results file.
/// </summary>
internal static class ExperimentCommand
{
    private sealed record Run(string Experiment, string Model, string Note, RepairReport Report);

    private sealed record Step(string Experiment, string Arch, int Epochs, string Layer, string RepairSet, string Method, (int Start, int End)? Rows = null);

    public static Command Create(CliContext cli)
    {
        var arguments = new ExperimentArguments("A small version (one small model, small repair sets): minutes instead of an hour", "docs/results/provable.md");
        var solverThreads = new Option<int?>("--solver-threads") { Description = "LP solver threads (default: the solver's)" };
        var provable = new Command("provable", "APRNN experiments on Fashion-MNIST: provable vs PRDNN vs last-layer LP vs FT vs MFT vs lookup; sizes; rotation polytopes; CNN")
        {
            solverThreads,
        };
        arguments.AddTo(provable);
        provable.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            bool small = parse.GetValue(arguments.Quick);
            DataSplits splits = arguments.LoadFashionMnist(parse);
            string folder = arguments.ModelFolder(parse);
            var models = new Dictionary<string, Network>();
            Network Model(string arch, int epochs)
            {
                string key = $"{arch}-e{epochs}";
                if (!models.TryGetValue(key, out Network? network))
                {
                    string path = Path.Combine(folder, $"experiment-{arch.Replace(':', '-')}-e{epochs}-s{run.Seed}.reparo");
                    models[key] = network = DemoCommand.LoadOrTrain(run, false, path, arch, epochs, splits).Network;
                }
                return network;
            }
            var runs = new List<Run>();
            var clock = Stopwatch.StartNew();
            string command = "./reparo experiment provable" + (small ? " --quick" : "") + $" --threads {run.Threads}";
            List<Step> steps = [.. Plan(small)];
            foreach (Step step in steps)
            {
                Network network = Model(step.Arch, step.Epochs);
                RepairProblem problem = RepairSetSpec.Build(step.RepairSet, network, splits, run.Seed);
                var settings = new RepairSettings
                {
                    Layer = step.Layer,
                    Rows = step.Rows,
                    Solver = new Repair.Provable.LpSolverOptions { Threads = parse.GetValue(solverThreads), TimeLimitSeconds = 1800 },
                    Seed = run.Seed,
                };
                run.Note($"[{clock.Elapsed.TotalMinutes:F1} min] {step.Experiment}: {step.Method} on {step.Arch} at {step.Layer}{(step.Rows is null ? "" : $" rows {step.Rows.Value.Start}:{step.Rows.Value.End}")}, {step.RepairSet}");
                RepairResult result = RepairMethods.Create(step.Method, settings).Repair(problem);
                RepairReport report = RepairReport.Create(problem, result);
                runs.Add(new Run(step.Experiment, step.Arch, step.Rows is { } rows ? $"rows {rows.Start}:{rows.End}" : "", report));
                run.Note($"    {report.Status}, efficacy {report.Efficacy:P1}, drawdown {report.Drawdown:P2}, generalisation {report.Generalization:+0.00%;-0.00%}, {report.TimeS.Total:F1} s");
                arguments.WriteProgress(parse, runs.Count, steps.Count, partial => Markdown(runs, command, run.Threads, clock.Elapsed.TotalMinutes, partial));
            }
            return arguments.Finish(run, parse, Markdown(runs, command, run.Threads, clock.Elapsed.TotalMinutes), runs);
        });
        return new Command("experiment", "Re-run a paper's experiments (with --quick for a small version)") { provable, RectificationExperiment.Create(cli), RnnRepairExperiment.Create(cli), InformedRepairExperiment.Create(cli), OnnxConformanceExperiment.Create(cli), OnnxFixturesExperiment.Create(cli) };
    }

    private static IEnumerable<Step> Plan(bool quick)
    {
        string[] methods = [.. RepairMethods.Names.Where(m => m != "edit")];
        if (quick)
        {
            foreach (string m in methods) yield return new Step("Exp. 1 (fog point repair)", "mlp:100x3", 8, "fc2", "fog:3:20", m);
            foreach (int n in new[] { 10, 40 }) yield return new Step("Exp. 1 sizes", "mlp:100x3", 8, "fc2", $"fog:3:{n}", "provable");
            yield return new Step("Exp. 3 (rotation polytopes)", "mlp:100x3", 8, "fc1", "rotations:-30:30:3:2", "provable");
            yield break;
        }
        foreach (string m in methods) yield return new Step("Exp. 1 (fog point repair)", "mlp:100x3", 10, "fc2", "fog:3:100", m);
        foreach (string m in methods) yield return new Step("Exp. 1 (fog point repair)", "mlp:200x9", 10, "fc7", "fog:3:100", m);
        foreach (int n in new[] { 10, 25, 50, 100, 200 }) yield return new Step("Exp. 1 sizes", "mlp:100x3", 10, "fc2", $"fog:3:{n}", "provable");
        yield return new Step("Exp. 3 (rotation polytopes)", "mlp:100x9", 10, "fc1", "rotations:-30:30:7:5", "provable");
        yield return new Step("CNN", "cnn", 10, "conv2", "fog:3:10", "provable", (0, 4));
        yield return new Step("CNN", "cnn", 10, "fc1", "fog:3:10", "provable");
    }

    private static string Markdown(IReadOnlyList<Run> runs, string command, int threads, double minutes, string? partial = null)
    {
        string P(double v) => double.IsNaN(v) ? "–" : v.ToString("0.00%", CultureInfo.InvariantCulture);
        string G(double v) => v.ToString("G3", CultureInfo.InvariantCulture);
        StringBuilder text = ExperimentArguments.Heading("Provable repair experiments (APRNN protocol on Fashion-MNIST)", command, threads, minutes, partial);
        text.AppendLine("Solver: HiGHS interior point without crossover (OR-Tools 9.15).");
        text.AppendLine("Efficacy is the independent verifier's (float32 and float64 re-run of every point or vertex); drawdown is clean test accuracy before − after");
        text.AppendLine("(test set without the repair images); generalisation is the accuracy gain on the rest of the corrupted test set (for rotations: the same images rotated every 0.1°, vertex angles excluded).");
        foreach (IGrouping<string, Run> group in runs.GroupBy(r => r.Experiment))
        {
            text.AppendLine();
            text.AppendLine($"## {group.Key}");
            text.AppendLine();
            text.AppendLine("| model | method | layer | repair set | status | efficacy | drawdown | generalisation (before → after) | Δ L∞ | Δ L1 | changed preds | encode / solve / verify / total s | LP rows × cols (nnz) |");
            text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (Run r in group)
            {
                RepairReport x = r.Report;
                string lp = x.Lp is { } s ? $"{s.Rows:N0} × {s.Cols:N0} ({s.Nonzeros:N0})" : "–";
                string plain = x.PlainNetwork ? "" : " (not a plain network)";
                text.AppendLine(CultureInfo.InvariantCulture, $"| {r.Model} | {x.Method}{plain} | {x.Layer} {r.Note} | {x.RepairSet} | {x.Status} | {P(x.Efficacy)} | {P(x.Drawdown)} | {P(x.Generalization)} ({P(x.Metrics.GeneralizationBefore)} → {P(x.Metrics.GeneralizationAfter)}) | {G(x.ParamDeltaLinf)} | {G(x.ParamDeltaL1)} | {P(x.ChangedPredictions)} | {x.TimeS.Encode:F2} / {x.TimeS.Solve:F2} / {x.TimeS.Verify:F2} / {x.TimeS.Total:F2} | {lp} |");
            }
        }
        return text.ToString();
    }
}
