using System.CommandLine;
using System.Text.Json;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Io;
using Reparo.Reporting;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>The options and output every <c>reparo experiment …</c> shares: <c>--quick</c>, <c>--markdown</c>, <c>--cache-dir</c>, <c>--data-dir</c>, <c>--report</c>.</summary>
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

    /// <summary>
    /// <c>--cluster redis://HOST:PORT</c>: run the experiment's steps on the workers of this cluster (added by the
    /// experiments whose steps a worker can run, see <see cref="Cluster.IClusterExperiment"/>).
    /// </summary>
    public Option<string?> Cluster { get; } = new("--cluster") { Description = "Run each step on a worker of this cluster (reparo worker --cluster …); models are trained here first and sent by their SHA-256", HelpName = "redis://HOST:PORT" };

    public ReportArgument Report { get; } = new();

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { Quick, Markdown, CacheDir, DataDir }) command.Options.Add(option);
        Report.AddTo(command);
    }

    /// <summary>Starts the command and checks the <c>--report</c> path before any work.</summary>
    public CommandRun Start(CliContext cli, ParseResult parse)
    {
        CommandRun run = cli.Start(parse);
        Report.Read(parse);
        return run;
    }

    /// <summary>Writes the results (<paramref name="markdown"/>, as a document) to <c>--report</c> if given.</summary>
    public void WriteReport(CommandRun run, ParseResult parse, string markdown) => run.WriteReport(parse.GetValue(Report.Report), MarkdownDocument.Parse(markdown));

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

    /// <summary>
    /// What a resumable run calls after each finished step: the results so far, rendered by <paramref name="render"/>, to
    /// <c>--markdown</c> if given, and to <c>--json</c>, so an interruption loses one step at most and <c>--resume</c> can continue.
    /// </summary>
    public Action<T> SoFarWriter<T>(CommandRun run, ParseResult parse, Func<T, string> render)
    {
        string? markdown = parse.GetValue(Markdown);
        return sofar =>
        {
            if (markdown is not null) AtomicFile.WriteAllText(markdown, render(sofar));
            run.WriteJson(sofar);
        };
    }

    /// <summary>The interrupted run that <c>--resume</c> continues: the JSON of <paramref name="what"/> at the <c>--json</c> path.</summary>
    public static T ReadEarlierRun<T>(string? path, string what) where T : class
    {
        if (path is null or "-" || !File.Exists(path)) throw new ReparoInputException("--resume needs --json PATH naming the interrupted run's JSON file");
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), ReparoJson.Options) ?? throw new ReparoInputException($"--resume: {path} holds no {what}");
        }
        catch (JsonException e)
        {
            throw new ReparoInputException($"--resume: {path} is not {what}'s JSON ({e.Message})");
        }
    }

    /// <summary>Prints the final Markdown, writes it to <c>--markdown</c> if given, the rows to <c>--json</c> and the report to <c>--report</c>.</summary>
    public int Finish<T>(CommandRun run, ParseResult parse, string text, T rows)
    {
        run.Out.WriteLine(text);
        if (parse.GetValue(Markdown) is string path) AtomicFile.WriteAllText(path, text);
        run.WriteJson(rows);
        WriteReport(run, parse, text);
        return CliApp.Success;
    }
}
