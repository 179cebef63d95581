using System.CommandLine;
using Reparo.Data;
using Reparo.Evaluation;
using Reparo.Models;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary><c>reparo bench train</c>: a table of training and inference throughput for each zoo model.</summary>
internal static class BenchCommand
{
    private sealed record BenchResult(string Data, int Threads, IReadOnlyList<TrainingSpeed> Rows);

    public static Command Create(CliContext cli)
    {
        var data = new DataArguments(defaultData: "fashion-mnist");
        var archs = new Option<string>("--archs")
        {
            Description = "Comma-separated architectures",
            DefaultValueFactory = _ => string.Join(",", ModelZoo.ImageBenchmarkArchitectures),
        };
        var batchSize = new Option<int>("--batch-size") { Description = "Samples per step", DefaultValueFactory = _ => 128 };
        var batches = new Option<int>("--batches") { Description = "Timed steps per model", DefaultValueFactory = _ => 30 };
        var train = new Command("train", "Measure forward+backward samples/s and epoch time of each zoo model") { archs, batchSize, batches };
        data.AddTo(train);
        train.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            DataSplits splits = data.Load(parse);
            var rows = new List<TrainingSpeed>();
            foreach (string arch in parse.GetValue(archs)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                run.Note($"bench: {arch}");
                rows.Add(TrainingBenchmark.Measure(arch, splits.Train, parse.GetValue(batchSize), parse.GetValue(batches), run.Seed));
            }
            var table = new Table().AddColumns("model", "parameters", "train samples/s", "inference samples/s", $"epoch s ({splits.Train.Count} samples)");
            foreach (TrainingSpeed r in rows)
                table.AddRow(Markup.Escape(r.Architecture), r.Parameters.ToString("N0"), r.TrainSamplesPerSecond.ToString("N0"), r.InferenceSamplesPerSecond.ToString("N0"), r.EpochSeconds.ToString("F1"));
            run.Out.MarkupLine($"training throughput on {Markup.Escape(parse.GetValue(data.Data)!)}, batch {parse.GetValue(batchSize)}, {run.Threads} threads");
            run.Out.Write(table);
            run.WriteJson(new BenchResult(parse.GetValue(data.Data)!, run.Threads, rows));
            return CliApp.Success;
        });
        return new Command("bench", "Benchmarks (print a table, write JSON)") { train };
    }
}
