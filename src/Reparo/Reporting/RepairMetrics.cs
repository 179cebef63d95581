using Reparo.Models;
using Reparo.Repair;
using Reparo.Repair.Provable;
using static TorchSharp.torch;

namespace Reparo.Reporting;

/// <summary>
/// The five measures of a repair (APRNN / informed-repair protocol): efficacy (verified share of the repair set),
/// drawdown (clean held-out accuracy before − after), generalisation (accuracy gain on held-out inputs like the failures),
/// locality (parameter change, share of clean predictions that flipped); time is in <see cref="RepairResult.Time"/>.
/// </summary>
/// <param name="Efficacy">Share of repair regions the independent verifier accepted (0 without a model).</param>
/// <param name="Verified">Every region accepted.</param>
/// <param name="AccuracyBefore">Clean held-out accuracy of the original model.</param>
/// <param name="AccuracyAfter">The same for the repaired model (NaN without a model).</param>
/// <param name="Drawdown">AccuracyBefore − AccuracyAfter.</param>
/// <param name="GeneralizationBefore">Accuracy of the original on the generalisation set (NaN if there is none).</param>
/// <param name="GeneralizationAfter">The same for the repaired model.</param>
/// <param name="Generalization">GeneralizationAfter − GeneralizationBefore.</param>
/// <param name="ParamDeltaLinf">Largest absolute parameter change.</param>
/// <param name="ParamDeltaL1">Sum of absolute parameter changes.</param>
/// <param name="ChangedPredictions">Share of clean held-out predictions that differ after the repair.</param>
public sealed record RepairMetrics(double Efficacy, bool Verified, double AccuracyBefore, double AccuracyAfter, double Drawdown,
    double GeneralizationBefore, double GeneralizationAfter, double Generalization, double ParamDeltaLinf, double ParamDeltaL1, double ChangedPredictions)
{
    /// <summary>Measures <paramref name="result"/> on <paramref name="problem"/>'s held-out sets.</summary>
    public static RepairMetrics Compute(RepairProblem problem, RepairResult result)
    {
        Network original = problem.Network;
        long[] before = original.Predict(problem.Drawdown.X);
        long[] labels = problem.Drawdown.Labels();
        double accBefore = Accuracy(before, labels);
        double genBefore = double.NaN, genAfter = double.NaN;
        if (problem.Generalization is { } g) genBefore = Accuracy(original.Predict(g.X), g.Labels());
        if (result.Model is not { } model)
            return new RepairMetrics(0, false, accBefore, double.NaN, double.NaN, genBefore, double.NaN, double.NaN, 0, 0, 0);
        long[] after = Predict(model, problem.Drawdown.X);
        double accAfter = Accuracy(after, labels);
        if (problem.Generalization is { } h) genAfter = Accuracy(Predict(model, h.X), h.Labels());
        (double linf, double l1) = ParameterChange(original, model);
        double changed = (double)before.Zip(after).Count(p => p.First != p.Second) / Math.Max(1, before.Length);
        return new RepairMetrics(result.Verification?.Efficacy ?? 0, result.Verified, accBefore, accAfter, accBefore - accAfter,
            genBefore, genAfter, genAfter - genBefore, linf, l1, changed);
    }

    private static double Accuracy(long[] predictions, long[] labels) =>
        labels.Length == 0 ? double.NaN : (double)predictions.Zip(labels).Count(p => p.First == p.Second) / labels.Length;

    /// <summary>The predictions of <paramref name="model"/> on <paramref name="x"/>, in batches of 1000.</summary>
    internal static long[] Predict(IRepairedModel model, Tensor x)
    {
        if (model.PlainNetwork is { } plain) return plain.Predict(x);
        var parts = new List<long>();
        for (long start = 0; start < x.shape[0]; start += 1000)
        {
            using var scope = NewDisposeScope();
            Tensor logits = model.Logits(x.narrow(0, start, Math.Min(1000, x.shape[0] - start)), ScalarType.Float32);
            parts.AddRange(logits.argmax(1).data<long>().ToArray());
        }
        return [.. parts];
    }

    /// <summary>L∞ and L1 of the parameter change; a decoupled network counts its value channel; other non-plain models count 0.</summary>
    private static (double Linf, double L1) ParameterChange(Network original, IRepairedModel model)
    {
        Network? changed = model.PlainNetwork ?? (model as DecoupledNetwork)?.ValueChannel;
        if (changed is null) return (0, 0);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        double linf = 0, l1 = 0;
        foreach (((string _, Tensor a), (string _, Tensor b)) in original.named_parameters().Zip(changed.named_parameters()))
        {
            Tensor d = (b.to(ScalarType.Float64) - a.to(ScalarType.Float64)).abs();
            linf = Math.Max(linf, d.max().item<double>());
            l1 += d.sum().item<double>();
        }
        return (linf, l1);
    }
}
