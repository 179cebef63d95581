using Reparo.Reporting;

namespace Reparo.Tests.Reporting;

public class ReportFileTests
{
    private static readonly ReportDocument Document = new("t", ["s"], [new ReportSection("h", [new ReportParagraph("p")])]);

    [Fact]
    public void TheExtensionChoosesTheFormat()
    {
        using var dir = TestSupport.TempFolder();
        ReportFile.Write(dir.File("sub/r.html"), Document);
        ReportFile.Write(dir.File("r.md"), Document);
        Assert.Equal(HtmlRenderer.Render(Document), File.ReadAllText(dir.File("sub/r.html")));
        Assert.Equal(MarkdownRenderer.Render(Document), File.ReadAllText(dir.File("r.md")));
        Assert.Equal(["r.html"], Directory.GetFiles(dir.File("sub")).Select(Path.GetFileName));
    }

    [Fact]
    public void BadPathsAreInputErrors()
    {
        using var dir = TestSupport.TempFolder();
        File.WriteAllText(dir.File("file"), "x");
        Assert.Contains(".html or .md", Assert.Throws<ReparoInputException>(() => ReportFile.Check(dir.File("r.pdf"))).Message);
        Directory.CreateDirectory(dir.File("folder.html"));
        Assert.Contains("is a folder", Assert.Throws<ReparoInputException>(() => ReportFile.Check(dir.File("folder.html"))).Message);
        Assert.Contains("is a file, not a folder", Assert.Throws<ReparoInputException>(() => ReportFile.Check(dir.File("file/r.html"))).Message);
        Assert.Throws<ReparoInputException>(() => ReportFile.Write(dir.File("file/r.html"), Document));
        ReportFile.Check(dir.File("new/folder/r.html"));
        Assert.False(Directory.Exists(dir.File("new")));
    }

    [Fact]
    public void ProvenanceQuotesTheCommandLineForTheShell()
    {
        TestSupport.Init();
        ReportProvenance provenance = ReportProvenance.Current(["repair", "--repair-set", "fog:3:25", "--out", "it's here.reparo"]);
        Assert.Equal("reparo repair --repair-set fog:3:25 --out 'it'\\''s here.reparo'", provenance.CommandLine);
        Assert.Equal(["Reparo", ".NET", "TorchSharp", "libtorch", "OR-Tools", "OS"], provenance.Versions.Select(v => v.Key));
        Assert.All(provenance.Versions, v => Assert.False(string.IsNullOrWhiteSpace(v.Value)));
    }
}
