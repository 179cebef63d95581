using Reparo.Runtime;
using Spectre.Console;

namespace Reparo.Cli;

/// <summary>Where a command writes: human output, diagnostics and progress.</summary>
public sealed class CliIo
{
    /// <summary>Creates the streams for one run.</summary>
    public CliIo(TextWriter stdout, TextWriter stderr)
    {
        Stdout = stdout;
        Stderr = stderr;
    }

    /// <summary>Standard output.</summary>
    public TextWriter Stdout { get; }

    /// <summary>Standard error.</summary>
    public TextWriter Stderr { get; }

    /// <summary>
    /// The console for human-readable results: stdout, or stderr when the JSON result goes to stdout
    /// (<c>--json -</c>), so stdout stays machine-readable.
    /// </summary>
    public IAnsiConsole Human(string? jsonPath) => Create(jsonPath == "-" ? Stderr : Stdout);

    /// <summary>A console over stderr for progress and notes.</summary>
    public IAnsiConsole Diagnostics => Create(Stderr);

    /// <summary>
    /// Draws the library's progress (<see cref="WorkProgress"/>) as live bars on stderr until the returned handle is
    /// disposed, when stderr is a terminal; otherwise nothing is drawn and the handle is null. Never on stdout.
    /// </summary>
    public IDisposable? ShowProgress()
    {
        if (!StderrIsTerminal) return null;
        var display = new ProgressDisplay(Diagnostics, Stderr);
        IDisposable reporting = WorkProgress.ReportTo(display);
        this.display = display;
        return new Hide(this, reporting);
    }

    /// <summary>Writes a note line on stderr (above the progress bars while they are drawn).</summary>
    public void Note(string text)
    {
        if (display is { } shown) shown.Note(text);
        else Stderr.WriteLine(text);
    }

    /// <summary>Whether stderr is an interactive terminal (live progress bars are drawn only then).</summary>
    public bool StderrIsTerminal => ReferenceEquals(Stderr, Console.Error) && !Console.IsErrorRedirected;

    private ProgressDisplay? display;

    private static IAnsiConsole Create(TextWriter writer)
    {
        bool terminal = (ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected)
                        || (ReferenceEquals(writer, Console.Error) && !Console.IsErrorRedirected);
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Yes : InteractionSupport.No, // Detect would say no when only the other stream is redirected
        });
        if (!terminal) console.Profile.Width = 160; // files and pipes: do not wrap paths at 80 columns
        return console;
    }

    private sealed class Hide(CliIo io, IDisposable reporting) : IDisposable
    {
        public void Dispose()
        {
            reporting.Dispose();
            io.display?.Dispose();
            io.display = null;
        }
    }
}
