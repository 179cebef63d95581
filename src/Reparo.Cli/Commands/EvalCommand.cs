using System.CommandLine;
using Reparo.Data;
using Reparo.Models;
using Reparo.Reporting;
using Reparo.UseCases;

namespace Reparo.Cli.Commands;

/// <summary><c>reparo eval --model M --data D [--corruption fog --severity 3]</c>: accuracy, per-class accuracy, confusion matrix.</summary>
internal static class EvalCommand
{
    public static Command Create(CliContext cli)
    {
        var model = new Option<string>("--model") { Description = "The model file", Required = true, HelpName = "PATH" };
        var data = new DataArguments();
        var split = new Option<EvaluationSplit>("--split") { Description = "test, validation or train", DefaultValueFactory = _ => EvaluationSplit.Test };
        var corruption = new Option<string?>("--corruption") { Description = $"Corrupt the images first: {string.Join(", ", Corruptions.Names)}", HelpName = "NAME" };
        var severity = new Option<int>("--severity") { Description = "Corruption severity 1–5", DefaultValueFactory = _ => 3 };
        var reportFile = new ReportArgument();
        var command = new Command("eval", "Evaluate a model on clean or corrupted data") { model, split, corruption, severity };
        data.AddTo(command);
        reportFile.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string? reportPath = reportFile.Read(parse);
            string modelPath = parse.GetValue(model)!;
            Network network = run.LoadModel(modelPath);
            DataSplits splits = data.Load(parse, network);
            ModelEvaluationReport report = EvaluateUseCase.Run(new EvaluateRequest(network, modelPath, parse.GetValue(data.Data)!, splits, parse.GetValue(split),
                parse.GetValue(corruption), parse.GetValue(severity), run.Seed));
            ReportDocument document = report.ToDocument();
            CliDocumentRenderer.Render(run.Out, document);
            run.WriteJson(report);
            run.WriteReport(reportPath, document);
            return CliApp.Success;
        });
        return command;
    }
}
