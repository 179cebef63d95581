using Reparo.Io;
using Reparo.Reporting;

namespace Reparo.Tests.Reporting;

public class HtmlRendererTests
{
    /// <summary>A distinct hostile string per text field: markup, an entity, both quotes.</summary>
    private static string Evil(string field) => $"<b id=\"{field}\">&amp;'{field}'</b>";

    private static string Escaped(string field) => $"&lt;b id=&quot;{field}&quot;&gt;&amp;amp;&#39;{field}&#39;&lt;/b&gt;";

    private static readonly string[] Fields =
    [
        "title", "summary", "heading", "paragraph", "note", "key", "value", "column", "cell", "table-caption", "matrix-caption", "class",
        "figure-caption", "figure-alt", "gallery-caption", "thumb-caption", "thumb-text", "command", "component", "version",
    ];

    internal static byte[] SmallPng(int size = 4) => PngWriter.EncodeRgb(size, size, Enumerable.Range(0, size * size * 3).Select(i => (byte)(i * 37)).ToArray());

    /// <summary>A document with every kind of block, each text field holding <see cref="Evil"/>.</summary>
    internal static ReportDocument EveryBlock(Func<string, string> text) => new(text("title"), [text("summary")],
    [
        new ReportSection(text("heading"),
        [
            new ReportParagraph(text("paragraph")),
            new ReportNote(text("note")),
            new ReportKeyValues([new(text("key"), text("value"))]),
            new ReportTable([text("column"), "b"], [[text("cell"), "2"]], text("table-caption")),
            new ReportMatrix(text("matrix-caption"), [text("class"), "other"], [[5, 1], [0, 4]]),
            new ReportFigure(SmallPng(), text("figure-caption"), text("figure-alt")),
            new ReportGallery([new ReportThumbnail(text("thumb-caption"), Png: SmallPng()), new ReportThumbnail("a text input", Text: text("thumb-text"))], text("gallery-caption")),
        ]),
        new ReportSection("Second", [new ReportParagraph("plain")]),
    ])
    {
        Provenance = new ReportProvenance(text("command"), [new(text("component"), text("version"))]),
    };

    [Fact]
    public void EveryTextFieldIsEscaped()
    {
        string html = HtmlRenderer.Render(EveryBlock(Evil));
        Assert.DoesNotContain("<b ", html);
        Assert.DoesNotContain("</b>", html);
        foreach (string field in Fields) Assert.Contains(Escaped(field), html);
    }

    [Fact]
    public void EscapeReplacesTheFiveSpecialCharacters()
    {
        Assert.Equal("a&lt;b&gt;c&amp;d&quot;e&#39;f · é", HtmlRenderer.Escape("a<b>c&d\"e'f · é"));
    }

    [Fact]
    public void ThePageIsSelfContainedAndDeterministic()
    {
        ReportDocument document = EveryBlock(f => f);
        string html = HtmlRenderer.Render(document);
        Assert.Equal(html, HtmlRenderer.Render(document));
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.Contains($"content=\"{HtmlRenderer.ContentSecurityPolicy}\"", html);
        Assert.Contains("data:image/png;base64," + Convert.ToBase64String(SmallPng()), html);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("http://", html);
        Assert.DoesNotContain("https://", html);
        Assert.Contains("<a href=\"#s2\">Second</a>", html);
        Assert.Contains("id=\"provenance\"", html);
        // The summary comes before every section.
        Assert.True(html.IndexOf("class=\"summary\"", StringComparison.Ordinal) < html.IndexOf("<h2 id=\"s1\"", StringComparison.Ordinal));
    }

    [Fact]
    public void MatrixCellsAreShadedByTheirShareOfTheRow()
    {
        string html = HtmlRenderer.Render(new ReportDocument("m", [], [new ReportSection("m", [new ReportMatrix("confusion", ["a", "b"], [[3, 1], [0, 4]])])]));
        Assert.Contains("<td style=\"background:rgba(46,160,67,0.545)\">3</td>", html);  // 0.08 + 0.62 · 3/4
        Assert.Contains("<td style=\"background:rgba(207,34,46,0.235)\">1</td>", html);  // 0.08 + 0.62 · 1/4
        Assert.Contains("<td style=\"background:rgba(207,34,46,0)\">0</td>", html);
        Assert.Contains("<td style=\"background:rgba(46,160,67,0.7)\">4</td>", html);
    }

    [Fact]
    public void RendersCleanlyInChromium()
    {
        using var dir = TestSupport.TempFolder();
        string path = dir.File("report.html");
        ReportFile.Write(path, EveryBlock(Evil));
        Browser.Page page = Browser.AssertRendersCleanly(path, minimumImages: 2);
        Assert.Equal(2, page.Images);
        // The hostile strings arrived as text, not as elements.
        Assert.DoesNotContain("<b id=", page.Dom);
    }

    [Fact]
    public void TheBrowserCheckCatchesBrokenImagesAndBlockedLoads()
    {
        using var dir = TestSupport.TempFolder();
        string broken = dir.File("broken.html");
        ReportFile.Write(broken, new ReportDocument("broken", ["an image that is not a PNG"],
            [new ReportSection("s", [new ReportParagraph(new string('x', 200)), new ReportFigure([1, 2, 3], "not a PNG", "not a PNG")])]));
        Assert.Equal(1, Browser.Load(broken).BrokenImages);

        string fetching = dir.File("fetching.html");
        File.WriteAllText(fetching, HtmlRenderer.Render(new ReportDocument("fetching", ["x"], [new ReportSection("s", [new ReportParagraph("y")])]))
            .Replace("</main>", "<img src=\"http://127.0.0.1:9/x.png\" alt=\"remote\"></main>", StringComparison.Ordinal));
        Browser.Page page = Browser.Load(fetching);
        Assert.Contains(page.Console, line => line.Contains("Content Security Policy", StringComparison.Ordinal));
    }
}
