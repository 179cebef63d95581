using Reparo.Cli;
using Reparo.Runtime;
using Reparo.Tests.Runtime;
using Spectre.Console;

namespace Reparo.Tests.Cli;

public class ProgressDisplayTests
{
    private static IAnsiConsole Console(TextWriter writer) => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(writer),
        Ansi = AnsiSupport.No,
        ColorSystem = ColorSystemSupport.NoColors,
        Interactive = InteractionSupport.No,
    });

    [Fact]
    public void AScopeIsDueOnlyAfterTwoSeconds()
    {
        var clock = new ManualClock();
        var stderr = new StringWriter();
        using var display = new ProgressDisplay(Console(stderr), stderr);
        using (WorkProgress.ReportTo(display, clock))
        {
            using (ProgressScope quick = WorkProgress.Begin("quick", 3))
            {
                clock.Advance(TimeSpan.FromSeconds(1.9));
                quick.Advance(3);
                Assert.Empty(display.Due());
            }
            using ProgressScope slow = WorkProgress.Begin("slow", 3);
            Assert.Empty(display.Due());
            clock.Advance(ProgressDisplay.DrawAfter);
            Assert.Equal([slow], display.Due());
        }
        Assert.Empty(display.Due());
    }

    [Fact]
    public void NotesArePlainLinesWhileNothingIsDrawn()
    {
        var stderr = new StringWriter();
        using var display = new ProgressDisplay(Console(stderr), stderr);
        display.Note("a note [not markup]");
        Assert.Equal("a note [not markup]" + Environment.NewLine, stderr.ToString());
    }
}
