using Reparo.Reporting;

namespace Reparo.Tests.Reporting;

public class MarkdownRendererTests
{
    [Fact]
    public void TextIsEscapedAndTablesKeepTheirShape()
    {
        string md = MarkdownRenderer.Render(HtmlRendererTests.EveryBlock(f => $"<i>{f}</i> | *x* & [l](u) ```"));
        // The command line is shown verbatim in a code fence longer than its backtick run; everything else is escaped.
        Assert.Contains("````sh\n<i>command</i> | *x* & [l](u) ```\n````\n", md);
        Assert.DoesNotContain("<i>", md.Replace("<i>command</i>", "", StringComparison.Ordinal));
        Assert.Contains(@"&lt;i&gt;cell&lt;/i&gt; \| \*x\* &amp; \[l\](u) \`\`\`", md);
        Assert.StartsWith(@"# &lt;i&gt;title&lt;/i&gt; \| \*x\* &amp; \[l\](u) \`\`\`" + "\n", md);
        Assert.Contains("| --- | --- |", md);
        // The escaped pipes do not split cells: the table row holds two cells, the matrix row three.
        static int Cells(string line) => line.Replace(@"\|", "", StringComparison.Ordinal).Count(c => c == '|') - 1;
        Assert.Equal(2, Cells(md.Split('\n').Single(l => l.StartsWith(@"| &lt;i&gt;cell", StringComparison.Ordinal))));
        Assert.Equal(3, Cells(md.Split('\n').Single(l => l.StartsWith(@"| &lt;i&gt;class", StringComparison.Ordinal))));
        Assert.Contains("![", md);
        Assert.Contains("](data:image/png;base64,", md);
        Assert.Contains("## Provenance", md);
    }

    [Fact]
    public void SameDocumentSameText()
    {
        ReportDocument document = HtmlRendererTests.EveryBlock(f => f);
        Assert.Equal(MarkdownRenderer.Render(document), MarkdownRenderer.Render(document));
    }
}
