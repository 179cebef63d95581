using System.Globalization;
using System.Text;

namespace Reparo.Reporting;

/// <summary>
/// Draws a <see cref="ReportDocument"/> as one self-contained HTML file: inline CSS, images as <c>data:</c> URIs, no
/// scripts, and a content security policy that forbids loading anything else, so the file opens offline as it is.
/// The same document gives the same bytes.
/// </summary>
public static class HtmlRenderer
{
    /// <summary>The page's content security policy: inline styles and <c>data:</c> images only.</summary>
    public const string ContentSecurityPolicy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

    private const string Css = """
        :root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; --accent: #0969da; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: #fff; }
        main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; }
        h1 { font-size: 26px; margin: 0 0 16px; }
        h2 { font-size: 20px; margin: 32px 0 12px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
        nav ol { margin: 0 0 8px; padding-left: 20px; color: var(--muted); }
        nav a { color: var(--accent); text-decoration: none; }
        .summary { background: #ddf4ff; border: 1px solid #54aeff66; border-radius: 8px; padding: 12px 18px; }
        .summary h2 { margin-top: 4px; border: none; }
        .summary p { margin: 6px 0; font-size: 16px; }
        .note { background: var(--soft); border-left: 4px solid var(--line); padding: 6px 12px; color: var(--muted); }
        table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
        th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
        th { background: var(--soft); font-weight: 600; }
        caption { caption-side: top; text-align: left; color: var(--muted); padding-bottom: 4px; }
        table.kv th { white-space: nowrap; }
        table.matrix td { text-align: right; min-width: 3.2em; }
        table.matrix th.corner { font-weight: 400; color: var(--muted); font-size: 12px; }
        figure { margin: 12px 0 20px; }
        figure img { max-width: 100%; image-rendering: pixelated; border: 1px solid var(--line); }
        figcaption { color: var(--muted); font-size: 13px; }
        .gallery { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 20px; }
        .gallery figure { margin: 0; width: min-content; min-width: 112px; }
        .gallery img { min-width: 112px; max-width: 240px; height: auto; }
        .gallery .text { width: 220px; font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; background: var(--soft); border: 1px solid var(--line); padding: 4px; min-height: 3em; overflow-wrap: anywhere; }
        .gallery figcaption { font-size: 12px; }
        pre { background: var(--soft); border: 1px solid var(--line); padding: 8px 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
        footer { margin-top: 40px; color: var(--muted); }
        """;

    /// <summary>The document as HTML text.</summary>
    public static string Render(ReportDocument document)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append("<meta http-equiv=\"Content-Security-Policy\" content=\"").Append(ContentSecurityPolicy).Append("\">\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
            .Append("<title>").Append(Escape(document.Title)).Append("</title>\n<style>\n").Append(Css).Append("\n</style>\n</head>\n<body>\n<main>\n")
            .Append("<h1>").Append(Escape(document.Title)).Append("</h1>\n");
        if (document.Summary.Count > 0)
        {
            html.Append("<section class=\"summary\">\n<h2>Summary</h2>\n");
            foreach (string paragraph in document.Summary) html.Append("<p>").Append(Escape(paragraph)).Append("</p>\n");
            html.Append("</section>\n");
        }
        if (document.Sections.Count > 1 || document.Provenance is not null && document.Sections.Count > 0)
        {
            html.Append("<nav>\n<ol>\n");
            for (int i = 0; i < document.Sections.Count; i++)
                html.Append("<li><a href=\"#s").Append(i + 1).Append("\">").Append(Escape(document.Sections[i].Heading)).Append("</a></li>\n");
            if (document.Provenance is not null) html.Append("<li><a href=\"#provenance\">Provenance</a></li>\n");
            html.Append("</ol>\n</nav>\n");
        }
        for (int i = 0; i < document.Sections.Count; i++)
        {
            ReportSection section = document.Sections[i];
            html.Append("<section>\n<h2 id=\"s").Append(i + 1).Append("\">").Append(Escape(section.Heading)).Append("</h2>\n");
            foreach (ReportBlock block in section.Blocks) Block(html, block);
            html.Append("</section>\n");
        }
        if (document.Provenance is { } provenance)
        {
            html.Append("<footer>\n<h2 id=\"provenance\">Provenance</h2>\n<p>Command line:</p>\n<pre>").Append(Escape(provenance.CommandLine)).Append("</pre>\n");
            KeyValues(html, provenance.Versions);
            html.Append("</footer>\n");
        }
        html.Append("</main>\n</body>\n</html>\n");
        return html.ToString();
    }

    /// <summary>
    /// <paramref name="text"/> escaped for HTML text and double-quoted attribute values: <c>&amp;</c>, <c>&lt;</c>,
    /// <c>&gt;</c>, <c>"</c> and <c>'</c> become character references.
    /// </summary>
    public static string Escape(string text)
    {
        var escaped = new StringBuilder(text.Length + 16);
        foreach (char c in text)
        {
            string? reference = c switch
            {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ => null,
            };
            if (reference is null) escaped.Append(c);
            else escaped.Append(reference);
        }
        return escaped.ToString();
    }

    private static void Block(StringBuilder html, ReportBlock block)
    {
        switch (block)
        {
            case ReportParagraph p:
                html.Append("<p>").Append(Escape(p.Text)).Append("</p>\n");
                break;
            case ReportNote n:
                html.Append("<p class=\"note\">").Append(Escape(n.Text)).Append("</p>\n");
                break;
            case ReportKeyValues kv:
                KeyValues(html, kv.Rows);
                break;
            case ReportTable t:
                Table(html, t);
                break;
            case ReportMatrix m:
                Matrix(html, m);
                break;
            case ReportFigure f:
                html.Append("<figure>\n");
                Image(html, f.Png, f.AltText);
                html.Append("<figcaption>").Append(Escape(f.Caption)).Append("</figcaption>\n</figure>\n");
                break;
            case ReportGallery g:
                if (g.Caption is not null) html.Append("<p>").Append(Escape(g.Caption)).Append("</p>\n");
                html.Append("<div class=\"gallery\">\n");
                foreach (ReportThumbnail item in g.Items)
                {
                    html.Append("<figure>\n");
                    if (item.Png is not null) Image(html, item.Png, item.Caption);
                    else html.Append("<div class=\"text\">").Append(Escape(item.Text ?? "")).Append("</div>\n");
                    html.Append("<figcaption>").Append(Escape(item.Caption)).Append("</figcaption>\n</figure>\n");
                }
                html.Append("</div>\n");
                break;
            default:
                throw new ArgumentException($"unknown report block {block.GetType().Name}", nameof(block));
        }
    }

    private static void Image(StringBuilder html, byte[] png, string alt) =>
        html.Append("<img src=\"data:image/png;base64,").Append(Convert.ToBase64String(png)).Append("\" alt=\"").Append(Escape(alt)).Append("\">\n");

    private static void KeyValues(StringBuilder html, IReadOnlyList<KeyValuePair<string, string>> rows)
    {
        html.Append("<table class=\"kv\">\n");
        foreach ((string key, string value) in rows)
            html.Append("<tr><th scope=\"row\">").Append(Escape(key)).Append("</th><td>").Append(Escape(value)).Append("</td></tr>\n");
        html.Append("</table>\n");
    }

    private static void Table(StringBuilder html, ReportTable table)
    {
        html.Append("<table>\n");
        if (table.Caption is not null) html.Append("<caption>").Append(Escape(table.Caption)).Append("</caption>\n");
        html.Append("<thead><tr>");
        foreach (string heading in table.Header) html.Append("<th scope=\"col\">").Append(Escape(heading)).Append("</th>");
        html.Append("</tr></thead>\n<tbody>\n");
        foreach (IReadOnlyList<string> row in table.Rows)
        {
            html.Append("<tr>");
            foreach (string cell in row) html.Append("<td>").Append(Escape(cell)).Append("</td>");
            html.Append("</tr>\n");
        }
        html.Append("</tbody>\n</table>\n");
    }

    private static void Matrix(StringBuilder html, ReportMatrix matrix)
    {
        html.Append("<table class=\"matrix\">\n<caption>").Append(Escape(matrix.Caption)).Append("</caption>\n<thead><tr><th class=\"corner\">true ↓ predicted →</th>");
        foreach (string label in matrix.Labels) html.Append("<th scope=\"col\">").Append(Escape(label)).Append("</th>");
        html.Append("</tr></thead>\n<tbody>\n");
        for (int r = 0; r < matrix.Counts.Count; r++)
        {
            IReadOnlyList<long> row = matrix.Counts[r];
            long total = row.Sum();
            html.Append("<tr><th scope=\"row\">").Append(Escape(r < matrix.Labels.Count ? matrix.Labels[r] : r.ToString(CultureInfo.InvariantCulture))).Append("</th>");
            for (int c = 0; c < row.Count; c++)
            {
                double share = total > 0 ? (double)row[c] / total : 0;
                // Diagonal (right) in green, off-diagonal (wrong) in red; the opacity is the row share, kept readable.
                string colour = r == c ? "46,160,67" : "207,34,46";
                string alpha = (row[c] == 0 ? 0 : 0.08 + 0.62 * share).ToString("0.###", CultureInfo.InvariantCulture);
                html.Append("<td style=\"background:rgba(").Append(colour).Append(',').Append(alpha).Append(")\">")
                    .Append(row[c].ToString(CultureInfo.InvariantCulture)).Append("</td>");
            }
            html.Append("</tr>\n");
        }
        html.Append("</tbody>\n</table>\n");
    }
}
