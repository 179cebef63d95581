using System.Text;

namespace Reparo.Reporting;

/// <summary>
/// Reads a results file's Markdown (as the experiments write it) back as a <see cref="ReportDocument"/>: the first
/// heading is the title, the paragraphs under it are the summary, every later heading starts a section, pipe tables become tables and images become notes
/// naming the file. Emphasis and code marks are dropped; the text is otherwise kept as written.
/// </summary>
public static class MarkdownDocument
{
    /// <summary>The document of <paramref name="markdown"/>.</summary>
    public static ReportDocument Parse(string markdown)
    {
        string? title = null;
        var summary = new List<string>();
        var sections = new List<ReportSection>();
        string? heading = null;
        var blocks = new List<ReportBlock>();
        var paragraph = new StringBuilder();
        var table = new List<IReadOnlyList<string>>();

        void EndParagraph()
        {
            if (paragraph.Length == 0) return;
            string text = paragraph.ToString();
            if (heading is null) summary.Add(text);
            else blocks.Add(new ReportParagraph(text));
            paragraph.Clear();
        }
        void EndTable()
        {
            if (table.Count == 0) return;
            IReadOnlyList<string> header = table[0];
            // Rows after the header's separator line, each padded or cut to the header's width.
            IReadOnlyList<string>[] rows = [.. table.Skip(table.Count > 1 && IsSeparator(table[1]) ? 2 : 1)
                .Select(r => (IReadOnlyList<string>)[.. Enumerable.Range(0, header.Count).Select(c => c < r.Count ? r[c] : "")])];
            if (heading is null) heading = "Results";
            blocks.Add(new ReportTable(header, rows));
            table.Clear();
        }
        void EndSection()
        {
            EndParagraph();
            EndTable();
            if (heading is not null && blocks.Count > 0) sections.Add(new ReportSection(heading, [.. blocks]));
            blocks.Clear();
        }

        foreach (string raw in markdown.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n'))
        {
            string line = raw.Trim();
            if (line.StartsWith('|'))
            {
                EndParagraph();
                table.Add(Cells(line));
                continue;
            }
            EndTable();
            if (line.Length == 0)
            {
                EndParagraph();
            }
            else if (line.StartsWith('#'))
            {
                int level = line.TakeWhile(c => c == '#').Count();
                string text = Plain(line[level..].Trim());
                if (level == 1 && title is null)
                {
                    EndParagraph();
                    title = text;
                }
                else if (title is null)
                {
                    // A section on its own (no "#" title): its heading is the title, its first paragraphs the summary.
                    EndParagraph();
                    title = text;
                }
                else
                {
                    EndSection();
                    heading = text;
                }
            }
            else if (line.StartsWith("![", StringComparison.Ordinal))
            {
                EndParagraph();
                int open = line.IndexOf("](", StringComparison.Ordinal);
                string file = open < 0 ? line : line[(open + 2)..].TrimEnd(')');
                blocks.Add(new ReportNote($"Figure: {Plain(line[2..Math.Max(2, open)])} ({file})"));
            }
            else
            {
                if (paragraph.Length > 0) paragraph.Append(' ');
                paragraph.Append(Plain(line));
            }
        }
        EndSection();
        return new ReportDocument(title ?? "Results", summary, sections);
    }

    /// <summary>The cells of a pipe-table row; <c>\|</c> is a pipe inside a cell.</summary>
    private static List<string> Cells(string line)
    {
        var cells = new List<string>();
        var cell = new StringBuilder();
        string inner = line.Trim().Trim('|');
        for (int i = 0; i < inner.Length; i++)
        {
            if (inner[i] == '\\' && i + 1 < inner.Length && inner[i + 1] == '|')
            {
                cell.Append('|');
                i++;
            }
            else if (inner[i] == '|')
            {
                cells.Add(Plain(cell.ToString().Trim()));
                cell.Clear();
            }
            else
            {
                cell.Append(inner[i]);
            }
        }
        cells.Add(Plain(cell.ToString().Trim()));
        return cells;
    }

    private static bool IsSeparator(IReadOnlyList<string> row) => row.All(c => c.Length > 0 && c.All(ch => ch is '-' or ':' or ' '));

    private static string Plain(string text) => text.Replace("**", "", StringComparison.Ordinal).Replace("`", "", StringComparison.Ordinal);
}
