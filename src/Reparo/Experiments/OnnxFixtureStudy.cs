using System.Diagnostics;
using System.Text.Json;
using Reparo.Data;
using Reparo.Influence;
using Reparo.Models;
using Reparo.Models.Onnx;
using Reparo.Repair;
using Reparo.Reporting;
using Reparo.Runtime;
using Reparo.Verification;
using static TorchSharp.torch;

namespace Reparo.Experiments;

/// <summary>What the study does to one ONNX model.</summary>
/// <param name="Model">The fixture folder's name (<c>mlp</c>, <c>resnet</c>, …).</param>
/// <param name="Method">A repair method (<c>provable</c>, <c>edit</c>, <c>ft</c>, …) or <c>influence</c> (build and query).</param>
/// <param name="Layer">The layer repaired (Reparo name or ONNX name); empty for influence.</param>
/// <param name="RepairSet">The repair-set specification (<c>fog:3:25</c>); empty for influence.</param>
/// <param name="Rows">Output rows or channels of the layer that change, or null for all.</param>
public sealed record OnnxFixtureStep(string Model, string Method, string Layer, string RepairSet, (int Start, int End)? Rows = null);

/// <summary>One model's import check and one method's run on it, written back as ONNX and re-run in ONNX Runtime.</summary>
/// <param name="Model">Fixture name.</param>
/// <param name="Opset">The file's opset.</param>
/// <param name="Layers">Reparo's layers of the imported network.</param>
/// <param name="ImportSeconds">Wall time of the import.</param>
/// <param name="ReferenceMaxDiff">max |Reparo − PyTorch| on the fixture's reference inputs.</param>
/// <param name="Method">The method run.</param>
/// <param name="Layer">The layer it worked at.</param>
/// <param name="RepairSet">The repair set.</param>
/// <param name="Status">The method's outcome.</param>
/// <param name="Repair">For repairs, the full report (efficacy, drawdown, LP size, times, ONNX Runtime verdict).</param>
/// <param name="Influence">For influence, the build figures and the query's top hits.</param>
/// <param name="ReplacedInitializers">Initializers export replaced in the user's graph.</param>
/// <param name="OnnxRuntimeMaxDiff">max |ONNX Runtime − Reparo| of the written model on the check inputs.</param>
/// <param name="CheckInputs">How many test inputs that comparison ran.</param>
public sealed record OnnxFixtureRow(string Model, long Opset, IReadOnlyList<string> Layers, double ImportSeconds, double ReferenceMaxDiff,
    string Method, string Layer, string RepairSet, string Status, RepairReport? Repair, OnnxInfluenceResult? Influence,
    IReadOnlyList<string> ReplacedInitializers, double OnnxRuntimeMaxDiff, int CheckInputs);

/// <summary>RNNRepair's influence model on an imported recurrent model.</summary>
/// <param name="K">Abstract states chosen.</param>
/// <param name="TrainingSamples">Training samples profiled.</param>
/// <param name="BuildSeconds">Build time.</param>
/// <param name="QueryTestIndex">The test input queried (the first the model gets wrong).</param>
/// <param name="FaultStep">The step the query locates as the fault, or null.</param>
/// <param name="Top">The most influential training samples.</param>
public sealed record OnnxInfluenceResult(int K, int TrainingSamples, double BuildSeconds, int QueryTestIndex, int? FaultStep, IReadOnlyList<InfluenceHit> Top);

/// <summary>The speed rows: benchmark figures, measured in the study's own run (not timed assertions).</summary>
/// <param name="ImportCnnSecondsMedian">Median of <paramref name="Repeats"/> imports of the cnn fixture.</param>
/// <param name="ImportCnnSecondsMax">Their maximum.</param>
/// <param name="OnnxRuntimeVerify100SecondsMedian">Median of re-verifying 100 repair points of the repaired mlp in ONNX Runtime (session creation included).</param>
/// <param name="OnnxRuntimeVerify100SecondsMax">Their maximum.</param>
/// <param name="Repeats">Repetitions of each.</param>
public sealed record OnnxSpeedRows(double ImportCnnSecondsMedian, double ImportCnnSecondsMax, double OnnxRuntimeVerify100SecondsMedian,
    double OnnxRuntimeVerify100SecondsMax, int Repeats);

/// <summary>The whole study's result.</summary>
/// <param name="Rows">One per step.</param>
/// <param name="Speed">The speed rows.</param>
/// <param name="LoadAverageAtStart">The machine's 1-minute load average when the run started (from /proc/loadavg; NaN where there is none): how busy it was with other work.</param>
/// <param name="Cores">Logical processors of the machine.</param>
public sealed record OnnxFixtureReport(IReadOnlyList<OnnxFixtureRow> Rows, OnnxSpeedRows Speed, double LoadAverageAtStart, int Cores);

/// <summary>
/// Reparo on models a PyTorch user exported (../shared/fixtures/onnx): each is imported and checked against PyTorch's
/// reference logits, then repaired (provable, edit, ft) or explained (RNNRepair influence) on Fashion-MNIST, written back
/// as ONNX (the user's graph with only changed initializers replaced) and re-run in ONNX Runtime: the written model's
/// outputs against Reparo's, and for provable repairs every repair point's margin in the runtime.
/// </summary>
public static partial class OnnxFixtureStudy
{
    /// <summary>The steps of the study (<paramref name="quick"/>: smaller repair sets and influence profiles).</summary>
    public static IReadOnlyList<OnnxFixtureStep> Plan(bool quick) =>
    [
        new("mlp", "provable", "fc2", quick ? "fog:3:10" : "fog:3:25"),
        new("cnn", "provable", "fc1", quick ? "fog:3:5" : "fog:3:10"),
        new("resnet", "provable", "fc1", quick ? "fog:3:5" : "fog:3:10"),
        new("resnet", "provable", "block2.conv5", "fog:3:3"),
        new("vit", "edit", "/enc/linear1/MatMul", quick ? "fog:3:5" : "fog:3:10"),
        new("vit", "ft", "/enc/linear1/MatMul", quick ? "fog:3:5" : "fog:3:10"),
        new("lstm", "influence", "", ""),
        new("gru", "influence", "", ""),
    ];

    /// <summary>Runs <paramref name="steps"/> on the fixtures in <paramref name="folder"/> with Fashion-MNIST <paramref name="data"/>.</summary>
    public static OnnxFixtureReport Run(string folder, DataSplits data, IReadOnlyList<OnnxFixtureStep> steps, int seed, bool quick, IProgress<string>? progress = null)
    {
        double load = MachineLoad.OneMinute();
        var rows = new List<OnnxFixtureRow>();
        byte[]? repairedMlp = null;
        RepairSet? mlpSet = null;
        using ProgressScope shown = WorkProgress.Begin("onnx fixtures", steps.Count);
        foreach (OnnxFixtureStep step in steps)
        {
            shown.Describe($"{step.Model}: {step.Method}");
            progress?.Report($"{step.Model}: {step.Method} {step.Layer} {step.RepairSet}".TrimEnd());
            string path = Path.Combine(folder, step.Model, "model.onnx");
            var clock = Stopwatch.StartNew();
            Network network = OnnxImporter.Import(path);
            double importSeconds = clock.Elapsed.TotalSeconds;
            double referenceDiff = ReferenceDifference(Path.Combine(folder, step.Model, "reference.json"), network);
            DataSplits splits = data;
            RepairReport? report = null;
            OnnxInfluenceResult? influence = null;
            Network result = network;
            string status;
            if (step.Method == "influence")
            {
                influence = Influence(network, splits, seed, quick);
                status = "built and queried";
            }
            else
            {
                RepairProblem problem = RepairSetSpec.Build(step.RepairSet, network, splits, seed);
                var settings = new RepairSettings { Layer = step.Layer, Rows = step.Rows, Seed = seed, StatisticsInputs = RepairMethods.StatisticsInputs(splits.Train) };
                RepairResult repair = RepairMethods.Create(step.Method, settings).Repair(problem);
                report = RepairReport.Create(problem, repair);
                status = report.Status;
                if (repair.Model?.PlainNetwork is { } repaired)
                {
                    repaired.OnnxOrigin = network.OnnxOrigin;
                    result = repaired;
                }
                if (step.Method == "provable" && repair.Verified)
                {
                    byte[] bytes = OnnxExporter.Export(result);
                    OnnxRuntimeVerdict verdict = RepairVerifier.VerifyInOnnxRuntime(bytes, result, problem.RepairSet);
                    report = report with { VerifiedOnnxRuntime = verdict.Verified, OnnxRuntimeMinMargin = verdict.MinMargin };
                    if (step.Model == "mlp")
                    {
                        repairedMlp = bytes;
                        mlpSet = problem.RepairSet;
                    }
                }
            }
            OnnxExport export = OnnxExporter.Build(result);
            using Tensor check = splits.Test.X.narrow(0, 0, Math.Min(200, splits.Test.Count));
            using Tensor ours = result.GraphOutput(check);
            using Tensor runtime = OnnxRuntimeCheck.Run(export.Bytes, result.GraphInput(check), result.OnnxOrigin?.Output);
            double ortDiff = runtime.to(ScalarType.Float32).sub(ours).abs().max().item<float>();
            rows.Add(new OnnxFixtureRow(step.Model, export.Opset, [.. network.Layers.Select(l => l.Name)], importSeconds, referenceDiff,
                step.Method, step.Layer, step.RepairSet, status, report, influence, export.ReplacedInitializers, ortDiff, (int)check.shape[0]));
            shown.Advance();
        }
        return new OnnxFixtureReport(rows, Speed(folder, repairedMlp, mlpSet, data), load, Environment.ProcessorCount);
    }

    /// <summary>max |Reparo − PyTorch| on the fixture's reference inputs.</summary>
    public static double ReferenceDifference(string referenceJson, Network network)
    {
        (Tensor input, Tensor expected) = ReadReference(referenceJson);
        using Tensor x = input.reshape([input.shape[0], .. network.Spec.InputShape]);
        using Tensor got = network.Logits(x);
        double difference = got.sub(expected).abs().max().item<float>();
        input.Dispose();
        expected.Dispose();
        return difference;
    }

    /// <summary>A fixture's <c>reference.json</c>: the inputs (in the file's <c>input_shape</c>) and PyTorch's logits for them (N × classes).</summary>
    public static (Tensor Input, Tensor Output) ReadReference(string referenceJson)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(referenceJson));
        long[] shape = [.. doc.RootElement.GetProperty("input_shape").EnumerateArray().Select(e => e.GetInt64())];
        float[] input = [.. doc.RootElement.GetProperty("input").EnumerateArray().Select(e => e.GetSingle())];
        float[] output = [.. doc.RootElement.GetProperty("output").EnumerateArray().Select(e => e.GetSingle())];
        return (tensor(input).reshape(shape), tensor(output).reshape(shape[0], -1));
    }

    private static OnnxInfluenceResult Influence(Network network, DataSplits splits, int seed, bool quick)
    {
        int count = Math.Min(splits.Train.Count, quick ? 1000 : 5000);
        Dataset train = splits.Train.Subset([.. Enumerable.Range(0, count)]);
        var options = new InfluenceOptions { Abstraction = new AbstractionOptions { Mixture = new GaussianMixtureOptions(Seed: seed) } };
        var clock = Stopwatch.StartNew();
        using InfluenceModel model = InfluenceModel.Build(network, train, options);
        double seconds = clock.Elapsed.TotalSeconds;
        long[] predicted = network.Predict(splits.Test.X);
        long[] labels = splits.Test.Y.data<long>().ToArray();
        int wrong = Enumerable.Range(0, labels.Length).FirstOrDefault(i => predicted[i] != labels[i]);
        SampleQuery query = model.Query(splits.Test, wrong, 10);
        return new OnnxInfluenceResult(model.Report.K, count, seconds, wrong, query.Trace.FaultStep(), query.Top);
    }

    private static OnnxSpeedRows Speed(string folder, byte[]? repairedMlp, RepairSet? set, DataSplits data)
    {
        const int repeats = 5;
        var imports = new List<double>();
        for (int i = 0; i < repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            using Network cnn = OnnxImporter.Import(Path.Combine(folder, "cnn", "model.onnx"));
            imports.Add(clock.Elapsed.TotalSeconds);
        }
        var verifies = new List<double>();
        if (repairedMlp is not null && set is not null)
        {
            // 100 repair inputs: the repair set's points, topped up with test images the model classifies (their own predictions as labels).
            Network mlp = OnnxImporter.Import(Path.Combine(folder, "mlp", "model.onnx"));
            Dataset test = data.Test;
            using Tensor extra = test.X.narrow(0, 0, 100 - set.Regions.Count);
            long[] predictions = mlp.Predict(extra);
            var regions = set.Regions.Concat(Enumerable.Range(0, predictions.Length)
                .Select(i => new RepairRegion(extra.narrow(0, i, 1), predictions[i], $"test{i}"))).ToArray();
            var hundred = new RepairSet(regions, "100 points");
            for (int i = 0; i < repeats; i++)
            {
                var clock = Stopwatch.StartNew();
                RepairVerifier.VerifyInOnnxRuntime(repairedMlp, mlp, hundred);
                verifies.Add(clock.Elapsed.TotalSeconds);
            }
        }
        static double Median(List<double> v) => v.Count == 0 ? double.NaN : v.Order().ElementAt(v.Count / 2);
        return new OnnxSpeedRows(Median(imports), imports.Max(), Median(verifies), verifies.Count == 0 ? double.NaN : verifies.Max(), repeats);
    }
}
