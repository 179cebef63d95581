namespace Reparo.Io;

/// <summary>Writes one <c>## </c> section of a Markdown file that several commands fill, leaving the other sections as they are.</summary>
public static class MarkdownSection
{
    /// <summary>
    /// Replaces the section starting with <paramref name="heading"/> (a <c>## …</c> line) in <paramref name="path"/> by
    /// <paramref name="section"/>, or appends it; a missing file starts with <paramref name="title"/>. Written atomically.
    /// </summary>
    public static void Write(string path, string title, string heading, string section)
    {
        string existing = File.Exists(path) ? File.ReadAllText(path) : title + Environment.NewLine;
        int start = existing.IndexOf(heading + "\n", StringComparison.Ordinal);
        string text;
        if (start < 0)
        {
            text = existing.TrimEnd() + Environment.NewLine + Environment.NewLine + section;
        }
        else
        {
            int next = existing.IndexOf("\n## ", start + heading.Length, StringComparison.Ordinal);
            text = existing[..start] + section + (next < 0 ? "" : Environment.NewLine + existing[(next + 1)..]);
        }
        AtomicFile.WriteAllText(path, text);
    }
}
