using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Google.Protobuf;
using Onnx;
using Reparo.Io;
using Reparo.Io.Onnx;
using Reparo.Models.Onnx;
using static TorchSharp.torch;

namespace Reparo.Experiments;

/// <summary>How one ONNX conformance test ended.</summary>
public enum OnnxTestStatus
{
    /// <summary>Every output matched the reference.</summary>
    Passed,

    /// <summary>An output differed, or running the graph failed.</summary>
    Failed,

    /// <summary>The node (an attribute value, an output) or its data (an element type) is outside what Reparo runs.</summary>
    Unsupported,
}

/// <summary>One conformance test's outcome.</summary>
/// <param name="Test">The test folder's name (<c>test_conv_with_strides_padding</c>).</param>
/// <param name="Op">The op type of its single node, or <see cref="OnnxConformance.MultiNode"/>.</param>
/// <param name="Opset">The model's default-domain opset.</param>
/// <param name="Status">Passed, failed or unsupported.</param>
/// <param name="Reason">Why it failed or is unsupported; null when it passed.</param>
public sealed record OnnxTestOutcome(string Test, string Op, int Opset, OnnxTestStatus Status, string? Reason);

/// <summary>The outcomes of one op's conformance tests.</summary>
/// <param name="Op">The op type (or <see cref="OnnxConformance.MultiNode"/>).</param>
/// <param name="Passed">Tests that passed.</param>
/// <param name="Failed">Tests that failed.</param>
/// <param name="Unsupported">Tests outside what Reparo runs.</param>
/// <param name="Total">All of its tests.</param>
public sealed record OnnxOpConformance(string Op, int Passed, int Failed, int Unsupported, int Total);

/// <summary>Reparo's ONNX operators against ONNX's node conformance tests.</summary>
/// <param name="TestData">The folder of <c>test_*</c> folders that was read.</param>
/// <param name="Passed">Tests that passed.</param>
/// <param name="Failed">Tests that failed.</param>
/// <param name="Unsupported">Tests outside what Reparo runs.</param>
/// <param name="Total">Tests whose every op is one Reparo claims (the others are not counted).</param>
/// <param name="NotClaimed">Tests left out because an op of theirs is not one Reparo claims.</param>
/// <param name="Ops">Per claimed op (every one, also those without a test), then multi-node graphs.</param>
/// <param name="Tests">Every counted test, by name.</param>
public sealed record OnnxConformanceReport(string TestData, int Passed, int Failed, int Unsupported, int Total, int NotClaimed,
    IReadOnlyList<OnnxOpConformance> Ops, IReadOnlyList<OnnxTestOutcome> Tests);

/// <summary>
/// Runs ONNX's node conformance tests (<c>test_*/model.onnx</c> with <c>test_data_set_*/input_*.pb</c> and
/// <c>output_*.pb</c>, as Debian's <c>libonnx-testdata</c> installs them) through Reparo's ONNX operators. A test counts
/// when every node's op is one Reparo claims; it passes when every output has the reference's element type and shape
/// and matches it: floats within ONNX's backend-test tolerance (|actual − expected| ≤ 1e-7 + 1e-3·|expected|, NaN
/// matching NaN), integers and booleans exactly.
/// </summary>
public static class OnnxConformance
{
    /// <summary>Where Debian's <c>libonnx-testdata</c> installs the node tests.</summary>
    public const string DefaultTestData = "/usr/share/libonnx-testdata/data/node";

    /// <summary>The op name under which tests of graphs with more than one node are counted.</summary>
    public const string MultiNode = "(multi-node graphs)";

    /// <summary>The heading of the Markdown section <see cref="WriteMarkdown"/> writes.</summary>
    public const string Heading = "## ONNX node conformance";

    private const double RelativeTolerance = 1e-3, AbsoluteTolerance = 1e-7;

    /// <summary>Runs every test in <paramref name="folder"/>; a missing folder is a <see cref="ReparoInputException"/> naming the Debian package.</summary>
    public static OnnxConformanceReport Run(string folder, IProgress<string>? progress = null)
    {
        if (!Directory.Exists(folder))
            throw new ReparoInputException($"ONNX test data folder {folder} not found: install Debian's libonnx-testdata (sudo apt-get install libonnx-testdata) or pass --testdata DIR");
        var outcomes = new List<OnnxTestOutcome>();
        int notClaimed = 0;
        foreach (string test in Directory.GetDirectories(folder, "test_*").Order(StringComparer.Ordinal))
        {
            string modelPath = Path.Combine(test, "model.onnx");
            if (!File.Exists(modelPath)) continue;
            ModelProto model;
            try
            {
                model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
            }
            catch (InvalidProtocolBufferException e)
            {
                throw new ReparoInputException($"{modelPath} is not an ONNX model: {e.Message}", e);
            }
            IList<NodeProto> nodes = model.Graph.Node;
            if (nodes.Count == 0 || nodes.Any(n => n.Domain is not ("" or "ai.onnx") || !OnnxOperators.Supported.Contains(n.OpType)))
            {
                notClaimed++;
                continue;
            }
            OnnxTestOutcome outcome = RunTest(test, model);
            outcomes.Add(outcome);
            if (outcome.Status != OnnxTestStatus.Passed) progress?.Report($"{outcome.Test}: {outcome.Status.ToString().ToLowerInvariant()}: {outcome.Reason}");
        }
        IEnumerable<string> ops = OnnxOperators.Supported.Order(StringComparer.Ordinal);
        if (outcomes.Any(o => o.Op == MultiNode)) ops = ops.Append(MultiNode);
        OnnxOpConformance[] perOp = [.. ops.Select(op => Summarise(op, [.. outcomes.Where(o => o.Op == op)]))];
        OnnxOpConformance all = Summarise("", outcomes);
        return new OnnxConformanceReport(Path.GetFullPath(folder), all.Passed, all.Failed, all.Unsupported, all.Total, notClaimed, perOp, outcomes);
    }

    /// <summary>
    /// Writes the report as the section <see cref="Heading"/> of the Markdown file <paramref name="path"/>: replaces that
    /// section if the file has one, appends it otherwise (creating the file with a title if needed).
    /// </summary>
    public static void WriteMarkdown(string path, OnnxConformanceReport report, string command) =>
        MarkdownSection.Write(path, "# ONNX", Heading, Markdown(report, command));

    /// <summary>The report as a Markdown section: totals, the per-op table, then every failed and unsupported test with its reason.</summary>
    public static string Markdown(OnnxConformanceReport report, string command)
    {
        var text = new StringBuilder();
        text.AppendLine(Heading);
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Produced by `{command}` on {DateTime.UtcNow:yyyy-MM-dd} from `{report.TestData}` (Debian's `libonnx-testdata`, ONNX 1.12).");
        text.AppendLine("A test counts when every op of its graph is one Reparo claims; it passes when every output has the reference's element type and shape");
        text.AppendLine("and matches it (floats within ONNX's backend-test tolerance |Δ| ≤ 1e-7 + 1e-3·|expected|, integers and booleans exactly).");
        text.AppendLine(CultureInfo.InvariantCulture, $"{report.NotClaimed} tests use ops Reparo does not claim and are not counted.");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"**{report.Passed} passed, {report.Failed} failed, {report.Unsupported} unsupported of {report.Total} tests.**");
        text.AppendLine();
        text.AppendLine("| op | passed | failed | unsupported | total |");
        text.AppendLine("|---|---:|---:|---:|---:|");
        foreach (OnnxOpConformance op in report.Ops)
        {
            string note = op.Total == 0 ? " (no test in this ONNX version)" : "";
            text.AppendLine(CultureInfo.InvariantCulture, $"| {op.Op}{note} | {op.Passed} | {op.Failed} | {op.Unsupported} | {op.Total} |");
        }
        foreach (OnnxTestStatus status in new[] { OnnxTestStatus.Failed, OnnxTestStatus.Unsupported })
        {
            OnnxTestOutcome[] listed = [.. report.Tests.Where(t => t.Status == status)];
            if (listed.Length == 0) continue;
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"{status} tests:");
            text.AppendLine();
            text.AppendLine("| test | op | reason |");
            text.AppendLine("|---|---|---|");
            foreach (OnnxTestOutcome t in listed) text.AppendLine(CultureInfo.InvariantCulture, $"| {t.Test} | {t.Op} | {t.Reason?.Replace("|", "\\|", StringComparison.Ordinal)} |");
        }
        return text.ToString();
    }

    private static OnnxOpConformance Summarise(string op, IReadOnlyList<OnnxTestOutcome> outcomes) => new(op,
        outcomes.Count(o => o.Status == OnnxTestStatus.Passed), outcomes.Count(o => o.Status == OnnxTestStatus.Failed),
        outcomes.Count(o => o.Status == OnnxTestStatus.Unsupported), outcomes.Count);

    private static OnnxTestOutcome RunTest(string folder, ModelProto model)
    {
        string name = Path.GetFileName(folder);
        GraphProto graph = model.Graph;
        int opset = (int)model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();
        string op = graph.Node.Count == 1 ? graph.Node[0].OpType : MultiNode;
        OnnxTestOutcome Outcome(OnnxTestStatus status, string? reason) => new(name, op, opset, status, reason);

        string? unsupported = graph.Node.Select(n => OnnxOperators.Unsupported(n, opset)).FirstOrDefault(r => r is not null);
        if (unsupported is not null) return Outcome(OnnxTestStatus.Unsupported, unsupported);
        var initializers = graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        ValueInfoProto[] inputs = [.. graph.Input.Where(i => !initializers.Contains(i.Name))];
        foreach (ValueInfoProto value in inputs.Concat(graph.Output))
        {
            if (value.Type?.ValueCase is not TypeProto.ValueOneofCase.TensorType)
            {
                string kind = value.Type?.ValueCase switch
                {
                    TypeProto.ValueOneofCase.SequenceType => "a sequence",
                    TypeProto.ValueOneofCase.OptionalType => "an optional",
                    TypeProto.ValueOneofCase.MapType => "a map",
                    TypeProto.ValueOneofCase.SparseTensorType => "a sparse tensor",
                    _ => "an untyped",
                };
                return Outcome(OnnxTestStatus.Unsupported, $"'{value.Name}' is {kind} value, not a tensor");
            }
            if (OnnxTensors.TorchType(value.Type.TensorType.ElemType) is null)
                return Outcome(OnnxTestStatus.Unsupported, $"'{value.Name}' has element type {((TensorProto.Types.DataType)value.Type.TensorType.ElemType).ToString().ToUpperInvariant()}, which Reparo does not read");
        }
        string[] dataSets = [.. Directory.GetDirectories(folder, "test_data_set_*").Order(StringComparer.Ordinal)];
        if (dataSets.Length == 0) return Outcome(OnnxTestStatus.Failed, "no test_data_set_* folder");
        foreach (string dataSet in dataSets)
        {
            using TorchSharp.DisposeScope scope = NewDisposeScope();
            try
            {
                var values = new Dictionary<string, Tensor>(StringComparer.Ordinal);
                foreach (TensorProto initializer in graph.Initializer) values[initializer.Name] = OnnxTensors.ToTorch(initializer, name, null);
                for (int i = 0; i < inputs.Length; i++) values[inputs[i].Name] = Read(Path.Combine(dataSet, $"input_{i}.pb"), inputs[i]);
                OnnxExecutor.Run([.. graph.Node], opset, values);
                for (int i = 0; i < graph.Output.Count; i++)
                {
                    string output = graph.Output[i].Name;
                    if (!values.TryGetValue(output, out Tensor? actual)) return Outcome(OnnxTestStatus.Failed, $"output '{output}' was not computed");
                    if (Compare(actual, Read(Path.Combine(dataSet, $"output_{i}.pb"), graph.Output[i]), output) is string difference)
                        return Outcome(OnnxTestStatus.Failed, $"{Path.GetFileName(dataSet)}: {difference}");
                }
            }
            catch (Exception e) when (e is ReparoInputException or ExternalException or ArgumentException)
            {
                return Outcome(OnnxTestStatus.Failed, $"{Path.GetFileName(dataSet)}: {e.Message.Split('\n')[0].Trim()}");
            }
        }
        return Outcome(OnnxTestStatus.Passed, null);
    }

    private static Tensor Read(string path, ValueInfoProto value)
    {
        if (!File.Exists(path)) throw new ReparoInputException($"{Path.GetFileName(path)} is missing");
        TensorProto proto = TensorProto.Parser.ParseFrom(File.ReadAllBytes(path));
        // ONNX's test generator stores bfloat16 values as their uint16 bit patterns (numpy has no bfloat16).
        if (proto.DataType == (int)TensorProto.Types.DataType.Uint16 && value.Type.TensorType.ElemType == (int)TensorProto.Types.DataType.Bfloat16)
            proto.DataType = (int)TensorProto.Types.DataType.Bfloat16;
        return OnnxTensors.ToTorch(proto, Path.GetFileName(path), null);
    }

    /// <summary>Null when <paramref name="actual"/> matches <paramref name="expected"/>, otherwise how it differs.</summary>
    private static string? Compare(Tensor actual, Tensor expected, string name)
    {
        if (actual.dtype != expected.dtype) return $"output '{name}' has element type {actual.dtype}, expected {expected.dtype}";
        if (!actual.shape.SequenceEqual(expected.shape))
            return $"output '{name}' has shape [{string.Join(", ", actual.shape)}], expected [{string.Join(", ", expected.shape)}]";
        if (actual.dtype is not (ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16))
        {
            long wrong = actual.ne(expected).sum().item<long>();
            return wrong == 0 ? null : $"output '{name}': {wrong} of {actual.numel()} values differ";
        }
        Tensor a = actual.to(ScalarType.Float64), e = expected.to(ScalarType.Float64);
        Tensor close = a.eq(e) | (a.isnan() & e.isnan()) | ((a - e).abs() <= AbsoluteTolerance + RelativeTolerance * e.abs());
        long bad = close.logical_not().sum().item<long>();
        if (bad == 0) return null;
        double largest = (a - e).abs().masked_select(close.logical_not()).nan_to_num(double.PositiveInfinity).max().item<double>();
        return string.Create(CultureInfo.InvariantCulture, $"output '{name}': {bad} of {a.numel()} values differ beyond rtol 1e-3, atol 1e-7 (largest |Δ| {largest:G3})");
    }
}
