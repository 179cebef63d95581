using System.CommandLine;
using System.Diagnostics;
using Reparo.Attribution;
using Reparo.Data;
using Reparo.Models;
using Reparo.Reporting;
using Spectre.Console;
using static TorchSharp.torch;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo attribute --model M --data D --index I --method saliency|gradxinput|ig|layer-ig [--layer K]
/// [--baseline-index J] [--steps N] [--target C] [--top N] [--png P]</c>: explains one test sample's target logit, lists the
/// units with the largest |attribution| (JSON: <c>top</c>, and every value in <c>values</c>, row-major in <c>shape</c>) and
/// reports the integrated-gradient completeness check; optionally draws a heatmap.
/// </summary>
internal static class AttributeCommand
{
    private sealed record AttributeJson(string Model, string Data, string Method, string? Layer, int Index, string Baseline, int? Steps,
        long Target, long Prediction, long Label, double? Delta, double? CompletenessGap, double AttributionSum, long[] Shape, double TimeMs, string? Png,
        IReadOnlyList<FeatureAttribution> Top, double[] Values);

    public static Command Create(CliContext cli)
    {
        var model = new Option<string>("--model") { Description = "The model file", Required = true, HelpName = "PATH" };
        var method = new Option<string>("--method") { Description = $"Attribution method: {string.Join(", ", AttributionMethods.Names)}", Required = true, HelpName = "METHOD" };
        var index = new Option<int>("--index") { Description = "Index of the test sample to explain", Required = true, HelpName = "I" };
        var layer = new Option<string?>("--layer") { Description = "layer-ig: the module to attribute at, by dotted name (flatten, conv2, fc1, block1.fc1)", HelpName = "NAME" };
        var baseline = new Option<string>("--baseline") { Description = "Baseline of ig and layer-ig: zeros, or mean (the training split's mean input, the usual reference for a table)", DefaultValueFactory = _ => "zeros", HelpName = "zeros|mean" };
        baseline.AcceptOnlyFromAmong("zeros", "mean");
        var baselineIndex = new Option<int?>("--baseline-index") { Description = "Use test sample J as the baseline instead of zeros", HelpName = "J" };
        var steps = new Option<int>("--steps") { Description = "Path points of ig and layer-ig (Gauss–Legendre)", DefaultValueFactory = _ => 50, HelpName = "N" };
        var target = new Option<int?>("--target") { Description = "Class whose logit is explained (default: the model's prediction)", HelpName = "C" };
        var png = new Option<string?>("--png") { Description = "Write a heatmap (input beside the attribution) to PATH", HelpName = "PATH" };
        var top = new Option<int>("--top") { Description = "List the N units (features, pixels, a layer's units) with the largest |attribution|, named by the data where it names its features (a CSV header)", DefaultValueFactory = _ => 10, HelpName = "N" };
        var data = new DataArguments();
        var command = new Command("attribute", "Attribute a test sample's logit to its inputs or to a layer (saliency, gradient×input, integrated gradients)")
        {
            model, method, index, layer, baseline, baselineIndex, steps, target, png, top,
        };
        data.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            IAttributionMethod attribution = AttributionMethods.Create(parse.GetValue(method)!, parse.GetValue(layer));
            int stepCount = parse.GetValue(steps);
            if (stepCount < 1) throw new ReparoInputException($"--steps must be at least 1, got {stepCount}");
            int topCount = parse.GetValue(top);
            if (topCount < 0) throw new ReparoInputException($"--top must be 0 or more, got {topCount}");
            string modelPath = parse.GetValue(model)!;
            Network network = run.LoadModel(modelPath);
            DataSplits splits = data.Load(parse, network);
            Dataset test = splits.Test;
            int i = parse.GetValue(index);
            int? j = parse.GetValue(baselineIndex);
            if (j is not null && parse.GetResult(baseline) is { Implicit: false })
                throw new ReparoInputException("give either --baseline or --baseline-index J, not both");
            CheckIndex(i, test, "--index");
            if (j is int b) CheckIndex(b, test, "--baseline-index");

            using var scope = NewDisposeScope();
            Tensor x = test.X.narrow(0, i, 1);
            long label = test.Y[i].item<long>();
            long prediction = network.Predict(x)[0];
            long goal = parse.GetValue(target) ?? prediction;
            var options = new AttributionOptions
            {
                Steps = stepCount,
                Baseline = j is int k ? AttributionBaseline.Of(test.X.narrow(0, k, 1))
                    : parse.GetValue(baseline) == "mean" ? AttributionBaseline.MeanOf(splits.Train.X)
                    : AttributionBaseline.Zeros,
            };
            var clock = Stopwatch.StartNew();
            using AttributionResult result = attribution.Attribute(network, x, [goal], options);
            double ms = clock.Elapsed.TotalMilliseconds;
            double sum = result.Sums()[0];
            double? delta = result.Delta.Length > 0 ? result.Delta[0] : null;
            double? gap = result.CompletenessGap.Length > 0 ? result.CompletenessGap[0] : null;
            string? pngPath = parse.GetValue(png);
            if (pngPath is not null) Heatmap.Write(pngPath, x[0], result.Values[0]);

            bool pathMethod = attribution is IntegratedGradients or LayerIntegratedGradients;
            string baselineText = !pathMethod ? "none" : j is int jj ? $"test sample {jj}" : parse.GetValue(baseline) == "mean" ? "training mean" : "zeros";
            IReadOnlyList<string> names = network.Spec.ClassNames;
            run.Out.MarkupLine($"{attribution.Name}{(result.Layer is { } l ? $" at {Markup.Escape(l)}" : "")} of test sample {i}: target {Markup.Escape(names[(int)goal])}, " +
                $"prediction {Markup.Escape(names[(int)prediction])}, label {Markup.Escape(names[(int)label])}");
            run.Out.MarkupLine($"attribution sum {sum:G6} over {Markup.Escape($"[{string.Join("×", result.Values.shape[1..])}]")}" +
                (delta is double d ? $"; f(x) − f(baseline) {d:G6} (baseline {Markup.Escape(baselineText)}, {stepCount} steps), completeness gap {gap:G3}" : "") +
                $"; {ms:F0} ms");
            IReadOnlyList<FeatureAttribution> ranked = result.Top(topCount, input: x, featureNames: splits.FeatureNames);
            if (ranked.Count > 0)
            {
                var table = new Table().AddColumns("rank", result.Layer is null ? "feature" : "unit", "input", "attribution");
                foreach ((FeatureAttribution f, int r) in ranked.Select((f, r) => (f, r + 1)))
                    table.AddRow(r.ToString(), Markup.Escape(f.Name), f.Input is double v ? v.ToString("G6") : "–", f.Value.ToString("G6"));
                run.Out.Write(table);
            }
            if (pngPath is not null) run.Out.MarkupLine($"heatmap written to {Markup.Escape(pngPath)}");
            double[] values = result.Values[0].detach().to(ScalarType.Float64).flatten().data<double>().ToArray();
            run.WriteJson(new AttributeJson(modelPath, parse.GetValue(data.Data)!, attribution.Name, result.Layer, i, baselineText, pathMethod ? stepCount : null,
                goal, prediction, label, delta, gap, sum, result.Values.shape[1..], ms, pngPath, ranked, values));
            return CliApp.Success;
        });
        return command;
    }

    private static void CheckIndex(int index, Dataset test, string option)
    {
        if (index < 0 || index >= test.Count) throw new ReparoInputException($"{option} {index} is outside the test split (0–{test.Count - 1})");
    }
}
