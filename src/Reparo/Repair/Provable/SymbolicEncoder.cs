using Onnx;
using Reparo.Models;
using Reparo.Models.Onnx;
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

    /// <summary>factor·this + constant.</summary>
    public LinExpr Scaled(double factor, double constant) => factor == 1
        ? this with { Constant = Constant + constant }
        : new LinExpr(Cols, [.. Coefs.Select(c => c * factor)], Constant * factor + constant);

    /// <summary>Σ factor·term + constant, merging repeated columns.</summary>
    public static LinExpr Sum(IEnumerable<(LinExpr Term, double Factor)> terms, double constant)
    {
        var sum = new Dictionary<int, double>();
        foreach ((LinExpr term, double factor) in terms)
        {
            constant += factor * term.Constant;
            for (int i = 0; i < term.Cols.Length; i++) sum[term.Cols[i]] = sum.GetValueOrDefault(term.Cols[i]) + factor * term.Coefs[i];
        }
        return new LinExpr([.. sum.Keys], [.. sum.Values], constant);
    }

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
/// <param name="Layer">Top-level layer index (the block layer for a module nested in an ONNX block).</param>
/// <param name="Site">The module's dotted path (<c>fc2</c>, <c>block1.conv3</c>; see <see cref="AffineSites"/>).</param>
/// <param name="IsBias">Bias (else weight).</param>
/// <param name="Index">Flat index into the weight or bias tensor.</param>
/// <param name="Plus">LP column of the positive part; the negative part is the next column (Δ = x[Plus] − x[Plus + 1]).</param>
internal readonly record struct ParameterDelta(int Layer, string Site, bool IsBias, int Index, int Plus)
{
    /// <summary>The change Δ = Δ⁺ − Δ⁻ in a solution.</summary>
    public double ValueIn(double[] x) => x[Plus] - x[Plus + 1];
}

/// <summary>A constraint row kept out of the LP until the solution violates it (constraint generation).</summary>
internal readonly record struct PendingRow(LinExpr Expr, double Lower, double Upper)
{
    /// <summary>Adds the row to <paramref name="lp"/> (the constant moved to the bounds).</summary>
    public void AddTo(LinearProgram lp) => lp.AddRow(Lower - Expr.Constant, Upper - Expr.Constant, Expr.Cols, Expr.Coefs);

    /// <summary>Whether <paramref name="x"/> violates the row or brings it within <paramref name="slack"/> of a bound.</summary>
    public bool IsUnmetAt(ReadOnlySpan<double> x, double slack) => ProgramFragment.Outside(Activity(x), Lower, Upper, slack);

    /// <summary>How far inside its bounds the row is at <paramref name="x"/> (negative when violated).</summary>
    public double SlackAt(ReadOnlySpan<double> x)
    {
        double activity = Activity(x);
        return Math.Min(activity - Lower, Upper - activity);
    }

    private double Activity(ReadOnlySpan<double> x)
    {
        double activity = Expr.Constant;
        for (int i = 0; i < Expr.Cols.Length; i++) activity += Expr.Coefs[i] * x[Expr.Cols[i]];
        return activity;
    }
}

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

    /// <summary>What the LP minimises.</summary>
    public LpObjective Objective { get; init; } = LpObjective.Param;

    /// <summary>Weight of L∞ + mean-L1 of the logit changes on the repair vertices in the objective (0: off; <see cref="LpObjective.Param"/> only).</summary>
    public double LogitChangeWeight { get; init; }

    /// <summary>
    /// The first this many vertices are the repair set's, whose output changes the objective may count; the vertices after
    /// them are preserved inputs, constrained like repair points (null: every vertex is a repair vertex).
    /// </summary>
    public int? RepairVertices { get; init; }

    /// <summary>
    /// 0: a preserved input (a vertex after <see cref="RepairVertices"/>) keeps its class by the specification's margin
    /// rows, like a repair point. w &gt; 0: it has no margin rows; instead w·(L∞ + mean L1) of its logit changes joins the
    /// objective (a penalised output change). Its activation pattern is held either way, so the change the objective counts
    /// is the network's own.
    /// </summary>
    public double PreservedOutputWeight { get; init; }

    /// <summary>
    /// w &gt; 0: a preserved input (a vertex after <see cref="RepairVertices"/>) is walked through the repaired layer k
    /// only. No pattern is held and no margin row added for it; w·mean |Δ| of the changes of k's outputs whose parameters
    /// change, over all such inputs, joins the objective (a penalised change of the repaired layer's output). Each
    /// change is one row over one neuron's (or channel's) columns, so the rows stay inside that neuron's block and link
    /// nothing, however many inputs there are. Exclusive with <see cref="PreservedOutputWeight"/>.
    /// </summary>
    public double PreservedLayerWeight { get; init; }

    /// <summary>
    /// Hold each preserved input (a vertex after <see cref="RepairVertices"/>) out of the LP as a whole, its auxiliary
    /// columns, sign rows and specification rows together (<see cref="EncodedProgram.Held"/>), until a solution violates
    /// one of them. Clean inputs the model classifies correctly rarely bind; in the LP, each adds a row to every neuron's
    /// block and its specification rows link all blocks, which is what makes the program expensive to solve. Not with
    /// <see cref="PreservedOutputWeight"/>: a penalised input's output changes are in the objective from the start.
    /// </summary>
    public bool HoldPreservedInputs { get; init; }

    /// <summary>Keep pure sign rows of switched-off neurons out of the LP until violated.</summary>
    public bool LazySignRows { get; init; }

    /// <summary>
    /// In a chain of Linear, ReLU and Flatten layers after the repaired layer's first ReLU, keep each later neuron an
    /// expression over that ReLU's auxiliary columns and the later biases instead of giving it an auxiliary column and an
    /// equality row (up to <see cref="SymbolicEncoder.MaxComposedTerms"/> terms). Its sign row then uses no column of
    /// its own, so it can wait outside the LP until a solution violates it (a repair vertex's joins
    /// <see cref="EncodedProgram.Pending"/>, a held input's stays in its fragment). Materialised, every such neuron is an
    /// equality row that links all of the repaired layer's neuron blocks, tens of thousands of rows on a deep network.
    /// </summary>
    public bool ComposeLaterLayers { get; init; }

    /// <summary>Tolerance for constant pre-activations that disagree with the required pattern.</summary>
    public double ConstantTolerance { get; init; } = 1e-9;

    /// <summary>
    /// Margin δ by which a variable ReLU pre-activation keeps its sign (on: ≥ δ, off: ≤ −δ) and a max-pool choice beats
    /// the rest of its window. The LP's optimum leaves some vertices exactly on a boundary; without a margin, rounding
    /// the repaired weights to float32 moves them across it and the verifier sees a polytope whose pattern changes.
    /// </summary>
    public double SignMargin { get; init; }
}

/// <summary>The result of encoding: the LP, which columns are parameter changes, rows and inputs held back, and each repair vertex's output as an expression.</summary>
/// <param name="Program">The LP.</param>
/// <param name="Deltas">Columns that are parameter changes.</param>
/// <param name="Pending">Rows held back for constraint generation.</param>
/// <param name="Held">Preserved inputs held back whole for constraint generation (<see cref="EncodingOptions.HoldPreservedInputs"/>), in vertex order.</param>
/// <param name="Outputs">Per vertex, the walk's final layer output (logits) as expressions of the LP columns (null for a held input).</param>
/// <param name="Conflict">Why the program cannot be feasible (a constant that breaks the required pattern), or null.</param>
internal sealed record EncodedProgram(LinearProgram Program, IReadOnlyList<ParameterDelta> Deltas, IReadOnlyList<PendingRow> Pending, IReadOnlyList<ProgramFragment> Held,
    LinExpr[]?[] Outputs, string? Conflict)
{
    /// <summary>The whole program: <see cref="Program"/> with every held row and input added (a copy).</summary>
    public LinearProgram Full()
    {
        LinearProgram full = Program.Copy();
        foreach (PendingRow row in Pending) row.AddTo(full);
        foreach (ProgramFragment input in Held) input.AddWholeTo(full);
        return full;
    }
}

/// <summary>
/// APRNN's symbolic forward pass (Tao et al. PLDI'23, §4; sytorch's encoder): walks the network's own layers from the
/// repaired affine layer k to the end, for every vertex, and the nodes of ONNX blocks one by one (the DAG: a map from
/// value name to expressions per vertex). The input of k is concrete; k's weights (rows chosen) and the
/// biases of k and later affine layers are LP variables. Every ReLU (and max-pool) keeps the vertex's required
/// pattern through sign constraints, so each neuron is a linear expression of the variables; one auxiliary column per
/// (vertex, neuron) of every affine output that a later layer reads, tied by an equality row, keeps the LP sparse.
/// The specification asks the required logit to beat every other one by ε. Objective: see <see cref="LpObjective"/>.
/// </summary>
internal static class SymbolicEncoder
{
    /// <summary>Widest expression a later neuron keeps under <see cref="EncodingOptions.ComposeLaterLayers"/>; a wider one gets an auxiliary column.</summary>
    public const int MaxComposedTerms = 1024;

    private static readonly HashSet<string> AffineOps = ["Conv", "Gemm", "MatMul"];

    private static readonly HashSet<string> LinearOps = ["Add", "Sub", "Mul", "Div", "BatchNormalization", "GlobalAveragePool", "AveragePool"];

    /// <summary>Ops that only move data; the encoder reads where each output element comes from by running the op on indices.</summary>
    private static readonly HashSet<string> MovementOps = ["Flatten", "Reshape", "Transpose", "Identity", "Dropout", "Squeeze", "Unsqueeze", "Slice", "Concat", "Gather", "Pad", "Expand"];

    /// <summary>Ops whose outputs depend on shapes only, never on data values.</summary>
    private static readonly HashSet<string> ShapeOps = ["Shape", "Constant", "ConstantOfShape"];

    /// <summary>The first node of <paramref name="block"/> that is not piecewise linear, described (<c>node /enc/Softmax is Softmax</c>), or null when every node is.</summary>
    public static string? NotPiecewiseLinear(OnnxBlockModule block)
    {
        // Values that depend on the block's input; a PRelu's slope or a Clip's bounds among them make it no fixed map.
        var data = new HashSet<string>(StringComparer.Ordinal) { block.Spec.Input };
        for (int i = 0; i < block.Nodes.Count; i++)
        {
            NodeProto node = block.Nodes[i];
            string op = node.OpType;
            if (node.Input.Any(data.Contains)) data.UnionWith(node.Output);
            if (op is "PRelu" or "Clip" && node.Input.Skip(1).Any(data.Contains))
                return $"node {node.Name} is {op} with a {(op == "PRelu" ? "slope" : "bound")} that depends on the input";
            // A Conv that is no module (its weights computed in the graph, as weight normalisation exports them) is, with
            // those weights fixed, a linear map all the same.
            bool fixedConv = op == "Conv" && !node.Input.Skip(1).Any(data.Contains);
            if (AffineOps.Contains(op) && block.Affine(i) is null && !fixedConv) return $"node {node.Name} is {op} of two data values";
            if (!(Activations.HasKinks(op) || AffineOps.Contains(op) || LinearOps.Contains(op) || MovementOps.Contains(op) || ShapeOps.Contains(op))) return $"node {node.Name} is {op}";
        }
        return null;
    }

    /// <summary>Encodes repairing the affine layer at <paramref name="layer"/> of <paramref name="network64"/> (a top-level layer or a module nested in an ONNX block), walking layers up to <paramref name="end"/> (exclusive).</summary>
    /// <param name="network64">The network in float64.</param>
    /// <param name="layer">The affine layer whose weights change.</param>
    /// <param name="end">Layer end of the walk; the specification applies to its output.</param>
    /// <param name="vertices64">All vertices, float64.</param>
    /// <param name="labels">Each vertex's required class.</param>
    /// <param name="patterns">Each vertex's required activation pattern.</param>
    /// <param name="options">Encoding options.</param>
    public static EncodedProgram Encode(Network network64, LayerSite layer, int end, Tensor vertices64, long[] labels, ActivationPatterns patterns, EncodingOptions options)
    {
        (Walk walk, LinExpr[]?[] outputs) = Run(new LinearProgram(), labels.Length, network64, layer, end, vertices64, labels, patterns, options);
        return new EncodedProgram(walk.Lp, walk.Deltas, walk.Pending, walk.Held, outputs, walk.Conflict);
    }

    /// <summary>
    /// The size of the whole program <see cref="Encode"/> builds with the same arguments (held inputs and rows included),
    /// by the same walk one vertex at a time into a <see cref="LinearProgram.Counting"/> program: memory for one vertex's
    /// expressions and the columns only, however large the program.
    /// </summary>
    public static LpSize Count(Network network64, LayerSite layer, int end, Tensor vertices64, long[] labels, ActivationPatterns patterns, EncodingOptions options) =>
        Run(LinearProgram.Counting(), 1, network64, layer, end, vertices64, labels, patterns, options).Walk.Lp.Size;

    /// <summary>
    /// The walk into <paramref name="lp"/>, <paramref name="chunk"/> vertices at a time (the parameter columns are shared);
    /// a held preserved input is walked alone and its rows and columns cut from the program's end into <see cref="Walk.Held"/>.
    /// </summary>
    private static (Walk Walk, LinExpr[]?[] Outputs) Run(LinearProgram lp, int chunk, Network network64, LayerSite layer, int end, Tensor vertices64, long[] labels,
        ActivationPatterns patterns, EncodingOptions options)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        network64.eval();
        var walk = new Walk(network64, lp, patterns, options) { ComposeFrom = ComposeFrom(network64, layer, end, options) };
        Tensor prefix = network64.LayerInput(vertices64, layer.Layer);
        AffineParameters? k = layer.Nested ? null : AffineParameters.Read(network64, layer.Layer, prefix.shape[1..]);
        Tensor[] samples = [.. Enumerable.Range(layer.Layer + 1, Math.Max(0, end - layer.Layer - 1)).Select(j => network64.Forward(prefix.narrow(0, 0, 1), layer.Layer, j))];
        int repairVertices = options.RepairVertices ?? labels.Length;
        if (options.PreservedOutputWeight > 0 && options.PreservedLayerWeight > 0)
            throw new ArgumentException("a preserved input's change is penalised at the logits or at the repaired layer, not both");
        bool layerPenalty = options.PreservedLayerWeight > 0 && repairVertices < labels.Length;
        bool holding = options.HoldPreservedInputs && options.PreservedOutputWeight == 0 && !layerPenalty && !lp.IsCounting;
        var outputs = new LinExpr[]?[labels.Length];
        for (int first = 0; first < labels.Length; first += walk.Count)
        {
            walk.HoldingVertex = holding && first >= repairVertices;
            bool split = holding || layerPenalty;
            walk.Vertices(first, walk.HoldingVertex ? 1 : Math.Min(chunk, (split && first < repairVertices ? repairVertices : labels.Length) - first));
            (int rowMark, int columnMark) = (lp.RowCount, lp.ColumnCount);
            Tensor input = prefix.narrow(0, first, walk.Count);
            if (layerPenalty && first >= repairVertices)
            {
                walk.PenaliseLayerChange(k, layer, input, options.PreservedLayerWeight, labels.Length - repairVertices);
                continue;
            }
            LinExpr[][] values = k is null ? walk.Block(layer.Layer, input, null, layer.Node) : walk.RepairedLayer(k, layer.Layer, input);
            for (int j = layer.Layer + 1; j < end; j++) values = walk.Layer(j, samples[j - layer.Layer - 1], values);
            for (int v = 0; v < walk.Count; v++)
            {
                int vertex = first + v;
                bool penalised = vertex >= repairVertices && options.PreservedOutputWeight > 0;
                if (options.Specification && !penalised) walk.Conflict ??= Specification(walk.Lp, values[v], (int)labels[vertex], options.Epsilon);
                outputs[vertex] = walk.HoldingVertex ? null : values[v];
            }
            if (walk.HoldingVertex) walk.Held.Add(lp.RemoveTail(rowMark, columnMark));
        }
        walk.HoldingVertex = false;
        AddObjective(walk.Lp, walk.Abs, walk.Groups, options, outputs, network64, vertices64, end);
        return (walk, outputs);
    }

    /// <summary>
    /// The first top-level layer whose neurons stay expressions (<see cref="EncodingOptions.ComposeLaterLayers"/>): the
    /// layer after the repaired layer's first ReLU, when only Linear, ReLU and Flatten layers follow k; else −1.
    /// </summary>
    private static int ComposeFrom(Network network64, LayerSite layer, int end, EncodingOptions options)
    {
        if (!options.ComposeLaterLayers || options.Decoupled || layer.Nested) return -1;
        int firstRelu = -1;
        for (int j = layer.Layer + 1; j < end; j++)
        {
            LayerSpec spec = network64.Layers[j].Spec;
            if (spec is not (LinearSpec or ReluSpec or FlattenSpec or BinaryScoresSpec)) return -1;
            if (spec is ReluSpec && firstRelu < 0) firstRelu = j;
        }
        return firstRelu < 0 ? -1 : firstRelu + 1;
    }

    /// <summary>The state of one encoding: the LP under construction and the parameter columns.</summary>
    private sealed class Walk(Network network64, LinearProgram lp, ActivationPatterns patterns, EncodingOptions options)
    {
        private readonly Dictionary<string, (AffineParameters Parameters, int[] Bias)> laterAffine = [];

        /// <summary><see cref="ComposedAffine"/>'s scratch: a sum per column, whether a column has a term yet, and those that have (all zero and false between outputs).</summary>
        private readonly List<int> touched = [];
        private double[] sum = [];
        private bool[] seen = [];
        private int[]? weightCol, biasCol;

        public LinearProgram Lp { get; } = lp;

        public List<ParameterDelta> Deltas { get; } = [];

        public List<PendingRow> Pending { get; } = [];

        public List<ProgramFragment> Held { get; } = [];

        /// <summary>Whether the vertex walked now is a held preserved input (its sign rows then stay in its fragment, never pending).</summary>
        public bool HoldingVertex { get; set; }

        /// <summary>The first top-level layer whose neurons stay expressions (see <see cref="ComposeFrom"/>), or −1.</summary>
        public int ComposeFrom { get; init; } = -1;

        /// <summary>Whether a sign row may wait outside the LP: not for a held input (its fragment holds it) nor when only counting the whole program.</summary>
        private bool MayWait => !HoldingVertex && !Lp.IsCounting;

        public List<(int Delta, int Group)> Abs { get; } = [];

        public int Groups { get; private set; }

        public string? Conflict { get; set; }

        /// <summary>Index of the first vertex walked now (patterns are looked up by it).</summary>
        public int First { get; private set; }

        /// <summary>How many vertices are walked now.</summary>
        public int Count { get; private set; }

        /// <summary>Walks vertices <paramref name="first"/> to <paramref name="first"/> + <paramref name="count"/> next.</summary>
        public void Vertices(int first, int count)
        {
            First = first;
            Count = count;
        }

        /// <summary>Layer k: concrete input (the vertices walked now), variable weights of the chosen rows and their biases.</summary>
        public LinExpr[][] RepairedLayer(AffineParameters k, int layer, Tensor input)
        {
            if (weightCol is null || biasCol is null) (weightCol, biasCol) = ParameterColumns(k, layer);
            double[] x = input.reshape(Count, -1).contiguous().data<double>().ToArray();
            int width = x.Length / Count;
            var values = new LinExpr[Count][];
            for (int v = 0; v < Count; v++) values[v] = LayerK(k, x.AsSpan(v * width, width), weightCol, biasCol);
            return values;
        }

        /// <summary>
        /// For the vertices walked now, preserved inputs of <see cref="EncodingOptions.PreservedLayerWeight"/> (of
        /// <paramref name="preserved"/> in all): each variable output of layer k changes by Δ = Δ⁺ − Δ⁻ of two new columns
        /// (one row: the change of weights and bias times the input, minus Δ⁺, plus Δ⁻, equals 0), each costing
        /// <paramref name="weight"/> / (<paramref name="preserved"/> · k's outputs whose parameters change), so the
        /// objective gains <paramref name="weight"/> · mean |Δ|. A nested k (a module inside an ONNX block) takes its
        /// concrete input from a run of the block up to it.
        /// </summary>
        public void PenaliseLayerChange(AffineParameters? k, LayerSite layer, Tensor input, double weight, int preserved)
        {
            if (k is null)
            {
                var module = (OnnxBlockModule)network64.Layers[layer.Layer].Module;
                string kInput = module.Nodes[layer.Node].Input[0];
                input = cat([.. Enumerable.Range(0, Count).Select(v => module.Values(input.narrow(0, v, 1))[kInput])], 0);
                k = AffineParameters.Read(module, layer.Node, input.narrow(0, 0, 1).shape);
            }
            LinExpr[][] values = RepairedLayer(k, layer.Layer, input);
            int changing = 0;
            for (int r = 0; r < k.Outputs; r++)
                if (weightCol![r * k.WeightsPerOutput] >= 0 || biasCol![r] >= 0) changing++;
            double cost = weight / ((double)preserved * changing * (k.Conv?.Positions ?? k.Positions));
            foreach (LinExpr[] outputs in values)
                foreach (LinExpr y in outputs)
                {
                    if (y.IsConstant) continue;
                    int up = Lp.AddColumn(0, double.PositiveInfinity, cost);
                    int down = Lp.AddColumn(0, double.PositiveInfinity, cost);
                    Lp.AddRow(0, 0, [.. y.Cols, up, down], [.. y.Coefs, -1, 1]);
                }
        }

        /// <summary>The columns of k's chosen rows' weights and biases (-1 for the rest), made once per encoding.</summary>
        private (int[] Weight, int[] Bias) ParameterColumns(AffineParameters k, int layer)
        {
            (int rowStart, int rowEnd) = options.Rows ?? (0, k.Outputs);
            if (rowStart < 0 || rowEnd > k.Outputs || rowStart >= rowEnd)
                throw new ReparoInputException($"rows {rowStart}:{rowEnd} are outside layer {k.Site}'s {k.Outputs} outputs");
            var weightCol = new int[k.Weight.Length];
            var biasCol = new int[k.Outputs];
            Array.Fill(weightCol, -1);
            Array.Fill(biasCol, -1);
            for (int r = rowStart; r < rowEnd; r++)
            {
                int group = Groups++;
                for (int w = r * k.WeightsPerOutput; w < (r + 1) * k.WeightsPerOutput; w++)
                {
                    weightCol[w] = AddDelta(Lp, options.Bound);
                    Deltas.Add(new ParameterDelta(layer, k.Site, false, w, weightCol[w]));
                    Abs.Add((weightCol[w], group));
                }
                if (!k.HasBias) continue;
                biasCol[r] = AddDelta(Lp, options.Bound);
                Deltas.Add(new ParameterDelta(layer, k.Site, true, r, biasCol[r]));
                Abs.Add((biasCol[r], group));
            }
            return (weightCol, biasCol);
        }

        /// <summary>Top-level layer <paramref name="j"/> after k; <paramref name="sample"/> is its concrete input for one vertex (shapes).</summary>
        public LinExpr[][] Layer(int j, Tensor sample, LinExpr[][] values)
        {
            LayerSpec spec = network64.Layers[j].Spec;
            switch (spec)
            {
                case LinearSpec or Conv1dSpec or Conv2dSpec:
                    {
                        (AffineParameters p, int[] bias) = LaterAffine($"{j}", () => AffineParameters.Read(network64, j, sample.shape[1..]), j);
                        if (ComposeFrom >= 0 && j >= ComposeFrom) return [.. values.Select(x => ComposedAffine(p, x, bias))];
                        return [.. values.Select(x => FixedAffine(p, Materialised(x), bias))];
                    }
                case ReluSpec when ComposeFrom >= 0 && j >= ComposeFrom:
                    return [.. values.Select((x, v) => ComposedRelu(x, patterns.Relu(j, First + v)))];
                case ReluSpec:
                    return [.. values.Select((x, v) => Relu(x, patterns.Relu(j, First + v)))];
                case MaxPool2dSpec pool:
                    {
                        int[][] windows = PoolWindows.Of(pool, sample.shape[1..]);
                        return [.. values.Select((x, v) => MaxPool(x, windows, patterns.Pool(j, First + v)))];
                    }
                case FlattenSpec:
                    return values;
                case BinaryScoresSpec:
                    return [.. values.Select(x => new[] { x[0].Scaled(-0.5, 0), x[0].Scaled(0.5, 0) })];
                case OnnxBlockSpec:
                    return Block(j, sample, values, -1);
                default:
                    throw new ReparoInputException($"layer {spec.Name} ({spec.Describe()}) after the repaired layer cannot be encoded; provable repair supports Linear, Conv1d, Conv2d, ReLU, MaxPool2d, Flatten, a binary classifier's scores and piecewise-linear ONNX blocks there");
            }
        }

        /// <summary>
        /// Walks ONNX block layer <paramref name="layer"/> node by node with a map from value name to expressions per vertex.
        /// Either the block's input is symbolic (<paramref name="symbolic"/>; <paramref name="input"/> is one vertex's
        /// concrete input, for shapes and constants) or the repaired module is node <paramref name="kNode"/> of the block
        /// (<paramref name="input"/>: every vertex's concrete input): then values that do not depend on k are constants
        /// from a concrete run per vertex. Only nodes reached from k (or from the symbolic input) are encoded.
        /// </summary>
        public LinExpr[][] Block(int layer, Tensor input, LinExpr[][]? symbolic, int kNode)
        {
            var module = (OnnxBlockModule)network64.Layers[layer].Module;
            OnnxBlockSpec spec = module.Spec;
            Dictionary<string, Tensor> sample = module.Values(input.narrow(0, 0, 1));
            Dictionary<string, Tensor>[]? concrete = symbolic is null ? [.. Enumerable.Range(0, Count).Select(v => module.Values(input.narrow(0, v, 1)))] : null;
            var known = new Dictionary<string, LinExpr[]>[Count];
            for (int v = 0; v < Count; v++)
            {
                known[v] = new Dictionary<string, LinExpr[]>(StringComparer.Ordinal);
                if (symbolic is not null) known[v][spec.Input] = symbolic[v];
            }
            // Data values depend on the block's input; reached ones on k (or the symbolic input).
            var data = new HashSet<string>(StringComparer.Ordinal) { spec.Input };
            var reached = new HashSet<string>(StringComparer.Ordinal);
            if (symbolic is not null) reached.Add(spec.Input);
            LinExpr[] Get(int v, string name) => known[v].TryGetValue(name, out LinExpr[]? e) ? e : Constants(concrete?[v][name] ?? sample[name]);

            for (int i = 0; i < module.Nodes.Count; i++)
            {
                NodeProto node = module.Nodes[i];
                (OnnxAffineSpec Spec, nn.Module<Tensor, Tensor> Module)? unit = module.Affine(i);
                string[] outputs = unit is { } u0 ? [u0.Spec.Output] : [.. node.Output.Where(o => o.Length > 0 && sample[o].is_floating_point())];
                if (!node.Input.Any(data.Contains)) continue;
                data.UnionWith(outputs);
                if (i != kNode && !node.Input.Any(reached.Contains)) continue;
                if (outputs.Length == 0) continue;
                reached.UnionWith(outputs);
                string where = $"{spec.Name} node {(node.Name.Length > 0 ? node.Name : $"#{i}")}";
                if (unit is { } u)
                {
                    string site = $"{spec.Name}.{u.Spec.Name}";
                    AffineParameters Read() => AffineParameters.Read(module, i, sample[node.Input[0]].shape);
                    if (i == kNode)
                    {
                        LinExpr[][] k = RepairedLayer(Read(), layer, cat([.. concrete!.Select(c => c[node.Input[0]])], 0));
                        for (int v = 0; v < Count; v++) known[v][outputs[0]] = k[v];
                        continue;
                    }
                    (AffineParameters p, int[] bias) = LaterAffine(site, Read, layer);
                    for (int v = 0; v < Count; v++) known[v][outputs[0]] = FixedAffine(p, Materialised(Get(v, node.Input[0])), bias);
                    continue;
                }
                switch (node.OpType)
                {
                    case "Relu":
                        for (int v = 0; v < Count; v++) known[v][outputs[0]] = Relu(Get(v, node.Input[0]), patterns.Relu(layer, First + v, i));
                        break;
                    case "Clip":
                        {
                            if (node.Input.Skip(1).Any(data.Contains))
                                throw new ReparoInputException($"{where}: Clip's bounds depend on the input; provable repair needs fixed bounds");
                            (double lower, double upper) = Activations.ClipBounds(node, spec.Opset, name => sample[name]);
                            for (int v = 0; v < Count; v++)
                            {
                                sbyte[]? above = double.IsFinite(lower) ? patterns.Relu(layer, First + v, i, 0) : null;
                                sbyte[]? below = double.IsFinite(upper) ? patterns.Relu(layer, First + v, i, 1) : null;
                                known[v][outputs[0]] = Clip(Get(v, node.Input[0]), lower, upper, above, below);
                            }
                            break;
                        }
                    case "LeakyRelu" or "PRelu":
                        {
                            if (node.OpType == "PRelu" && data.Contains(node.Input[1]))
                                throw new ReparoInputException($"{where}: PRelu's slope depends on the input; provable repair needs a fixed slope");
                            double[] slopes = NegativeSlopes(node, sample);
                            for (int v = 0; v < Count; v++) known[v][outputs[0]] = LeakyRelu(Get(v, node.Input[0]), patterns.Relu(layer, First + v, i), slopes);
                            break;
                        }
                    case var op when Activations.IsMax(op):
                        {
                            int[][] windows = PoolWindows.Of(node, spec.Opset, spec.Name, name => sample[name], sample[node.Input[0]].shape, sample[outputs[0]].shape);
                            for (int v = 0; v < Count; v++) known[v][outputs[0]] = MaxPool(Get(v, node.Input[0]), windows, patterns.Pool(layer, First + v, i));
                            break;
                        }
                    default:
                        {
                            ElementMap map = ElementMap.Of(node, spec.Opset, where, name => data.Contains(name), name => sample[name], sample[node.Output[0]].shape);
                            for (int v = 0; v < Count; v++)
                            {
                                int vertex = v;
                                known[v][node.Output[0]] = Apply(map, [.. node.Input.Select((name, position) => map.Source[position] ? Get(vertex, name) : null)]);
                            }
                            break;
                        }
                }
            }
            return [.. Enumerable.Range(0, Count).Select(v => Get(v, spec.Output))];
        }

        /// <summary>A later affine site's parameters and bias columns, read and made on its first visit.</summary>
        private (AffineParameters Parameters, int[] Bias) LaterAffine(string site, Func<AffineParameters> read, int layer)
        {
            if (!laterAffine.TryGetValue(site, out (AffineParameters Parameters, int[] Bias) known))
            {
                AffineParameters p = read();
                laterAffine[site] = known = (p, LaterBias(p, layer));
            }
            return known;
        }

        /// <summary>Bias columns of a later affine layer (APRNN) or -1 each.</summary>
        private int[] LaterBias(AffineParameters p, int layer)
        {
            int[] bias = new int[p.Outputs];
            Array.Fill(bias, -1);
            if (!options.LaterBiases || !p.HasBias) return bias;
            int group = Groups++;
            for (int o = 0; o < p.Outputs; o++)
            {
                bias[o] = AddDelta(Lp, options.Bound);
                Deltas.Add(new ParameterDelta(layer, p.Site, true, o, bias[o]));
                Abs.Add((bias[o], group));
            }
            return bias;
        }

        /// <summary>The expressions made bare columns or constants in place (an affine map over them stays sparse).</summary>
        private LinExpr[] Materialised(LinExpr[] x)
        {
            for (int i = 0; i < x.Length; i++) x[i] = Materialise(Lp, x[i], double.NegativeInfinity, double.PositiveInfinity);
            return x;
        }

        /// <summary>
        /// A later ReLU whose inputs stay expressions: each variable pre-activation's sign is one row (waiting outside the
        /// LP when it may) and an active neuron passes its expression on; one wider than <see cref="MaxComposedTerms"/>
        /// is materialised as <see cref="Relu(LinExpr[], sbyte[])"/> does.
        /// </summary>
        private LinExpr[] ComposedRelu(LinExpr[] input, sbyte[] pattern)
        {
            LinExpr[] x = (LinExpr[])input.Clone();
            EncodingOptions current = MayWait ? options : options with { LazySignRows = false };
            for (int n = 0; n < x.Length; n++)
            {
                if (x[n].IsConstant || pattern[n] == 0 || (pattern[n] == 1 && x[n].Cols.Length > MaxComposedTerms))
                {
                    Conflict ??= SymbolicEncoder.Relu(Lp, Pending, ref x[n], pattern[n], current);
                    continue;
                }
                PendingRow sign = pattern[n] == 1
                    ? new PendingRow(x[n], options.SignMargin, double.PositiveInfinity)
                    : new PendingRow(x[n], double.NegativeInfinity, -options.SignMargin);
                if (MayWait) Pending.Add(sign);
                else sign.AddTo(Lp);
                if (pattern[n] != 1) x[n] = LinExpr.Const(0);
            }
            return x;
        }

        /// <summary>A later affine layer (Linear) over expressions: each output is the weighted sum of its inputs' expressions and its bias.</summary>
        private LinExpr[] ComposedAffine(AffineParameters p, LinExpr[] x, int[] biasCol)
        {
            if (x.All(e => e.IsConstant || e.IsBareColumn)) return FixedAffine(p, x, biasCol);
            if (sum.Length < Lp.ColumnCount) (sum, seen) = (new double[Lp.ColumnCount], new bool[Lp.ColumnCount]);
            int width = p.WeightsPerOutput;
            var outputs = new LinExpr[p.Positions * p.Outputs];
            for (int e = 0; e < outputs.Length; e++)
            {
                (int position, int output) = (e / p.Outputs, e % p.Outputs);
                double constant = p.Bias[output];
                for (int i = 0; i < width; i++)
                {
                    double weight = p.Weight[output * width + i];
                    LinExpr input = x[position * width + i];
                    if (weight == 0) continue;
                    constant += weight * input.Constant;
                    for (int t = 0; t < input.Cols.Length; t++)
                    {
                        int col = input.Cols[t];
                        if (!seen[col])
                        {
                            seen[col] = true;
                            touched.Add(col);
                        }
                        sum[col] += weight * input.Coefs[t];
                    }
                }
                var cols = new List<int>(touched.Count + 2);
                var coefs = new List<double>(touched.Count + 2);
                foreach (int col in touched)
                {
                    if (sum[col] != 0)
                    {
                        cols.Add(col);
                        coefs.Add(sum[col]);
                    }
                    (sum[col], seen[col]) = (0, false);
                }
                touched.Clear();
                if (biasCol[output] >= 0) UseDelta(cols, coefs, biasCol[output], 1);
                outputs[e] = new LinExpr([.. cols], [.. coefs], constant);
            }
            return outputs;
        }

        private LinExpr[] Relu(LinExpr[] input, sbyte[] pattern)
        {
            LinExpr[] x = (LinExpr[])input.Clone();
            EncodingOptions current = MayWait ? options : options with { LazySignRows = false };
            for (int n = 0; n < x.Length; n++) Conflict ??= SymbolicEncoder.Relu(Lp, Pending, ref x[n], pattern[n], current);
            return x;
        }

        /// <summary>
        /// A leaky ReLU (LeakyRelu, PRelu) over expressions: an on pre-activation passes as a ReLU's does; an off one keeps
        /// its sign through an auxiliary column bounded by −δ and passes slope · that column on (<paramref name="slopes"/>:
        /// per element of a sample's input).
        /// </summary>
        private LinExpr[] LeakyRelu(LinExpr[] input, sbyte[] pattern, double[] slopes)
        {
            LinExpr[] x = (LinExpr[])input.Clone();
            for (int n = 0; n < x.Length; n++)
            {
                if (options.Decoupled)
                {
                    // PRDNN: the activation channel chose the piece; the value passes through it, unconstrained.
                    if (pattern[n] != 1) x[n] = x[n].Scaled(slopes[n], 0);
                    continue;
                }
                if (pattern[n] != -1)
                {
                    Conflict ??= SymbolicEncoder.Relu(Lp, Pending, ref x[n], pattern[n], options);
                    continue;
                }
                if (x[n].IsConstant)
                {
                    double z = x[n].Constant;
                    if (z > options.ConstantTolerance)
                        Conflict ??= FixedAgainstPattern(z);
                    x[n] = LinExpr.Const(slopes[n] * Math.Min(z, 0));
                    continue;
                }
                x[n] = Materialise(Lp, x[n], double.NegativeInfinity, -options.SignMargin).Scaled(slopes[n], 0);
            }
            return x;
        }

        /// <summary>
        /// A Clip over expressions, as its two ReLU kinks (<see cref="Activations.ClipBounds"/>): per element,
        /// <paramref name="atLower"/> says whether the input is above its lower bound (1), below it (−1) or pinned to it
        /// (0), <paramref name="atUpper"/> the same for the upper bound (null: no such bound). Below the lower bound or
        /// above the upper one the output is that bound and the side is one row; between them the input passes on through
        /// a column bounded by lower + δ and upper − δ.
        /// </summary>
        private LinExpr[] Clip(LinExpr[] input, double lower, double upper, sbyte[]? atLower, sbyte[]? atUpper)
        {
            var x = new LinExpr[input.Length];
            for (int n = 0; n < x.Length; n++)
            {
                sbyte low = atLower?[n] ?? 1, high = atUpper?[n] ?? -1;
                LinExpr z = input[n];
                if (options.Decoupled)
                {
                    // PRDNN: the activation channel chose the piece (a bound where it is at or below the lower bound or
                    // above the upper one); the value passes through it, unconstrained.
                    x[n] = low != 1 ? LinExpr.Const(lower) : high == 1 ? LinExpr.Const(upper) : z;
                    continue;
                }
                if (z.IsConstant)
                {
                    double value = z.Constant, tolerance = options.ConstantTolerance;
                    bool agrees = (low == 1 ? value >= lower - tolerance : low == -1 ? value <= lower + tolerance : Math.Abs(value - lower) <= tolerance)
                        && (high == -1 ? value <= upper + tolerance : high == 1 ? value >= upper - tolerance : Math.Abs(value - upper) <= tolerance);
                    if (!agrees) Conflict ??= FixedAgainstPattern(value);
                    x[n] = LinExpr.Const(Math.Clamp(value, lower, upper));
                    continue;
                }
                // Below the lower bound means below the upper one too; at the lower bound, not above the upper one.
                if ((low == -1 && high != -1) || (low == 0 && (high == 1 || (high == 0 && lower != upper))))
                {
                    Conflict ??= "a Clip's required sides contradict each other";
                    x[n] = LinExpr.Const(lower);
                    continue;
                }
                if (low != 1)
                {
                    AddRow(Lp, z, low == 0 ? lower : double.NegativeInfinity, lower - (low == 0 ? 0 : options.SignMargin));
                    x[n] = LinExpr.Const(lower);
                }
                else if (high != -1)
                {
                    AddRow(Lp, z, upper + (high == 0 ? 0 : options.SignMargin), high == 0 ? upper : double.PositiveInfinity);
                    x[n] = LinExpr.Const(upper);
                }
                else
                {
                    x[n] = Materialise(Lp, z, atLower is null ? double.NegativeInfinity : lower + options.SignMargin, atUpper is null ? double.PositiveInfinity : upper - options.SignMargin);
                }
            }
            return x;
        }

        /// <summary>The slope of a LeakyRelu or PRelu node's off piece for each element of one sample's input.</summary>
        private static double[] NegativeSlopes(NodeProto node, Dictionary<string, Tensor> sample)
        {
            Tensor input = sample[node.Input[0]];
            if (node.OpType == "LeakyRelu") return Enumerable.Repeat(OnnxAttributes.Float(node, "alpha", 0.01), (int)input.numel()).ToArray();
            using Tensor slopes = sample[node.Input[1]].to(ScalarType.Float64).expand(input.shape).contiguous();
            return slopes.data<double>().ToArray();
        }

        private LinExpr[] MaxPool(LinExpr[] x, int[][] windows, int[] choice)
        {
            var output = new LinExpr[windows.Length];
            for (int o = 0; o < windows.Length; o++)
            {
                LinExpr best = x[choice[o]];
                foreach (int index in windows[o])
                {
                    if (index == choice[o] || options.Decoupled) continue;
                    LinExpr difference = best.Minus(x[index]);
                    if (difference.IsConstant)
                    {
                        if (difference.Constant < -options.ConstantTolerance) Conflict ??= "a max-pool choice before the repaired layer's reach cannot be kept";
                        continue;
                    }
                    AddRow(Lp, difference, options.SignMargin, double.PositiveInfinity);
                }
                output[o] = best;
            }
            return output;
        }

        /// <summary>Applies an element map to one vertex's sources (by input position).</summary>
        private LinExpr[] Apply(ElementMap map, LinExpr[]?[] sources)
        {
            if (map.Terms.Any(t => t.Length > 1))
            {
                foreach (LinExpr[]? source in sources)
                    if (source is not null) Materialised(source);
            }
            var output = new LinExpr[map.Terms.Length];
            for (int o = 0; o < output.Length; o++)
            {
                (int Source, int Index, double Coef)[] terms = map.Terms[o];
                output[o] = terms.Length switch
                {
                    0 => LinExpr.Const(map.Constant[o]),
                    1 => sources[terms[0].Source]![terms[0].Index].Scaled(terms[0].Coef, map.Constant[o]),
                    _ => LinExpr.Sum(terms.Select(t => (sources[t.Source]![t.Index], t.Coef)), map.Constant[o]),
                };
            }
            return output;
        }
    }

    /// <summary>
    /// A fixed linear map from an ONNX node's inputs to its output, element by element (per sample, flat):
    /// output o = Σ Coef·input[Source][Index] + Constant[o]. Data movement is read by running the node's own kernel on
    /// index tensors (1, 2, … so that 0 marks padding); Add/Sub/Mul/Div follow broadcasting; batch normalisation,
    /// average pools and convolutions that are no module (weights computed in the graph) are probed with unit vectors.
    /// </summary>
    /// <param name="Terms">Per output element, its terms.</param>
    /// <param name="Constant">Per output element, its constant.</param>
    /// <param name="Source">Per node input, whether the map reads it as expressions.</param>
    private sealed record ElementMap((int Source, int Index, double Coef)[][] Terms, double[] Constant, bool[] Source)
    {
        private const int ProbeChunk = 256;

        /// <summary>The map of <paramref name="node"/>; <paramref name="isData"/> tells which values depend on the block's input, <paramref name="sample"/> gives every value for one sample.</summary>
        public static ElementMap Of(NodeProto node, int opset, string where, Func<string, bool> isData, Func<string, Tensor> sample, long[] outShape)
        {
            bool[] dataAt = [.. node.Input.Select(n => n.Length > 0 && isData(n))];
            ReparoInputException Refuse(string why) => new($"provable repair needs a piecewise-linear network after the repaired layer; {where} {why}: choose a layer after it, or a method that repairs any layer without a proof (ft, mft, edit)");
            Tensor?[] inputs = [.. node.Input.Select(n => n.Length == 0 ? null : sample(n))];
            switch (node.OpType)
            {
                case "Add" or "Sub":
                    return Broadcast(inputs, outShape, [(0, 1.0), (1, node.OpType == "Sub" ? -1.0 : 1.0)]);
                case "Mul" or "Div":
                    {
                        if (dataAt.Count(d => d) > 1) throw Refuse($"is {node.OpType} of two data values");
                        if (node.OpType == "Div" && dataAt[1]) throw Refuse("divides by a data value");
                        int d = Array.IndexOf(dataAt, true);
                        Tensor factor = inputs[1 - d]!.to(ScalarType.Float64);
                        return Broadcast(inputs, outShape, [(d, node.OpType == "Div" ? 1 / factor : factor)]);
                    }
                case "BatchNormalization" or "GlobalAveragePool" or "AveragePool" or "Conv":
                    if (dataAt.Skip(1).Any(d => d)) throw Refuse($"is {node.OpType} with data-dependent parameters");
                    if (inputs[0]!.shape[0] != 1) throw Refuse($"is {node.OpType} over an input without a leading batch axis");
                    return Probe(node, opset, inputs);
                case var op when MovementOps.Contains(op):
                    {
                        int[] positions = op == "Concat" ? [.. Enumerable.Range(0, inputs.Length).Where(p => inputs[p] is not null)] : [0];
                        if (dataAt.Where((d, p) => d && !positions.Contains(p)).Any()) throw Refuse($"is {op} controlled by a data value");
                        if (op == "Pad" && OnnxAttributes.String(node, "mode", "constant") == "constant" && PadValue(node, opset, inputs) != 0)
                            throw Refuse("pads with a nonzero constant");
                        return Indices(node, opset, inputs, positions);
                    }
                default:
                    throw Refuse(AffineOps.Contains(node.OpType) ? $"is {node.OpType} of two data values" : $"is {node.OpType}");
            }
        }

        private static double PadValue(NodeProto node, int opset, Tensor?[] inputs) =>
            opset < 11 ? OnnxAttributes.Float(node, "value", 0) : inputs.Length > 2 && inputs[2] is { } value ? value.to(ScalarType.Float64).item<double>() : 0;

        /// <summary>Elementwise over broadcast inputs: output o = Σ factor·input[p][broadcast source of o].</summary>
        private static ElementMap Broadcast(Tensor?[] inputs, long[] outShape, (int Position, Tensor Factor)[] parts)
        {
            var terms = new List<(int, int, double)>[outShape.Aggregate(1L, (a, b) => a * b)];
            for (int o = 0; o < terms.Length; o++) terms[o] = [];
            foreach ((int position, Tensor factor) in parts)
            {
                Tensor input = inputs[position]!;
                double[] index = arange(input.numel(), dtype: ScalarType.Float64).reshape(input.shape).expand(outShape).contiguous().data<double>().ToArray();
                double[] coef = factor.expand(outShape).contiguous().data<double>().ToArray();
                for (int o = 0; o < terms.Length; o++) terms[o].Add((position, (int)index[o], coef[o]));
            }
            return new ElementMap([.. terms.Select(t => t.ToArray())], new double[terms.Length], [.. inputs.Select((_, p) => parts.Any(q => q.Position == p))]);
        }

        private static ElementMap Broadcast(Tensor?[] inputs, long[] outShape, (int Position, double Factor)[] parts) =>
            Broadcast(inputs, outShape, [.. parts.Select(p => (p.Position, tensor(p.Factor, ScalarType.Float64)))]);

        /// <summary>A map linear in input 0 with the other inputs fixed, read from the kernel's output on zero and on unit inputs.</summary>
        private static ElementMap Probe(NodeProto node, int opset, Tensor?[] inputs)
        {
            Tensor x = inputs[0]!;
            long n = x.numel();
            Tensor Run(Tensor input)
            {
                Tensor?[] args = [input, .. inputs.Skip(1)];
                return OnnxOperators.Run(node, opset, args)[0]!.to(ScalarType.Float64);
            }
            double[] constant = Run(zeros(x.shape, ScalarType.Float64)).contiguous().data<double>().ToArray();
            var terms = new List<(int, int, double)>[constant.Length];
            for (int o = 0; o < terms.Length; o++) terms[o] = [];
            for (long start = 0; start < n; start += ProbeChunk)
            {
                using var scope = NewDisposeScope();
                long b = Math.Min(ProbeChunk, n - start);
                Tensor basis = nn.functional.pad(eye(b, n - start, ScalarType.Float64), [start, 0]).reshape([b, .. x.shape[1..]]);
                double[] y = Run(basis).reshape(b, -1).contiguous().data<double>().ToArray();
                for (int i = 0; i < b; i++)
                    for (int o = 0; o < constant.Length; o++)
                    {
                        double coef = y[i * constant.Length + o] - constant[o];
                        if (coef != 0) terms[o].Add((0, (int)(start + i), coef));
                    }
            }
            return new ElementMap([.. terms.Select(t => t.ToArray())], constant, [.. inputs.Select((_, p) => p == 0)]);
        }

        /// <summary>Data movement: the kernel run on 1, 2, … (offset per source input) says where each output element comes from (0: padding).</summary>
        private static ElementMap Indices(NodeProto node, int opset, Tensor?[] inputs, int[] positions)
        {
            var args = (Tensor?[])inputs.Clone();
            var ranges = new List<(int Position, long Start, long Count)>();
            long offset = 0;
            foreach (int p in positions)
            {
                long n = inputs[p]!.numel();
                args[p] = arange(offset + 1, offset + n + 1, dtype: ScalarType.Float64).reshape(inputs[p]!.shape);
                ranges.Add((p, offset, n));
                offset += n;
            }
            double[] index = OnnxOperators.Run(node, opset, args)[0]!.to(ScalarType.Float64).contiguous().data<double>().ToArray();
            var terms = new (int, int, double)[index.Length][];
            for (int o = 0; o < index.Length; o++)
            {
                long i = (long)index[o] - 1;
                if (i < 0)
                {
                    terms[o] = [];
                    continue;
                }
                (int position, long start, _) = ranges.First(r => i < r.Start + r.Count);
                terms[o] = [(position, (int)(i - start), 1.0)];
            }
            return new ElementMap(terms, new double[index.Length], [.. inputs.Select((_, p) => positions.Contains(p))]);
        }
    }

    private static LinExpr[] Constants(Tensor t) => [.. t.to(ScalarType.Float64).contiguous().data<double>().ToArray().Select(LinExpr.Const)];

    private static LinExpr[] LayerK(AffineParameters k, ReadOnlySpan<double> x, int[] weightCol, int[] biasCol)
    {
        if (k.Conv is not { } conv)
        {
            var outputs = new LinExpr[k.Positions * k.Outputs];
            int width = k.WeightsPerOutput;
            for (int pos = 0; pos < k.Positions; pos++)
                for (int r = 0; r < k.Outputs; r++)
                {
                    ReadOnlySpan<double> row = x.Slice(pos * width, width);
                    double constant = k.Bias[r];
                    for (int c = 0; c < width; c++) constant += k.Weight[r * width + c] * row[c];
                    if (weightCol[r * width] < 0)
                    {
                        outputs[pos * k.Outputs + r] = LinExpr.Const(constant);
                        continue;
                    }
                    var cols = new List<int>(width + 1);
                    var coefs = new List<double>(width + 1);
                    for (int c = 0; c < width; c++)
                    {
                        if (row[c] == 0) continue;
                        UseDelta(cols, coefs, weightCol[r * width + c], row[c]);
                    }
                    if (biasCol[r] >= 0) UseDelta(cols, coefs, biasCol[r], 1);
                    outputs[pos * k.Outputs + r] = new LinExpr([.. cols], [.. coefs], constant);
                }
            return outputs;
        }
        var result = new LinExpr[conv.OutChannels * conv.Positions];
        int perChannel = k.WeightsPerOutput;
        for (int o = 0; o < conv.OutChannels; o++)
        {
            ReadOnlySpan<double> group = x[conv.GroupOffset(o)..];
            for (int pos = 0; pos < conv.Positions; pos++)
            {
                (int Input, int Tap)[] taps = conv.Taps[pos];
                double constant = k.Bias[o];
                foreach ((int inputIndex, int tap) in taps) constant += k.Weight[o * perChannel + tap] * group[inputIndex];
                if (weightCol[o * perChannel] < 0)
                {
                    result[o * conv.Positions + pos] = LinExpr.Const(constant);
                    continue;
                }
                var cols = new List<int>(taps.Length + 1);
                var coefs = new List<double>(taps.Length + 1);
                foreach ((int inputIndex, int tap) in taps)
                {
                    if (group[inputIndex] == 0) continue;
                    UseDelta(cols, coefs, weightCol[o * perChannel + tap], group[inputIndex]);
                }
                if (biasCol[o] >= 0) UseDelta(cols, coefs, biasCol[o], 1);
                result[o * conv.Positions + pos] = new LinExpr([.. cols], [.. coefs], constant);
            }
        }
        return result;
    }

    /// <summary>An affine layer with fixed weights over inputs that are constants or bare columns; <paramref name="biasCol"/> -1 where the bias is fixed.</summary>
    private static LinExpr[] FixedAffine(AffineParameters p, LinExpr[] x, int[] biasCol)
    {
        var variableInputs = new List<int>();
        for (int i = 0; i < x.Length; i++)
            if (!x[i].IsConstant) variableInputs.Add(i);
        // Inputs share a column when a block copies a value (Concat of a value with itself); rows then merge their terms.
        bool repeated = variableInputs.Select(i => x[i].Cols[0]).Distinct().Count() < variableInputs.Count;
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
            var e = new LinExpr([.. cols], [.. coefs], constant);
            return repeated ? LinExpr.Sum([(e, 1)], 0) : e;
        }
        if (p.Conv is not { } conv)
        {
            int width = p.WeightsPerOutput;
            return Enumerable.Range(0, p.Positions * p.Outputs)
                .Select(e => (Position: e / p.Outputs, Output: e % p.Outputs))
                .Select(e => Build(e.Output, p.Bias[e.Output], Enumerable.Range(0, width).Select(i => (e.Position * width + i, p.Weight[e.Output * width + i]))))
                .ToArray();
        }
        var result = new LinExpr[conv.OutChannels * conv.Positions];
        int perChannel = p.WeightsPerOutput;
        for (int o = 0; o < conv.OutChannels; o++)
            for (int pos = 0; pos < conv.Positions; pos++)
                result[o * conv.Positions + pos] = Build(o, p.Bias[o], conv.Taps[pos].Select(t => (t.Input + conv.GroupOffset(o), p.Weight[o * perChannel + t.Tap])));
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

    /// <summary>The conflict of a pre-activation <paramref name="z"/> that no LP column reaches and that is on the wrong side of its kink.</summary>
    private static string FixedAgainstPattern(double z) =>
        $"a pre-activation before the repaired layer's reach is {z:G4}, against the required pattern; no change of the chosen parameters can fix it";

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
            return agrees ? null : FixedAgainstPattern(z);
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

    /// <summary>Required logit ≥ every other logit + ε; all fixed competitors collapse into one row against their maximum.</summary>
    private static string? Specification(LinearProgram lp, LinExpr[] logits, int label, double epsilon)
    {
        void Require(LinExpr e, double lower) => AddRow(lp, e, lower, double.PositiveInfinity);

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
            Require(target.Minus(logits[c]), epsilon);
        }
        if (double.IsNegativeInfinity(fixedMax)) return null;
        if (target.IsConstant) return target.Constant - fixedMax >= epsilon ? null : "the required logit cannot change at this layer and is below another logit";
        Require(target, fixedMax + epsilon);
        return null;
    }

    /// <summary>
    /// The objective (see <see cref="LpObjective"/>). An absolute value |e| of a parameter change Δ = Δ⁺ − Δ⁻ is Δ⁺ + Δ⁻
    /// (no rows; at an optimum one part is 0), and the L∞ column t ≥ Δ⁺ + Δ⁻ goes through one maximum per group (a
    /// weight row with its bias, or one later layer's biases), so t's column is not dense. An output change d ≥ |y − y₀|
    /// takes an auxiliary column and two rows per (repair vertex, logit) that the parameters can move; so does a preserved
    /// input's under <see cref="EncodingOptions.PreservedOutputWeight"/>, with an L∞ column of its own.
    /// </summary>
    private static void AddObjective(LinearProgram lp, List<(int Delta, int Group)> abs, int groups, EncodingOptions options,
        LinExpr[]?[] outputs, Network network64, Tensor vertices64, int end)
    {
        int repairVertices = options.RepairVertices ?? outputs.Length;
        int width = outputs.Length == 0 ? 0 : outputs[0]!.Length;
        bool joint = options.Objective == LpObjective.Aprnn;
        // APRNN normalises the L1 norm by the length of cat([output changes, parameter changes]), constant outputs included.
        double paramMean = 1.0 / (joint ? abs.Count + repairVertices * width : abs.Count);
        int linf = lp.AddColumn(0, double.PositiveInfinity, 1);
        var groupMax = new int[groups];
        for (int g = 0; g < groups; g++)
        {
            groupMax[g] = lp.AddColumn(0, double.PositiveInfinity);
            lp.AddRow(0, double.PositiveInfinity, [linf, groupMax[g]], [1, -1]);
        }
        foreach ((int plus, int group) in abs)
        {
            lp.SetCost(plus, paramMean);
            lp.SetCost(plus + 1, paramMean);
            lp.AddRow(0, double.PositiveInfinity, [groupMax[group], plus, plus + 1], [1, -1, -1]);
        }
        if (joint) AddOutputChanges(lp, outputs, 0, repairVertices, linf, paramMean, network64, vertices64, end);
        else if (options.LogitChangeWeight > 0)
        {
            int logitMax = lp.AddColumn(0, double.PositiveInfinity, options.LogitChangeWeight);
            AddOutputChanges(lp, outputs, 0, repairVertices, logitMax, options.LogitChangeWeight / (repairVertices * width), network64, vertices64, end);
        }
        int preserved = outputs.Length - repairVertices;
        if (options.PreservedOutputWeight > 0 && preserved > 0)
        {
            int preservedMax = lp.AddColumn(0, double.PositiveInfinity, options.PreservedOutputWeight);
            AddOutputChanges(lp, outputs, repairVertices, preserved, preservedMax, options.PreservedOutputWeight / (preserved * width), network64, vertices64, end);
        }
    }

    /// <summary>For the variable outputs y of the <paramref name="count"/> vertices from <paramref name="first"/> on, a column d ≥ |y − y₀| each, costing <paramref name="meanCost"/> and bounded by the L∞ column <paramref name="max"/>.</summary>
    private static void AddOutputChanges(LinearProgram lp, LinExpr[]?[] outputs, int first, int count, int max, double meanCost, Network network64, Tensor vertices64, int end)
    {
        using var noGrad = no_grad();
        using Tensor inputs = vertices64.narrow(0, first, count);
        double[] original = network64.LayerInput(inputs, end).reshape(count, -1).contiguous().data<double>().ToArray();
        int width = outputs[first]!.Length;
        for (int v = 0; v < count; v++)
            for (int c = 0; c < width; c++)
            {
                LinExpr y = outputs[first + v]![c];
                if (y.IsConstant) continue;
                int d = lp.AddColumn(0, double.PositiveInfinity, meanCost);
                LinExpr change = y with { Constant = y.Constant - original[v * width + c] };
                AddRow(lp, LinExpr.Var(d).Minus(change), 0, double.PositiveInfinity);
                AddRow(lp, new LinExpr([.. change.Cols, d], [.. change.Coefs, 1], change.Constant), 0, double.PositiveInfinity);
                lp.AddRow(0, double.PositiveInfinity, [max, d], [1, -1]);
            }
    }
}
