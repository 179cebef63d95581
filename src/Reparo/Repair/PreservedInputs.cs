using Reparo.Data;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Repair;

/// <summary>Which clean inputs to preserve: <paramref name="Count"/> of <paramref name="Pool"/> (training data), chosen with <paramref name="Seed"/> once the model is known.</summary>
/// <param name="Pool">Where they come from (the training split).</param>
/// <param name="Count">How many.</param>
/// <param name="Seed">Seed of the choice.</param>
/// <param name="AtMost">Whether fewer will do when the model classifies fewer of the pool correctly (a default rather than a request).</param>
/// <param name="Penalty">
/// How an LP keeps them. Null: hard constraints (each keeps its activation pattern and its class by the margin ε). A
/// weight w &gt; 0: a penalised change, measured where <paramref name="PenaltyOn"/> says, joins the objective instead of
/// margin rows.
/// </param>
/// <param name="PenaltyOn">Where a penalised change is measured (with <paramref name="Penalty"/> only).</param>
public sealed record PreserveRequest(Dataset Pool, int Count, int Seed, bool AtMost = false, double? Penalty = null, PreservedChange PenaltyOn = PreservedChange.Logits)
{
    /// <summary>
    /// How many inputs <c>provable</c> preserves unless told otherwise (<c>--preserve</c>), in the default form
    /// (<see cref="ProvableDefault"/>). On <c>mlp:100x3</c> at <c>fc2</c> (five seeds) 50 such inputs left 0.63 %
    /// drawdown in 4.7 s end to end, 100 left 0.54 % in 5.6 s, 300 held by hard constraints (the earlier default) 1.45 %
    /// in 9.3 s (docs/results/preserve-forms.md).
    /// </summary>
    public const int DefaultCount = 50;

    /// <summary>
    /// The weight of a penalised output change (<c>--preserve-as penalised</c>) unless told otherwise
    /// (<c>--preserve-weight</c>). Weight 1 (output and parameter changes alike, as in APRNN's joint norm) reached the
    /// same optimum as 0.1 on <c>mlp:100x3</c> and moved the parameters further at three times the drawdown on
    /// <c>mlp:200x9</c> (docs/results/preserve-forms.md).
    /// </summary>
    public const double DefaultPenalty = 0.1;

    /// <summary>
    /// The weight of a penalised change of the repaired layer's outputs (<c>--preserve-as penalised-layer</c>) unless
    /// told otherwise. Chosen on model seeds the results' tables do not average, with the default 50 inputs
    /// (docs/results/preserve-forms.md, "The weight W with 50 inputs"): on <c>mlp:200x9</c> at <c>fc7</c> (seed 3)
    /// the drawdown is 4.35 % at 1, 2.58 % at 3 and 0.94 % at 10, while on <c>mlp:100x3</c> at <c>fc2</c> (seed 5)
    /// every weight from 1 to 30 lands within 0.1 points; the parameters move further as W grows.
    /// </summary>
    public const double DefaultLayerPenalty = 10;

    /// <summary>
    /// The preserved inputs of a provable repair with default settings: <see cref="DefaultCount"/> of
    /// <paramref name="pool"/> (fewer if the model gets fewer right), their change at the repaired layer's outputs
    /// penalised with <see cref="DefaultLayerPenalty"/>.
    /// </summary>
    public static PreserveRequest ProvableDefault(Dataset pool, int seed) => new(pool, DefaultCount, seed, AtMost: true, DefaultLayerPenalty, PreservedChange.LayerOutput);

    /// <summary>Chooses the inputs for <paramref name="network"/>, none of them one of <paramref name="repairInputs"/> (see <see cref="PreservedInputs.Select"/>).</summary>
    public PreservedInputs Select(Network network, Tensor? repairInputs = null) => PreservedInputs.Select(network, Pool, Count, Seed, AtMost, repairInputs);
}

/// <summary>Where the change of a penalised preserved input is measured (<c>--preserve-as penalised|penalised-layer</c>).</summary>
public enum PreservedChange
{
    /// <summary>
    /// The logits: each input keeps its activation pattern, so the change the LP counts is the network's own;
    /// w·(L∞ + mean L1) of the logit changes. Each input's rows link every neuron of the repaired layer.
    /// </summary>
    Logits,

    /// <summary>
    /// The repaired layer's own outputs (pre-activation): w·mean |change| over the inputs and the outputs whose
    /// parameters change. No pattern is held and nothing after the layer is walked; every row stays inside one neuron's
    /// columns, so many inputs stay affordable. Whether they keep their class is measured afterwards, not promised.
    /// </summary>
    LayerOutput,
}

/// <summary>
/// Clean inputs a repair must leave correctly classified (locality anchors): a seeded sample of training inputs that
/// the model to repair classifies correctly. Training inputs are disjoint from every held-out set (clean test,
/// corrupted test, validation), so keeping them says nothing about the drawdown or generalisation figures directly.
/// </summary>
/// <param name="Inputs">The anchors, (N, …sample shape), float32.</param>
/// <param name="Labels">Each anchor's class (its true label, which the model predicts).</param>
/// <param name="Description">Where they came from, e.g. <c>300 correctly classified training inputs (seed 0)</c>.</param>
public sealed record PreservedInputs(Tensor Inputs, long[] Labels, string Description)
{
    /// <summary>Number of anchors.</summary>
    public int Count => Labels.Length;

    /// <summary>
    /// The first <paramref name="count"/> inputs of <paramref name="pool"/>, in a seeded random order, that
    /// <paramref name="network"/> classifies correctly and that are none of <paramref name="repairInputs"/> (a repair
    /// point that is also a training input, as when mislabelled training data is repaired, would be asked to keep its
    /// old class and take its new one); fewer such inputs than asked for is an input error unless
    /// <paramref name="atMost"/>, when all of them are taken.
    /// </summary>
    public static PreservedInputs Select(Network network, Dataset pool, int count, int seed, bool atMost = false, Tensor? repairInputs = null)
    {
        if (count < 1) throw new ReparoInputException($"the number of preserved inputs must be positive, got {count}");
        int[] order = [.. Enumerable.Range(0, pool.Count)];
        new Random(seed).Shuffle(order);
        long[] labels = pool.Labels();
        HashSet<InputKey> repair = repairInputs is null ? [] : [.. InputKey.Rows(repairInputs)];
        var chosen = new List<int>(count);
        const int batch = 1000;
        for (int start = 0; start < order.Length && chosen.Count < count; start += batch)
        {
            int[] rows = order[start..Math.Min(order.Length, start + batch)];
            using var scope = NewDisposeScope();
            Tensor batchInputs = pool.X.index_select(0, tensor(rows.Select(r => (long)r).ToArray()));
            long[] predicted = network.Predict(batchInputs);
            InputKey[] keys = repair.Count > 0 ? InputKey.Rows(batchInputs) : [];
            for (int i = 0; i < rows.Length && chosen.Count < count; i++)
                if (predicted[i] == labels[rows[i]] && (repair.Count == 0 || !repair.Contains(keys[i]))) chosen.Add(rows[i]);
        }
        if (chosen.Count < count && !atMost)
            throw new ReparoInputException($"only {chosen.Count} of {pool.Name}'s {pool.Count} inputs are classified correctly{(repair.Count > 0 ? " and not in the repair set" : "")}; ask to preserve at most that many");
        Tensor inputs = pool.X.index_select(0, tensor(chosen.Select(r => (long)r).ToArray(), ScalarType.Int64)).to(ScalarType.Float32).detach();
        return new PreservedInputs(inputs, [.. chosen.Select(r => labels[r])], $"{chosen.Count} correctly classified {pool.Name} inputs (seed {seed})");
    }

    /// <summary>The first <paramref name="count"/> anchors (the seeded order's first ones, so fewer anchors are always a subset of more).</summary>
    public PreservedInputs First(int count) => count >= Count ? this
        : new PreservedInputs(Inputs.narrow(0, 0, count), Labels[..count], $"the first {count} of {Description}");

    /// <summary>The anchors as single-point regions (ids <c>preserve#ROW</c>), for encoders that treat them like repair points.</summary>
    public IEnumerable<RepairRegion> AsRegions() =>
        Enumerable.Range(0, Count).Select(i => new RepairRegion(Inputs.narrow(0, i, 1), Labels[i], $"preserve#{i}"));

    /// <summary>How many anchors <paramref name="model"/> still classifies as their class, in float32.</summary>
    public int Kept(IRepairedModel model)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        long[] predicted = model.Logits(Inputs, ScalarType.Float32).argmax(1).data<long>().ToArray();
        return predicted.Where((p, i) => p == Labels[i]).Count();
    }
}
