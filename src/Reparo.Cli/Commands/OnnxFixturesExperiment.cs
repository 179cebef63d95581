using System.CommandLine;
using System.Globalization;
using System.Text;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Io;
using Reparo.Reporting;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment onnx [--fixtures DIR] [--quick] [--markdown PATH]</c>: models a PyTorch user exported to ONNX,
/// imported, repaired or explained on Fashion-MNIST, written back as ONNX and re-run in ONNX Runtime
/// (<see cref="OnnxFixtureStudy"/>); writes the section "Models a PyTorch user exported" of a Markdown file and the
/// rows as JSON.
/// </summary>
internal static class OnnxFixturesExperiment
{
    private const string Heading = "## Models a PyTorch user exported";

    public static Command Create(CliContext cli)
    {
        var fixtures = new Option<string>("--fixtures")
        {
            Description = "Folder of ONNX models (NAME/model.onnx with NAME/reference.json): mlp, cnn, resnet, vit, lstm, gru",
            DefaultValueFactory = _ => Path.Combine("..", "shared", "fixtures", "onnx"),
            HelpName = "DIR",
        };
        var arguments = new ExperimentArguments("Smaller repair sets and influence profiles", "docs/results/onnx.md");
        var command = new Command("onnx", "ONNX models a PyTorch user exported: import, repair (provable, edit, ft) or influence, ONNX out, re-run in ONNX Runtime") { fixtures };
        arguments.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string folder = parse.GetValue(fixtures)!;
            if (!Directory.Exists(folder)) throw new ReparoInputException($"fixtures folder {folder} not found; pass --fixtures DIR");
            bool quick = parse.GetValue(arguments.Quick);
            DataSplits data = arguments.LoadFashionMnist(parse);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            OnnxFixtureReport report = OnnxFixtureStudy.Run(folder, data, OnnxFixtureStudy.Plan(quick), run.Seed, quick, new Progress<string>(run.Note));
            string commandLine = "./reparo experiment onnx" + (quick ? " --quick" : "") + $" --threads {run.Threads}"
                + (parse.GetValue(arguments.Markdown) is string md ? $" --markdown {md}" : "") + (run.JsonPath is { } json ? $" --json {json}" : "");
            string section = Markdown(report, commandLine, run.Threads, clock.Elapsed.TotalMinutes);
            run.Out.WriteLine(section);
            if (parse.GetValue(arguments.Markdown) is string path) MarkdownSection.Write(path, "# ONNX", Heading, section);
            run.WriteJson(report);
            return CliApp.Success;
        });
        return command;
    }

    private static string Markdown(OnnxFixtureReport report, string command, int threads, double minutes)
    {
        var text = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        text.AppendLine(Heading).AppendLine();
        text.AppendLine(c, $"Produced by `{command}` on {DateTime.UtcNow:yyyy-MM-dd} ({threads} threads, {minutes:F1} min in all). Timings are from this run; the machine's 1-minute load average when it started was {report.LoadAverageAtStart:F2} on {report.Cores} cores (near 0: otherwise idle).");
        text.AppendLine();
        text.AppendLine("Each model is imported from the file PyTorch wrote, checked against PyTorch's logits on its reference inputs, then repaired or explained on Fashion-MNIST, written back as ONNX (the user's graph with only the changed initializers replaced) and re-run in ONNX Runtime 1.31.1 on 200 test images.");
        text.AppendLine();
        text.AppendLine("| model | opset | import (s) | max \\|Reparo − PyTorch\\| | method | layer | repair set | status | efficacy (verified) | drawdown | ONNX Runtime on the written file | max \\|ORT − Reparo\\| | initializers replaced |");
        text.AppendLine("|---|---:|---:|---:|---|---|---|---|---:|---:|---|---:|---|");
        foreach (OnnxFixtureRow r in report.Rows)
        {
            RepairReport? rep = r.Repair;
            string efficacy = rep is null ? "—" : $"{rep.Efficacy:P1}" + (rep.Verified ? "" : " (not verified)");
            string drawdown = rep is null ? "—" : $"{rep.Drawdown:P2}";
            string ort = rep?.VerifiedOnnxRuntime is bool v ? $"{(v ? "verified" : "FAILED")}, smallest margin {rep.OnnxRuntimeMinMargin:G3}" : "—";
            string method = r.Influence is { } inf ? $"influence (K = {inf.K}, {inf.TrainingSamples} training samples, build {inf.BuildSeconds:F1} s; query test {inf.QueryTestIndex}: fault step {inf.FaultStep?.ToString(c) ?? "—"}, top hit train {inf.Top[0].TrainIndex} at {inf.Top[0].Distance:G3})" : r.Method;
            text.AppendLine(c, $"| {r.Model} | {r.Opset} | {r.ImportSeconds:F3} | {r.ReferenceMaxDiff:G2} | {method} | {r.Layer} | {r.RepairSet} | {r.Status} | {efficacy} | {drawdown} | {ort} | {r.OnnxRuntimeMaxDiff:G2} | {(r.ReplacedInitializers.Count == 0 ? "none" : string.Join(", ", r.ReplacedInitializers))} |");
        }
        text.AppendLine();
        OnnxSpeedRows s = report.Speed;
        text.AppendLine("Speed (benchmark rows from the same run; median and maximum of " + s.Repeats.ToString(c) + " repetitions):").AppendLine();
        text.AppendLine("| what | median (s) | max (s) | goal |");
        text.AppendLine("|---|---:|---:|---|");
        text.AppendLine(c, $"| import the cnn fixture | {s.ImportCnnSecondsMedian:F3} | {s.ImportCnnSecondsMax:F3} | ≤ 0.5 s |");
        text.AppendLine(c, $"| ONNX Runtime re-verification of 100 repair points (repaired mlp, session creation included) | {s.OnnxRuntimeVerify100SecondsMedian:F3} | {s.OnnxRuntimeVerify100SecondsMax:F3} | ≤ 1 s |");
        return text.ToString();
    }
}
