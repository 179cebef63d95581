using System.CommandLine;
using Reparo.Experiments;
using Reparo.Reporting;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment onnx-conformance [--testdata DIR] [--markdown PATH]</c>: ONNX's node conformance tests (Debian's
/// <c>libonnx-testdata</c>) through Reparo's ONNX operators; prints passed/total per op, writes the section
/// "ONNX node conformance" of a Markdown file and the full report as JSON.
/// </summary>
internal static class OnnxConformanceExperiment
{
    public static Command Create(CliContext cli)
    {
        var testData = new Option<string>("--testdata")
        {
            Description = "Folder of ONNX node tests (test_*/model.onnx)",
            DefaultValueFactory = _ => OnnxConformance.DefaultTestData,
            HelpName = "DIR",
        };
        var markdown = new Option<string?>("--markdown") { Description = "Write or replace the section \"ONNX node conformance\" of this Markdown file (e.g. docs/results/onnx.md)", HelpName = "PATH" };
        var reportFile = new ReportArgument();
        var command = new Command("onnx-conformance", "ONNX's node conformance tests (Debian's libonnx-testdata) through Reparo's ONNX operators") { testData, markdown };
        reportFile.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string? reportPath = reportFile.Read(parse);
            string folder = parse.GetValue(testData)!;
            OnnxConformanceReport report = OnnxConformance.Run(folder);
            int width = report.Ops.Max(o => o.Op.Length);
            foreach (OnnxOpConformance op in report.Ops)
            {
                string extra = (op.Failed > 0 ? $", {op.Failed} failed" : "") + (op.Unsupported > 0 ? $", {op.Unsupported} unsupported" : "");
                run.Out.WriteLine($"{op.Op.PadRight(width)}  {op.Passed}/{op.Total}{extra}");
            }
            run.Out.WriteLine($"{report.Passed} passed, {report.Failed} failed, {report.Unsupported} unsupported of {report.Total} tests ({report.NotClaimed} not counted: ops Reparo does not claim)");
            foreach (OnnxTestOutcome t in report.Tests.Where(t => t.Status == OnnxTestStatus.Failed)) run.Out.WriteLine($"failed: {t.Test}: {t.Reason}");
            string? path = parse.GetValue(markdown);
            string commandLine = "./reparo experiment onnx-conformance" + (folder == OnnxConformance.DefaultTestData ? "" : $" --testdata {folder}")
                + (path is null ? "" : $" --markdown {path}") + (run.JsonPath is { } json ? $" --json {json}" : "");
            if (path is not null) OnnxConformance.WriteMarkdown(path, report, commandLine);
            run.WriteJson(report);
            run.WriteReport(reportPath, MarkdownDocument.Parse(OnnxConformance.Markdown(report, commandLine)));
            return CliApp.Success;
        });
        return command;
    }
}
