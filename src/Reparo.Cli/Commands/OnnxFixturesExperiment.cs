using System.CommandLine;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Io;
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
            CommandRun run = arguments.Start(cli, parse);
            string folder = parse.GetValue(fixtures)!;
            if (!Directory.Exists(folder)) throw new ReparoInputException($"fixtures folder {folder} not found; pass --fixtures DIR");
            bool quick = parse.GetValue(arguments.Quick);
            DataSplits data = arguments.LoadFashionMnist(parse);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            OnnxFixtureReport report = OnnxFixtureStudy.Run(folder, data, OnnxFixtureStudy.Plan(quick), run.Seed, quick, new Progress<string>(run.Note));
            string commandLine = "./reparo experiment onnx" + (quick ? " --quick" : "") + $" --threads {run.Threads}"
                + (parse.GetValue(arguments.Markdown) is string md ? $" --markdown {md}" : "") + (run.JsonPath is { } json ? $" --json {json}" : "");
            string section = OnnxFixtureStudy.ToMarkdown(report, commandLine, run.Threads, clock.Elapsed.TotalMinutes);
            run.Out.WriteLine(section);
            if (parse.GetValue(arguments.Markdown) is string path) MarkdownSection.Write(path, "# ONNX", OnnxFixtureStudy.SectionHeading, section);
            run.WriteJson(report);
            arguments.WriteReport(run, parse, section);
            return CliApp.Success;
        });
        return command;
    }
}
