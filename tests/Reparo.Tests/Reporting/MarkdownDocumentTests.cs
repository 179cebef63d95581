using Reparo.Experiments;
using Reparo.Reporting;

namespace Reparo.Tests.Reporting;

public class MarkdownDocumentTests
{
    [Fact]
    public void ResultsMarkdownBecomesTitleSummarySectionsAndTables()
    {
        string markdown = ResultsMarkdown.Heading("A study", "./reparo experiment x --quick", 2, 1.5, "3 of 4 steps")
            .AppendLine().AppendLine("Setup line one,").AppendLine("line two.").AppendLine()
            .AppendLine("## Results").AppendLine().AppendLine("| model | max \\|Δ\\| | note |").AppendLine("|---|---:|---|").AppendLine("| mlp | 0.5 | `ok` |").AppendLine("| cnn | 1 |")
            .AppendLine().AppendLine("![share within 10 %](study.png)").AppendLine().AppendLine("### Details").AppendLine().AppendLine("**Bold** text.").ToString();
        ReportDocument document = MarkdownDocument.Parse(markdown);
        Assert.Equal("A study", document.Title);
        Assert.Equal(3, document.Summary.Count);
        Assert.Equal("Partial: the run was still going (3 of 4 steps done).", document.Summary[0]);
        Assert.StartsWith("Produced by ./reparo experiment x --quick on ", document.Summary[1]);
        Assert.Equal("Setup line one, line two.", document.Summary[2]);
        Assert.Equal(["Results", "Details"], document.Sections.Select(s => s.Heading));
        ReportTable table = Assert.IsType<ReportTable>(document.Sections[0].Blocks[0]);
        Assert.Equal(["model", "max |Δ|", "note"], table.Header);
        Assert.Equal([["mlp", "0.5", "ok"], ["cnn", "1", ""]], table.Rows);
        Assert.Equal("Figure: share within 10 % (study.png)", Assert.IsType<ReportNote>(document.Sections[0].Blocks[1]).Text);
        Assert.Equal("Bold text.", Assert.IsType<ReportParagraph>(Assert.Single(document.Sections[1].Blocks)).Text);
    }

    [Fact]
    public void ASectionOnItsOwnTakesItsHeadingAsTitle()
    {
        ReportDocument document = MarkdownDocument.Parse("## ONNX node conformance\n\nProduced by `x`.\n\n| op | passed |\n|---|---:|\n| LSTM | 1 |\n");
        Assert.Equal("ONNX node conformance", document.Title);
        Assert.Equal(["Produced by x."], document.Summary);
        Assert.Equal("Results", Assert.Single(document.Sections).Heading);
    }
}
