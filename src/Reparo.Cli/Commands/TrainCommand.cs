using System.CommandLine;
using System.Text.Json;
using Reparo.Data;
using Reparo.Models;
using Reparo.Reporting;
using Reparo.Training;
using Reparo.UseCases;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo train --data D --arch A --epochs N --out M [--poison SPEC]</c>: trains a zoo model (optionally on poisoned
/// data, reporting the poison's effect) and saves it.
/// </summary>
internal static class TrainCommand
{
    public static Command Create(CliContext cli)
    {
        var data = new DataArguments();
        var arch = new Option<string>("--arch") { Description = $"Architecture: {ModelZoo.SpecHelp}", Required = true, HelpName = "ARCH" };
        var output = new Option<string>("--out") { Description = "Where to save the trained model", Required = true, HelpName = "PATH" };
        var poison = new Option<string?>("--poison") { Description = $"Poison the training and validation data first: {PoisonSpec.SpecHelp}", HelpName = "SPEC" };
        var training = new TrainingArguments();
        var tensorboard = new Option<string?>("--tensorboard") { Description = "Write the training curves (loss, validation accuracy, learning rate per epoch) as a TensorBoard event file into DIR", HelpName = "DIR" };
        var exclude = new Option<string?>("--exclude")
        {
            Description = "Leave out the training and validation samples this file names: the JSON of influence suspects (its suspects' sources), a JSON list of names, or one name per line (an image's path in its folder, FILE:LINE of a table or TSV, else the index); a name that is no such sample is an error",
            HelpName = "PATH",
        };
        var command = new Command("train", "Train a model from the zoo and save it") { arch, output, poison, tensorboard, exclude };
        data.AddTo(command);
        training.AddTo(command);
        var reportFile = new ReportArgument();
        reportFile.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string? reportPath = reportFile.Read(parse);
            string dataSpec = parse.GetValue(data.Data)!, architecture = parse.GetValue(arch)!;
            PoisonSpec? poisonSpec = parse.GetValue(poison) is string poisonText ? PoisonSpec.Parse(poisonText) : null;
            DataSplits splits = data.Load(parse);
            var request = new TrainRequest(dataSpec, parse.GetValue(data.SplitSeed) ?? 0, splits, architecture, training.Read(parse, run.Seed), run.Threads,
                parse.GetValue(output)!, data.Preprocessing(parse, splits), poisonSpec, parse.GetValue(tensorboard) is string folder ? new TensorBoardLog(folder) : null,
                parse.GetValue(exclude) is string list ? (ReadSampleNames(list), Path.GetFileName(list)) : null);
            TrainedModelReport report = run.WithTrainingProgress($"train {architecture}", progress => TrainUseCase.Run(request, progress));
            var table = new Table().AddColumns("epoch", "train loss", "validation accuracy", "seconds");
            foreach (EpochRecord e in report.Epochs)
                table.AddRow(e.Epoch.ToString(), $"{e.TrainLoss:F4}", e.ValidationAccuracy is double a ? $"{a:P2}" : "-", $"{e.Seconds:F1}");
            run.Out.Write(table);
            run.Out.MarkupLine($"{Markup.Escape(report.Arch)}: test accuracy [bold]{report.TestAccuracy:P2}[/] on {report.TestN} samples (kept epoch {report.BestEpoch}); saved to {Markup.Escape(report.Out)}");
            if (parse.GetValue(exclude) is string excluded) run.Out.WriteLine($"left out the {report.Excluded} training and validation samples {excluded} names");
            foreach (string warning in report.Warnings) run.Out.MarkupLine($"[yellow]warning:[/] {Markup.Escape(warning)}");
            if (report.Poison is { } effect)
            {
                string text = effect switch
                {
                    { Asr: double asr } => $"attack success rate [bold]{asr:P2}[/] (trigger at the bottom right, test images not of class {poisonSpec!.Class})",
                    { SpuriousDeviation: double deviation } => $"accuracy with the artifact [bold]{effect.AccuracyArtifact:P2}[/] on the other classes' test images (deviation {deviation:P2}, {effect.FlippedToClass:P2} flipped to class {poisonSpec!.Class})",
                    _ => $"accuracy on block test images [bold]{effect.Accuracy:P2}[/]",
                };
                run.Out.MarkupLine($"poison {Markup.Escape(effect.Spec)}: {effect.Poisoned} images poisoned; {text}");
            }
            run.WriteJson(report);
            run.WriteReport(reportPath, report.ToDocument());
            return CliApp.Success;
        });
        return command;
    }

    /// <summary>
    /// The sample names in <paramref name="path"/>: the JSON of <c>influence suspects</c> (each suspect's <c>source</c>),
    /// a JSON list of names, or plain text with one name per line (blank lines and lines starting with # skipped).
    /// </summary>
    private static IReadOnlyList<string> ReadSampleNames(string path)
    {
        if (!File.Exists(path)) throw new ReparoInputException($"{path}: file not found");
        if (new FileInfo(path).Length > 64L << 20) throw new ReparoInputException($"{path}: over 64 MiB, more than a list of sample names needs");
        string text = File.ReadAllText(path);
        string trimmed = text.TrimStart();
        if (trimmed.StartsWith('{') || trimmed.StartsWith('['))
        {
            try
            {
                using var json = JsonDocument.Parse(text);
                JsonElement root = json.RootElement;
                if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("suspects", out JsonElement suspects))
                    return [.. suspects.EnumerateArray().Select(s => s.GetProperty("source").GetString() ?? throw new ReparoInputException($"{path}: a suspect without a source"))];
                if (root.ValueKind == JsonValueKind.Array)
                    return [.. root.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new ReparoInputException($"{path}: the list holds {e.GetRawText()}, not a sample name"))];
                throw new ReparoInputException($"{path}: JSON without a 'suspects' list (the output of influence suspects --json) and not a list of names");
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new ReparoInputException($"{path}: not the JSON of influence suspects nor a list of names ({e.Message.Split('\n')[0]})");
            }
        }
        return [.. text.Split('\n').Select(line => line.Trim()).Where(line => line.Length > 0 && !line.StartsWith('#'))];
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
