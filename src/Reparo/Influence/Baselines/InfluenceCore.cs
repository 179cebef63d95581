using Reparo.Data;
using Reparo.Models;
using Reparo.Runtime;
using Reparo.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reparo.Influence.Baselines;

/// <summary>Which parameters a gradient-based method differentiates.</summary>
internal enum GradientScope
{
    /// <summary>The final Linear layer's weight and bias.</summary>
    LastLayer,

    /// <summary>Every trainable parameter of the network.</summary>
    AllParameters,
}

/// <summary>
/// What the influence methods share: argument checks, the final layer's inputs and residuals in float64, the
/// softmax cross-entropy Hessian of that layer, per-sample and mean gradients, and Hessian-vector products.
/// Last-layer parameters are laid out class-major as θ̃ = [W | b] (C × (D + 1)); a sample's gradient there is
/// (p − y) ⊗ ã with ã = [a, 1] the layer's input with a constant 1 for the bias.
/// </summary>
internal static class InfluenceCore
{
    /// <summary>
    /// The layer that computes the class scores (<see cref="Network.ClassifierLayer"/>: before a trailing Softmax; a
    /// binary classifier's single score), which the last-layer methods need to be a Linear layer with a bias.
    /// </summary>
    public static Linear FinalLinear(Network network, string method)
    {
        NetworkLayer last = network.Layers[network.ClassifierLayer];
        Linear head = last.AsLinear ?? throw new ReparoInputException($"{method} needs a network that ends in a Linear layer; '{network.Spec.Architecture}' ends in {last.Spec.Describe()}");
        if (head.bias is null) throw new ReparoInputException($"{method} needs the final Linear layer '{last.Name}' to have a bias");
        return head;
    }

    /// <summary>Checks the training data against the network and returns the training rows to score (all, or the candidates).</summary>
    public static int[] Rows(Network network, Dataset train, IReadOnlyList<int>? candidates)
    {
        Trainer.CheckCompatible(network, train);
        if (train.Count == 0) throw new ReparoInputException("influence needs at least one training sample");
        if (candidates is null) return [.. Enumerable.Range(0, train.Count)];
        if (candidates.Count == 0) throw new ReparoInputException("the candidate list is empty");
        int[] rows = [.. candidates.Order()];
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i] < 0 || rows[i] >= train.Count) throw new ReparoInputException($"candidate {rows[i]} is not a training row (0–{train.Count - 1})");
            if (i > 0 && rows[i] == rows[i - 1]) throw new ReparoInputException($"candidate {rows[i]} appears twice");
        }
        return rows;
    }

    /// <summary>Checks test inputs and labels against the network and returns the labels as an int64 tensor.</summary>
    public static Tensor TestLabels(Network network, Tensor testX, long[] testY)
    {
        if (testX.shape.Length < 2 || !testX.shape[1..].SequenceEqual(network.Spec.InputShape))
            throw new ReparoInputException($"test inputs have shape [{string.Join(",", testX.shape)}]; the model expects (M, {string.Join(",", network.Spec.InputShape)})");
        if (testY.Length == 0 || testY.Length != testX.shape[0]) throw new ReparoInputException($"{testX.shape[0]} test inputs but {testY.Length} labels");
        foreach (long y in testY)
            if (y < 0 || y >= network.ClassCount) throw new ReparoInputException($"test label {y} is not one of the model's {network.ClassCount} classes");
        return tensor(testY, ScalarType.Int64);
    }

    /// <summary>The rows of <paramref name="all"/> at <paramref name="rows"/>, or <paramref name="all"/> itself when every row is taken.</summary>
    public static Tensor Select(Tensor all, int[] rows) =>
        rows.Length == all.shape[0] ? all.alias() : all.index_select(0, tensor(rows.Select(i => (long)i).ToArray()));

    /// <summary>The inputs of the scoring layer (<see cref="FinalLinear"/>) with a constant 1 appended, ã = [a, 1], as float64 (N, D + 1), computed without gradients.</summary>
    public static Tensor AugmentedFeatures(Network network, Tensor x, int batchSize)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int last = network.ClassifierLayer;
        var parts = new List<Tensor>();
        for (long start = 0; start < x.shape[0]; start += batchSize)
            parts.Add(network.LayerInput(x.narrow(0, start, Math.Min(batchSize, x.shape[0] - start)), last).flatten(1).to(ScalarType.Float64));
        Tensor features = cat(parts, 0);
        return cat([features, ones(features.shape[0], 1, dtype: ScalarType.Float64)], 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The class scores' θ̃ = [W | b] over the final layer's input, as float64 (C, D + 1): the final Linear's, or for a
    /// binary classifier with one score z = θ̃₁ ã the two rows [−θ̃₁/2; θ̃₁/2] of its class scores [−z/2, z/2].
    /// </summary>
    public static Tensor AugmentedWeight(Network network, string method)
    {
        Linear head = FinalLinear(network, method);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor theta = cat([head.weight!.detach().to(ScalarType.Float64), head.bias!.detach().to(ScalarType.Float64).unsqueeze(1)], 1);
        if (network.BinaryScoresLayer >= 0) theta = cat([theta.mul(-0.5), theta.mul(0.5)], 0);
        return theta.MoveToOuterDisposeScope();
    }

    /// <summary>One-hot labels as float64 (N, C).</summary>
    public static Tensor OneHot(Tensor labels, int classes) => nn.functional.one_hot(labels, classes).to(ScalarType.Float64);

    /// <summary>∂L/∂logits = p − y for softmax cross-entropy, float64 (N, C), from float64 logits.</summary>
    public static Tensor Residuals(Tensor logits, Tensor labels) => logits.softmax(1).sub(OneHot(labels, (int)logits.shape[1]));

    /// <summary>
    /// Per-sample last-layer gradients g̃ = (p − y) ⊗ ã flattened class-major, float64 (N, C·(D + 1)).
    /// </summary>
    public static Tensor LastLayerGradients(Tensor residuals, Tensor features) =>
        residuals.unsqueeze(2).mul(features.unsqueeze(1)).reshape(residuals.shape[0], -1);

    /// <summary>The largest exact last-layer Hessian the influence baselines build (2 GiB of float64: about 16 000 parameters).</summary>
    public const long MaxHessianBytes = 2L << 30;

    /// <summary>
    /// Koh &amp; Liang's Hessian restricted to the final layer, in closed form: the mean over samples of
    /// (diag p − p pᵀ) ⊗ ã ãᵀ, float64 (C·(D + 1))², assembled as block-diagonal Σ p_c ã ãᵀ minus Zᵀ Z with
    /// Z = p ⊗ ã, <paramref name="batchSize"/> rows at a time.
    /// </summary>
    public static Tensor SoftmaxHessian(Tensor features, Tensor probabilities, int batchSize)
    {
        using var scope = NewDisposeScope();
        long n = features.shape[0], d = features.shape[1];
        int classes = (int)probabilities.shape[1];
        double bytes = Math.Pow(classes * d, 2) * sizeof(double);
        if (bytes > MaxHessianBytes)
        {
            throw new ReparoInputException(FormattableString.Invariant(
                $"the last layer has {classes * d} parameters ({classes} classes × {d - 1} inputs and a bias), so its exact Hessian needs {bytes / (1L << 30):F1} GiB as float64, over the limit of {MaxHessianBytes >> 30} GiB; rank by the loss or by TracIn, which need no Hessian"));
        }
        Tensor h = zeros(classes * d, classes * d, dtype: ScalarType.Float64);
        for (long start = 0; start < n; start += batchSize)
        {
            using var batchScope = NewDisposeScope();
            long count = Math.Min(batchSize, n - start);
            Tensor a = features.narrow(0, start, count), p = probabilities.narrow(0, start, count);
            Tensor z = LastLayerGradients(p, a);
            h.sub_(z.t().matmul(z));
            for (int c = 0; c < classes; c++)
                h.narrow(0, c * d, d).narrow(1, c * d, d).add_(a.mul(p.narrow(1, c, 1)).t().matmul(a));
        }
        return h.div_(n).MoveToOuterDisposeScope();
    }

    /// <summary>The parameters of <paramref name="scope"/>: the final Linear's weight and bias, or every trainable parameter.</summary>
    public static Parameter[] ParametersOf(Network network, GradientScope scope, string method)
    {
        if (scope == GradientScope.AllParameters) return [.. network.parameters().Where(p => p.requires_grad)];
        Linear head = FinalLinear(network, method);
        return [head.weight!, head.bias!];
    }

    /// <summary>Concatenates gradients into one flat float64 vector (parameter order).</summary>
    public static Tensor Flatten(IEnumerable<Tensor> gradients) => cat(gradients.Select(g => g.flatten().to(ScalarType.Float64)).ToArray(), 0);

    /// <summary>
    /// The gradient of the mean cross-entropy over (<paramref name="x"/>, <paramref name="y"/>) with respect to
    /// <paramref name="parameters"/>, flat float64, <paramref name="batchSize"/> samples per backward pass.
    /// </summary>
    public static Tensor MeanGradient(Network network, Parameter[] parameters, Tensor x, Tensor y, int batchSize)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0];
        Tensor? sum = null;
        for (long start = 0; start < n; start += batchSize)
        {
            using var batchScope = NewDisposeScope();
            long count = Math.Min(batchSize, n - start);
            Tensor loss = nn.functional.cross_entropy(network.Scores(x.narrow(0, start, count)), y.narrow(0, start, count), reduction: nn.Reduction.Sum);
            Tensor g = Flatten(autograd.grad([loss], parameters));
            if (sum is null) sum = g.MoveToOuterDisposeScope();
            else sum.add_(g);
        }
        return sum!.div_(n).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Calls <paramref name="consume"/>(k, ∇_θ L(z_k)) with the flat float64 gradient of every sample's loss, one
    /// backward pass per sample (the direct per-sample gradient).
    /// </summary>
    public static void PerSampleGradients(Network network, Parameter[] parameters, Tensor x, Tensor y, Action<int, Tensor> consume,
        string stage, IProgress<InfluenceProgress>? progress, CancellationToken cancellation)
    {
        int n = (int)x.shape[0];
        using ProgressScope shown = WorkProgress.Begin($"{stage} per sample", n);
        for (int k = 0; k < n; k++)
        {
            cancellation.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            Tensor loss = nn.functional.cross_entropy(network.Scores(x.narrow(0, k, 1)), y.narrow(0, k, 1));
            consume(k, Flatten(autograd.grad([loss], parameters)));
            progress?.Report(new InfluenceProgress(stage, k + 1, n));
            shown.Advance();
        }
    }

    /// <summary>
    /// The directional derivative ∇_θ L(z_k)·<paramref name="direction"/> of every sample's loss, float64 (N), for
    /// <paramref name="batchSize"/> samples at once by double backpropagation: with g(v) = ∇_θ Σ_k v_k L(z_k) built
    /// with a graph at v = 1, ∂(g(v)·s)/∂v_k = ∇L(z_k)·s for every k in one more backward pass (the per-sample loop of
    /// <see cref="PerSampleGradients"/> without one backward pass per sample; Koh &amp; Liang's test influence needs only
    /// these dot products with s = H⁻¹∇L(z_test)).
    /// </summary>
    public static double[] DirectionalDerivatives(Network network, Parameter[] parameters, Tensor x, Tensor y, Tensor direction, int batchSize,
        string stage, IProgress<InfluenceProgress>? progress, CancellationToken cancellation)
    {
        using var scope = NewDisposeScope();
        Tensor[] pieces = Unflatten(direction, parameters);
        int n = (int)x.shape[0];
        var result = new double[n];
        using ProgressScope shown = WorkProgress.Begin($"{stage} directional derivatives", n);
        for (int start = 0; start < n; start += batchSize)
        {
            cancellation.ThrowIfCancellationRequested();
            using var batchScope = NewDisposeScope();
            int count = Math.Min(batchSize, n - start);
            Tensor losses = nn.functional.cross_entropy(network.Scores(x.narrow(0, start, count)), y.narrow(0, start, count), reduction: nn.Reduction.None);
            Tensor weights = ones(count, dtype: losses.dtype, requires_grad: true);
            var gradients = autograd.grad([losses.mul(weights).sum()], parameters, retain_graph: true, create_graph: true);
            Tensor dot = gradients.Zip(pieces, (g, p) => g.mul(p).sum()).Aggregate((a, b) => a.add(b));
            autograd.grad([dot], [weights])[0].to(ScalarType.Float64).data<double>().CopyTo(result, start);
            progress?.Report(new InfluenceProgress(stage, start + count, n));
            shown.Advance(count);
        }
        return result;
    }

    /// <summary>Splits a flat float64 vector into tensors shaped and typed like <paramref name="parameters"/> (the inverse of <see cref="Flatten"/>).</summary>
    public static Tensor[] Unflatten(Tensor flat, Parameter[] parameters)
    {
        var pieces = new Tensor[parameters.Length];
        long offset = 0;
        for (int k = 0; k < parameters.Length; k++)
        {
            long size = parameters[k].numel();
            pieces[k] = flat.narrow(0, offset, size).reshape(parameters[k].shape).to(parameters[k].dtype);
            offset += size;
        }
        return pieces;
    }

    /// <summary>
    /// The Hessian-vector product ∇²_θ L̄ · v of the mean cross-entropy L̄ over (<paramref name="x"/>, <paramref name="y"/>)
    /// by double backpropagation (Pearlmutter's trick), <paramref name="batchSize"/> samples per pass; v and the result
    /// are flat float64.
    /// </summary>
    public static Tensor HessianVectorProduct(Network network, Parameter[] parameters, Tensor x, Tensor y, Tensor v, int batchSize)
    {
        using var scope = NewDisposeScope();
        Tensor[] pieces = Unflatten(v, parameters);
        long n = x.shape[0];
        Tensor? sum = null;
        for (long start = 0; start < n; start += batchSize)
        {
            using var batchScope = NewDisposeScope();
            long count = Math.Min(batchSize, n - start);
            Tensor loss = nn.functional.cross_entropy(network.Scores(x.narrow(0, start, count)), y.narrow(0, start, count), reduction: nn.Reduction.Sum);
            var gradients = autograd.grad([loss], parameters, retain_graph: true, create_graph: true);
            Tensor dot = gradients.Zip(pieces, (g, p) => g.mul(p).sum()).Aggregate((a, b) => a.add(b));
            Tensor hv = Flatten(autograd.grad([dot], parameters));
            if (sum is null) sum = hv.MoveToOuterDisposeScope();
            else sum.add_(hv);
        }
        return sum!.div_(n).MoveToOuterDisposeScope();
    }
}
