using Reparo.Cli;
using Reparo.Tests.Reporting;
using Spectre.Console;

namespace Reparo.Tests.Cli;

public class CliDocumentRendererTests
{
    /// <summary>Text is drawn as written (no markup slips through), tables keep their cells, and a figure shows as its caption.</summary>
    [Fact]
    public void EveryBlockIsDrawnAndMarkupIsShownAsText()
    {
        var writer = new StringWriter();
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 200;
        CliDocumentRenderer.Render(console, HtmlRendererTests.EveryBlock(f => $"[red]{f}[/]"));
        string text = writer.ToString();
        foreach (string field in new[] { "title", "summary", "heading", "paragraph", "note", "key", "value", "column", "cell", "table-caption", "matrix-caption", "class", "figure-caption", "thumb-caption", "thumb-text", "gallery-caption" })
            Assert.Contains($"[red]{field}[/]", text);
        Assert.Contains("figure: [red]figure-caption[/]", text);
        Assert.DoesNotContain("[red]command[/]", text); // the provenance is left out
        Assert.Contains("Second", text);
    }
}
