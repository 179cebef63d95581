using System.Globalization;
using System.Text;
using Reparo.Reporting;

namespace Reparo.Experiments;

public static partial class OnnxFixtureStudy
{
    /// <summary>The heading of the section <see cref="ToMarkdown"/> writes, in the shared ONNX results file.</summary>
    public const string SectionHeading = "## Models a PyTorch user exported";

    /// <summary>The section "Models a PyTorch user exported" of <c>reparo experiment onnx</c>: one row per fixture, then the speed rows.</summary>
    public static string ToMarkdown(OnnxFixtureReport report, string command, int threads, double minutes)
    {
        var text = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        text.AppendLine(SectionHeading).AppendLine();
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
