using Reparo.Repair.Editing;

namespace Reparo.Reporting;

/// <summary>The JSON of one rectification run.</summary>
/// <param name="Method">static, dynamic or ft.</param>
/// <param name="Poison">The model's poisoning, or <c>user</c> for the user's pairs.</param>
/// <param name="Pairs">Number of cleansed pairs.</param>
/// <param name="Layers">Layers edited (kept rounds).</param>
/// <param name="AsrBefore">Attack success rate before (trojans).</param>
/// <param name="AsrAfter">Attack success rate after (trojans).</param>
/// <param name="AccuracyBefore">Clean test accuracy before.</param>
/// <param name="AccuracyAfter">Clean test accuracy after.</param>
/// <param name="TimeS">Total seconds.</param>
/// <param name="Before">Every measure before.</param>
/// <param name="After">Every measure after.</param>
/// <param name="HeldOutAccuracyBefore">Held-out (validation) accuracy before.</param>
/// <param name="HeldOutAccuracyAfter">Held-out accuracy after.</param>
/// <param name="GapBefore">Pairs' clean/corrupted gap before.</param>
/// <param name="GapAfter">The gap after.</param>
/// <param name="StopReason">Why the loop stopped.</param>
/// <param name="Rounds">Every round with its layer scores.</param>
/// <param name="Time">Time split.</param>
/// <param name="Out">Where the model was written, if anywhere.</param>
public sealed record RectificationReport(string Method, string Poison, int Pairs, IReadOnlyList<string> Layers, double? AsrBefore, double? AsrAfter,
    double AccuracyBefore, double AccuracyAfter, double TimeS, RectificationMeasures Before, RectificationMeasures After,
    double HeldOutAccuracyBefore, double HeldOutAccuracyAfter, double GapBefore, double GapAfter, string StopReason,
    IReadOnlyList<RectificationRound> Rounds, RectifyTiming Time, string? Out);
