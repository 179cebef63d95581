using System.CommandLine;
using System.Globalization;
using Reparo.Cli.Cluster;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Io;
using Reparo.Localisation;
using Reparo.Models;
using Reparo.Repair;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo study --model M --data D --repair-set SPEC --methods provable,ft,edit --heuristics all --sizes 10,25,50,100 --json R [--cluster redis://HOST:PORT [--resume]]</c>:
/// the informed-repair study on one model — repair-set analysis, brute force over every candidate layer, every layer
/// heuristic's pick, regret, rank correlation and cost — printed as a table, with a plot and JSON; with <c>--cluster</c>
/// each case runs on a worker of the cluster.
/// </summary>
internal static class StudyCommand
{
    /// <summary>The options that say what the study runs (read the same way by the command and by a worker running one of its cases).</summary>
    internal sealed class StudyArguments
    {
        public Option<string> Model { get; } = new("--model") { Description = "The model file", Required = true, HelpName = "PATH" };
        public Option<string> RepairSet { get; } = new("--repair-set") { Description = "Repair sets without their size, comma-separated: fog:3, rotations:-10:10:3, trojan (the study fills in each size)", Required = true, HelpName = "SPEC[,SPEC…]" };
        public Option<string> Methods { get; } = new("--methods") { Description = "Repair methods: provable, prdnn, ft, mft, edit (comma-separated)", DefaultValueFactory = _ => "provable,ft,edit", HelpName = "LIST" };
        public Option<string> Heuristics { get; } = new("--heuristics") { Description = $"Layer heuristics: all or a list of {string.Join(", ", LayerHeuristics.All.Select(h => h.Name))}", DefaultValueFactory = _ => "all", HelpName = "all|LIST" };
        public Option<string> Sizes { get; } = new("--sizes") { Description = "Repair-set sizes (comma-separated)", DefaultValueFactory = _ => "10,25,50,100", HelpName = "LIST" };
        public Option<long> MaxLp { get; } = new("--max-lp-nonzeros") { Description = "Do not attempt provable repairs whose predicted LP has more nonzeros than this (0: attempt all)", DefaultValueFactory = _ => 10_000_000, HelpName = "N" };
        public DataArguments Data { get; } = new();
        public RepairCommand.MethodArguments Repair { get; } = new();

        public void AddTo(Command command)
        {
            foreach (Option option in new Option[] { Model, RepairSet, Methods, Heuristics, Sizes, MaxLp }) command.Options.Add(option);
            Data.AddTo(command);
            Repair.AddTo(command, layerOptions: false);
        }

        /// <summary>The model (from <paramref name="modelPath"/> when given, else <c>--model</c>), its data and the study's settings.</summary>
        public (Network Network, DataSplits Splits, InformedRepairOptions Options) Prepare(ParseResult parse, int seed, ModelLoadOptions loading, string? modelPath = null)
        {
            string[] List(string text) => text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            int[] sizes = [.. List(parse.GetValue(Sizes)!).Select(s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0
                ? n : throw new ReparoInputException($"--sizes: '{s}' is not a positive integer"))];
            string[] methods = [.. List(parse.GetValue(Methods)!).Select(RepairMethods.Require)];
            foreach (string m in methods)
                if (m is "lastlayer" or "lookup") throw new ReparoInputException($"--methods: '{m}' has no layer to choose; use provable, prdnn, ft, mft or edit");
            var options = new InformedRepairOptions
            {
                RepairSets = List(parse.GetValue(RepairSet)!),
                Sizes = sizes,
                Methods = methods,
                Heuristics = LayerHeuristics.Parse(parse.GetValue(Heuristics)!),
                Settings = Repair.Read(parse, seed),
                Seed = seed,
                MaxLpNonzeros = parse.GetValue(MaxLp) is > 0 and long cap ? cap : null,
            };
            Network network = ModelFile.Load(modelPath ?? parse.GetValue(Model)!, loading);
            DataSplits splits = Data.Load(parse, network);
            options = options with { Settings = options.Settings with { Preserve = Repair.PreserveFrom(parse, 0, splits.Train, seed) } };
            return (network, splits, options);
        }
    }

    /// <summary>The command; <paramref name="arguments"/> lets a worker read a study's command line with the same options.</summary>
    public static Command Create(CliContext cli, StudyArguments? arguments = null)
    {
        var plot = new Option<string?>("--plot") { Description = "Write the figure (PNG) here", HelpName = "PATH" };
        var markdown = new Option<string?>("--markdown") { Description = "Write the tables as Markdown here", HelpName = "PATH" };
        var cluster = new Option<string?>("--cluster") { Description = "Run each case on a worker of this cluster (reparo worker --cluster …); the JSON equals the local run's, timings aside", HelpName = "redis://HOST:PORT" };
        var resume = new Option<bool>("--resume") { Description = "With --cluster: continue the last run of this study from the results recorded in Redis" };
        arguments ??= new StudyArguments();
        var reportFile = new ReportArgument();
        var command = new Command("study", "Which layer to repair: every layer heuristic against brute force, per method and repair-set size") { plot, markdown, cluster, resume };
        arguments.AddTo(command);
        reportFile.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string? reportPath = reportFile.Read(parse);
            if (parse.GetValue(resume) && parse.GetValue(cluster) is null) throw new ReparoInputException("--resume continues a cluster run: give --cluster too");
            (Network network, DataSplits splits, InformedRepairOptions options) = arguments.Prepare(parse, run.Seed, run.ModelLoading);
            StudyReport report = parse.GetValue(cluster) is string address
                ? StudyCases.RunOnCluster(Reparo.Cluster.ClusterAddress.Parse(address), parse.GetValue(arguments.Model)!, cli.Arguments, network, options, parse.GetValue(resume), new Progress<string>(run.Note), out _)
                : InformedRepairStudy.Run(network, splits, options, new Progress<string>(run.Note));
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
}
