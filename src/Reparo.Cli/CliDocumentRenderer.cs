using System.Globalization;
using Reparo.Reporting;
using Spectre.Console;

namespace Reparo.Cli;

/// <summary>
/// Draws a <see cref="ReportDocument"/> on a console: the title, the summary, then each section's paragraphs, notes,
/// key values, tables and matrices; a figure shows as its caption, a gallery of pictures as one line (a text input
/// as its text). The provenance is left out (the command line is on screen).
/// </summary>
public static class CliDocumentRenderer
{
    /// <summary>Writes <paramref name="document"/> to <paramref name="console"/>.</summary>
    public static void Render(IAnsiConsole console, ReportDocument document)
    {
        console.MarkupLine($"[bold]{Markup.Escape(document.Title)}[/]");
        foreach (string paragraph in document.Summary) console.WriteLine(paragraph);
        foreach (ReportSection section in document.Sections)
        {
            console.WriteLine();
            console.MarkupLine($"[bold]{Markup.Escape(section.Heading)}[/]");
            foreach (ReportBlock block in section.Blocks) Block(console, block);
        }
    }

    private static void Block(IAnsiConsole console, ReportBlock block)
    {
        switch (block)
        {
            case ReportParagraph p:
                console.WriteLine(p.Text);
                break;
            case ReportNote n:
                console.MarkupLine($"[grey]note:[/] {Markup.Escape(n.Text)}");
                break;
            case ReportKeyValues kv:
                var pairs = new Table().HideHeaders().AddColumns("", "");
                foreach (KeyValuePair<string, string> row in kv.Rows) pairs.AddRow(Markup.Escape(row.Key), Markup.Escape(row.Value));
                console.Write(pairs);
                break;
            case ReportTable t:
                console.Write(Table(t.Header, t.Rows, t.Caption));
                break;
            case ReportMatrix m:
                console.Write(Table(["true \\ predicted", .. m.Labels], [.. m.Counts.Select((row, r) =>
                    (IReadOnlyList<string>)[r < m.Labels.Count ? m.Labels[r] : r.ToString(CultureInfo.InvariantCulture), .. row.Select(v => v.ToString(CultureInfo.InvariantCulture))])], m.Caption));
                break;
            case ReportFigure f:
                console.MarkupLine($"[grey]figure:[/] {Markup.Escape(f.Caption)}");
                break;
            case ReportGallery g when g.Items.All(item => item.Text is null):
                // Pictures alone say nothing on a terminal; the report file draws them.
                console.WriteLine($"{g.Caption ?? "pictures"}: {g.Items.Count} in the --report file");
                break;
            case ReportGallery g:
                if (g.Caption is not null) console.WriteLine(g.Caption);
                foreach (ReportThumbnail item in g.Items) console.WriteLine(item.Text is null ? $"  {item.Caption}" : $"  {item.Caption}: {item.Text}");
                break;
            default:
                throw new ArgumentException($"unknown report block {block.GetType().Name}", nameof(block));
        }
    }

    private static Table Table(IReadOnlyList<string> header, IReadOnlyList<IReadOnlyList<string>> rows, string? caption)
    {
        var table = new Table().AddColumns([.. header.Select(h => new TableColumn(Markup.Escape(h)))]);
        foreach (IReadOnlyList<string> row in rows) table.AddRow([.. row.Select(cell => Markup.Escape(cell))]);
        if (caption is not null) table.Caption(Markup.Escape(caption));
        return table;
    }
}
