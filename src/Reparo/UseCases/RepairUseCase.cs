using Reparo.Data;
using Reparo.Io;
using Reparo.Localisation;
using Reparo.Models;
using Reparo.Models.Onnx;
using Reparo.Repair;
using Reparo.Repair.Provable;
using Reparo.Reporting;
using static TorchSharp.torch;

namespace Reparo.UseCases;

/// <summary>What <c>reparo repair</c> is asked to do.</summary>
/// <param name="Method">A name from <see cref="RepairMethods.Names"/>, already checked.</param>
/// <param name="Network">The model.</param>
/// <param name="Splits">Its data (the test split gives the repair set and the held-out sets).</param>
/// <param name="RepairSet">The repair-set spec (<see cref="RepairSetSpec"/>).</param>
/// <param name="Settings">The method's settings; layer <c>auto</c> lets <see cref="LayerHeuristics.ChooseAuto"/> choose.</param>
/// <param name="Seed">Seed of the repair set's draw.</param>
/// <param name="Out">Where the repaired model goes (<c>.onnx</c> or a Reparo model file), if anywhere.</param>
/// <param name="Evidence">Whether the report carries <see cref="RepairEvidence"/> (confusion matrices, per-layer change, the repair set before and after) for a report document.</param>
public sealed record RepairRequest(string Method, Network Network, DataSplits Splits, string RepairSet, RepairSettings Settings, int Seed, string? Out, bool Evidence = false);

/// <summary>What a repair did: its report (the JSON of <c>reparo repair</c>) and what became of the repaired model.</summary>
/// <param name="Report">The report.</param>
/// <param name="Written">Whether the repaired model was written to <see cref="RepairRequest.Out"/>.</param>
/// <param name="NotWritten">Why a verified repair wrote nothing, when its model is not a plain network.</param>
public sealed record RepairOutcome(RepairReport Report, bool Written, string? NotWritten);

/// <summary>
/// <c>reparo repair</c>: builds the repair problem, chooses the layer when asked to, repairs, re-checks independently and,
/// only when the verifier accepted every region, writes the repaired model (an ONNX file only after ONNX Runtime, fed
/// the very bytes, classifies every repair input correctly).
/// </summary>
public static class RepairUseCase
{
    /// <summary>Runs the repair; <paramref name="progress"/> hears the layer choice and the problem's size before the repair starts.</summary>
    public static RepairOutcome Run(RepairRequest request, IProgress<string>? progress = null)
    {
        // A bad solver option fails here, before the repair set is built and the LP encoded.
        if (RepairMethods.SolvesLp(request.Method)) LpSolver.CheckOptions(request.Settings.Solver);
        Network network = request.Network;
        RepairProblem problem = RepairSetSpec.Build(request.RepairSet, network, request.Splits, request.Seed);
        RepairSettings settings = request.Settings;
        Tensor statistics = RepairMethods.StatisticsInputs(request.Splits.Train);
        LayerChoice? choice = null;
        if (settings.Layer == "auto")
        {
            IReadOnlyList<string> candidates = LayerHeuristics.Candidates(network, request.Method);
            choice = LayerHeuristics.ChooseAuto(request.Method, new LayerChoiceContext(network, problem.RepairSet, candidates, statistics));
            settings = settings with { Layer = choice.Layer };
            progress?.Report($"layer auto: {choice.Layer}, by the {choice.Heuristic} rule ({choice.Reason}); evidence: docs/results/informed-repair.md");
        }
        IRepairMethod repair = RepairMethods.Create(request.Method, settings with { StatisticsInputs = statistics });
        progress?.Report($"repair set {problem.RepairSet.Description}: {problem.RepairSet.Regions.Count} regions, {problem.RepairSet.VertexCount} vertices; method {repair.Name}");
        RepairResult result = repair.Repair(problem);
        RepairReport report = RepairReport.Create(problem, result) with { LayerChoice = choice, Evidence = request.Evidence ? RepairEvidence.Compute(problem, result) : null };
        if (!result.Verified || request.Out is not string outPath) return new RepairOutcome(report, false, null);
        if (result.Model!.PlainNetwork is not { } repaired)
            return new RepairOutcome(report, false, $"{result.Model.Kind}: not a plain network, so nothing was written to {outPath}");

        repaired.Provenance = network.Provenance with
        {
            History = [.. network.Provenance.History, $"repaired by reparo repair --method {repair.Name} at {result.Layer} on {problem.RepairSet.Description}: efficacy {report.Efficacy:P1} verified, drawdown {report.Drawdown:P2}"],
        };
        repaired.OnnxOrigin = network.OnnxOrigin;
        byte[] bytes = OnnxImporter.IsOnnxPath(outPath) ? OnnxExporter.Export(repaired) : ModelFile.ToBytes(repaired);
        if (OnnxImporter.IsOnnxPath(outPath))
        {
            // The artefact the user ships, re-run in the runtime they deploy with, before it is written.
            OnnxRuntimeVerdict verdict = RepairVerifier.VerifyInOnnxRuntime(bytes, repaired, problem.RepairSet);
            report = report with { VerifiedOnnxRuntime = verdict.Verified, OnnxRuntimeMinMargin = verdict.MinMargin };
            if (!verdict.Verified) return new RepairOutcome(report, false, null);
        }
        AtomicFile.WriteAllBytes(outPath, bytes);
        return new RepairOutcome(report, true, null);
    }
}
