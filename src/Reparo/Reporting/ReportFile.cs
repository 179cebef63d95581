using Reparo.Io;
namespace Reparo.Reporting;

/// <summary>Writes a <see cref="ReportDocument"/> to a file, as HTML (<c>.html</c>, <c>.htm</c>), Markdown (<c>.md</c>) or
/// the document as JSON (<c>.json</c>), by its extension.</summary>
public static class ReportFile
{
    /// <summary>
    /// Checks, before any work is done, that <paramref name="path"/> can take a report: a known extension, not a
    /// folder, and no file where its folder should be. Throws <see cref="ReparoInputException"/> otherwise.
    /// </summary>
    public static void Check(string path)
    {
        Render(path, null);
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new ReparoInputException($"--report {path} is a folder; give a file name");
        for (string? folder = Path.GetDirectoryName(full); folder is not null; folder = Path.GetDirectoryName(folder))
        {
            if (File.Exists(folder)) throw new ReparoInputException($"--report {path}: {folder} is a file, not a folder");
            if (Directory.Exists(folder)) break;
        }
    }

    /// <summary>Renders <paramref name="document"/> by the extension of <paramref name="path"/> and writes it atomically (all or nothing).</summary>
    public static void Write(string path, ReportDocument document)
    {
        string text = Render(path, document)!;
        try
        {
            AtomicFile.WriteAllText(path, text);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ReparoInputException($"cannot write the report to {path}: {e.Message}");
        }
    }

    private static string? Render(string path, ReportDocument? document) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".html" or ".htm" => document is null ? null : HtmlRenderer.Render(document),
        ".md" => document is null ? null : MarkdownRenderer.Render(document),
        ".json" => document is null ? null : JsonRenderer.Render(document),
        _ => throw new ReparoInputException($"--report {path}: the report is written as .html or .md (or .json: the document as data), by the file's extension"),
    };
}
