using System.CommandLine;
using System.Globalization;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Io;
using Reparo.Localisation;
using Reparo.Models;
using Reparo.Repair;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo study --model M --data D --repair-set SPEC --methods provable,ft,edit --heuristics all --sizes 10,25,50,100 --json R</c>:
/// the informed-repair study on one model — repair-set analysis, brute force over every candidate layer, every layer
/// heuristic's pick, regret, rank correlation and cost — printed as a table, with a plot and JSON.
/// </summary>
internal static class StudyCommand
{
    public static Command Create(CliContext cli)
    {
        var model = new Option<string>("--model") { Description = "The model file", Required = true, HelpName = "PATH" };
        var repairSet = new Option<string>("--repair-set") { Description = "Repair sets without their size, comma-separated: fog:3, rotations:-10:10:3, trojan (the study fills in each size)", Required = true, HelpName = "SPEC[,SPEC…]" };
        var methods = new Option<string>("--methods") { Description = "Repair methods: provable, prdnn, ft, mft, edit (comma-separated)", DefaultValueFactory = _ => "provable,ft,edit", HelpName = "LIST" };
        var heuristics = new Option<string>("--heuristics") { Description = $"Layer heuristics: all or a list of {string.Join(", ", LayerHeuristics.All.Select(h => h.Name))}", DefaultValueFactory = _ => "all", HelpName = "all|LIST" };
        var sizes = new Option<string>("--sizes") { Description = "Repair-set sizes (comma-separated)", DefaultValueFactory = _ => "10,25,50,100", HelpName = "LIST" };
        var plot = new Option<string?>("--plot") { Description = "Write the figure (PNG) here", HelpName = "PATH" };
        var markdown = new Option<string?>("--markdown") { Description = "Write the tables as Markdown here", HelpName = "PATH" };
        var maxLp = new Option<long>("--max-lp-nonzeros") { Description = "Do not attempt provable repairs whose predicted LP has more nonzeros than this (0: attempt all)", DefaultValueFactory = _ => 10_000_000, HelpName = "N" };
        var data = new DataArguments();
        var arguments = new RepairCommand.MethodArguments();
        var reportFile = new ReportArgument();
        var command = new Command("study", "Which layer to repair: every layer heuristic against brute force, per method and repair-set size") { model, repairSet, methods, heuristics, sizes, plot, markdown, maxLp };
        data.AddTo(command);
        arguments.AddTo(command, layerOptions: false);
        reportFile.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string? reportPath = reportFile.Read(parse);
            InformedRepairOptions options = Read(parse, repairSet, methods, heuristics, sizes, arguments, run.Seed) with
            {
                MaxLpNonzeros = parse.GetValue(maxLp) is > 0 and long cap ? cap : null,
            };
            Network network = ModelFile.Load(parse.GetValue(model)!);
            DataSplits splits = data.Load(parse, network);
            options = options with { Settings = options.Settings with { Preserve = arguments.PreserveFrom(parse, 0, splits.Train, run.Seed) } };
            StudyReport report = InformedRepairStudy.Run(network, splits, options, new Progress<string>(run.Note));
            string text = InformedRepairStudy.ToMarkdown(report);
            run.Out.WriteLine(text);
            if (parse.GetValue(markdown) is string path) AtomicFile.WriteAllText(path, text);
            if (parse.GetValue(plot) is string png) StudyPlot.Write(png, report);
            run.WriteJson(report);
            run.WriteReport(reportPath, report.ToDocument());
            return CliApp.Success;
        });
        return command;
    }

    private static InformedRepairOptions Read(ParseResult parse, Option<string> repairSet, Option<string> methods, Option<string> heuristics, Option<string> sizes,
        RepairCommand.MethodArguments arguments, int seed)
    {
        string[] List(string text) => text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        int[] parsedSizes = [.. List(parse.GetValue(sizes)!).Select(s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0
            ? n : throw new ReparoInputException($"--sizes: '{s}' is not a positive integer"))];
        string[] parsedMethods = [.. List(parse.GetValue(methods)!).Select(RepairMethods.Require)];
        foreach (string m in parsedMethods)
            if (m is "lastlayer" or "lookup") throw new ReparoInputException($"--methods: '{m}' has no layer to choose; use provable, prdnn, ft, mft or edit");
        return new InformedRepairOptions
        {
            RepairSets = List(parse.GetValue(repairSet)!),
            Sizes = parsedSizes,
            Methods = parsedMethods,
            Heuristics = LayerHeuristics.Parse(parse.GetValue(heuristics)!),
            Settings = arguments.Read(parse, seed),
            Seed = seed,
        };
    }
}
