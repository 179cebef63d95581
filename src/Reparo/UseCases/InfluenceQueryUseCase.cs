using System.Diagnostics;
using Reparo.Data;
using Reparo.Influence;
using Reparo.Reporting;

namespace Reparo.UseCases;

/// <summary>What <c>reparo influence query</c> is asked to do.</summary>
/// <param name="Model">The influence model.</param>
/// <param name="IndexPath">Its file (reported).</param>
/// <param name="Splits">Its network's data: the test input is queried, training samples are named.</param>
/// <param name="TestIndex">The test input (0-based).</param>
/// <param name="Top">How many influential training samples to list.</param>
public sealed record InfluenceQueryRequest(InfluenceModel Model, string IndexPath, DataSplits Splits, int TestIndex, int Top);

/// <summary>
/// <c>reparo influence query</c>: which training samples (sample level: temporal-feature distance) and which input steps
/// (segment level: the fault step and each transition's support) influence one test input's prediction.
/// </summary>
public static class InfluenceQueryUseCase
{
    /// <summary>Queries the influence model for the test input.</summary>
    public static InfluenceQueryReport Run(InfluenceQueryRequest request)
    {
        if (request.Top < 1) throw new ReparoInputException($"--top must be at least 1, got {request.Top}");
        InfluenceModel influence = request.Model;
        Dataset test = request.Splits.Test, train = request.Splits.Train;
        var clock = Stopwatch.StartNew();
        SampleQuery answer = influence.Query(test, request.TestIndex, request.Top);
        SegmentAnalysis segments = influence.Segments(answer.Trace);
        double totalMs = clock.Elapsed.TotalMilliseconds;
        IReadOnlyList<string> names = influence.Network.Spec.ClassNames;
        string Token(int symbol) => influence.Network.Vocabulary is { } v && symbol >= 0 && symbol < v.Size ? v.Tokens[symbol] : "row";
        AbstractTrace t = answer.Trace;
        InfluenceSegmentStep[] steps = [.. Enumerable.Range(1, t.Length).Select(s => new InfluenceSegmentStep(s, t.Symbols[s - 1], Token(t.Symbols[s - 1]), t.States[s - 1], names[t.StepLabels[s - 1]], segments.Supports[s - 1]))];
        int? fault = segments.FaultStep;
        string? faultToken = fault is int f && f < t.Length ? Token(t.Symbols[f]) : null;
        return new InfluenceQueryReport(request.IndexPath, test.Name, request.TestIndex, names[(int)t.Label], names[(int)t.Prediction], t.Failing, fault, faultToken, segments.PreFlipState,
            steps, [.. answer.Top.Select(h => new InfluentialSample(h.TrainIndex, train.SourceIndices[h.TrainIndex], train.SourceName(h.TrainIndex), names[(int)h.Label], h.Distance))], answer.SearchMilliseconds, totalMs,
            InfluenceExplanation.Create(influence, test, request.TestIndex, answer, train));
    }
}
