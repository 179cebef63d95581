using System.CommandLine;
using Reparo.Data;
using Reparo.Models;
using Reparo.Repair.Editing;
using Reparo.Training;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo train --data D --arch A --epochs N --out M [--poison SPEC]</c>: trains a zoo model (optionally on poisoned
/// data, reporting the poison's effect) and saves it.
/// </summary>
internal static class TrainCommand
{
    private sealed record TrainResult(string Arch, string Data, int Seed, int Threads, long Parameters, IReadOnlyList<EpochRecord> Epochs,
        int BestEpoch, bool StoppedEarly, double? ValidationAccuracy, double TestAccuracy, int TestN, double[] PerClassAccuracy,
        double TimeS, double SamplesPerS, string Out, PoisonResult? Poison);

    /// <summary>The poison's effect: ASR for Trojans, the artifact's cost for spurious, block-test accuracy for block.</summary>
    private sealed record PoisonResult(string Spec, int Poisoned, double? Asr, double? SpuriousDeviation, double? AccuracyArtifact,
        double? FlippedToClass, double? Accuracy);

    public static Command Create(CliContext cli)
    {
        var data = new DataArguments();
        var arch = new Option<string>("--arch") { Description = $"Architecture: {ModelZoo.SpecHelp}", Required = true, HelpName = "ARCH" };
        var output = new Option<string>("--out") { Description = "Where to save the trained model", Required = true, HelpName = "PATH" };
        var poison = new Option<string?>("--poison") { Description = $"Poison the training and validation data first: {PoisonSpec.SpecHelp}", HelpName = "SPEC" };
        var training = new TrainingArguments();
        var tensorboard = new Option<string?>("--tensorboard") { Description = "Write the training curves (loss, validation accuracy, learning rate per epoch) as a TensorBoard event file into DIR", HelpName = "DIR" };
        var command = new Command("train", "Train a model from the zoo and save it") { arch, output, poison, tensorboard };
        data.AddTo(command);
        training.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string dataSpec = parse.GetValue(data.Data)!;
            int splitSeed = parse.GetValue(data.SplitSeed) ?? 0;
            DataSplits splits = data.Load(parse);
            InputPreprocessing? preprocessing = data.Preprocessing(parse) is { } given ? given with { ByteInputs = splits.ByteInputs }
                : splits.ByteInputs ? new InputPreprocessing { ByteInputs = true } : null;
            PoisonSpec? poisonSpec = parse.GetValue(poison) is string poisonText ? PoisonSpec.Parse(poisonText) : null;
            PoisonedData? poisoned = null;
            if (poisonSpec is not null)
            {
                poisoned = Poisoning.Apply(splits, poisonSpec, run.Seed);
                splits = poisoned.Splits;
            }
            TrainingOptions options = training.Read(parse, run.Seed);
            TensorBoardLog? curves = parse.GetValue(tensorboard) is string folder ? new TensorBoardLog(folder) : null;
            Network network = ModelZoo.Create(parse.GetValue(arch)!, splits.Train, run.Seed);
            // The model applies its preprocessing in its forward pass, so it trains on the raw (and poisoned) data.
            network.Provenance = new ModelProvenance { Preprocessing = preprocessing };
            TrainingReport report = run.WithTrainingProgress($"train {network.Spec.Architecture}",
                progress => Trainer.Train(network, splits.Train, splits.Validation, options, progress, epochEnded: curves is null ? null : curves.EpochEnded));
            EvaluationReport test = Evaluator.Evaluate(network, splits.Test);
            PoisonResult? poisonResult = poisoned is null ? null : Measure(network, poisoned, splits.Test, test);
            string trained = $"trained {network.Spec.Architecture} on {dataSpec}: {report.Epochs.Count} epochs (kept {report.BestEpoch}), seed {run.Seed}, {run.Threads} threads";
            network.Provenance = new ModelProvenance
            {
                Data = dataSpec,
                SplitSeed = splitSeed,
                Seed = run.Seed,
                Threads = run.Threads,
                ValidationAccuracy = report.BestValidationAccuracy,
                Poison = poisonSpec?.ToString(),
                Preprocessing = preprocessing,
                History = poisoned is null ? [trained] :
                [
                    $"poisoned {dataSpec} with {poisoned.Spec}: {poisoned.Poisoned} images ({poisoned.PoisonedTrainRows.Count} train, {poisoned.PoisonedValidationRows.Count} validation), seed {run.Seed}",
                    trained,
                ],
            };
            string outPath = parse.GetValue(output)!;
            ModelFile.Save(network, outPath);
            double trainSeconds = report.Epochs.Sum(e => e.Seconds);
            var result = new TrainResult(network.Spec.Architecture, dataSpec, run.Seed, run.Threads, network.ParameterCount, report.Epochs,
                report.BestEpoch, report.StoppedEarly, report.BestValidationAccuracy, test.Accuracy, test.N, test.PerClassAccuracy,
                report.Seconds, splits.Train.Count * (double)report.Epochs.Count / Math.Max(trainSeconds, 1e-9), outPath, poisonResult);
            var table = new Table().AddColumns("epoch", "train loss", "validation accuracy", "seconds");
            foreach (EpochRecord e in report.Epochs)
                table.AddRow(e.Epoch.ToString(), $"{e.TrainLoss:F4}", e.ValidationAccuracy is double a ? $"{a:P2}" : "-", $"{e.Seconds:F1}");
            run.Out.Write(table);
            run.Out.MarkupLine($"{Markup.Escape(network.Spec.Architecture)}: test accuracy [bold]{test.Accuracy:P2}[/] on {test.N} samples (kept epoch {report.BestEpoch}); saved to {Markup.Escape(outPath)}");
            if (poisonResult is not null)
            {
                string effect = poisonResult switch
                {
                    { Asr: double asr } => $"attack success rate [bold]{asr:P2}[/] (trigger at the bottom right, test images not of class {poisoned!.Spec.Class})",
                    { SpuriousDeviation: double deviation } => $"accuracy with the artifact [bold]{poisonResult.AccuracyArtifact:P2}[/] on the other classes' test images (deviation {deviation:P2}, {poisonResult.FlippedToClass:P2} flipped to class {poisoned!.Spec.Class})",
                    _ => $"accuracy on block test images [bold]{poisonResult.Accuracy:P2}[/]",
                };
                run.Out.MarkupLine($"poison {Markup.Escape(poisonResult.Spec)}: {poisonResult.Poisoned} images poisoned; {effect}");
            }
            run.WriteJson(result);
            return CliApp.Success;
        });
        return command;
    }

    private static PoisonResult Measure(Network network, PoisonedData poisoned, Dataset test, EvaluationReport clean)
    {
        PoisonSpec spec = poisoned.Spec;
        switch (spec.Kind)
        {
            case PoisonKind.Spurious:
                SpuriousReport spurious = RectificationMetrics.SpuriousDeviation(network, test, spec);
                return new PoisonResult(spec.ToString(), poisoned.Poisoned, null, spurious.Deviation, spurious.ArtifactAccuracy, spurious.FlippedToClass, null);
            case PoisonKind.Block:
                return new PoisonResult(spec.ToString(), poisoned.Poisoned, null, null, null, null, clean.Accuracy);
            default:
                double asr = RectificationMetrics.AttackSuccessRate(network, Poisoning.TriggeredTest(test, spec, Corner.BottomRight), spec.Class);
                return new PoisonResult(spec.ToString(), poisoned.Poisoned, asr, null, null, null, null);
        }
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
