using System.CommandLine;
using Reparo.Data;
using Reparo.Runtime;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary><c>reparo doctor</c>: torch version, threads, LP solvers and datasets found on this machine.</summary>
internal static class DoctorCommand
{
    private sealed record DatasetStatus(string Name, string? Folder, string? Problem);

    private sealed record DoctorReport(string TorchVersion, int Threads, int ProcessorCount, IReadOnlyList<string> Solvers, IReadOnlyList<DatasetStatus> Datasets);

    public static Command Create(CliContext cli)
    {
        var dataDir = new Option<string?>("--data-dir") { Description = "Folder searched first for dataset files", HelpName = "DIR" };
        var command = new Command("doctor", "Report the torch version, threads, available LP solvers and datasets found") { dataDir };
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            RuntimeReport runtime = TorchRuntime.Report();
            string? dir = parse.GetValue(dataDir);
            var datasets = new[] { DataResolver.FashionMnist, DataResolver.WordNet, DataResolver.Fortunes, DataResolver.Digits }
                .Select(layout =>
                {
                    try
                    {
                        return new DatasetStatus(layout.Name, DataResolver.Locate(layout, dir), null);
                    }
                    catch (ReparoInputException e)
                    {
                        return new DatasetStatus(layout.Name, null, e.Message);
                    }
                }).ToArray();
            var table = new Table().AddColumns("item", "status");
            table.AddRow("torch", Markup.Escape(runtime.TorchVersion));
            table.AddRow("threads", $"{runtime.Threads} of {runtime.ProcessorCount} processors");
            table.AddRow("LP solvers", Markup.Escape(runtime.Solvers.Count == 0 ? "none" : string.Join(", ", runtime.Solvers)));
            foreach (DatasetStatus d in datasets) table.AddRow(Markup.Escape(d.Name), Markup.Escape(d.Folder ?? $"missing: {d.Problem}"));
            run.Out.Write(table);
            run.WriteJson(new DoctorReport(runtime.TorchVersion, runtime.Threads, runtime.ProcessorCount, runtime.Solvers, datasets));
            return CliApp.Success;
        });
        return command;
    }
}
