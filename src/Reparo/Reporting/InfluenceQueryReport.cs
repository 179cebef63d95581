using System.Text.Json.Serialization;

namespace Reparo.Reporting;

/// <summary>What <c>reparo influence query</c> answered for one test input (the command's JSON).</summary>
/// <param name="Index">The influence model file.</param>
/// <param name="Data">The test split.</param>
/// <param name="TestIndex">The test input (0-based).</param>
/// <param name="Label">Its true class.</param>
/// <param name="Prediction">The network's prediction.</param>
/// <param name="Failing">Whether the prediction is wrong.</param>
/// <param name="FaultStep">Segment level: the step where the per-step prediction leaves the truth for good, if any.</param>
/// <param name="FaultToken">The token read right after the fault step, for text.</param>
/// <param name="PreFlipState">The abstract state before the flip.</param>
/// <param name="Segments">Every step of the input's abstract trace with its transition's support.</param>
/// <param name="Top">Sample level: the most influential training samples, closest first.</param>
/// <param name="TimeMs">The sample-level search, milliseconds.</param>
/// <param name="TotalMs">With profiling and abstracting the input, milliseconds.</param>
/// <param name="Explanation">The answer as a report a person reads: the trace and the training samples with their pictures (not in the JSON).</param>
public sealed record InfluenceQueryReport(string Index, string Data, int TestIndex, string Label, string Prediction, bool Failing, int? FaultStep, string? FaultToken,
    int PreFlipState, IReadOnlyList<InfluenceSegmentStep> Segments, IReadOnlyList<InfluentialSample> Top, double TimeMs, double TotalMs,
    [property: JsonIgnore] InfluenceExplanation Explanation) : IReportDocument
{
    /// <inheritdoc cref="InfluenceExplanation.ToDocument"/>
    public ReportDocument ToDocument() => Explanation.ToDocument();
}

/// <summary>One step of a queried input's abstract trace.</summary>
/// <param name="Step">The step, 1..T.</param>
/// <param name="Symbol">The symbol read (a token id, or the row for images).</param>
/// <param name="Token">The token read, or <c>row</c>.</param>
/// <param name="State">The abstract state after it.</param>
/// <param name="StepLabel">The per-step prediction after it.</param>
/// <param name="Support">Training traces holding the transition into it.</param>
public sealed record InfluenceSegmentStep(int Step, int Symbol, string Token, int State, string StepLabel, int Support);

/// <summary>One influential training sample.</summary>
/// <param name="TrainIndex">Its row in the training split.</param>
/// <param name="SourceIndex">Its index in the source data set.</param>
/// <param name="Source">Where to find it (<see cref="Data.Dataset.SourceName"/>).</param>
/// <param name="Label">Its label.</param>
/// <param name="Distance">Temporal-feature distance to the queried input.</param>
public sealed record InfluentialSample(int TrainIndex, int SourceIndex, string Source, string Label, double Distance);
