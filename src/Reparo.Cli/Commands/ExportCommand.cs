using System.CommandLine;
using Reparo.Data;
using Reparo.Io;
using Reparo.Models;
using Reparo.Models.Onnx;
using Reparo.Verification;
using Spectre.Console;
using static TorchSharp.torch;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo export --model M --out M.onnx</c>: writes a model as ONNX (<see cref="OnnxExporter"/>) and checks it in
/// ONNX Runtime against torch on a seeded random batch before writing.
/// </summary>
internal static class ExportCommand
{
    /// <summary>Inputs in the check batch.</summary>
    private const int CheckSamples = 8;

    private sealed record ExportResult(string Model, string Out, string Source, long Opset, IReadOnlyList<string> InitializersReplaced,
        int CheckSamples, double MaxAbsDifference);

    public static Command Create(CliContext cli)
    {
        var model = new Option<string>("--model") { Description = "The model file", Required = true, HelpName = "PATH" };
        var output = new Option<string>("--out") { Description = "Where to write the ONNX model (not the input model)", Required = true, HelpName = "PATH" };
        var command = new Command("export", "Write a model as ONNX, checked in ONNX Runtime") { model, output };
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string modelPath = parse.GetValue(model)!, outPath = parse.GetValue(output)!;
            Network network = run.LoadModel(modelPath);
            OnnxExport export = OnnxExporter.Build(network);
            double difference;
            using (var scope = NewDisposeScope())
            {
                Tensor batch = CheckBatch(network, run.Seed);
                Tensor torchLogits = network.GraphOutput(batch);
                // The file reads preprocessed inputs: an export holds the layers, not the input preprocessing.
                Tensor runtimeLogits = OnnxRuntimeCheck.Run(export.Bytes, network.GraphInput(batch), network.OnnxOrigin?.Output);
                difference = runtimeLogits.to(ScalarType.Float64).sub(torchLogits.to(ScalarType.Float64)).abs().max().item<double>();
            }
            AtomicFile.WriteAllBytes(outPath, export.Bytes);
            string source = network.OnnxOrigin is null ? "zoo" : "imported";
            string replaced = network.OnnxOrigin is null ? "a fresh graph"
                : $"{export.ReplacedInitializers.Count} initializer(s) replaced{(export.ReplacedInitializers.Count > 0 ? ": " + string.Join(", ", export.ReplacedInitializers) : "")}";
            run.Out.WriteLine($"wrote {outPath}: ONNX opset {export.Opset}, {replaced}; ONNX Runtime vs torch on {CheckSamples} inputs: max |difference| {difference:G3}");
            if (network.Provenance.Preprocessing is { IsIdentity: false } preprocessing)
                run.Out.WriteLine($"the file reads preprocessed inputs: apply the model's input preprocessing ({preprocessing}) before it, as Reparo does");
            run.WriteJson(new ExportResult(modelPath, outPath, source, export.Opset, export.ReplacedInitializers, CheckSamples, difference));
            return CliApp.Success;
        });
        return command;
    }

    /// <summary>Random inputs shaped like the model's: pixels in [0, 1), standard-normal features, or left-padded token ids.</summary>
    private static Tensor CheckBatch(Network network, int seed)
    {
        var generator = new Generator((ulong)seed);
        long[] shape = [CheckSamples, .. network.Spec.InputShape];
        switch (network.Spec.InputKind)
        {
            case InputKind.Image:
                return rand(shape, generator: generator);
            case InputKind.Features:
                return randn(shape, generator: generator);
            default:
                {
                    long vocabulary = network.Vocabulary!.Size, length = network.Spec.InputShape[0];
                    Tensor ids = randint(Vocabulary.UnknownId, vocabulary, shape, generator: generator);
                    Tensor starts = randint(0, length, [CheckSamples, 1], generator: generator);
                    return ids.mul(arange(length).unsqueeze(0).ge(starts).to(ScalarType.Int64));
                }
        }
    }
}
