using System.Diagnostics;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Repair.Baselines;

/// <summary>
/// The lookup-table sanity baseline of APRNN (Tao et al., PLDI'23): memorise every repair vertex with its label and
/// leave the network alone everywhere else. Efficacy on points is 100%, drawdown and generalisation are 0 by
/// construction. Only vertices are in the table, so a polytope region is rejected by the verifier
/// (<see cref="RepairStatus.NotVerified"/>); a vertex required to be two different labels never gets here (the
/// <see cref="RepairSet"/> refuses it). No layer is edited, so the result's layer is <c>none</c>.
/// </summary>
public sealed class LookupTableRepair : IRepairMethod
{
    /// <inheritdoc />
    public string Name => "lookup";

    /// <inheritdoc />
    public RepairResult Repair(RepairProblem problem)
    {
        var total = Stopwatch.StartNew();
        var table = new Dictionary<InputKey, RepairRegion>();
        foreach (RepairRegion region in problem.RepairSet.Regions)
        {
            foreach (InputKey key in InputKey.Rows(region.Vertices)) table.TryAdd(key, region);
        }
        var model = new LookupTableModel(problem.Network.Clone(), table.ToDictionary(kv => kv.Key, kv => kv.Value.Label));
        double encode = total.Elapsed.TotalSeconds;
        VerifiedRepair verified = VerifiedRepair.Check(model, problem.RepairSet);
        string message = verified.Report.Verified
            ? $"all {table.Count} distinct repair vertices memorised; verified"
            : $"vertices memorised, but the verifier rejected {verified.Rejected} of {verified.Report.Regions.Count} regions (a table cannot cover a polytope's interior)";
        return verified.Result(Name, "none", message, new RepairTiming(encode, 0, verified.Seconds, total.Elapsed.TotalSeconds));
    }
}

/// <summary>
/// The original network's logits, except on inputs that are bitwise equal (as float32) to a memorised repair vertex:
/// there the required label's logit becomes the largest other logit + 1, all other logits unchanged.
/// </summary>
public sealed class LookupTableModel : IRepairedModel
{
    private readonly Network network;
    private readonly IReadOnlyDictionary<InputKey, long> table;
    private Network? double64;

    internal LookupTableModel(Network network, IReadOnlyDictionary<InputKey, long> table)
    {
        this.network = network;
        this.table = table;
    }

    /// <inheritdoc />
    public Network? PlainNetwork => null;

    /// <inheritdoc />
    public string Kind => $"lookup table over {table.Count} repair vertices + original network";

    /// <inheritdoc />
    public Tensor Logits(Tensor x, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        Tensor logits;
        if (dtype == ScalarType.Float32)
        {
            logits = network.Logits(x.to(ScalarType.Float32));
        }
        else
        {
            double64 ??= PlainRepairedModel.ToFloat64(network);
            logits = double64.Logits(x.to(ScalarType.Float64));
        }
        InputKey[] keys = InputKey.Rows(x);
        for (int i = 0; i < keys.Length; i++)
        {
            if (!table.TryGetValue(keys[i], out long label)) continue;
            Tensor row = logits[i];
            double[] values = row.to(ScalarType.Float64).data<double>().ToArray();
            double largestOther = values.Where((_, c) => c != label).Max();
            row[label].fill_(largestOther + 1);
        }
        return logits.MoveToOuterDisposeScope();
    }
}
