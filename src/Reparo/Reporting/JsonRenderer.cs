using Reparo.Io;

namespace Reparo.Reporting;

/// <summary>
/// Draws a <see cref="ReportDocument"/> as JSON, for programs: the title, summary, sections with their blocks (each
/// with a <c>kind</c>: <c>paragraph</c>, <c>note</c>, <c>key_values</c>, <c>table</c>, <c>matrix</c>, <c>figure</c>,
/// <c>gallery</c>; images as base64 PNG) and the provenance, in <see cref="ReparoJson"/>'s conventions.
/// </summary>
public static class JsonRenderer
{
    /// <summary>The document as JSON text.</summary>
    public static string Render(ReportDocument document) => ReparoJson.Serialize(document) + "\n";
}
