using System.CommandLine;
using Reparo.Cli.Commands;

namespace Reparo.Cli;

/// <summary>
/// The <c>reparo</c> command line: parses, calls the library, prints. Exit codes: 0 success, 2 bad input or usage
/// (one line on stderr), 1 internal or environment error.
/// </summary>
public static class CliApp
{
    /// <summary>Exit code for success.</summary>
    public const int Success = 0;

    /// <summary>Exit code for an internal error or a broken environment.</summary>
    public const int InternalError = 1;

    /// <summary>Exit code for bad input or usage.</summary>
    public const int BadInput = 2;

    /// <summary>Runs the command line with the given arguments, writing to the given streams (the console by default).</summary>
    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var cli = new CliContext(new CliIo(stdout, stderr), new GlobalOptions()) { Arguments = args };
        Command root = BuildRoot(cli);
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // One line: an unrecognised token explains most usage errors best, so it goes first.
            string message = parsed.Errors.OrderBy(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal) ? 0 : 1).First().Message;
            message = string.Join(" ", message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            stderr.WriteLine($"reparo: {message} (see '{string.Join(' ', CommandPath(parsed))} --help')");
            return BadInput;
        }
        // Progress is drawn on stderr, never stdout: only on a terminal and without --quiet.
        using IDisposable? progress = parsed.GetValue(cli.Options.Quiet) ? null : cli.Io.ShowProgress();
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (Unwrap(e) is ReparoInputException input)
        {
            stderr.WriteLine($"reparo: {input.Message}");
            return BadInput;
        }
        catch (Exception e) when (Unwrap(e) is ReparoEnvironmentException environment)
        {
            stderr.WriteLine($"reparo: {environment.Message}");
            return InternalError;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("reparo: cancelled");
            return InternalError;
        }
        catch (Exception e)
        {
            stderr.WriteLine($"reparo: internal error: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
            if (Environment.GetEnvironmentVariable("REPARO_DEBUG") == "1") stderr.WriteLine(e);
            return InternalError;
        }
    }

    private static Command BuildRoot(CliContext cli)
    {
        // A plain command named "reparo" (RootCommand would take the assembly's name, Reparo.Cli) with help and version.
        var root = new Command("reparo", "Reparo: find, explain and repair misbehaving trained neural networks.")
        {
            new System.CommandLine.Help.HelpOption(),
            new VersionOption(),
        };
        root.Options.Add(cli.Options.Json);
        root.Options.Add(cli.Options.Seed);
        root.Options.Add(cli.Options.Threads);
        root.Options.Add(cli.Options.Quiet);
        root.Options.Add(cli.Options.OnnxOutput);
        root.Options.Add(cli.Options.ClassNames);
        root.Subcommands.Add(DoctorCommand.Create(cli));
        root.Subcommands.Add(DataCommand.Create(cli));
        root.Subcommands.Add(TrainCommand.Create(cli));
        root.Subcommands.Add(EvalCommand.Create(cli));
        root.Subcommands.Add(InspectCommand.Create(cli));
        root.Subcommands.Add(ExportCommand.Create(cli));
        root.Subcommands.Add(AttributeCommand.Create(cli));
        root.Subcommands.Add(ExplainCommand.Create(cli));
        root.Subcommands.Add(BenchCommand.Create(cli));
        root.Subcommands.Add(RepairCommand.Create(cli));
        root.Subcommands.Add(RectifyCommand.Create(cli));
        root.Subcommands.Add(StudyCommand.Create(cli));
        root.Subcommands.Add(WorkerCommand.Create(cli));
        root.Subcommands.Add(WorkerCommand.CreateUnit(cli));
        root.Subcommands.Add(InfluenceCommand.Create(cli));
        root.Subcommands.Add(RemediateCommand.Create(cli));
        root.Subcommands.Add(ExperimentCommand.Create(cli));
        root.Subcommands.Add(DemoCommand.Create(cli));
        root.Subcommands.Add(FuzzCommand.Create(cli));
        return root;
    }

    private static IEnumerable<string> CommandPath(ParseResult parsed)
    {
        var names = new List<string>();
        for (var result = parsed.CommandResult; result is not null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, result.Command.Name);
        return names;
    }

    private static Exception Unwrap(Exception e) =>
        e is AggregateException or System.Reflection.TargetInvocationException && e.InnerException is { } inner ? Unwrap(inner) : e;
}

