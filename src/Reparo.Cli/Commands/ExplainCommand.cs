using System.CommandLine;
using Reparo.Data;
using Reparo.Influence;
using Reparo.Models;
using Reparo.Reporting;
using Reparo.UseCases;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo explain --model M --data D --index I [--influence IM] [--neighbours N] [--steps N] [--report P.html]</c>:
/// one test input's prediction, integrated gradients on its input, the most editable layer, its nearest training
/// samples and, for a recurrent model with an influence model, the influential training samples and the fault step.
/// </summary>
internal static class ExplainCommand
{
    public static Command Create(CliContext cli)
    {
        var model = new Option<string>("--model") { Description = "The model file", Required = true, HelpName = "PATH" };
        var index = new Option<int>("--index") { Description = "Index of the test sample to explain", Required = true, HelpName = "I" };
        var influence = new Option<string?>("--influence") { Description = "An influence model of this (recurrent) model, from reparo influence build: adds influential training samples and the fault step", HelpName = "PATH" };
        var neighbours = new Option<int>("--neighbours") { Description = "How many nearest training samples to list", DefaultValueFactory = _ => 5, HelpName = "N" };
        var steps = new Option<int>("--steps") { Description = "Path points of the integrated gradients (Gauss–Legendre)", DefaultValueFactory = _ => 32, HelpName = "N" };
        var data = new DataArguments();
        var reportFile = new ReportArgument();
        var command = new Command("explain", "Explain one test sample: prediction, input attribution, most editable layer, nearest training samples, influence (recurrent models)")
        {
            model, index, influence, neighbours, steps,
        };
        data.AddTo(command);
        reportFile.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string? reportPath = reportFile.Read(parse);
            string modelPath = parse.GetValue(model)!;
            Network network = run.LoadModel(modelPath);
            using InfluenceModel? influenceModel = parse.GetValue(influence) is string path ? InfluenceModel.Load(path) : null;
            DataSplits splits = data.Load(parse, network);
            Explanation e = ExplainUseCase.Run(new ExplainRequest(network, modelPath, splits, parse.GetValue(index), influenceModel, parse.GetValue(neighbours), parse.GetValue(steps)));

            run.Out.MarkupLine(Markup.Escape($"{e.Data} test sample {e.Index}{(e.Source == e.Index.ToString() ? "" : $" ({e.Source})")}: label {e.Label}, predicted {e.Prediction} "
                + $"({e.Probabilities.First(p => p.Class == e.Prediction).Probability:P1}){(e.Correct ? "" : " — wrong")}"));
            if (e.InputAttribution is { } ia)
                run.Out.MarkupLine(Markup.Escape($"integrated gradients (baseline {ia.Baseline}, {ia.Steps} steps): Σ {ia.Sum:G4}" + (ia.Delta is double d ? $", f(x) − f(baseline) {d:G4}" : "")
                    + $"; top features {string.Join(", ", ia.Top.Take(5).Select(t => $"{t.Name} ({t.Value:G3})"))}"));
            if (e.EditableLayer is { } layer)
            {
                var layers = new Table().AddColumns("layer", "Σ |attribution|", "Σ attribution");
                foreach (LayerAttributionScore s in layer.Scores) layers.AddRow(Markup.Escape(s.Layer + (s.Layer == layer.Layer ? " ← most editable" : "")), s.Score.ToString("G4"), s.Sum.ToString("G4"));
                run.Out.Write(layers);
            }
            var table = new Table().AddColumns("rank", "training sample", "label", "distance");
            foreach (TrainingNeighbour n in e.Neighbours) table.AddRow(n.Rank.ToString(), Markup.Escape(n.Source), Markup.Escape(n.Label), n.Distance.ToString("G4"));
            run.Out.Write(table);
            run.Out.WriteLine("nearest training samples by distance in " + ExplainUseCase.NeighbourSpace);
            if (e.Influence is { } inf)
                run.Out.WriteLine($"influence (K = {inf.States}): fault step {inf.FaultStep?.ToString() ?? "none"}{(inf.FaultToken is null ? "" : $" (next token '{inf.FaultToken}')")}; "
                    + $"most influential training samples {string.Join(", ", inf.Top.Take(5).Select(t => $"{t.Source} ({t.Label})"))}");
            run.WriteJson(e);
            run.WriteReport(reportPath, e.ToDocument());
            return CliApp.Success;
        });
        return command;
    }
}
