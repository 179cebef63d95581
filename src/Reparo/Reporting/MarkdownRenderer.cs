using System.Globalization;
using System.Text;

namespace Reparo.Reporting;

/// <summary>
/// Draws a <see cref="ReportDocument"/> as one Markdown file (GitHub-flavoured tables; images as <c>data:</c> URIs, so
/// the file stands alone). Text is escaped so that it shows as written: no HTML, links or emphasis slip through.
/// </summary>
public static class MarkdownRenderer
{
    /// <summary>The document as Markdown text.</summary>
    public static string Render(ReportDocument document)
    {
        var md = new StringBuilder();
        md.Append("# ").Append(Escape(document.Title)).Append("\n\n");
        if (document.Summary.Count > 0)
        {
            md.Append("## Summary\n\n");
            foreach (string paragraph in document.Summary) md.Append(Escape(paragraph)).Append("\n\n");
        }
        foreach (ReportSection section in document.Sections)
        {
            md.Append("## ").Append(Escape(section.Heading)).Append("\n\n");
            foreach (ReportBlock block in section.Blocks) Block(md, block);
        }
        if (document.Provenance is { } provenance)
        {
            // A code fence longer than any run of backticks in the command line shows it verbatim.
            string fence = new('`', Math.Max(3, LongestRun(provenance.CommandLine, '`') + 1));
            md.Append("## Provenance\n\n").Append(fence).Append("sh\n").Append(provenance.CommandLine).Append('\n').Append(fence).Append("\n\n");
            Table(md, ["component", "version"], provenance.Versions.Select(kv => (IReadOnlyList<string>)[kv.Key, kv.Value]).ToArray());
        }
        return md.ToString().TrimEnd('\n') + "\n";
    }

    /// <summary>
    /// <paramref name="text"/> escaped for Markdown inline text: Markdown's punctuation gets a backslash, <c>&amp;</c>,
    /// <c>&lt;</c> and <c>&gt;</c> become character references, and line breaks become spaces.
    /// </summary>
    public static string Escape(string text)
    {
        var escaped = new StringBuilder(text.Length + 16);
        foreach (char c in text)
        {
            switch (c)
            {
                case '&': escaped.Append("&amp;"); break;
                case '<': escaped.Append("&lt;"); break;
                case '>': escaped.Append("&gt;"); break;
                case '\r' or '\n': escaped.Append(' '); break;
                case '\\' or '`' or '*' or '_' or '[' or ']' or '|' or '#' or '!' or '~':
                    escaped.Append('\\').Append(c);
                    break;
                default: escaped.Append(c); break;
            }
        }
        return escaped.ToString();
    }

    private static void Block(StringBuilder md, ReportBlock block)
    {
        switch (block)
        {
            case ReportParagraph p:
                md.Append(Escape(p.Text)).Append("\n\n");
                break;
            case ReportNote n:
                md.Append("> ").Append(Escape(n.Text)).Append("\n\n");
                break;
            case ReportKeyValues kv:
                Table(md, ["", ""], kv.Rows.Select(r => (IReadOnlyList<string>)[r.Key, r.Value]).ToArray());
                break;
            case ReportTable t:
                if (t.Caption is not null) md.Append(Escape(t.Caption)).Append("\n\n");
                Table(md, t.Header, t.Rows);
                break;
            case ReportMatrix m:
                md.Append(Escape(m.Caption)).Append(" (rows: true class, columns: predicted)\n\n");
                Table(md, ["", .. m.Labels], m.Counts.Select((row, r) =>
                    (IReadOnlyList<string>)[r < m.Labels.Count ? m.Labels[r] : r.ToString(CultureInfo.InvariantCulture), .. row.Select(v => v.ToString(CultureInfo.InvariantCulture))]).ToArray());
                break;
            case ReportFigure f:
                md.Append(Image(f.Png, f.AltText)).Append("\n\n").Append('*').Append(Escape(f.Caption)).Append("*\n\n");
                break;
            case ReportGallery g:
                if (g.Caption is not null) md.Append(Escape(g.Caption)).Append("\n\n");
                Table(md, ["input", "caption"], g.Items.Select(i =>
                    (IReadOnlyList<string>)[i.Png is not null ? Image(i.Png, i.Caption) : Escape(i.Text ?? ""), Escape(i.Caption)]).ToArray(), escapeCells: false);
                break;
            default:
                throw new ArgumentException($"unknown report block {block.GetType().Name}", nameof(block));
        }
    }

    private static int LongestRun(string text, char c)
    {
        int longest = 0, run = 0;
        foreach (char x in text)
        {
            run = x == c ? run + 1 : 0;
            longest = Math.Max(longest, run);
        }
        return longest;
    }

    private static string Image(byte[] png, string alt) => $"![{Escape(alt)}](data:image/png;base64,{Convert.ToBase64String(png)})";

    private static void Table(StringBuilder md, IReadOnlyList<string> header, IReadOnlyList<IReadOnlyList<string>> rows, bool escapeCells = true)
    {
        string Cell(string text) => escapeCells ? Escape(text) : text;
        md.Append("| ").Append(string.Join(" | ", header.Select(Escape))).Append(" |\n");
        md.Append('|').Append(string.Concat(header.Select(_ => " --- |"))).Append('\n');
        foreach (IReadOnlyList<string> row in rows) md.Append("| ").Append(string.Join(" | ", row.Select(Cell))).Append(" |\n");
        md.Append('\n');
    }
}
