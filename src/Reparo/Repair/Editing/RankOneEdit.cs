using Reparo.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Reparo.Repair.Editing;

/// <summary>How the edit's coefficients Λ are found.</summary>
public enum EditSolver
{
    /// <summary><see cref="ClosedForm"/> when the changed keys are at most the key dimension, otherwise <see cref="LeastSquares"/>.</summary>
    Auto,

    /// <summary>W'k = v exactly for every changed key, with the least change in the C-norm (one key: the paper's rank-one formula).</summary>
    ClosedForm,

    /// <summary>min ‖ΔW K − R‖² + λ·m·‖ΔW‖²_C over all keys (unchanged keys count with residual 0, so they are preserved).</summary>
    LeastSquares,

    /// <summary>Starts from the closed form and optimises Λ against the network's output loss on the pairs for T Adam steps.</summary>
    Iterative,
}

/// <summary>Options of <see cref="RankOneEdit"/>.</summary>
/// <param name="Keys">How keys are read (vector for Linear; patch or channel for Conv2d).</param>
/// <param name="Solver">How Λ is found.</param>
/// <param name="LeastSquaresWeight">λ of <see cref="EditSolver.LeastSquares"/>: weight of the C-norm penalty per key.</param>
/// <param name="IterativeSteps">T of <see cref="EditSolver.Iterative"/>.</param>
/// <param name="IterativeLearningRate">Adam's learning rate for <see cref="EditSolver.Iterative"/>.</param>
/// <param name="PreserveClean">
/// Also hold the clean twins' keys (at the changed positions) to their current values, residual 0. The paper's edit
/// constrains only W'k* = v*; with this constraint the edit direction can no longer follow the image content that the
/// corrupted and clean inputs share, only what the corruption added (Reparo's refinement; off gives the paper's edit).
/// </param>
/// <param name="HoldElsewhere">
/// Also hold what the layer does with the corruption moved elsewhere (<see cref="PairAugmentation.Relocate"/>): the keys of
/// the clean twins with the corruption placed at the other cells of a 3 × 3 grid keep their current values wherever they
/// differ from the twin's own keys. The edit then undoes the corruption where the pairs show it without teaching the
/// layer a new response to the same pattern at other places (Reparo's refinement; a local corruption on images only).
/// </param>
public sealed record EditOptions(
    KeyKind Keys = KeyKind.Auto,
    EditSolver Solver = EditSolver.Auto,
    double LeastSquaresWeight = 0.1,
    int IterativeSteps = 50,
    double IterativeLearningRate = 1e-2,
    bool PreserveClean = false,
    bool HoldElsewhere = false);

/// <summary>An edit of one layer's weight, ready to apply and to undo exactly.</summary>
public sealed class LayerEdit
{
    private readonly Tensor original;

    internal LayerEdit(AffineSite site, KeyKind keys, EditSolver solver, Tensor delta, int changedKeys)
    {
        Site = site;
        Keys = keys;
        Solver = solver;
        Delta = delta;
        ChangedKeys = changedKeys;
        original = site.Weight.detach().clone().DetachFromDisposeScope();
    }

    /// <summary>The edited layer.</summary>
    public AffineSite Site { get; }

    /// <summary>How keys were read.</summary>
    public KeyKind Keys { get; }

    /// <summary>The solver that produced <see cref="Delta"/> (never <see cref="EditSolver.Auto"/>).</summary>
    public EditSolver Solver { get; }

    /// <summary>ΔW in the layer's key/value matrix form (out × d, float64).</summary>
    public Tensor Delta { get; }

    /// <summary>How many keys the corrupted inputs changed (and the edit had to move).</summary>
    public int ChangedKeys { get; }

    /// <summary>Frobenius norm of ΔW.</summary>
    public double DeltaNorm => Delta.norm().item<double>();

    /// <summary>Adds ΔW to the layer's weight.</summary>
    public void Apply() => LayerKeys.AddToWeight(Site, Keys, Delta);

    /// <summary>Restores the weight exactly as it was when the edit was computed.</summary>
    public void Rollback()
    {
        using var noGrad = no_grad();
        Site.Weight.copy_(original);
    }
}

/// <summary>
/// The rank-one model edit of Yang et al. (CVPR'26, Sec. 3.2), after ROME (Meng et al. 2022): W' = W + Λ (C⁻¹k*)ᵀ, where
/// k* is the corrupted sample's key at the layer, v* the clean twin's value there, and C the keys' second moment; the
/// closed form Λ = (v* − W k*) / (k*ᵀ C⁻¹ k*) makes W'k* = v* while changing W as little as possible in the C-norm. With
/// several keys (several pairs, or the output positions of a convolution) the same solution is ΔW = R (K C⁻¹ Kᵀ)⁻¹ K C⁻¹
/// (rows of K are keys, rows of R residuals); a least-squares form and an iterative form are also provided.
/// </summary>
public static class RankOneEdit
{
    /// <summary>
    /// Computes (does not apply) the edit of <paramref name="site"/> that maps the corrupted inputs' keys to their clean
    /// twins' values. <paramref name="labels"/> (the twins' true classes) are used only by the iterative solver.
    /// </summary>
    public static LayerEdit Compute(Network network, AffineSite site, Tensor corrupted, Tensor clean, long[] labels, Tensor secondMoment, EditOptions options)
    {
        if (corrupted.shape[0] != clean.shape[0] || corrupted.shape[0] != labels.Length || corrupted.shape[0] == 0)
            throw new ReparoInputException($"an edit needs as many clean twins and labels as corrupted inputs (got {corrupted.shape[0]}, {clean.shape[0]}, {labels.Length})");
        KeyKind kind = LayerKeys.Resolve(site, options.Keys);
        using var scope = NewDisposeScope();
        Tensor keys, cleanKeys, residuals;
        bool wasTraining = network.training;
        network.eval();
        using (no_grad())
        {
            (_, Tensor corruptedInput, Tensor corruptedOutput) = AffineSites.Capture(network, site, corrupted);
            (_, Tensor cleanInput, Tensor cleanOutput) = AffineSites.Capture(network, site, clean);
            keys = LayerKeys.Keys(site, kind, corruptedInput);
            cleanKeys = LayerKeys.Keys(site, kind, cleanInput);
            residuals = LayerKeys.Values(site, cleanOutput).sub(LayerKeys.Values(site, corruptedOutput));
            foreach (Tensor t in new[] { corruptedInput, corruptedOutput, cleanInput, cleanOutput }) t.Dispose();
        }
        network.train(wasTraining);

        Tensor norms = residuals.norm(1, keepdim: false);
        double largest = norms.max().item<double>();
        Tensor changed = norms.gt(Math.Max(largest * 1e-6, 1e-12)).nonzero().flatten();
        int changedCount = (int)changed.shape[0];
        if (changedCount == 0) throw new ReparoInputException($"the corrupted inputs and their clean twins give the same values at layer {site.Name}; nothing to edit there");
        int moved = changedCount;
        // Keys the edit must leave as they are join with residual 0 (unchanged positions of the pairs already do).
        void Hold(Tensor held)
        {
            changed = cat([changed, arange(keys.shape[0], keys.shape[0] + held.shape[0], dtype: ScalarType.Int64)], 0);
            keys = cat([keys, held], 0);
            residuals = cat([residuals, zeros(held.shape[0], residuals.shape[1], dtype: ScalarType.Float64)], 0);
            changedCount += (int)held.shape[0];
        }
        if (options.PreserveClean) Hold(cleanKeys.index_select(0, changed)); // the clean twins' keys at the changed positions
        if (options.HoldElsewhere) Hold(HeldElsewhereKeys(network, site, kind, corrupted, clean));
        long d = keys.shape[1];
        EditSolver solver = options.Solver == EditSolver.Auto ? (changedCount <= d ? EditSolver.ClosedForm : EditSolver.LeastSquares) : options.Solver;
        if (solver is EditSolver.ClosedForm or EditSolver.Iterative && changedCount > d)
            throw new ReparoInputException($"layer {site.Name}: {changedCount} changed keys exceed the key dimension {d}, so no exact edit exists; use the least-squares solver");

        Tensor delta = solver switch
        {
            EditSolver.LeastSquares => LeastSquares(keys, residuals, secondMoment, options.LeastSquaresWeight),
            _ => ClosedForm(keys.index_select(0, changed), residuals.index_select(0, changed), secondMoment, out _),
        };
        if (solver == EditSolver.Iterative)
        {
            Tensor directions = linalg.solve(secondMoment, keys.index_select(0, changed).t()); // C⁻¹Kᵀ, d × m
            delta = Iterate(network, site, kind, corrupted, clean, labels, delta, directions, options);
        }
        if (!delta.isfinite().all().item<bool>()) throw new ReparoInputException($"layer {site.Name}: the edit is not finite (keys too close to degenerate)");
        return new LayerEdit(site, kind, solver, delta.MoveToOuterDisposeScope(), moved);
    }

    /// <summary>The keys of the corruption moved elsewhere (<see cref="PairAugmentation.Relocate"/>) where they differ from the clean twin's keys.</summary>
    private static Tensor HeldElsewhereKeys(Network network, AffineSite site, KeyKind kind, Tensor corrupted, Tensor clean)
    {
        using var scope = NewDisposeScope();
        (Tensor moved, Tensor bases) = PairAugmentation.Relocate(corrupted, clean);
        if (moved.shape[0] == 0) return zeros(0, LayerKeys.Matrix(site, kind).shape[1], dtype: ScalarType.Float64).MoveToOuterDisposeScope();
        bool wasTraining = network.training;
        network.eval();
        Tensor movedKeys, baseKeys;
        using (no_grad())
        {
            movedKeys = LayerKeys.Keys(site, kind, AffineSites.Capture(network, site, moved).SiteInput);
            baseKeys = LayerKeys.Keys(site, kind, AffineSites.Capture(network, site, bases).SiteInput);
        }
        network.train(wasTraining);
        Tensor differences = movedKeys.sub(baseKeys).norm(1, keepdim: false);
        double largest = differences.max().item<double>();
        Tensor differing = differences.gt(Math.Max(largest * 1e-6, 1e-12)).nonzero().flatten();
        return movedKeys.index_select(0, differing).MoveToOuterDisposeScope();
    }

    /// <summary>ΔW = R (K C⁻¹ Kᵀ)⁻¹ K C⁻¹: the least C-norm change with ΔW kᵢ = rᵢ for every row.</summary>
    private static Tensor ClosedForm(Tensor keys, Tensor residuals, Tensor secondMoment, out Tensor coefficients)
    {
        Tensor directions = linalg.solve(secondMoment, keys.t()); // C⁻¹Kᵀ, d × m
        Tensor gram = keys.matmul(directions); // K C⁻¹ Kᵀ, m × m
        double jitter = 1e-12 * gram.diagonal().abs().max().item<double>();
        gram = gram.add(eye(gram.shape[0], dtype: ScalarType.Float64).mul(jitter));
        coefficients = linalg.solve(gram, residuals); // m × out
        return coefficients.t().matmul(directions.t()); // out × d
    }

    /// <summary>ΔWᵀ = (KᵀK + λ·m·C)⁻¹ KᵀR.</summary>
    private static Tensor LeastSquares(Tensor keys, Tensor residuals, Tensor secondMoment, double weight)
    {
        if (!(weight > 0) || !double.IsFinite(weight)) throw new ReparoInputException($"the least-squares weight must be positive, got {weight}");
        Tensor system = keys.t().matmul(keys).add(secondMoment.mul(weight * keys.shape[0]));
        return linalg.solve(system, keys.t().matmul(residuals)).t();
    }

    /// <summary>ΔW = Λ (C⁻¹Kᵀ)ᵀ with Λ from the closed form, then T Adam steps on the pairs' cross-entropy (corrupted and clean, true labels).</summary>
    private static Tensor Iterate(Network network, AffineSite site, KeyKind kind, Tensor corrupted, Tensor clean, long[] labels, Tensor start, Tensor directions, EditOptions options)
    {
        if (options.IterativeSteps < 1) throw new ReparoInputException($"the iterative edit needs at least one step, got {options.IterativeSteps}");
        // Λ such that Λ · directionsᵀ = start (start lies in that span by construction).
        var lambda = new Parameter(linalg.lstsq(directions, start.t()).Solution.t().to(ScalarType.Float32).detach(), true);
        Tensor basis = directions.t().to(ScalarType.Float32);
        Tensor inputs = cat([corrupted, clean], 0);
        Tensor targets = tensor(labels.Concat(labels).ToArray());
        Tensor original = site.Weight.detach().clone().DetachFromDisposeScope();
        bool wasTraining = network.training;
        network.eval();
        var optimizer = optim.Adam([lambda], options.IterativeLearningRate);
        Parameter[] parameters = [.. network.parameters()];
        bool[] trainable = [.. parameters.Select(p => p.requires_grad)];
        try
        {
            foreach (Parameter p in parameters) p.requires_grad = false;
            for (int step = 0; step < options.IterativeSteps; step++)
            {
                using var stepScope = NewDisposeScope();
                optimizer.zero_grad();
                Tensor weightDelta = lambda.matmul(basis);
                Tensor logits = RunWithWeightDelta(network, site, kind, inputs, original, weightDelta);
                Tensor loss = nn.functional.cross_entropy(logits, targets);
                loss.backward();
                optimizer.step();
            }
        }
        finally
        {
            using (no_grad()) site.Weight.copy_(original);
            for (int i = 0; i < parameters.Length; i++) parameters[i].requires_grad = trainable[i];
            network.train(wasTraining);
        }
        return lambda.detach().to(ScalarType.Float64).matmul(directions.t());
    }

    /// <summary>The network's class scores with the layer's weight replaced by W + ΔW (differentiable in ΔW).</summary>
    private static Tensor RunWithWeightDelta(Network network, AffineSite site, KeyKind kind, Tensor inputs, Tensor original, Tensor delta)
    {
        Tensor full = kind switch
        {
            KeyKind.Vector => original.add(delta),
            KeyKind.Patch => original.add(delta.reshape(original.shape)),
            _ => original.add(CentreTapDelta(original, delta)),
        };
        return AffineSites.ScoresWithWeight(network, site, inputs, full);
    }

    private static Tensor CentreTapDelta(Tensor weight, Tensor delta)
    {
        long kh = weight.shape[2], kw = weight.shape[3];
        Tensor mask = zeros(kh, kw, dtype: weight.dtype);
        mask[kh / 2, kw / 2] = 1;
        return delta.unsqueeze(-1).unsqueeze(-1).mul(mask);
    }
}
