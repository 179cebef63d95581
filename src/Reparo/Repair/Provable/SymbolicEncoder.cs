using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Repair.Provable;

/// <summary>A linear expression Σ coefficient·x[column] + constant over LP columns.</summary>
internal readonly record struct LinExpr(int[] Cols, double[] Coefs, double Constant)
{
    public static LinExpr Const(double value) => new([], [], value);

    public static LinExpr Var(int col) => new([col], [1.0], 0);

    public bool IsConstant => Cols.Length == 0;

    /// <summary>True for a bare column (coefficient 1, no constant).</summary>
    public bool IsBareColumn => Cols.Length == 1 && Coefs[0] == 1 && Constant == 0;

    /// <summary>this − other, merging repeated columns.</summary>
    public LinExpr Minus(LinExpr other)
    {
        if (other.IsConstant) return this with { Constant = Constant - other.Constant };
        var sum = new Dictionary<int, double>(Cols.Length + other.Cols.Length);
        for (int i = 0; i < Cols.Length; i++) sum[Cols[i]] = Coefs[i];
        for (int i = 0; i < other.Cols.Length; i++) sum[other.Cols[i]] = sum.GetValueOrDefault(other.Cols[i]) - other.Coefs[i];
        return new LinExpr([.. sum.Keys], [.. sum.Values], Constant - other.Constant);
    }
}

/// <summary>One LP column that is a parameter change.</summary>
/// <param name="Layer">Network layer index.</param>
/// <param name="IsBias">Bias (else weight).</param>
/// <param name="Index">Flat index into the weight or bias tensor.</param>
/// <param name="Plus">LP column of the positive part; the negative part is the next column (Δ = x[Plus] − x[Plus + 1]).</param>
internal readonly record struct ParameterDelta(int Layer, bool IsBias, int Index, int Plus)
{
    /// <summary>The change Δ = Δ⁺ − Δ⁻ in a solution.</summary>
    public double ValueIn(double[] x) => x[Plus] - x[Plus + 1];
}

/// <summary>A constraint row kept out of the LP until the solution violates it (constraint generation).</summary>
internal readonly record struct PendingRow(LinExpr Expr, double Lower, double Upper);

/// <summary>Options of one encoding.</summary>
internal sealed record EncodingOptions
{
    /// <summary>Bound on every parameter change.</summary>
    public double Bound { get; init; } = 3;

    /// <summary>Required margin of the correct logit over every other logit.</summary>
    public double Epsilon { get; init; } = 1e-3;

    /// <summary>Output rows (Linear) or channels (Conv2d) of layer k whose weights change, [start, end); null: all.</summary>
    public (int Start, int End)? Rows { get; init; }

    /// <summary>Whether the biases of affine layers after k are variables.</summary>
    public bool LaterBiases { get; init; } = true;

    /// <summary>PRDNN's decoupled network: activation patterns come from the unchanged activation channel, so no sign constraints are needed.</summary>
    public bool Decoupled { get; init; }

    /// <summary>Add the output specification (false for the polytope slices that only make a prefix affine).</summary>
    public bool Specification { get; init; } = true;

    /// <summary>Weight of L∞ + mean-L1 of the logit changes on the repair vertices in the objective (0: off).</summary>
    public double LogitChangeWeight { get; init; }

    /// <summary>Keep pure sign rows of switched-off neurons out of the LP until violated.</summary>
    public bool LazySignRows { get; init; }

    /// <summary>Tolerance for constant pre-activations that disagree with the required pattern.</summary>
    public double ConstantTolerance { get; init; } = 1e-9;

    /// <summary>
    /// Margin δ by which a variable ReLU pre-activation keeps its sign (on: ≥ δ, off: ≤ −δ) and a max-pool choice beats
    /// the rest of its window. The LP's optimum leaves some vertices exactly on a boundary; without a margin, rounding
    /// the repaired weights to float32 moves them across it and the verifier sees a polytope whose pattern changes.
    /// </summary>
    public double SignMargin { get; init; }
}

/// <summary>The result of encoding: the LP, which columns are parameter changes, rows held back, and each vertex's output as an expression.</summary>
/// <param name="Program">The LP.</param>
/// <param name="Deltas">Columns that are parameter changes.</param>
/// <param name="Pending">Rows held back for constraint generation.</param>
/// <param name="Outputs">Per vertex, the walk's final layer output (logits) as expressions of the LP columns.</param>
/// <param name="Conflict">Why the program cannot be feasible (a constant that breaks the required pattern), or null.</param>
internal sealed record EncodedProgram(LinearProgram Program, IReadOnlyList<ParameterDelta> Deltas, IReadOnlyList<PendingRow> Pending, LinExpr[][] Outputs, string? Conflict);

/// <summary>
/// APRNN's symbolic forward pass (Tao et al. PLDI'23, §4; sytorch's encoder): walks the network's own layers from the
/// repaired affine layer k to the end, for every vertex. The input of k is concrete; k's weights (rows chosen) and the
/// biases of k and later affine layers are LP variables. Every ReLU (and max-pool) keeps the vertex's required
/// pattern through sign constraints, so each neuron is a linear expression of the variables; one auxiliary column per
/// (vertex, neuron) of every affine output that a later layer reads, tied by an equality row, keeps the LP sparse.
/// The specification asks the required logit to beat every other one by ε. Objective: max|Δ| + mean|Δ| over the
/// parameter changes (optionally plus the same norms of the logit changes).
/// </summary>
internal static class SymbolicEncoder
{
    /// <summary>Encodes repairing layer <paramref name="layer"/> of <paramref name="network64"/>, walking layers up to <paramref name="end"/> (exclusive).</summary>
    /// <param name="network64">The network in float64.</param>
    /// <param name="layer">The affine layer whose weights change.</param>
    /// <param name="end">Layer end of the walk; the specification applies to its output.</param>
    /// <param name="vertices64">All vertices, float64.</param>
    /// <param name="labels">Each vertex's required class.</param>
    /// <param name="patterns">Each vertex's required activation pattern.</param>
    /// <param name="options">Encoding options.</param>
    public static EncodedProgram Encode(Network network64, int layer, int end, Tensor vertices64, long[] labels, ActivationPatterns patterns, EncodingOptions options)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        network64.eval();
        int count = labels.Length;
        Tensor prefix = network64.Forward(vertices64, 0, layer);
        long[] inputShape = prefix.shape[1..];
        double[] input = prefix.reshape(count, -1).contiguous().data<double>().ToArray();
        int inputWidth = input.Length / count;

        var lp = new LinearProgram();
        var deltas = new List<ParameterDelta>();
        var pending = new List<PendingRow>();
        var abs = new List<(int Delta, int Group)>();
        string? conflict = null;

        AffineParameters k = AffineParameters.Read(network64, layer, inputShape);
        (int rowStart, int rowEnd) = options.Rows ?? (0, k.Outputs);
        if (rowStart < 0 || rowEnd > k.Outputs || rowStart >= rowEnd)
            throw new ReparoInputException($"rows {rowStart}:{rowEnd} are outside layer {network64.Layers[layer].Name}'s {k.Outputs} outputs");
        int groups = 0;
        var weightCol = new int[k.Weight.Length];
        var biasCol = new int[k.Outputs];
        Array.Fill(weightCol, -1);
        Array.Fill(biasCol, -1);
        for (int r = rowStart; r < rowEnd; r++)
        {
            int group = groups++;
            for (int w = r * k.WeightsPerOutput; w < (r + 1) * k.WeightsPerOutput; w++)
            {
                weightCol[w] = AddDelta(lp, options.Bound);
                deltas.Add(new ParameterDelta(layer, false, w, weightCol[w]));
                abs.Add((weightCol[w], group));
            }
            biasCol[r] = AddDelta(lp, options.Bound);
            deltas.Add(new ParameterDelta(layer, true, r, biasCol[r]));
            abs.Add((biasCol[r], group));
        }

        // Layer k: concrete input, variable weights.
        var values = new LinExpr[count][];
        for (int v = 0; v < count; v++) values[v] = LayerK(k, input.AsSpan(v * inputWidth, inputWidth), weightCol, biasCol);

        for (int j = layer + 1; j < end; j++)
        {
            LayerSpec spec = network64.Layers[j].Spec;
            switch (spec)
            {
                case LinearSpec or Conv2dSpec:
                    {
                        long[] shape = network64.Forward(prefix.narrow(0, 0, 1), layer, j).shape[1..];
                        AffineParameters p = AffineParameters.Read(network64, j, shape);
                        int[] bias = new int[p.Outputs];
                        Array.Fill(bias, -1);
                        if (options.LaterBiases)
                        {
                            int group = groups++;
                            for (int o = 0; o < p.Outputs; o++)
                            {
                                bias[o] = AddDelta(lp, options.Bound);
                                deltas.Add(new ParameterDelta(j, true, o, bias[o]));
                                abs.Add((bias[o], group));
                            }
                        }
                        for (int v = 0; v < count; v++)
                        {
                            LinExpr[] x = values[v];
                            for (int i = 0; i < x.Length; i++) x[i] = Materialise(lp, x[i], double.NegativeInfinity, double.PositiveInfinity);
                            values[v] = FixedAffine(p, x, bias);
                        }
                        break;
                    }
                case ReluSpec:
                    for (int v = 0; v < count; v++)
                    {
                        sbyte[] pattern = patterns.Relu(j, v);
                        LinExpr[] x = values[v];
                        for (int n = 0; n < x.Length; n++)
                        {
                            conflict ??= Relu(lp, pending, ref x[n], pattern[n], options);
                        }
                    }
                    break;
                case MaxPool2dSpec pool:
                    {
                        long[] shape = network64.Forward(prefix.narrow(0, 0, 1), layer, j).shape[1..];
                        for (int v = 0; v < count; v++) conflict ??= MaxPool(lp, ref values[v], shape, pool.Kernel, patterns.Pool(j, v), options);
                        break;
                    }
                case FlattenSpec:
                    break;
                default:
                    throw new ReparoInputException($"layer {spec.Name} ({spec.Describe()}) after the repaired layer cannot be encoded; provable repair supports Linear, Conv2d, ReLU, MaxPool2d and Flatten there");
            }
        }

        if (options.Specification)
        {
            for (int v = 0; v < count; v++) conflict ??= Specification(lp, values[v], (int)labels[v], options.Epsilon);
        }
        AddObjective(lp, abs, groups, options, values, network64, vertices64, layer, end);
        return new EncodedProgram(lp, deltas, pending, values, conflict);
    }

    private static LinExpr[] LayerK(AffineParameters k, ReadOnlySpan<double> x, int[] weightCol, int[] biasCol)
    {
        if (k.Conv is not { } conv)
        {
            var outputs = new LinExpr[k.Outputs];
            int width = k.WeightsPerOutput;
            for (int r = 0; r < k.Outputs; r++)
            {
                double constant = k.Bias[r];
                for (int c = 0; c < width; c++) constant += k.Weight[r * width + c] * x[c];
                if (biasCol[r] < 0)
                {
                    outputs[r] = LinExpr.Const(constant);
                    continue;
                }
                var cols = new List<int>(width + 1);
                var coefs = new List<double>(width + 1);
                for (int c = 0; c < width; c++)
                {
                    if (x[c] == 0) continue;
                    UseDelta(cols, coefs, weightCol[r * width + c], x[c]);
                }
                UseDelta(cols, coefs, biasCol[r], 1);
                outputs[r] = new LinExpr([.. cols], [.. coefs], constant);
            }
            return outputs;
        }
        var result = new LinExpr[conv.OutChannels * conv.Positions];
        int perChannel = k.WeightsPerOutput;
        for (int o = 0; o < conv.OutChannels; o++)
            for (int pos = 0; pos < conv.Positions; pos++)
            {
                (int Input, int Tap)[] taps = conv.Taps[pos];
                double constant = k.Bias[o];
                foreach ((int inputIndex, int tap) in taps) constant += k.Weight[o * perChannel + tap] * x[inputIndex];
                if (biasCol[o] < 0)
                {
                    result[o * conv.Positions + pos] = LinExpr.Const(constant);
                    continue;
                }
                var cols = new List<int>(taps.Length + 1);
                var coefs = new List<double>(taps.Length + 1);
                foreach ((int inputIndex, int tap) in taps)
                {
                    if (x[inputIndex] == 0) continue;
                    UseDelta(cols, coefs, weightCol[o * perChannel + tap], x[inputIndex]);
                }
                UseDelta(cols, coefs, biasCol[o], 1);
                result[o * conv.Positions + pos] = new LinExpr([.. cols], [.. coefs], constant);
            }
        return result;
    }

    /// <summary>An affine layer with fixed weights over inputs that are constants or bare columns; <paramref name="biasCol"/> -1 where the bias is fixed.</summary>
    private static LinExpr[] FixedAffine(AffineParameters p, LinExpr[] x, int[] biasCol)
    {
        var variableInputs = new List<int>();
        for (int i = 0; i < x.Length; i++)
            if (!x[i].IsConstant) variableInputs.Add(i);
        LinExpr Build(int output, double constant, IEnumerable<(int Input, double Weight)> terms)
        {
            var cols = new List<int>();
            var coefs = new List<double>();
            foreach ((int input, double weight) in terms)
            {
                if (x[input].IsConstant)
                {
                    constant += weight * x[input].Constant;
                }
                else if (weight != 0)
                {
                    cols.Add(x[input].Cols[0]);
                    coefs.Add(weight);
                }
            }
            if (biasCol[output] >= 0) UseDelta(cols, coefs, biasCol[output], 1);
            return new LinExpr([.. cols], [.. coefs], constant);
        }
        if (p.Conv is not { } conv)
        {
            int width = p.WeightsPerOutput;
            return Enumerable.Range(0, p.Outputs)
                .Select(o => Build(o, p.Bias[o], Enumerable.Range(0, width).Select(i => (i, p.Weight[o * width + i]))))
                .ToArray();
        }
        var result = new LinExpr[conv.OutChannels * conv.Positions];
        int perChannel = p.WeightsPerOutput;
        for (int o = 0; o < conv.OutChannels; o++)
            for (int pos = 0; pos < conv.Positions; pos++)
                result[o * conv.Positions + pos] = Build(o, p.Bias[o], conv.Taps[pos].Select(t => (t.Input, p.Weight[o * perChannel + t.Tap])));
        return result;
    }

    /// <summary>A parameter change Δ = Δ⁺ − Δ⁻ as two adjacent columns in [0, bound], each costing its share of mean |Δ| in the objective (set later); returns Δ⁺'s column.</summary>
    private static int AddDelta(LinearProgram lp, double bound)
    {
        int plus = lp.AddColumn(0, bound);
        lp.AddColumn(0, bound);
        return plus;
    }

    /// <summary>Appends coefficient·Δ to a row under construction.</summary>
    private static void UseDelta(List<int> cols, List<double> coefs, int plus, double coefficient)
    {
        cols.Add(plus);
        coefs.Add(coefficient);
        cols.Add(plus + 1);
        coefs.Add(-coefficient);
    }

    /// <summary>A bare column equal to <paramref name="e"/> (an auxiliary column and an equality row unless it already is one).</summary>
    private static LinExpr Materialise(LinearProgram lp, LinExpr e, double lower, double upper)
    {
        if (e.IsConstant) return e;
        if (e.IsBareColumn)
        {
            // Never tighten a column's own bounds here: the column may stand for another neuron too.
            if (lower > double.NegativeInfinity || upper < double.PositiveInfinity) AddRow(lp, e, lower, upper);
            return e;
        }
        int aux = lp.AddColumn(lower, upper);
        AddRow(lp, e.Minus(LinExpr.Var(aux)), 0, 0);
        return LinExpr.Var(aux);
    }

    /// <summary>Adds lower ≤ e ≤ upper as a row (constant moved to the bounds).</summary>
    private static void AddRow(LinearProgram lp, LinExpr e, double lower, double upper) =>
        lp.AddRow(lower - e.Constant, upper - e.Constant, e.Cols, e.Coefs);

    private static string? Relu(LinearProgram lp, List<PendingRow> pending, ref LinExpr x, sbyte pattern, EncodingOptions options)
    {
        if (x.IsConstant)
        {
            double z = x.Constant;
            bool agrees = pattern switch { 1 => z >= -options.ConstantTolerance, -1 => z <= options.ConstantTolerance, _ => Math.Abs(z) <= options.ConstantTolerance };
            x = pattern == 1 ? LinExpr.Const(Math.Max(z, 0)) : LinExpr.Const(0);
            return agrees ? null : $"a pre-activation before the repaired layer's reach is {z:G4}, against the required pattern; no change of the chosen parameters can fix it";
        }
        if (options.Decoupled)
        {
            if (pattern != 1) x = LinExpr.Const(0);
            return null;
        }
        switch (pattern)
        {
            case 1:
                x = Materialise(lp, x, options.SignMargin, double.PositiveInfinity);
                break;
            case -1:
                if (options.LazySignRows) pending.Add(new PendingRow(x, double.NegativeInfinity, -options.SignMargin));
                else AddRow(lp, x, double.NegativeInfinity, -options.SignMargin);
                x = LinExpr.Const(0);
                break;
            default:
                AddRow(lp, x, 0, 0);
                x = LinExpr.Const(0);
                break;
        }
        return null;
    }

    private static string? MaxPool(LinearProgram lp, ref LinExpr[] x, long[] shape, int kernel, int[] choice, EncodingOptions options)
    {
        int channels = (int)shape[0], h = (int)shape[1], w = (int)shape[2];
        int oh = h / kernel, ow = w / kernel;
        var output = new LinExpr[channels * oh * ow];
        for (int c = 0; c < channels; c++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                {
                    int o = (c * oh + oy) * ow + ox;
                    int chosen = choice[o];
                    LinExpr best = x[chosen];
                    for (int i = 0; i < kernel; i++)
                        for (int j = 0; j < kernel; j++)
                        {
                            int index = (c * h + oy * kernel + i) * w + ox * kernel + j;
                            if (index == chosen || options.Decoupled) continue;
                            LinExpr difference = best.Minus(x[index]);
                            if (difference.IsConstant)
                            {
                                if (difference.Constant < -options.ConstantTolerance) return "a max-pool choice before the repaired layer's reach cannot be kept";
                                continue;
                            }
                            AddRow(lp, difference, options.SignMargin, double.PositiveInfinity);
                        }
                    output[o] = best;
                }
        x = output;
        return null;
    }

    /// <summary>Required logit ≥ every other logit + ε; all fixed competitors collapse into one row against their maximum.</summary>
    private static string? Specification(LinearProgram lp, LinExpr[] logits, int label, double epsilon)
    {
        LinExpr target = logits[label];
        double fixedMax = double.NegativeInfinity;
        for (int c = 0; c < logits.Length; c++)
        {
            if (c == label) continue;
            if (logits[c].IsConstant)
            {
                fixedMax = Math.Max(fixedMax, logits[c].Constant);
                continue;
            }
            AddRow(lp, target.Minus(logits[c]), epsilon, double.PositiveInfinity);
        }
        if (double.IsNegativeInfinity(fixedMax)) return null;
        if (target.IsConstant) return target.Constant - fixedMax >= epsilon ? null : "the required logit cannot change at this layer and is below another logit";
        AddRow(lp, target, fixedMax + epsilon, double.PositiveInfinity);
        return null;
    }

    /// <summary>
    /// t + mean |Δ|: with Δ = Δ⁺ − Δ⁻ the L1 part is Σ(Δ⁺ + Δ⁻)/n in the objective (no rows; at an optimum one part is 0),
    /// and t ≥ Δ⁺ + Δ⁻ through one maximum per group (a weight row with its bias, or one later layer's biases), so
    /// the L∞ column is not dense. Optionally the same norms of the logit changes.
    /// </summary>
    private static void AddObjective(LinearProgram lp, List<(int Delta, int Group)> abs, int groups, EncodingOptions options,
        LinExpr[][] outputs, Network network64, Tensor vertices64, int layer, int end)
    {
        int linf = lp.AddColumn(0, double.PositiveInfinity, 1);
        var groupMax = new int[groups];
        for (int g = 0; g < groups; g++)
        {
            groupMax[g] = lp.AddColumn(0, double.PositiveInfinity);
            lp.AddRow(0, double.PositiveInfinity, [linf, groupMax[g]], [1, -1]);
        }
        double mean = 1.0 / abs.Count;
        foreach ((int plus, int group) in abs)
        {
            lp.SetCost(plus, mean);
            lp.SetCost(plus + 1, mean);
            lp.AddRow(0, double.PositiveInfinity, [groupMax[group], plus, plus + 1], [1, -1, -1]);
        }
        if (options.LogitChangeWeight <= 0) return;
        using var noGrad = no_grad();
        double[] original = network64.Forward(network64.Forward(vertices64, 0, layer), layer, end).reshape(outputs.Length, -1).contiguous().data<double>().ToArray();
        int width = outputs[0].Length;
        int logitMax = lp.AddColumn(0, double.PositiveInfinity, options.LogitChangeWeight);
        double logitMean = options.LogitChangeWeight / (outputs.Length * width);
        for (int v = 0; v < outputs.Length; v++)
            for (int c = 0; c < width; c++)
            {
                LinExpr y = outputs[v][c];
                if (y.IsConstant) continue;
                int d = lp.AddColumn(0, double.PositiveInfinity, logitMean);
                LinExpr change = y with { Constant = y.Constant - original[v * width + c] };
                AddRow(lp, LinExpr.Var(d).Minus(change), 0, double.PositiveInfinity);
                AddRow(lp, new LinExpr([.. change.Cols, d], [.. change.Coefs, 1], change.Constant), 0, double.PositiveInfinity);
                lp.AddRow(0, double.PositiveInfinity, [logitMax, d], [1, -1]);
            }
    }
}
