using System.Text.Json;
using Google.OrTools.ModelBuilder;
using Reparo.Cli;
using Reparo.Data;
using Reparo.Io;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Repair.Provable;
using Reparo.Reporting;
using static TorchSharp.torch;

namespace Reparo.Tests.Repair;

public class ProvableRepairTests
{
    // ---------------------------------------------------------------- helpers

    /// <summary>
    /// input 2 → fc1 (2→2) → relu1 → fc2 (2→2), weights row-major (out, in), classes a and b.
    /// </summary>
    private static Network HandMlp(double[] w1, double[] b1, double[] w2, double[] b2)
    {
        TestSupport.Init();
        var network = new Network(new NetworkSpec("custom", [2], InputKind.Features, ["a", "b"],
            [new LinearSpec("fc1", 2, 2), new ReluSpec("relu1"), new LinearSpec("fc2", 2, 2)]));
        SetParameters(network, "fc1", w1, b1);
        SetParameters(network, "fc2", w2, b2);
        network.eval();
        return network;
    }

    private static void SetParameters(Network network, string layer, double[] weight, double[] bias)
    {
        NetworkLayer l = network.Layers[network.LayerIndex(layer)];
        Tensor w = (l.AsLinear?.weight ?? l.AsConv2d!.weight)!, b = (l.AsLinear?.bias ?? l.AsConv2d!.bias)!;
        using var noGrad = no_grad();
        using Tensor wv = tensor(weight).reshape(w.shape), bv = tensor(bias).reshape(b.shape);
        w.copy_(wv);
        b.copy_(bv);
    }

    private static double[] Values(Tensor t) => t.detach().to(ScalarType.Float64).contiguous().data<double>().ToArray();

    private static double[] Parameter(Network network, string name) => Values(network.state_dict()[name]);

    private static RepairSet Points(float[][] inputs, long[] labels, long[] sampleShape)
    {
        var regions = inputs.Select((x, i) => new RepairRegion(tensor(x).reshape([1, .. sampleShape]), labels[i], $"p{i}")).ToArray();
        return new RepairSet(regions, "hand-made points");
    }

    private static RepairProblem Problem(Network network, RepairSet set)
    {
        (Tensor x, _, long[] labels) = set.Stacked();
        var data = new Dataset("held-out", x, tensor(labels), network.Spec.ClassNames, network.Spec.InputKind);
        return new RepairProblem(network, set, data, null);
    }

    /// <summary>
    /// mlp:16xL on random 8×8 images; the first images' required class is the one after the predicted one (so none is
    /// predicted correctly).
    /// </summary>
    private static (Network Network, Dataset Data, long[] Wanted) RandomMlp(string architecture, int samples = 40)
    {
        Dataset data = TestSupport.RandomImages(samples, size: 8, seed: 3);
        Network network = ModelZoo.Create(architecture, data, seed: 1);
        long[] predicted = network.Predict(data.X);
        long[] wanted = predicted.Select(p => (p + 1) % data.ClassCount).ToArray();
        return (network, data, wanted);
    }

    private static RepairRegion Polytope(Dataset data, int[] rows, long label, string id)
    {
        using Tensor index = tensor(rows.Select(r => (long)r).ToArray());
        return new RepairRegion(data.X.index_select(0, index), label, id);
    }

    /// <summary>Adds LP parameter changes to a float64 network (mirrors ProvableRepair.Apply).</summary>
    private static void ApplyDeltas(Network network64, IReadOnlyList<ParameterDelta> deltas, double[] x)
    {
        using var noGrad = no_grad();
        foreach (var group in deltas.GroupBy(d => (d.Layer, d.IsBias)))
        {
            NetworkLayer layer = network64.Layers[group.Key.Layer];
            Tensor p = group.Key.IsBias ? (layer.AsLinear?.bias ?? layer.AsConv2d!.bias)! : (layer.AsLinear?.weight ?? layer.AsConv2d!.weight)!;
            double[] data = Values(p);
            foreach (ParameterDelta d in group) data[d.Index] += d.ValueIn(x);
            using Tensor updated = tensor(data, ScalarType.Float64).reshape(p.shape);
            p.copy_(updated);
        }
    }

    private static double Evaluate(LinExpr e, double[] x)
    {
        double sum = e.Constant;
        for (int i = 0; i < e.Cols.Length; i++) sum += e.Coefs[i] * x[e.Cols[i]];
        return sum;
    }

    /// <summary>The result's message, its regions' checks and its notes, for assertion messages.</summary>
    private static string Explain(RepairResult result) =>
        string.Join(Environment.NewLine, [result.Message, .. (result.Verification?.Regions ?? []).Select(r => r.ToString()), .. result.Notes]);

    private static (int Code, string Out, string Err) Cli(params string[] args) => Tests.Cli.CliRunner.Run(args);

    /// <summary>A model that computes float32 logits with one network and float64 logits with another (float64) one.</summary>
    private sealed class TwoPrecisionModel(Network float32, Network float64) : IRepairedModel
    {
        public Network? PlainNetwork => float32;

        public string Kind => "test model with separate float32 and float64 weights";

        public Tensor Logits(Tensor x, ScalarType dtype) =>
            dtype == ScalarType.Float64 ? float64.Logits(x.to(ScalarType.Float64)) : float32.Logits(x.to(ScalarType.Float32));
    }

    // ---------------------------------------------------------------- 1. hand-checkable LP optima

    /// <summary>
    /// --time-limit bounds a repair's solves together (polytope slices, ε retries, the halving of preserved inputs after an
    /// infeasible LP): each solve gets what the earlier ones left, and none starts once it is spent.
    /// </summary>
    [Fact]
    public void ATimeLimitIsSharedByARepairsSolves()
    {
        var unlimited = new LpSolverOptions();
        Assert.Same(unlimited, ProvableRepair.WithinTimeLimit(unlimited, 1e6));
        var limited = new LpSolverOptions { TimeLimitSeconds = 60 };
        Assert.Equal(60, ProvableRepair.WithinTimeLimit(limited, 0)!.TimeLimitSeconds);
        Assert.Equal(15, ProvableRepair.WithinTimeLimit(limited, 45)!.TimeLimitSeconds);
        Assert.Null(ProvableRepair.WithinTimeLimit(limited, 60));
        Assert.Null(ProvableRepair.WithinTimeLimit(limited, 75));
    }

    [Fact]
    public void LastLayerRepairFindsTheHandDerivedOptimum()
    {
        // fc1 = I, b1 = 0; fc2 = I, b2 = 0. Input x = (1, 0): h = relu(x) = (1, 0), logits y = (1, 0): class a.
        // Required class b with margin ε = 0.2. Write a, b for the changes of fc2.w00, fc2.b0 and c, d for fc2.w10, fc2.b1;
        // fc2.w01 and fc2.w11 multiply h1 = 0, so they cannot help and are 0 at the optimum. The constraint is
        //   (0 + c + d) − (1 + a + b) ≥ ε  ⇔  c + d − a − b ≥ 1.2.
        // Objective t + S/6 with t = max|Δ| and S = Σ|Δ| over fc2's 6 parameters. S ≥ 1.2 and 4t ≥ S (four changes
        // carry the whole sum), so t + S/6 ≥ S/4 + S/6 ≥ 1.2·5/12 = 0.5, with equality only for
        //   c = d = 0.3, a = b = −0.3:  max|Δ| = 0.3, mean|Δ| = 1.2/6 = 0.2, objective 0.5.
        // The last-layer variant may change only fc2's row of class b (c, d and w11): c + d ≥ 1.2, objective
        // t + S/3 ≥ S/2 + S/3 = 1.0 at c = d = 0.6, row a untouched.
        Network network = HandMlp([1, 0, 0, 1], [0, 0], [1, 0, 0, 1], [0, 0]);
        RepairSet set = Points([[1f, 0f]], [1], [2]);
        Assert.Equal(0, network.Predict(set.Regions[0].Vertices)[0]);

        RepairResult aprnn = new ProvableRepair(new ProvableRepairOptions { Layer = "fc2", Epsilon = 0.2 }).Repair(Problem(network, set));
        RepairResult last = new ProvableRepair(new ProvableRepairOptions { Variant = LpRepairVariant.LastLayer, Epsilon = 0.2 }).Repair(Problem(network, set));

        Assert.True(aprnn.Verified, aprnn.Message);
        Assert.True(last.Verified, last.Message);
        Assert.Equal(("provable", "fc2", "lastlayer", "fc2"), (aprnn.Method, aprnn.Layer, last.Method, last.Layer));
        double[] w0 = Parameter(network, "fc2.weight"), b0 = Parameter(network, "fc2.bias");

        Network repaired = aprnn.Model!.PlainNetwork!;
        double[] dw = Parameter(repaired, "fc2.weight").Zip(w0, (a, b) => a - b).ToArray();
        double[] db = Parameter(repaired, "fc2.bias").Zip(b0, (a, b) => a - b).ToArray();
        double[] all = [.. dw, .. db];
        Assert.Equal(0.3, all.Max(Math.Abs), 1e-6);
        Assert.Equal(0.2, all.Average(Math.Abs), 1e-6);
        Assert.Equal(-0.3, dw[0], 1e-6); // w00
        Assert.Equal(0.0, dw[1], 1e-6); // w01
        Assert.Equal(0.3, dw[2], 1e-6); // w10
        Assert.Equal(0.0, dw[3], 1e-6); // w11
        Assert.Equal(-0.3, db[0], 1e-6);
        Assert.Equal(0.3, db[1], 1e-6);
        Assert.True(Parameter(repaired, "fc1.weight").SequenceEqual(Parameter(network, "fc1.weight")), "APRNN at the last layer changed fc1");
        Assert.Equal(0.2, aprnn.Verification!.MinMarginFloat64, 1e-6);

        Network lastRepaired = last.Model!.PlainNetwork!;
        double[] lw = Parameter(lastRepaired, "fc2.weight").Zip(w0, (a, b) => a - b).ToArray();
        double[] lb = Parameter(lastRepaired, "fc2.bias").Zip(b0, (a, b) => a - b).ToArray();
        Assert.Equal([0.0, 0.0], lw[..2]); // row a is not a repair-set class: bit-identical
        Assert.Equal(0.0, lb[0]);
        Assert.Equal(0.6, lw[2], 1e-6);
        Assert.Equal(0.0, lw[3], 1e-6);
        Assert.Equal(0.6, lb[1], 1e-6);
    }

    [Fact]
    public void ProvableRepairAtTheFirstLayerKeepsTheReluPatternAtTheOptimum()
    {
        // fc1 = I, b1 = (−0.75, −0.1); fc2 = diag(1, 10), b2 = (0.75, 0). At x = (1, 0): z = (0.25, −0.1), pattern
        // (on, off), h = (0.25, 0), y = (1, 0). Required class b, ε = 0.2. APRNN at fc1 changes fc1's 6 parameters and
        // fc2's 2 biases (8 in all; fc2's weights are fixed). With a = Δw00, b = Δb1₀, c0, c1 the changes of fc2's
        // biases: z1 = 0.25 + a + b, y0 = z1 + 0.75 + c0 while neuron 1 is on, y1 = c1 while neuron 2 is off, so
        //   spec: c1 − c0 − a − b ≥ 1.2,   neuron 1 stays on by the sign margin δ (default 1e-4): a + b ≥ −0.25 + δ.
        // With p = −(a + b) ≤ 0.25 − δ and q = c1 − c0 ≥ 1.2 − p: max|Δ| ≥ q/2 and Σ|Δ| ≥ p + q ≥ 1.2, so the objective
        // max|Δ| + Σ|Δ|/8 ≥ (1.2 − p)/2 + 0.15 ≥ 0.475 + δ/2 + 0.15, reached only with p = 0.25 − δ (z1 = δ, neuron 1 just
        // on) and c1 = −c0 = 0.475 + δ/2: max|Δ| = 0.475 + δ/2, Σ|Δ| = 1.2. Row 2 of fc1 stays (nothing gains from moving it).
        // Dropping the sign row would allow the even spread a = b = c0 = −0.3, c1 = 0.3 of the last-layer case (objective
        // 0.45) with z1 = −0.35: the real network then outputs h1 = 0, y = (0.45, 0.3), and the repair would be wrong.
        Network network = HandMlp([1, 0, 0, 1], [-0.75, -0.1], [1, 0, 0, 10], [0.75, 0]);
        RepairSet set = Points([[1f, 0f]], [1], [2]);
        Assert.Equal(0, network.Predict(set.Regions[0].Vertices)[0]);

        var options = new ProvableRepairOptions { Layer = "fc1", Epsilon = 0.2 };
        double delta = options.SignMargin;
        Assert.Equal(10 * RepairVerifier.GuardBandFloat32, delta);

        RepairResult result = new ProvableRepair(options).Repair(Problem(network, set));

        Assert.True(result.Verified, result.Message);
        Network repaired = result.Model!.PlainNetwork!;
        using Tensor z = repaired.Forward(set.Regions[0].Vertices, 0, 1);
        double[] pre = Values(z);
        Assert.True(Math.Abs(pre[0] - delta) < 1e-6, $"neuron 1 should be just on, by the sign margin: {pre[0]}");
        Assert.Equal(-0.1, pre[1], 1e-6); // neuron 2 off and untouched
        string[] names = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"];
        double[] deltas = names.SelectMany(n => Parameter(repaired, n).Zip(Parameter(network, n), (a, b) => a - b)).ToArray();
        Assert.Equal(0.475 + delta / 2, deltas.Max(Math.Abs), 1e-5);
        Assert.Equal(1.2, deltas.Sum(Math.Abs), 1e-5);
        Assert.Equal(0.0, deltas.Skip(6).Take(4).Max(Math.Abs)); // fc2's weights are not variables at all
        Assert.Equal(-0.475 - delta / 2, deltas[10], 1e-5);
        Assert.Equal(0.475 + delta / 2, deltas[11], 1e-5);
        Assert.Equal(-0.25 + delta, deltas[0] + deltas[4], 1e-5); // Δw00 + Δb1₀
        Assert.True(result.Verification!.MinMarginFloat32 > 0.2 - 1e-5);
    }

    // ---------------------------------------------------------------- 2. the verifier rejects a corrupted repair

    [Fact]
    public void VerifierRejectsACorruptedRepair()
    {
        (Network network, Dataset data, long[] wanted) = RandomMlp("mlp:16x2");
        RepairSet set = RepairSet.FromPoints(data.WithLabels(tensor(wanted), "wanted"), [0, 1, 2, 3, 4], "first five");
        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = "fc2" }).Repair(Problem(network, set));
        Assert.True(result.Verified, result.Message);
        Network repaired = result.Model!.PlainNetwork!;
        Assert.True(RepairVerifier.Verify(new PlainRepairedModel(repaired), set).Verified);

        // Negate the change: fc2's weights moved the other way, its bias back to the original.
        Network negatedNetwork = repaired.Clone();
        double[] original = Parameter(network, "fc2.weight"), fixedWeights = Parameter(repaired, "fc2.weight");
        SetParameters(negatedNetwork, "fc2", original.Zip(fixedWeights, (o, r) => o - (r - o)).ToArray(), Parameter(network, "fc2.bias"));
        VerificationReport negated = RepairVerifier.Verify(new PlainRepairedModel(negatedNetwork), set);
        Assert.False(negated.Verified);
        Assert.Contains(negated.Regions, r => !r.Passed && r.MarginFloat32 <= 0 && r.MarginFloat64 <= 0);

        // Only region 2 broken: its required class's bias drops far below the others.
        long label = set.Regions[2].Label;
        Network broken = repaired.Clone();
        double[] bias = Parameter(repaired, "fc2.bias");
        bias[label] -= 100;
        SetParameters(broken, "fc2", Parameter(repaired, "fc2.weight"), bias);
        VerificationReport report = RepairVerifier.Verify(new PlainRepairedModel(broken), set);
        Assert.False(report.Verified);
        RegionCheck failing = report.Regions[2];
        Assert.False(failing.Passed);
        Assert.True(failing.MarginFloat32 <= 0 && failing.MarginFloat64 <= 0, $"margins {failing.MarginFloat32}, {failing.MarginFloat64}");
        Assert.True(report.Efficacy < 1);
        Assert.All(report.Regions.Where(r => r.Label != label), r => Assert.True(r.Passed));
    }

    // ---------------------------------------------------------------- 3. infeasible repair sets

    [Fact]
    public void AnLpOverTheMemoryBudgetIsRefusedBeforeItIsBuiltWithItsExactSize()
    {
        Network network = HandMlp([1, 0, 0, 1], [0, 0], [1, 0, 0, 1], [0, 0]);
        RepairSet set = Points([[0.5f, 0.25f], [0.25f, 0.5f]], [1, 0], [2]);
        var options = new ProvableRepairOptions { Layer = "fc1" };
        RepairResult unlimited = new ProvableRepair(options).Repair(Problem(network, set));
        Assert.True(unlimited.Verified);
        long twice = 2 * unlimited.LpSize!.StorageBytes;

        // The refusal names the LP's exact size (the counting walk's, equal to the built LP's) and what to do.
        var refused = Assert.Throws<ReparoInputException>(() => new ProvableRepair(options with { MaxMemoryBytes = twice - 1 }).Repair(Problem(network, set)));
        Assert.Contains(FormattableString.Invariant($"{unlimited.LpSize.Nonzeros:N0} nonzeros"), refused.Message);
        Assert.Contains("above --max-memory", refused.Message);
        Assert.Contains("a later layer", refused.Message);
        Assert.True(new ProvableRepair(options with { MaxMemoryBytes = twice }).Repair(Problem(network, set)).Verified);
    }

    [Fact]
    public void ContradictoryRepairSetIsRefusedAndANearContradictionIsInfeasible()
    {
        Network network = HandMlp([1, 0, 0, 1], [0, 0], [1, 0, 0, 1], [0, 0]);
        using var dir = TestSupport.TempFolder();
        string model = dir.File("m.reparo"), csv = dir.File("points.csv"), repairFile = dir.File("set.json"), output = dir.File("repaired.reparo");
        ModelFile.Save(network, model);
        File.WriteAllLines(csv, ["x1,x2,label", .. Enumerable.Range(0, 30).Select(i => $"{i / 30.0:R},{1 - i / 30.0:R},{(i % 2 == 0 ? "a" : "b")}")]);
        File.WriteAllText(repairFile, """{"inputs": [[0.5, 0.25], [0.5, 0.25]], "labels": [0, 1]}""");

        (int code, string stdout, string err) = Cli("repair", "--method", "provable", "--model", model, "--data", $"csv:{csv}",
            "--repair-set", $"file:{repairFile}", "--layer", "fc2", "--out", output);

        Assert.Equal(CliApp.BadInput, code);
        string[] lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("reparo: ", lines[0]);
        Assert.Contains("no model can do both", lines[0]);
        Assert.False(File.Exists(output), "a model was written for a contradictory repair set");
        Assert.Equal("", stdout);

        // Two inputs a hair apart with different labels are not a contradiction, but within the ±3 bound no repair
        // separates them by the margin: infeasible at every variant.
        RepairSet set = Points([[0.5f, 0.25f], [0.5f, 0.2500001f]], [0, 1], [2]);
        foreach (LpRepairVariant variant in new[] { LpRepairVariant.Aprnn, LpRepairVariant.Prdnn, LpRepairVariant.LastLayer })
        {
            RepairResult result = new ProvableRepair(new ProvableRepairOptions { Variant = variant, Layer = "fc1" }).Repair(Problem(network, set));
            Assert.Equal(RepairStatus.Infeasible, result.Status);
            Assert.Null(result.Model);
            Assert.Null(result.Verification);
            Assert.False(result.Verified);
            Assert.Contains("infeasible", result.Message);
        }
    }

    // ---------------------------------------------------------------- 4. polytopes

    [Fact]
    public void PolytopeWhoseVerticesChangePatternIsRejectedEvenWhenBothVerticesAreCorrect()
    {
        // fc1 = I: at (1, 0) neuron 1 is on, at (−1, 0) it is off. fc2: y = (h1 + 1, 0), so both vertices are class a,
        // but the segment between them crosses a ReLU boundary and is not proven by its vertices.
        Network network = HandMlp([1, 0, 0, 1], [0, 0], [1, 0, 0, 0], [1, 0]);
        var region = new RepairRegion(tensor(new float[] { 1, 0, -1, 0 }).reshape(2, 2), 0, "segment");
        var point = new RepairRegion(tensor(new float[] { 0.5f, 0.5f }).reshape(1, 2), 0, "point");
        var set = new RepairSet([region, point], "segment");

        VerificationReport report = RepairVerifier.Verify(new PlainRepairedModel(network), set);

        RegionCheck check = report.Regions[0];
        Assert.True(check.MarginFloat32 > 0 && check.MarginFloat64 > 0);
        Assert.False(check.LinearOnRegion);
        Assert.False(check.Passed);
        Assert.Null(report.Regions[1].LinearOnRegion);
        Assert.True(report.Regions[1].Passed);
        Assert.False(report.Verified);
        Assert.Equal(0.5, report.Efficacy);

        // The same segment moved to where both vertices switch neuron 1 on is proven.
        var on = new RepairRegion(tensor(new float[] { 1, 0, 2, 0 }).reshape(2, 2), 0, "segment-on");
        Assert.True(RepairVerifier.Verify(new PlainRepairedModel(network), new RepairSet([on], "on")).Regions[0] is { LinearOnRegion: true, Passed: true });
    }

    [Fact]
    public void PolytopeRepairAtTheFirstAffineLayerVerifies()
    {
        (Network network, Dataset data, long[] wanted) = RandomMlp("mlp:16x2");
        RepairRegion[] regions =
        [
            Polytope(data, [0, 1], wanted[0], "seg01"),
            Polytope(data, [2, 3, 4], wanted[2], "tri234"),
            Polytope(data, [5, 6], wanted[5], "seg56"),
        ];
        var set = new RepairSet(regions, "polytopes");
        Assert.False(RepairVerifier.Verify(new PlainRepairedModel(network), set).Verified);

        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = "fc1" }).Repair(Problem(network, set));

        Assert.True(result.Verified, Explain(result));
        Assert.All(result.Verification!.Regions, r => Assert.True(r.LinearOnRegion == true && r.Passed, r.Id));
        Assert.DoesNotContain(result.Notes, n => n.Contains("slice"));
        Network repaired = result.Model!.PlainNetwork!;
        foreach (RepairRegion r in regions)
        {
            // Points inside the polytope (a random convex combination of its vertices) are classified correctly too.
            using Tensor weights = softmax(randn([1, r.VertexCount], generator: new Generator(7)), 1);
            using Tensor inside = matmul(weights, r.Vertices.reshape(r.VertexCount, -1)).reshape(r.Vertices.shape[1..].Prepend(1).ToArray());
            Assert.Equal(r.Label, repaired.Predict(inside)[0]);
        }
    }

    [Fact]
    public void PolytopeRepairAtADeeperLayerSlicesThePrefixFirst()
    {
        (Network network, Dataset data, long[] wanted) = RandomMlp("mlp:16x3");
        RepairRegion[] regions =
        [
            Polytope(data, [0, 1], wanted[0], "seg01"),
            Polytope(data, [2, 3, 4], wanted[2], "tri234"),
        ];
        var set = new RepairSet(regions, "polytopes");
        int fc2 = network.LayerIndex("fc2");
        Assert.Equal("relu1", network.Layers[fc2 - 1].Name);
        // Before the repair the vertices of each polytope disagree on relu1's pattern.
        foreach (RepairRegion r in regions)
        {
            using Tensor z = network.Forward(r.Vertices, 0, fc2 - 1);
            using Tensor on = z.gt(0);
            Assert.False(on.eq(on[0]).all().item<bool>(), $"{r.Id}: vertices share relu1's pattern already");
        }

        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = "fc2" }).Repair(Problem(network, set));

        Assert.True(result.Verified, Explain(result));
        Assert.Contains(result.Notes, n => n.StartsWith("slice fc1:", StringComparison.Ordinal));
        Assert.All(result.Verification!.Regions, r => Assert.True(r.LinearOnRegion == true && r.Passed, r.Id));
    }

    // ---------------------------------------------------------------- 5. float32 versus float64

    [Fact]
    public void VerifierDemandsAPositiveMarginInBothPrecisions()
    {
        // y = (x, (1 + 1e-12)·x) at x = 1, class 1 required: float64 margin ≈ 1e-12, but in float32 both weights are 1.
        TestSupport.Init();
        var spec = new NetworkSpec("custom", [1], InputKind.Features, ["a", "b"], [new LinearSpec("fc", 1, 2)]);
        using var network32 = new Network(spec);
        SetParameters(network32, "fc", [1, 1 + 1e-12], [0, 0]);
        using Network network64 = PlainRepairedModel.ToFloat64(network32);
        SetParameters(network64, "fc", [1, 1 + 1e-12], [0, 0]);
        var set = new RepairSet([new RepairRegion(ones(1, 1), 1, "one")], "one point");

        VerificationReport report = RepairVerifier.Verify(new TwoPrecisionModel(network32, network64), set);

        RegionCheck check = report.Regions.Single();
        Assert.True(check.MarginFloat64 > 0, $"float64 margin {check.MarginFloat64}");
        Assert.Equal(1e-12, check.MarginFloat64, 1e-15);
        Assert.True(check.MarginFloat32 <= 0, $"float32 margin {check.MarginFloat32}");
        Assert.Equal(0.0, check.MarginFloat32);
        Assert.False(check.Passed);
        Assert.False(report.Verified);
    }

    [Fact]
    public void TinyEpsilonBrokenByFloat32RoundingIsRaisedAndVerified()
    {
        (Network network, Dataset data, long[] wanted) = RandomMlp("mlp:16x2");
        RepairSet set = RepairSet.FromPoints(data.WithLabels(tensor(wanted), "wanted"), Enumerable.Range(0, 20).ToArray(), "twenty");

        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = "fc2", Epsilon = 1e-10, EpsilonRetries = 6 }).Repair(Problem(network, set));

        Assert.True(result.Verified, Explain(result));
        Assert.Contains(result.Notes, n => n.StartsWith("float32 rounding broke a margin at ε = 1E-10", StringComparison.Ordinal));
        Assert.True(result.Epsilon > 1e-10, $"ε = {result.Epsilon}");
        Assert.True(result.Verification!.MinMarginFloat32 > 0);
    }

    // ---------------------------------------------------------------- 6. the encoder agrees with TorchSharp

    private static Network ConvNet(bool twoConvolutions, int seed)
    {
        TestSupport.Init();
        string[] classes = ["a", "b", "c"];
        LayerSpec[] layers = twoConvolutions
            ?
            [
                new Conv2dSpec("conv1", 1, 3, 3), new ReluSpec("relu1"), new Conv2dSpec("conv2", 3, 2, 3, 1, 1), new ReluSpec("relu2"),
                new FlattenSpec("flatten"), new LinearSpec("fc1", 32, 3),
            ]
            : [new Conv2dSpec("conv1", 1, 2, 3), new ReluSpec("relu1"), new MaxPool2dSpec("pool1", 2), new FlattenSpec("flatten"), new LinearSpec("fc1", 8, 3)];
        manual_seed(seed);
        var network = new Network(new NetworkSpec("custom", [1, 6, 6], InputKind.Image, classes, layers));
        network.eval();
        return network;
    }

    [Theory]
    [InlineData(false, "conv1")]
    [InlineData(true, "conv1")]
    [InlineData(true, "conv2")]
    [InlineData(false, "fc1")]
    public void EncoderOutputsAtTheSolutionEqualTheRepairedNetworksLogits(bool twoConvolutions, string layerName)
    {
        Network network = ConvNet(twoConvolutions, seed: 5);
        var generator = new Generator(11);
        Tensor x = rand([5, 1, 6, 6], generator: generator);
        long[] labels = randint(0, 3, [5], generator: generator).data<long>().ToArray();
        long[] predicted = network.Predict(x);
        Assert.Contains(Enumerable.Range(0, 5), v => predicted[v] != labels[v]); // the LP has to change something
        var set = new RepairSet(Enumerable.Range(0, 5).Select(i => new RepairRegion(x.narrow(0, i, 1), labels[i], $"r{i}")).ToArray(), "random");
        using Network network64 = PlainRepairedModel.ToFloat64(network);
        (Tensor vertices32, int[] region, long[] vertexLabels) = set.Stacked();
        using Tensor vertices64 = vertices32.to(ScalarType.Float64);
        int k = network64.LayerIndex(layerName), end = network64.Layers.Count;
        ActivationPatterns patterns = ActivationPatterns.Compute(network64, set, vertices64, region, k + 1, end);
        const double epsilon = 1e-2;

        EncodedProgram encoded = SymbolicEncoder.Encode(network64, k, end, vertices64, vertexLabels, patterns, new EncodingOptions { Epsilon = epsilon, Specification = true });
        Assert.Null(encoded.Conflict);
        Assert.Empty(encoded.Pending);
        LpSolution solution = LpSolver.Solve(encoded.Program, new LpSolverOptions());
        Assert.Equal(LpStatus.Optimal, solution.Status);
        double[] values = solution.Values!;
        Assert.True(encoded.Program.MaxViolation(values) < 1e-6, $"violation {encoded.Program.MaxViolation(values)}");
        Assert.Contains(encoded.Deltas, d => Math.Abs(d.ValueIn(values)) > 1e-3);
        Assert.All(encoded.Deltas, d => Assert.True(d.Layer == k || (d.IsBias && d.Layer > k)));

        using Network repaired64 = PlainRepairedModel.ToFloat64(network);
        ApplyDeltas(repaired64, encoded.Deltas, values);
        double[] logits = Values(repaired64.Logits(vertices64));
        int classes = network.ClassCount;
        for (int v = 0; v < 5; v++)
        {
            Assert.Equal(classes, encoded.Outputs[v]!.Length);
            for (int c = 0; c < classes; c++) Assert.Equal(logits[v * classes + c], Evaluate(encoded.Outputs[v]![c], values), 1e-6);
            for (int c = 0; c < classes; c++)
                if (c != vertexLabels[v]) Assert.True(logits[v * classes + vertexLabels[v]] - logits[v * classes + c] >= epsilon - 1e-6);
        }
    }

    // ---------------------------------------------------------------- 7. PRDNN

    [Fact]
    public void PrdnnReturnsAVerifiedDecoupledNetwork()
    {
        (Network network, Dataset data, long[] wanted) = RandomMlp("mlp:16x2");
        RepairSet set = RepairSet.FromPoints(data.WithLabels(tensor(wanted), "wanted"), Enumerable.Range(0, 8).ToArray(), "eight");

        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Variant = LpRepairVariant.Prdnn, Layer = "fc1" }).Repair(Problem(network, set));

        Assert.True(result.Verified, result.Message);
        Assert.Equal("prdnn", result.Method);
        Assert.Null(result.Model!.PlainNetwork);
        Assert.Contains("decoupled", result.Model.Kind);
        var decoupled = Assert.IsType<DecoupledNetwork>(result.Model);
        // Only fc1 changed in the value channel.
        Assert.False(decoupled.ValueChannel.state_dict()["fc1.weight"].SameAs(network.state_dict()["fc1.weight"]));
        Assert.True(decoupled.ValueChannel.state_dict()["fc2.weight"].SameAs(network.state_dict()["fc2.weight"]));
        Assert.True(decoupled.ValueChannel.state_dict()["fc2.bias"].SameAs(network.state_dict()["fc2.bias"]));
    }

    [Fact]
    public void DecoupledNetworkWithTheOriginalValueWeightsIsTheOriginalNetwork()
    {
        foreach (Network network in new[] { RandomMlp("mlp:16x2").Network, ConvNet(false, seed: 2) })
        {
            Tensor x = network.Spec.InputShape.Length == 1 ? randn(10, network.Spec.InputShape[0]) : TestSupport.RandomImages(10, size: (int)network.Spec.InputShape[1], seed: 4).X;
            var decoupled = new DecoupledNetwork(network, network, 0);
            using Network network64 = PlainRepairedModel.ToFloat64(network);
            Assert.True(decoupled.Logits(x, ScalarType.Float32).SameAs(network.Logits(x)));
            Assert.True(decoupled.Logits(x, ScalarType.Float64).SameAs(network64.Logits(x.to(ScalarType.Float64))));
        }
    }

    // ---------------------------------------------------------------- 8. MPS export

    [Fact]
    public void ExportedLpIsReadableMps()
    {
        (Network network, Dataset data, long[] wanted) = RandomMlp("mlp:16x2");
        RepairSet set = RepairSet.FromPoints(data.WithLabels(tensor(wanted), "wanted"), Enumerable.Range(0, 6).ToArray(), "six");
        using var dir = TestSupport.TempFolder();
        string path = dir.File("repair.mps");

        RepairResult result = new ProvableRepair(new ProvableRepairOptions { Layer = "fc1", ExportLpPath = path }).Repair(Problem(network, set));

        Assert.True(result.Verified, result.Message);
        Assert.True(File.Exists(path));
        var model = new Model();
        Assert.True(model.ImportFromMpsString(File.ReadAllText(path)), "OR-Tools could not read the exported MPS");
        Assert.Equal(result.LpSize!.Cols, model.VariablesCount());
        Assert.True(model.ConstraintsCount() >= result.LpSize.Rows, $"{model.ConstraintsCount()} rows exported, {result.LpSize.Rows} reported");
    }

    // ---------------------------------------------------------------- 9. max-pool ties and the guard band

    /// <summary>
    /// input (1, 2, 2) → conv (1×1, weight 1, bias 0) → pool (one 2×2 window) → flatten → fc: logits (m + 1, 0) for the
    /// window's maximum m, so every input in [0, 1]⁴ is class a with margin m + 1 ≥ 1.
    /// </summary>
    private static Network PoolNet()
    {
        TestSupport.Init();
        var network = new Network(new NetworkSpec("custom", [1, 2, 2], InputKind.Image, ["a", "b"],
            [new Conv2dSpec("conv", 1, 1, 1), new MaxPool2dSpec("pool", 2), new FlattenSpec("flatten"), new LinearSpec("fc", 1, 2)]));
        SetParameters(network, "conv", [1], [0]);
        SetParameters(network, "fc", [1, 0], [1, 0]);
        network.eval();
        return network;
    }

    private static RepairSet OnePolytope(params float[][] vertices) =>
        new([new RepairRegion(tensor(vertices.SelectMany(v => v).ToArray()).reshape(vertices.Length, 1, 2, 2), 0, "polytope")], "one polytope");

    [Fact]
    public void PolytopeWhoseVerticesPickDifferentMaxPoolElementsIsRejectedThoughItsFirstVertexIsTied()
    {
        // Vertex 0 ties elements 0 and 1 of the window; vertex 1 takes element 0, vertex 2 element 1. No element is the
        // maximum at every vertex: between vertices 1 and 2 the pool's output max(x0, x1) is not affine (0.5 at their
        // midpoint, where an affine map through the vertices gives 1). Comparing every vertex with the first one's choice
        // skipped the tied window and passed this polytope.
        Network network = PoolNet();
        RepairSet set = OnePolytope([1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0]);

        RegionCheck check = RepairVerifier.Verify(new PlainRepairedModel(network), set).Regions.Single();

        Assert.True(check.MarginFloat32 >= 1 && check.MarginFloat64 >= 1, $"margins {check.MarginFloat32}, {check.MarginFloat64}");
        Assert.Equal(false, check.LinearOnRegion);
        Assert.False(check.Passed);
    }

    [Fact]
    public void PolytopeWhoseVerticesShareOneMaxPoolElementPassesThroughATie()
    {
        // Vertex 0 ties elements 0 and 1, vertices 1 and 2 take element 0: element 0 is the maximum at every vertex, so
        // the pool is x0 on the whole polytope.
        Network network = PoolNet();
        RepairSet set = OnePolytope([1, 1, 0, 0], [1, 0, 0, 0], [0.75f, 0.5f, 0.25f, 0]);

        RegionCheck check = RepairVerifier.Verify(new PlainRepairedModel(network), set).Regions.Single();

        Assert.Equal(true, check.LinearOnRegion);
        Assert.True(check.Passed);
        // A lead inside the float32 guard band is not certain, even when (as here) the same element leads at every vertex:
        // at vertex 0 element 1 beats element 0 by 1e-6 only, so no element is certainly the maximum there in float32.
        RegionCheck nearTie = RepairVerifier.Verify(new PlainRepairedModel(network), OnePolytope([1, 1 + 1e-6f, 0, 0], [0, 1, 0, 0])).Regions.Single();
        Assert.Equal(false, nearTie.LinearOnRegion);
        Assert.False(nearTie.Passed);
    }

    [Fact]
    public void PreActivationInsideTheGuardBandIsOnNeitherSideButAnExactZeroIsOnBoth()
    {
        // fc1 = I: neuron 1's pre-activation is x1. fc2: y = (h1 + 1, 0), class a with margin ≥ 1 everywhere.
        Network network = HandMlp([1, 0, 0, 1], [0, 0], [1, 0, 0, 0], [1, 0]);
        VerificationReport Segment(float from) =>
            RepairVerifier.Verify(new PlainRepairedModel(network), new RepairSet([new RepairRegion(tensor(new[] { from, 0, 1, 0 }).reshape(2, 2), 0, "segment")], "segment"));

        RegionCheck inBand = Segment(1e-7f).Regions.Single(), negative = Segment(-1e-7f).Regions.Single(), zero = Segment(0).Regions.Single();

        Assert.True(inBand.MarginFloat32 >= 1 && negative.MarginFloat32 >= 1);
        Assert.Equal(false, inBand.LinearOnRegion); // 1e-7 is inside the float32 band: not certainly on
        Assert.Equal(false, negative.LinearOnRegion); // the segment crosses the ReLU's boundary
        Assert.Equal(true, zero.LinearOnRegion); // exactly 0: on and off agree there
        Assert.True(zero.Passed);
    }

    [Fact]
    public void MarginInsideTheGuardBandFailsAndTheReportRecordsTheBand()
    {
        // y = (x, x + b) at x = 1, class b required: the margin is b in both precisions.
        TestSupport.Init();
        var spec = new NetworkSpec("custom", [1], InputKind.Features, ["a", "b"], [new LinearSpec("fc", 1, 2)]);
        var set = new RepairSet([new RepairRegion(ones(1, 1), 1, "one")], "one point");
        VerificationReport WithBias(double b)
        {
            var network = new Network(spec);
            SetParameters(network, "fc", [1, 1], [0, b]);
            return RepairVerifier.Verify(new PlainRepairedModel(network), set);
        }

        VerificationReport inside = WithBias(5e-6), outside = WithBias(5e-5);

        RegionCheck check = inside.Regions.Single();
        Assert.Equal(5e-6, check.MarginFloat32, 1e-7);
        Assert.True(check.MarginFloat64 > RepairVerifier.GuardBandFloat64);
        Assert.False(check.Passed); // positive, but inside the float32 guard band
        Assert.False(inside.Verified);
        Assert.True(outside.Verified);
        Assert.Equal((1e-5, 1e-9), (inside.GuardBandFloat32, inside.GuardBandFloat64));
        Assert.Contains("guard band, 1E-05 in float32 and 1E-09 in float64", inside.Note);

        // The repair report's JSON carries the bands.
        var result = new RepairResult
        {
            Method = "test",
            Layer = "fc",
            Status = RepairStatus.NotVerified,
            Message = "inside the guard band",
            Model = new PlainRepairedModel(new Network(spec)),
            Verification = inside,
            Time = new RepairTiming(0, 0, 0, 0),
        };
        using JsonDocument json = JsonDocument.Parse(ReparoJson.Serialize(RepairReport.Create(Problem(new Network(spec), set), result)));
        Assert.Equal(1e-5, json.RootElement.GetProperty("guard_band_float32").GetDouble());
        Assert.Equal(1e-9, json.RootElement.GetProperty("guard_band_float64").GetDouble());
        Assert.False(json.RootElement.GetProperty("verified").GetBoolean());
    }
}
