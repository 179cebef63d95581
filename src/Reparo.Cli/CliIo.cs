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

    /// <summary>Whether stderr is an interactive terminal (live progress bars are drawn only then).</summary>
    public bool StderrIsTerminal => ReferenceEquals(Stderr, Console.Error) && !Console.IsErrorRedirected;

    private static IAnsiConsole Create(TextWriter writer)
    {
        bool terminal = (ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected)
                        || (ReferenceEquals(writer, Console.Error) && !Console.IsErrorRedirected);
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!terminal) console.Profile.Width = 160; // files and pipes: do not wrap paths at 80 columns
        return console;
    }
}
