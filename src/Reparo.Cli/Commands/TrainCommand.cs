using System.CommandLine;
using Reparo.Data;
using Reparo.Models;
using Reparo.Training;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary><c>reparo train --data D --arch A --epochs N --out M</c>: trains a zoo model and saves it.</summary>
internal static class TrainCommand
{
    private sealed record TrainResult(string Arch, string Data, int Seed, int Threads, long Parameters, IReadOnlyList<EpochRecord> Epochs,
        int BestEpoch, bool StoppedEarly, double? ValidationAccuracy, double TestAccuracy, int TestN, double[] PerClassAccuracy,
        double TimeS, double SamplesPerS, string Out);

    public static Command Create(CliContext cli)
    {
        var data = new DataArguments();
        var arch = new Option<string>("--arch") { Description = $"Architecture: {ModelZoo.SpecHelp}", Required = true, HelpName = "ARCH" };
        var output = new Option<string>("--out") { Description = "Where to save the trained model", Required = true, HelpName = "PATH" };
        var training = new TrainingArguments();
        var command = new Command("train", "Train a model from the zoo and save it") { arch, output };
        data.AddTo(command);
        training.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string dataSpec = parse.GetValue(data.Data)!;
            int splitSeed = parse.GetValue(data.SplitSeed) ?? 0;
            DataSplits splits = data.Load(parse);
            TrainingOptions options = training.Read(parse, run.Seed);
            Network network = ModelZoo.Create(parse.GetValue(arch)!, splits.Train, run.Seed);
            TrainingReport report = run.WithTrainingProgress($"train {network.Spec.Architecture}",
                progress => Trainer.Train(network, splits.Train, splits.Validation, options, progress));
            EvaluationReport test = Evaluator.Evaluate(network, splits.Test);
            network.Provenance = new ModelProvenance
            {
                Data = dataSpec,
                SplitSeed = splitSeed,
                Seed = run.Seed,
                Threads = run.Threads,
                ValidationAccuracy = report.BestValidationAccuracy,
                History = [$"trained {network.Spec.Architecture} on {dataSpec}: {report.Epochs.Count} epochs (kept {report.BestEpoch}), seed {run.Seed}, {run.Threads} threads"],
            };
            string outPath = parse.GetValue(output)!;
            ModelFile.Save(network, outPath);
            double trainSeconds = report.Epochs.Sum(e => e.Seconds);
            var result = new TrainResult(network.Spec.Architecture, dataSpec, run.Seed, run.Threads, network.ParameterCount, report.Epochs,
                report.BestEpoch, report.StoppedEarly, report.BestValidationAccuracy, test.Accuracy, test.N, test.PerClassAccuracy,
                report.Seconds, splits.Train.Count * (double)report.Epochs.Count / Math.Max(trainSeconds, 1e-9), outPath);
            var table = new Table().AddColumns("epoch", "train loss", "validation accuracy", "seconds");
            foreach (EpochRecord e in report.Epochs)
                table.AddRow(e.Epoch.ToString(), $"{e.TrainLoss:F4}", e.ValidationAccuracy is double a ? $"{a:P2}" : "-", $"{e.Seconds:F1}");
            run.Out.Write(table);
            run.Out.MarkupLine($"{Markup.Escape(network.Spec.Architecture)}: test accuracy [bold]{test.Accuracy:P2}[/] on {test.N} samples (kept epoch {report.BestEpoch}); saved to {Markup.Escape(outPath)}");
            run.WriteJson(result);
            return CliApp.Success;
        });
        return command;
    }
}

/// <summary>The training options shared by commands that train.</summary>
internal sealed class TrainingArguments
{
    public Option<int> Epochs { get; } = new("--epochs") { Description = "Maximum epochs", DefaultValueFactory = _ => 10 };
    public Option<int> BatchSize { get; } = new("--batch-size") { Description = "Samples per step", DefaultValueFactory = _ => 128 };
    public Option<double> LearningRate { get; } = new("--lr") { Description = "Initial learning rate", DefaultValueFactory = _ => 1e-3 };
    public Option<OptimizerKind> Optimizer { get; } = new("--optimizer") { Description = "adam or sgd", DefaultValueFactory = _ => OptimizerKind.Adam };
    public Option<LearningRateSchedule> Schedule { get; } = new("--schedule") { Description = "cosine, constant or step", DefaultValueFactory = _ => LearningRateSchedule.Cosine };
    public Option<int> Patience { get; } = new("--patience") { Description = "Early-stopping patience in epochs (0: off)", DefaultValueFactory = _ => 5 };
    public Option<double> WeightDecay { get; } = new("--weight-decay") { Description = "L2 weight decay", DefaultValueFactory = _ => 0 };

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { Epochs, BatchSize, LearningRate, Optimizer, Schedule, Patience, WeightDecay }) command.Options.Add(option);
    }

    public TrainingOptions Read(ParseResult parse, int seed)
    {
        var options = new TrainingOptions
        {
            Epochs = parse.GetValue(Epochs),
            BatchSize = parse.GetValue(BatchSize),
            LearningRate = parse.GetValue(LearningRate),
            Optimizer = parse.GetValue(Optimizer),
            Schedule = parse.GetValue(Schedule),
            Patience = parse.GetValue(Patience),
            WeightDecay = parse.GetValue(WeightDecay),
            Seed = seed,
        };
        options.Validate();
        return options;
    }
}
