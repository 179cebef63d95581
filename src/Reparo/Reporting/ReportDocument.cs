using System.Runtime.InteropServices;
using System.Text.Json.Serialization;

namespace Reparo.Reporting;

/// <summary>A result that can describe itself as a <see cref="ReportDocument"/>, for the renderers to draw.</summary>
public interface IReportDocument
{
    /// <summary>The result as a document: a summary first, then sections of tables, figures and notes.</summary>
    ReportDocument ToDocument();
}

/// <summary>
/// A report as a renderer-neutral document: a title, the summary a person reads first, sections of blocks, and the
/// provenance that lets the run be repeated. <see cref="HtmlRenderer"/>, <see cref="MarkdownRenderer"/> and
/// <see cref="JsonRenderer"/> draw it.
/// </summary>
/// <param name="Title">The report's title.</param>
/// <param name="Summary">Short paragraphs: what was wrong, what changed, whether it was verified, what it cost.</param>
/// <param name="Sections">The details, in reading order.</param>
public sealed record ReportDocument(string Title, IReadOnlyList<string> Summary, IReadOnlyList<ReportSection> Sections)
{
    /// <summary>The command line and versions behind the report; null leaves the provenance section out.</summary>
    public ReportProvenance? Provenance { get; init; }

    /// <summary>
    /// The document as sections of a larger one: a section <paramref name="heading"/> holding the summary, then each
    /// section with its heading after <paramref name="heading"/> (a demo's report holds one such part per step).
    /// </summary>
    public IReadOnlyList<ReportSection> AsPart(string heading) =>
        [new ReportSection(heading, [.. Summary.Select(p => new ReportParagraph(p))]), .. Sections.Select(s => s with { Heading = $"{heading}: {s.Heading}" })];
}

/// <summary>One section of a report: a heading and its blocks.</summary>
/// <param name="Heading">The section's heading.</param>
/// <param name="Blocks">Its content, in order.</param>
public sealed record ReportSection(string Heading, IReadOnlyList<ReportBlock> Blocks);

/// <summary>A piece of a section: one of the block records in this namespace (in JSON, its <c>kind</c> says which).</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(ReportParagraph), "paragraph")]
[JsonDerivedType(typeof(ReportNote), "note")]
[JsonDerivedType(typeof(ReportKeyValues), "key_values")]
[JsonDerivedType(typeof(ReportTable), "table")]
[JsonDerivedType(typeof(ReportMatrix), "matrix")]
[JsonDerivedType(typeof(ReportFigure), "figure")]
[JsonDerivedType(typeof(ReportGallery), "gallery")]
public abstract record ReportBlock
{
    private protected ReportBlock()
    {
    }
}

/// <summary>A paragraph of text.</summary>
/// <param name="Text">The text (plain; renderers escape it).</param>
public sealed record ReportParagraph(string Text) : ReportBlock;

/// <summary>A remark set apart from the text: a caveat, a solver message, a hint.</summary>
/// <param name="Text">The text (plain).</param>
public sealed record ReportNote(string Text) : ReportBlock;

/// <summary>A two-column table of named values.</summary>
/// <param name="Rows">Name and value, in order.</param>
public sealed record ReportKeyValues(IReadOnlyList<KeyValuePair<string, string>> Rows) : ReportBlock;

/// <summary>A table with a header row.</summary>
/// <param name="Header">Column headings.</param>
/// <param name="Rows">Rows of cells, each as long as <paramref name="Header"/>.</param>
/// <param name="Caption">What the table shows, if anything needs saying.</param>
public sealed record ReportTable(IReadOnlyList<string> Header, IReadOnlyList<IReadOnlyList<string>> Rows, string? Caption = null) : ReportBlock;

/// <summary>
/// A square count matrix such as a confusion matrix (rows: true class, columns: predicted class), drawn with each
/// cell shaded by its share of the row: the diagonal green, the rest red.
/// </summary>
/// <param name="Caption">What the matrix counts.</param>
/// <param name="Labels">The class names, for rows and columns alike.</param>
/// <param name="Counts">Counts[true][predicted].</param>
public sealed record ReportMatrix(string Caption, IReadOnlyList<string> Labels, IReadOnlyList<IReadOnlyList<long>> Counts) : ReportBlock;

/// <summary>A PNG image with its caption.</summary>
/// <param name="Png">The PNG file's bytes.</param>
/// <param name="Caption">What it shows.</param>
/// <param name="AltText">The same in words, for readers that cannot see it.</param>
public sealed record ReportFigure(byte[] Png, string Caption, string AltText) : ReportBlock;

/// <summary>Small inputs side by side, each with a caption such as <c>true: coat · before: shirt · after: coat</c>.</summary>
/// <param name="Items">The inputs.</param>
/// <param name="Caption">What they are.</param>
public sealed record ReportGallery(IReadOnlyList<ReportThumbnail> Items, string? Caption = null) : ReportBlock;

/// <summary>One input of a <see cref="ReportGallery"/>: an image (PNG) or, for text inputs, its text.</summary>
/// <param name="Caption">The caption under it.</param>
/// <param name="Png">The image's PNG bytes, or null for a text input.</param>
/// <param name="Text">The input's text when it is not an image.</param>
public sealed record ReportThumbnail(string Caption, byte[]? Png = null, string? Text = null);

/// <summary>What a run needs to be repeated: the exact command line and the versions it ran with.</summary>
/// <param name="CommandLine">The command line, quoted for a POSIX shell.</param>
/// <param name="Versions">Component and version, in order.</param>
public sealed record ReportProvenance(string CommandLine, IReadOnlyList<KeyValuePair<string, string>> Versions)
{
    /// <summary>
    /// The provenance of this process: <c>reparo</c> followed by <paramref name="arguments"/>, and the versions of
    /// Reparo, .NET, TorchSharp, libtorch, OR-Tools and the operating system.
    /// </summary>
    public static ReportProvenance Current(IReadOnlyList<string> arguments) => new(
        string.Join(' ', new[] { "reparo" }.Concat(arguments.Select(ShellQuote))),
        [
            new("Reparo", ReparoVersion.Current),
            new(".NET", RuntimeInformation.FrameworkDescription),
            new("TorchSharp", ReparoVersion.Of(typeof(TorchSharp.torch).Assembly)),
            new("libtorch", TorchSharp.torch.__version__),
            new("OR-Tools", ReparoVersion.Of(typeof(Google.OrTools.LinearSolver.Solver).Assembly)),
            new("OS", $"{RuntimeInformation.OSDescription} ({RuntimeInformation.OSArchitecture})"),
        ]);

    /// <summary><paramref name="argument"/> as a POSIX shell word: unchanged when it holds only safe characters, else in single quotes.</summary>
    public static string ShellQuote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=,@%+".Contains(c))
            ? argument
            : "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
