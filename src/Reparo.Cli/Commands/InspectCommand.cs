using System.CommandLine;
using Reparo.Models;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary><c>reparo inspect M</c>: the layers of a saved model with names, output shapes and parameter counts.</summary>
internal static class InspectCommand
{
    private sealed record InspectResult(string Model, string Architecture, long[] InputShape, IReadOnlyList<string> ClassNames, long Parameters,
        IReadOnlyList<LayerSummary> Layers, ModelProvenance Provenance);

    public static Command Create(CliContext cli)
    {
        var model = new Argument<string>("model") { Description = "The model file (Reparo model or .onnx)" };
        var command = new Command("inspect", "List a model's layers with names, shapes and parameter counts (for an ONNX model also its node and initializer names; --layer accepts either)") { model };
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string path = parse.GetValue(model)!;
            Network network = run.LoadModel(path);
            IReadOnlyList<LayerSummary> layers = network.Summarize();
            bool imported = network.Spec.SourceNames is not null;
            var table = new Table().AddColumns("#", "name", "layer", "output shape", "parameters");
            if (imported) table.AddColumn("ONNX nodes and initializers");
            foreach (LayerSummary l in layers)
            {
                string[] cells = [l.Index.ToString(), Markup.Escape(l.Name), Markup.Escape(l.Description), Markup.Escape($"[{string.Join(",", l.OutputShape)}]"), l.Parameters.ToString("N0")];
                table.AddRow(imported ? [.. cells, Markup.Escape(OnnxNames(l.OnnxNames))] : cells);
            }
            run.Out.MarkupLine($"[bold]{Markup.Escape(network.Spec.Architecture)}[/]: input {Markup.Escape($"[{string.Join(",", network.Spec.InputShape)}]")}, {network.ClassCount} classes, {network.ParameterCount:N0} parameters");
            run.Out.Write(table);
            string[] addedBiases = network.OnnxOrigin is { } origin
                ? [.. origin.Parameters.Where(p => p.Value.AddsBiasTo is not null).Select(p => p.Key).Order(StringComparer.Ordinal)]
                : [];
            if (addedBiases.Length > 0)
                run.Out.WriteLine($"{string.Join(", ", addedBiases)}: zero biases the file does not hold (layers written without one, as PyTorch's bias=False); counted above, a repair may change them, and the written file then gains them");
            if (network.Provenance.Preprocessing is { } preprocessing) run.Out.WriteLine($"input preprocessing: {preprocessing}");
            if (network.Provenance.ImageResizing is { } resizing) run.Out.WriteLine($"folder images resized as they are read: {resizing}");
            foreach (string step in network.Provenance.History) run.Out.WriteLine($"history: {step}");
            run.WriteJson(new InspectResult(path, network.Spec.Architecture, network.Spec.InputShape, network.Spec.ClassNames, network.ParameterCount, layers, network.Provenance));
            return CliApp.Success;
        });
        return command;
    }

    /// <summary>The ONNX names of a layer, shortened when a block holds many nodes.</summary>
    private static string OnnxNames(IReadOnlyList<string> names) =>
        names.Count <= 4 ? string.Join(", ", names) : $"{string.Join(", ", names.Take(3))}, … ({names.Count} in all)";
}
