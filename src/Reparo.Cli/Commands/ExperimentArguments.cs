using System.CommandLine;
using System.Globalization;
using System.Text;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Io;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>The options and output every <c>reparo experiment …</c> shares: <c>--quick</c>, <c>--markdown</c>, <c>--cache-dir</c>, <c>--data-dir</c>.</summary>
internal sealed class ExperimentArguments
{
    public ExperimentArguments(string quickDescription, string markdownExample)
    {
        Quick = new Option<bool>("--quick") { Description = quickDescription };
        Markdown = new Option<string?>("--markdown") { Description = $"Write the results as Markdown here (e.g. {markdownExample})", HelpName = "PATH" };
    }

    public Option<bool> Quick { get; }

    public Option<string?> Markdown { get; }

    public Option<string?> CacheDir { get; } = new("--cache-dir") { Description = "Where trained models are cached (default ~/.cache/reparo/models)", HelpName = "DIR" };

    public Option<string?> DataDir { get; } = new("--data-dir") { Description = "Folder searched first for dataset files", HelpName = "DIR" };

    /// <summary>Where trained models are cached when no folder is given.</summary>

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { Quick, Markdown, CacheDir, DataDir }) command.Options.Add(option);
    }

    public ModelCache Models(CommandRun run, ParseResult parse) => run.Models(parse.GetValue(CacheDir) ?? ModelCache.DefaultFolder);

    public DataSplits LoadFashionMnist(ParseResult parse) => DataCatalog.Load("fashion-mnist", new DataOptions { DataDir = parse.GetValue(DataDir) });

    /// <summary>
    /// After each finished step of a long run, writes the rows so far (rendered with the partial note) so an interruption
    /// loses one step at most; the last step is left to <see cref="Finish"/>.
    /// </summary>
    public void WriteProgress(ParseResult parse, int done, int total, Func<string, string> render)
    {
        if (parse.GetValue(Markdown) is string path && done < total) AtomicFile.WriteAllText(path, render($"{done} of {total} steps"));
    }

    /// <summary>Prints the final Markdown, writes it to <c>--markdown</c> if given and the rows to <c>--json</c>.</summary>
    public int Finish<T>(CommandRun run, ParseResult parse, string text, T rows)
    {
        run.Out.WriteLine(text);
        if (parse.GetValue(Markdown) is string path) AtomicFile.WriteAllText(path, text);
        run.WriteJson(rows);
        return CliApp.Success;
    }

    /// <summary>The title, the partial note (if any) and the "Produced by" line every results file starts with.</summary>
    public static StringBuilder Heading(string title, string command, int threads, double minutes, string? partial)
    {
        var text = new StringBuilder();
        text.AppendLine($"# {title}");
        text.AppendLine();
        if (partial is not null) text.AppendLine($"**Partial: the run was still going ({partial} done).**").AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Produced by `{command}` on {DateTime.UtcNow:yyyy-MM-dd} ({threads} threads, {minutes:F1} min in all).");
        return text;
    }
}
