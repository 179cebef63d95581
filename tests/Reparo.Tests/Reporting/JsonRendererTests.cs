using System.Text.Json;
using Reparo.Reporting;

namespace Reparo.Tests.Reporting;

public class JsonRendererTests
{
    /// <summary>Every block comes out with its kind and its fields (snake_case), images as base64 PNG, and the provenance.</summary>
    [Fact]
    public void EveryBlockKeepsItsKindAndFields()
    {
        ReportDocument document = HtmlRendererTests.EveryBlock(f => f);
        using JsonDocument json = JsonDocument.Parse(JsonRenderer.Render(document));
        JsonElement root = json.RootElement;
        Assert.Equal("title", root.GetProperty("title").GetString());
        Assert.Equal(["summary"], root.GetProperty("summary").EnumerateArray().Select(s => s.GetString()));
        JsonElement[] blocks = [.. root.GetProperty("sections")[0].GetProperty("blocks").EnumerateArray()];
        Assert.Equal(["paragraph", "note", "key_values", "table", "matrix", "figure", "gallery"], blocks.Select(b => b.GetProperty("kind").GetString()));
        Assert.Equal("paragraph", blocks[0].GetProperty("text").GetString());
        Assert.Equal("value", blocks[2].GetProperty("rows")[0].GetProperty("value").GetString());
        Assert.Equal("cell", blocks[3].GetProperty("rows")[0][0].GetString());
        Assert.Equal("table-caption", blocks[3].GetProperty("caption").GetString());
        Assert.Equal(4, blocks[4].GetProperty("counts")[1][1].GetInt64());
        Assert.Equal(HtmlRendererTests.SmallPng(), blocks[5].GetProperty("png").GetBytesFromBase64());
        Assert.Equal("thumb-text", blocks[6].GetProperty("items")[1].GetProperty("text").GetString());
        Assert.Equal("command", root.GetProperty("provenance").GetProperty("command_line").GetString());
    }

    [Fact]
    public void ReportFileWritesJsonByExtension()
    {
        using var dir = TestSupport.TempFolder();
        ReportDocument document = HtmlRendererTests.EveryBlock(f => f);
        ReportFile.Check(dir.File("r.json"));
        ReportFile.Write(dir.File("r.json"), document);
        Assert.Equal(JsonRenderer.Render(document), File.ReadAllText(dir.File("r.json")));
    }
}
