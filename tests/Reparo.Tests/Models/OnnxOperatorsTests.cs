using Google.Protobuf;
using Onnx;
using Reparo.Experiments;
using Reparo.Models.Onnx;
using Reparo.Tests.Cli;
using static TorchSharp.torch;

namespace Reparo.Tests.Models;

public sealed class OnnxOperatorsTests
{
    private static readonly Lazy<OnnxConformanceReport> Conformance = new(() => OnnxConformance.Run(OnnxConformance.DefaultTestData));

    [Fact]
    public void EveryClaimedOpPassesDebiansConformanceTests()
    {
        OnnxConformanceReport report = Conformance.Value;
        OnnxTestOutcome[] failed = [.. report.Tests.Where(t => t.Status == OnnxTestStatus.Failed)];
        Assert.True(failed.Length == 0, string.Join("; ", failed.Select(t => $"{t.Test}: {t.Reason}")));
        Assert.All(report.Tests.Where(t => t.Status == OnnxTestStatus.Unsupported), t => Assert.False(string.IsNullOrEmpty(t.Reason)));
        // ONNX 1.12's tests predate Gelu (opset 20); its unit test below stands in for them.
        string[] untested = [.. report.Ops.Where(o => o.Op != OnnxConformance.MultiNode && o.Passed == 0).Select(o => o.Op)];
        Assert.Equal(["Gelu"], untested);
        Assert.Equal(OnnxOperators.Supported.Order(), report.Ops.Select(o => o.Op).Where(o => o != OnnxConformance.MultiNode).Order());
        Assert.True(report.Passed >= 240, $"{report.Passed} passed");
    }

    [Fact]
    public void TheCommandPrintsTheTableAndAMissingFolderNamesThePackage()
    {
        using TempFolder dir = TestSupport.TempFolder();
        // Two of Debian's tests, copied: an op that passes and a node that is unsupported (MaxPool's Indices output).
        foreach (string test in new[] { "test_lstm_defaults", "test_maxpool_with_argmax_2d_precomputed_pads" })
        {
            string source = Path.Combine(OnnxConformance.DefaultTestData, test);
            foreach (string file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
            {
                string target = Path.Combine(dir.File("node"), Path.GetRelativePath(source, file).Insert(0, test + "/"));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target);
            }
        }
        (int code, string output, _) = CliRunner.Run("experiment", "onnx-conformance", "--testdata", dir.File("node"), "--markdown", dir.File("onnx.md"), "--json", dir.File("onnx.json"),
            "--report", dir.File("onnx.html"));
        Assert.Equal(0, code);
        // The report: the results section as a document, its table of ops and the command that made it.
        string html = File.ReadAllText(dir.File("onnx.html"));
        Assert.Contains("<td>LSTM</td>", html);
        Assert.Contains("./reparo experiment onnx-conformance --testdata", html);
        Assert.Contains("LSTM", output);
        Assert.Contains("1 passed, 0 failed, 1 unsupported of 2 tests", output);
        Assert.Contains("MaxPool's Indices output", File.ReadAllText(dir.File("onnx.md")));
        Assert.Contains("\"status\": \"unsupported\"", File.ReadAllText(dir.File("onnx.json")));
        string markdown = File.ReadAllText(dir.File("onnx.md"));
        Assert.Contains(OnnxConformance.Heading, markdown);
        Assert.Contains("| LSTM |", markdown);
        // Writing again replaces the section instead of appending a second one.
        File.AppendAllText(dir.File("onnx.md"), "\n## Other section\n\nkept\n");
        Assert.Equal(0, CliRunner.Run("experiment", "onnx-conformance", "--testdata", dir.File("node"), "--markdown", dir.File("onnx.md")).Code);
        markdown = File.ReadAllText(dir.File("onnx.md"));
        Assert.Single(markdown.Split(OnnxConformance.Heading)[1..]);
        Assert.Contains("kept", markdown);
        (code, _, string err) = CliRunner.Run("experiment", "onnx-conformance", "--testdata", dir.File("nowhere"));
        Assert.Equal(2, code);
        Assert.Contains("libonnx-testdata", err);
    }

    [Theory]
    [InlineData("forward", 0)]
    [InlineData("reverse", 0)]
    [InlineData("bidirectional", 0)]
    [InlineData("bidirectional", 1)]
    public void LstmMatchesAHandComputation(string direction, int layout)
    {
        const int steps = 3, batch = 2, inputs = 2, hidden = 2;
        int dirs = direction == "bidirectional" ? 2 : 1;
        var random = new Random(5);
        double[] x = Values(random, steps * batch * inputs), w = Values(random, dirs * 4 * hidden * inputs), r = Values(random, dirs * 4 * hidden * hidden);
        double[] b = Values(random, dirs * 8 * hidden), h0 = Values(random, dirs * batch * hidden), c0 = Values(random, dirs * batch * hidden), p = Values(random, dirs * 3 * hidden);
        double[] y = new double[steps * dirs * batch * hidden], yh = new double[dirs * batch * hidden], yc = new double[dirs * batch * hidden];
        for (int d = 0; d < dirs; d++)
        {
            for (int n = 0; n < batch; n++)
            {
                double[] h = [.. Enumerable.Range(0, hidden).Select(k => h0[(d * batch + n) * hidden + k])];
                double[] c = [.. Enumerable.Range(0, hidden).Select(k => c0[(d * batch + n) * hidden + k])];
                for (int s = 0; s < steps; s++)
                {
                    int t = direction == "reverse" || d == 1 ? steps - 1 - s : s;
                    double Gate(int g, int k)
                    {
                        int row = g * hidden + k;
                        double sum = b[d * 8 * hidden + row] + b[d * 8 * hidden + 4 * hidden + row];
                        for (int j = 0; j < inputs; j++) sum += w[(d * 4 * hidden + row) * inputs + j] * x[(t * batch + n) * inputs + j];
                        for (int j = 0; j < hidden; j++) sum += r[(d * 4 * hidden + row) * hidden + j] * h[j];
                        return sum;
                    }
                    double[] hNew = new double[hidden], cNew = new double[hidden];
                    for (int k = 0; k < hidden; k++)
                    {
                        double i = Sigmoid(Gate(0, k) + p[d * 3 * hidden + k] * c[k]);
                        double f = Sigmoid(Gate(2, k) + p[d * 3 * hidden + 2 * hidden + k] * c[k]);
                        cNew[k] = f * c[k] + i * Math.Tanh(Gate(3, k));
                        double o = Sigmoid(Gate(1, k) + p[d * 3 * hidden + hidden + k] * cNew[k]);
                        hNew[k] = o * Math.Tanh(cNew[k]);
                    }
                    (h, c) = (hNew, cNew);
                    for (int k = 0; k < hidden; k++) y[((t * dirs + d) * batch + n) * hidden + k] = h[k];
                }
                for (int k = 0; k < hidden; k++) (yh[(d * batch + n) * hidden + k], yc[(d * batch + n) * hidden + k]) = (h[k], c[k]);
            }
        }
        using var scope = NewDisposeScope();
        Tensor xt = tensor(x, [steps, batch, inputs]), h0t = tensor(h0, [dirs, batch, hidden]), c0t = tensor(c0, [dirs, batch, hidden]);
        if (layout == 1) (xt, h0t, c0t) = (xt.transpose(0, 1), h0t.transpose(0, 1), c0t.transpose(0, 1));
        NodeProto node = Node("LSTM", ["X", "W", "R", "B", "", "h0", "c0", "P"], ["Y", "Y_h", "Y_c"],
            Attr("hidden_size", hidden), Attr("direction", direction), Attr("layout", layout));
        Tensor?[] result = OnnxOperators.Run(node, 14, [xt, tensor(w, [dirs, 4 * hidden, inputs]), tensor(r, [dirs, 4 * hidden, hidden]),
            tensor(b, [dirs, 8 * hidden]), null, h0t, c0t, tensor(p, [dirs, 3 * hidden])]);
        Tensor yExpected = tensor(y, [steps, dirs, batch, hidden]), hExpected = tensor(yh, [dirs, batch, hidden]), cExpected = tensor(yc, [dirs, batch, hidden]);
        if (layout == 1) (yExpected, hExpected, cExpected) = (yExpected.permute(2, 0, 1, 3), hExpected.transpose(0, 1), cExpected.transpose(0, 1));
        AssertClose(yExpected, result[0]!);
        AssertClose(hExpected, result[1]!);
        AssertClose(cExpected, result[2]!);
        Assert.Equal(ScalarType.Float64, result[0]!.dtype);
    }

    [Theory]
    [InlineData("forward", 0, false)]
    [InlineData("forward", 1, false)]
    [InlineData("reverse", 0, true)]
    [InlineData("bidirectional", 1, true)]
    public void GruMatchesAHandComputation(string direction, int linearBeforeReset, bool withLengths)
    {
        const int steps = 3, batch = 2, inputs = 3, hidden = 2;
        int dirs = direction == "bidirectional" ? 2 : 1;
        int[] lengths = withLengths ? [3, 1] : [steps, steps];
        var random = new Random(11);
        double[] x = Values(random, steps * batch * inputs), w = Values(random, dirs * 3 * hidden * inputs), r = Values(random, dirs * 3 * hidden * hidden);
        double[] b = Values(random, dirs * 6 * hidden), h0 = Values(random, dirs * batch * hidden);
        double[] y = new double[steps * dirs * batch * hidden], yh = new double[dirs * batch * hidden];
        for (int d = 0; d < dirs; d++)
        {
            for (int n = 0; n < batch; n++)
            {
                double[] h = [.. Enumerable.Range(0, hidden).Select(k => h0[(d * batch + n) * hidden + k])];
                for (int s = 0; s < lengths[n]; s++)
                {
                    int t = direction == "reverse" || d == 1 ? lengths[n] - 1 - s : s;
                    double Input(int g, int k)
                    {
                        int row = g * hidden + k;
                        double sum = b[d * 6 * hidden + row];
                        for (int j = 0; j < inputs; j++) sum += w[(d * 3 * hidden + row) * inputs + j] * x[(t * batch + n) * inputs + j];
                        return sum;
                    }
                    double Recurrent(int g, int k, double[] state)
                    {
                        int row = g * hidden + k;
                        double sum = b[d * 6 * hidden + 3 * hidden + row];
                        for (int j = 0; j < hidden; j++) sum += r[(d * 3 * hidden + row) * hidden + j] * state[j];
                        return sum;
                    }
                    double[] z = [.. Enumerable.Range(0, hidden).Select(k => Sigmoid(Input(0, k) + Recurrent(0, k, h)))];
                    double[] reset = [.. Enumerable.Range(0, hidden).Select(k => Sigmoid(Input(1, k) + Recurrent(1, k, h)))];
                    double[] resetState = [.. h.Select((v, k) => v * reset[k])];
                    double[] candidate = [.. Enumerable.Range(0, hidden).Select(k => Math.Tanh(Input(2, k)
                        + (linearBeforeReset == 1 ? reset[k] * Recurrent(2, k, h) : Recurrent(2, k, resetState))))];
                    h = [.. Enumerable.Range(0, hidden).Select(k => (1 - z[k]) * candidate[k] + z[k] * h[k])];
                    for (int k = 0; k < hidden; k++) y[((t * dirs + d) * batch + n) * hidden + k] = h[k];
                }
                for (int k = 0; k < hidden; k++) yh[(d * batch + n) * hidden + k] = h[k];
            }
        }
        using var scope = NewDisposeScope();
        NodeProto node = Node("GRU", ["X", "W", "R", "B", withLengths ? "lengths" : "", "h0"], ["Y", "Y_h"],
            Attr("hidden_size", hidden), Attr("direction", direction), Attr("linear_before_reset", linearBeforeReset));
        Tensor?[] result = OnnxOperators.Run(node, 14, [tensor(x, [steps, batch, inputs]), tensor(w, [dirs, 3 * hidden, inputs]),
            tensor(r, [dirs, 3 * hidden, hidden]), tensor(b, [dirs, 6 * hidden]), withLengths ? tensor(lengths) : null, tensor(h0, [dirs, batch, hidden])]);
        AssertClose(tensor(y, [steps, dirs, batch, hidden]), result[0]!);
        AssertClose(tensor(yh, [dirs, batch, hidden]), result[1]!);
    }

    [Fact]
    public void ConvPadsAsymmetricallyAndSameLowerPutsTheExtraPaddingFirst()
    {
        const int height = 4, width = 5;
        var random = new Random(3);
        double[] x = Values(random, 2 * height * width), w = Values(random, 2 * 2 * 3 * 3), bias = Values(random, 2);
        // pads [top 1, left 1, bottom 0, right 1], strides (2, 2): the output is 2 × 3.
        long[] pads = [1, 1, 0, 1];
        // By hand: output channel m of a group reads that group's input channels (every channel for group 1).
        double[] HandConv(int group)
        {
            int perGroup = 2 / group; // input channels per group, and output channels too (2 of each)
            double[] y = new double[2 * 2 * 3];
            for (int m = 0; m < 2; m++)
            {
                for (int oy = 0; oy < 2; oy++)
                {
                    for (int ox = 0; ox < 3; ox++)
                    {
                        double sum = bias[m];
                        for (int c = 0; c < perGroup; c++)
                        {
                            int channel = m / perGroup * perGroup + c;
                            for (int ky = 0; ky < 3; ky++)
                            {
                                for (int kx = 0; kx < 3; kx++)
                                {
                                    int iy = oy * 2 + ky - 1, ix = ox * 2 + kx - 1;
                                    if (iy >= 0 && iy < height && ix >= 0 && ix < width)
                                        sum += w[((m * perGroup + c) * 3 + ky) * 3 + kx] * x[(channel * height + iy) * width + ix];
                                }
                            }
                        }
                        y[(m * 2 + oy) * 3 + ox] = sum;
                    }
                }
            }
            return y;
        }
        double[] expected = HandConv(1);
        using var scope = NewDisposeScope();
        Tensor?[] inputs = [tensor(x, [1, 2, height, width]), tensor(w, [2, 2, 3, 3]), tensor(bias)];
        Tensor explicitPads = OnnxOperators.Run(Node("Conv", ["x", "w", "b"], ["y"], Attr("pads", pads), Attr("strides", [2, 2]), Attr("kernel_shape", [3, 3])), 11, inputs)[0]!;
        AssertClose(tensor(expected, [1, 2, 2, 3]), explicitPads);
        // SAME_LOWER with stride 2 needs 1 row (before) and 2 columns (1 before, 1 after): the same padding.
        Tensor sameLower = OnnxOperators.Run(Node("Conv", ["x", "w", "b"], ["y"], Attr("auto_pad", "SAME_LOWER"), Attr("strides", [2, 2])), 11, inputs)[0]!;
        AssertClose(tensor(expected, [1, 2, 2, 3]), sameLower);
        // Group 2 (depthwise here): output channel m reads input channel m alone, through the first half of w.
        Assert.Null(OnnxOperators.Unsupported(Node("Conv", ["x", "w"], ["y"], Attr("group", 2)), 11));
        double[] depthwise = HandConv(2);
        Tensor?[] grouped = [inputs[0], tensor(w[..18], [2, 1, 3, 3]), inputs[2]];
        AssertClose(tensor(depthwise, [1, 2, 2, 3]), OnnxOperators.Run(Node("Conv", ["x", "w", "b"], ["y"], Attr("pads", pads), Attr("strides", [2, 2]), Attr("group", 2)), 11, grouped)[0]!);
        var misfit = Assert.Throws<ReparoInputException>(() => OnnxOperators.Run(Node("Conv", ["x", "w", "b"], ["y"], Attr("group", 2)), 11, inputs));
        Assert.Contains("do not fit group 2", misfit.Message);
    }

    /// <summary>
    /// A 1-D Conv and MaxPool (asymmetric pads, stride 2, group 2) agree with torch's own 1-D kernels on the padded input;
    /// a 1-D node with 2-D attribute lengths is one line.
    /// </summary>
    [Fact]
    public void OneDimensionalConvAndPoolsAgreeWithTorchsOneDimensionalKernels()
    {
        using var scope = NewDisposeScope();
        var random = new Random(5);
        Tensor x = tensor(Values(random, 2 * 4 * 9), [2, 4, 9]), w = tensor(Values(random, 6 * 2 * 3), [6, 2, 3]), b = tensor(Values(random, 6));
        Tensor padded = nn.functional.pad(x, [2, 1]);
        Tensor conv = OnnxOperators.Run(Node("Conv", ["x", "w", "b"], ["y"], Attr("pads", [2, 1]), Attr("strides", [2]), Attr("group", 2)), 13, [x, w, b])[0]!;
        AssertClose(nn.functional.conv1d(padded, w, b, stride: 2, groups: 2), conv);
        Tensor pool = OnnxOperators.Run(Node("MaxPool", ["x"], ["y"], Attr("kernel_shape", [3]), Attr("strides", [2]), Attr("pads", [1, 1])), 13, [x])[0]!;
        AssertClose(nn.functional.max_pool1d(nn.functional.pad(x, [1, 1], value: double.NegativeInfinity), 3, 2), pool);
        var misfit = Assert.Throws<ReparoInputException>(() => OnnxOperators.Run(Node("Conv", ["x", "w", "b"], ["y"], Attr("pads", [1, 1, 1, 1])), 13, [x, w.narrow(1, 0, 2).repeat(1, 2, 1), b]));
        Assert.Contains("pads has 4 values for a 1-D input, not 2", misfit.Message);
    }

    [Fact]
    public void SoftmaxFlattensAtTheAxisBeforeOpset13AndNormalisesOneAxisFrom13()
    {
        using var scope = NewDisposeScope();
        Tensor x = tensor(Values(new Random(2), 24), [2, 3, 4]);
        NodeProto node = Node("Softmax", ["x"], ["y"], Attr("axis", 1));
        Tensor old = OnnxOperators.Run(node, 11, [x])[0]!, current = OnnxOperators.Run(node, 13, [x])[0]!;
        // Opset 11: each of the 2 rows of the (2, 12) flattening sums to 1; opset 13: each (batch, column) over axis 1.
        AssertClose(ones(2, dtype: ScalarType.Float64), old.reshape(2, 12).sum(1));
        AssertClose(ones(2, 4, dtype: ScalarType.Float64), current.sum(1));
        double e = Math.Exp(x[1, 2, 3].item<double>());
        double rowSum = x[1].exp().sum().item<double>(), columnSum = x[1].select(1, 3).exp().sum().item<double>();
        Assert.Equal(e / rowSum, old[1, 2, 3].item<double>(), 12);
        Assert.Equal(e / columnSum, current[1, 2, 3].item<double>(), 12);
        // Without an axis attribute the default moved from 1 to -1.
        AssertClose(ones(2, 3, dtype: ScalarType.Float64), OnnxOperators.Run(Node("Softmax", ["x"], ["y"]), 13, [x])[0]!.sum(2));
    }

    [Fact]
    public void GeluFollowsBothDefinitionsOfOpset20()
    {
        using var scope = NewDisposeScope();
        double[] values = [-3, -0.5, 0, 0.7, 2.5];
        Tensor x = tensor(values);
        Tensor exact = OnnxOperators.Run(Node("Gelu", ["x"], ["y"]), 20, [x])[0]!;
        Tensor approximate = OnnxOperators.Run(Node("Gelu", ["x"], ["y"], Attr("approximate", "tanh")), 20, [x])[0]!;
        for (int i = 0; i < values.Length; i++)
        {
            double v = values[i];
            Assert.Equal(0.5 * v * (1 + Erf(v / Math.Sqrt(2))), exact[i].item<double>(), 12);
            Assert.Equal(0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))), approximate[i].item<double>(), 12);
        }
        Assert.NotNull(OnnxOperators.Unsupported(Node("Gelu", ["x"], ["y"]), 18));
    }

    [Fact]
    public void OlderOpsetsReadAttributesWhereLaterOnesReadInputs()
    {
        using var scope = NewDisposeScope();
        Tensor x = arange(24, ScalarType.Float64).reshape(2, 3, 4);
        long[] Shape(Tensor? t) => t!.shape;
        Tensor Longs(params long[] v) => tensor(v);
        Assert.Equal([2L, 1, 3, 4], Shape(OnnxOperators.Run(Node("Unsqueeze", ["x"], ["y"], Attr("axes", [-3])), 11, [x])[0]));
        Assert.Equal([2L, 1, 3, 4], Shape(OnnxOperators.Run(Node("Unsqueeze", ["x", "a"], ["y"]), 13, [x, Longs(1)])[0]));
        Tensor single = zeros(1, 3, 1);
        Assert.Equal([3L, 1], Shape(OnnxOperators.Run(Node("Squeeze", ["x"], ["y"], Attr("axes", [0])), 11, [single])[0]));
        Assert.Equal([3L], Shape(OnnxOperators.Run(Node("Squeeze", ["x"], ["y"]), 13, [single])[0]));
        // Slice at opset 9 (attributes, no steps) and at 13 with a negative step.
        Tensor sliced = OnnxOperators.Run(Node("Slice", ["x"], ["y"], Attr("starts", [1]), Attr("ends", [100]), Attr("axes", [-1])), 9, [x])[0]!;
        Assert.Equal([1.0, 2, 3], sliced[0, 0].data<double>().ToArray());
        Tensor reversed = OnnxOperators.Run(Node("Slice", ["x", "s", "e", "a", "p"], ["y"]), 13, [x, Longs(-1), Longs(long.MinValue), Longs(2), Longs(-2)])[0]!;
        Assert.Equal([3.0, 1], reversed[0, 0].data<double>().ToArray());
        // Split: equal parts from the outputs at 11, uneven num_outputs at 18, sizes as an input at 13.
        Assert.Equal([2L, 2L], OnnxOperators.Run(Node("Split", ["x"], ["a", "b"], Attr("axis", 2)), 11, [x]).Select(t => t!.shape[2]));
        Assert.Equal([2L, 1L], OnnxOperators.Run(Node("Split", ["x"], ["a", "b"], Attr("axis", 1), Attr("num_outputs", 2)), 18, [x]).Select(t => t!.shape[1]));
        Assert.Equal([1L, 3L], OnnxOperators.Run(Node("Split", ["x", "s"], ["a", "b"], Attr("axis", -1)), 13, [x, Longs(1, 3)]).Select(t => t!.shape[2]));
        // ReduceMean: axes attribute before 18, input from 18 (absent: all axes unless noop_with_empty_axes).
        Assert.Equal([2L, 1, 4], Shape(OnnxOperators.Run(Node("ReduceMean", ["x"], ["y"], Attr("axes", [1])), 17, [x])[0]));
        Assert.Equal([2L, 4], Shape(OnnxOperators.Run(Node("ReduceMean", ["x", "a"], ["y"], Attr("keepdims", 0)), 18, [x, Longs(-2)])[0]));
        Assert.Equal(11.5, OnnxOperators.Run(Node("ReduceMean", ["x"], ["y"], Attr("keepdims", 0)), 18, [x])[0]!.item<double>());
        Assert.Null(OnnxOperators.Run(Node("ReduceMean", ["x"], [""], Attr("noop_with_empty_axes", 1)), 18, [x])[0]);
        Assert.Equal([2L, 3, 4], Shape(OnnxOperators.Run(Node("ReduceMean", ["x"], ["y"], Attr("noop_with_empty_axes", 1)), 18, [x])[0]));
        // Pad: attributes at 9, inputs at 11, axes at 18; reflect and edge with a negative (cropping) pad.
        Tensor row = tensor(new double[] { 1, 2, 3, 4 });
        Assert.Equal([7.0, 1, 2, 3, 4, 7], OnnxOperators.Run(Node("Pad", ["x"], ["y"], Attr("pads", [1, 1]), new AttributeProto { Name = "value", F = 7 }), 9, [row])[0]!.data<double>().ToArray());
        Assert.Equal([3.0, 2, 1, 2, 3], OnnxOperators.Run(Node("Pad", ["x", "p"], ["y"], Attr("mode", "reflect")), 11, [row, Longs(2, -1)])[0]!.data<double>().ToArray());
        Assert.Equal([2.0, 3, 4, 4, 4], OnnxOperators.Run(Node("Pad", ["x", "p"], ["y"], Attr("mode", "edge")), 11, [row, Longs(-1, 2)])[0]!.data<double>().ToArray());
        Assert.Equal([2L, 3, 6], Shape(OnnxOperators.Run(Node("Pad", ["x", "p", "", "a"], ["y"]), 18, [x, Longs(1, 1), null, Longs(-1)])[0]));
        // Integer division truncates toward zero; int64 shape arithmetic stays int64; float64 stays float64.
        Tensor quotient = OnnxOperators.Run(Node("Div", ["a", "b"], ["y"]), 14, [Longs(-7, 7), Longs(2, -2)])[0]!;
        Assert.Equal([-3L, -3], quotient.data<long>().ToArray());
        Assert.Equal(ScalarType.Float64, OnnxOperators.Run(Node("Gemm", ["a", "b"], ["y"], new AttributeProto { Name = "alpha", F = 0.5f }), 13, [x[0], x[0].t()])[0]!.dtype);
        // MatMul with 1-D operands follows numpy: a vector is a row on the left, a column on the right, then dropped.
        Tensor matrix = arange(6, ScalarType.Float64).reshape(2, 3);
        Assert.Equal([5.0, 14], OnnxOperators.Run(Node("MatMul", ["a", "b"], ["y"]), 13, [matrix, tensor(new double[] { 0, 1, 2 })])[0]!.data<double>().ToArray());
        Assert.Equal([3.0, 4, 5], OnnxOperators.Run(Node("MatMul", ["a", "b"], ["y"]), 13, [tensor(new double[] { 0, 1 }), matrix])[0]!.data<double>().ToArray());
        // Reshape: 0 copies a dimension unless allowzero; Dropout before opset 10 returns a mask of the input's type.
        Assert.Equal([2L, 12], Shape(OnnxOperators.Run(Node("Reshape", ["x", "s"], ["y"]), 14, [x, Longs(0, -1)])[0]));
        Assert.Equal([0L, 4], Shape(OnnxOperators.Run(Node("Reshape", ["x", "s"], ["y"], Attr("allowzero", 1)), 14, [zeros(0, 4), Longs(0, 4)])[0]));
        Assert.Equal(ScalarType.Float64, OnnxOperators.Run(Node("Dropout", ["x"], ["y", "m"]), 9, [x])[1]!.dtype);
        Assert.Equal(ScalarType.Bool, OnnxOperators.Run(Node("Dropout", ["x"], ["y", "m"]), 13, [x])[1]!.dtype);
    }

    [Fact]
    public void TheExecutorPassesValuesByNameAndNamesAMissingOne()
    {
        using var scope = NewDisposeScope();
        var values = new Dictionary<string, Tensor> { ["x"] = zeros(2, 3, 4), ["start"] = tensor(new long[] { 1 }) };
        NodeProto shape = Node("Shape", ["x"], ["s"]), slice = Node("Slice", ["s", "start", "end"], ["tail"]);
        slice.Name = "take_tail";
        OnnxExecutor.Run([shape], 13, values);
        Assert.Equal([2L, 3, 4], values["s"].data<long>().ToArray());
        var error = Assert.Throws<ReparoInputException>(() => OnnxExecutor.Run([slice], 13, values));
        Assert.Contains("take_tail", error.Message);
        Assert.Contains("'end'", error.Message);
        values["end"] = tensor(new long[] { long.MaxValue });
        OnnxExecutor.Run([slice], 13, values);
        Assert.Equal(ScalarType.Int64, values["tail"].dtype);
        Assert.Equal([3L, 4], values["tail"].data<long>().ToArray());
    }

    private static double[] Values(Random random, int count) => [.. Enumerable.Range(0, count).Select(_ => random.NextDouble() * 2 - 1)];

    private static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));

    /// <summary>erf by its Maclaurin series (2/√π Σ (−1)ⁿ z²ⁿ⁺¹ / (n! (2n + 1))), accurate to 1e-15 for |z| ≤ 2.2.</summary>
    private static double Erf(double z)
    {
        double sum = 0, term = z;
        for (int n = 0; n < 80; n++)
        {
            sum += term / (2 * n + 1);
            term *= -z * z / (n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    private static void AssertClose(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(actual.allclose(expected, rtol: 1e-10, atol: 1e-12), $"largest |Δ| {(actual - expected).abs().max().item<double>()}");
    }

    private static NodeProto Node(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        return node;
    }

    private static AttributeProto Attr(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static AttributeProto Attr(string name, long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    private static AttributeProto Attr(string name, string value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    /// <summary>An LSTM or GRU whose weights or state are of another float type than its data is one line (libtorch would abort the process).</summary>
    [Theory]
    [InlineData("LSTM", 4)]
    [InlineData("GRU", 3)]
    public void ARecurrentCellWithMixedFloatTypesIsOneLine(string op, int gates)
    {
        var node = new NodeProto { Name = "cell", OpType = op, Input = { "x", "w", "r" }, Output = { "y" } };
        node.Attribute.Add(new AttributeProto { Name = "hidden_size", Type = AttributeProto.Types.AttributeType.Int, I = 2 });
        var values = new Dictionary<string, Tensor>
        {
            ["x"] = zeros(3, 1, 4, dtype: ScalarType.Float64),
            ["w"] = zeros(1, gates * 2, 4, dtype: ScalarType.Float64),
            ["r"] = zeros(1, gates * 2, 2, dtype: ScalarType.Float32),
        };
        var error = Assert.Throws<ReparoInputException>(() => OnnxExecutor.Run([node], 14, values));
        Assert.Contains("input 2 is Float32 but the data is Float64", error.Message);
    }
}
