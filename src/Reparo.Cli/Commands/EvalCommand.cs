using System.CommandLine;
using Reparo.Data;
using Reparo.Models;
using Reparo.Training;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary><c>reparo eval --model M --data D [--corruption fog --severity 3]</c>: accuracy, per-class accuracy, confusion matrix.</summary>
internal static class EvalCommand
{
    /// <summary>Which part of the data to evaluate on.</summary>
    internal enum Split
    {
        Test,
        Validation,
        Train,
    }

    private sealed record EvalResult(string Model, string Data, string Split, string? Corruption, int? Severity, double Accuracy, int N,
        double[] PerClassAccuracy, int[][] ConfusionMatrix, IReadOnlyList<string> ClassNames);

    public static Command Create(CliContext cli)
    {
        var model = new Option<string>("--model") { Description = "The model file", Required = true, HelpName = "PATH" };
        var data = new DataArguments();
        var split = new Option<Split>("--split") { Description = "test, validation or train", DefaultValueFactory = _ => Split.Test };
        var corruption = new Option<string?>("--corruption") { Description = $"Corrupt the images first: {string.Join(", ", Corruptions.Names)}", HelpName = "NAME" };
        var severity = new Option<int>("--severity") { Description = "Corruption severity 1–5", DefaultValueFactory = _ => 3 };
        var command = new Command("eval", "Evaluate a model on clean or corrupted data") { model, split, corruption, severity };
        data.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string modelPath = parse.GetValue(model)!;
            Network network = ModelFile.Load(modelPath);
            DataSplits splits = data.Load(parse, network);
            Split part = parse.GetValue(split);
            Dataset dataset = part switch { Split.Train => splits.Train, Split.Validation => splits.Validation, _ => splits.Test };
            string? corruptionName = parse.GetValue(corruption);
            int? level = null;
            if (corruptionName is not null)
            {
                level = parse.GetValue(severity);
                dataset = Corruptions.Apply(dataset, Corruptions.Parse(corruptionName), level.Value, run.Seed);
            }
            EvaluationReport report = Evaluator.Evaluate(network, dataset);
            var table = new Table().AddColumns("class", "accuracy", "n");
            for (int c = 0; c < network.ClassCount; c++)
                table.AddRow(Markup.Escape(network.Spec.ClassNames[c]), double.IsNaN(report.PerClassAccuracy[c]) ? "-" : $"{report.PerClassAccuracy[c]:P2}",
                    report.ConfusionMatrix[c].Sum().ToString());
            run.Out.Write(table);
            run.Out.MarkupLine($"accuracy [bold]{report.Accuracy:P2}[/] on {report.N} samples of {Markup.Escape(dataset.Name)}");
            run.WriteJson(new EvalResult(modelPath, parse.GetValue(data.Data)!, part.ToString().ToLowerInvariant(),
                corruptionName is null ? null : Corruptions.NameOf(Corruptions.Parse(corruptionName)), level, report.Accuracy, report.N,
                report.PerClassAccuracy, report.ConfusionMatrix, network.Spec.ClassNames));
            return CliApp.Success;
        });
        return command;
    }
}
