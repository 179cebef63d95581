using System.CommandLine;
using Reparo.Experiments;
using Reparo.Io;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary><c>reparo fuzz PARSER --cases N --seed S</c>: mutated files through a parser, counting crashes, hangs and memory blow-ups.</summary>
internal static class FuzzCommand
{
    private sealed record FuzzResult(int Seed, int Cases, double DeadlineSeconds, long MemoryLimitBytes, IReadOnlyList<FuzzParserResult> Parsers);

    public static Command Create(CliContext cli)
    {
        var parser = new Argument<string>("parser") { Description = $"The parser: {string.Join(", ", ParserFuzzer.Parsers)} or all" };
        parser.AcceptOnlyFromAmong([.. ParserFuzzer.Parsers, "all"]);
        var cases = new Option<int>("--cases") { Description = "Mutated files per parser", DefaultValueFactory = _ => 1000, HelpName = "N" };
        var deadline = new Option<double>("--deadline") { Description = "Seconds one parse may take before it counts as a hang", DefaultValueFactory = _ => 5, HelpName = "S" };
        var markdown = new Option<string?>("--markdown") { Description = "Write the results as Markdown here", HelpName = "PATH" };
        var command = new Command("fuzz", "Fuzz a file parser with mutated valid files (bit flips, truncation, extreme counts, swapped chunks, text mutations), " +
            "each parsed in-process under a deadline and a 1 GiB memory watch; --seed picks the mutations. Exit 0 when no case raised an internal error, " +
            "hung or ran out of memory (rejections are fine), else 1") { parser, cases, deadline, markdown };
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string name = parse.GetValue(parser)!;
            double seconds = parse.GetValue(deadline);
            if (parse.GetValue(cases) < 1) throw new ReparoInputException($"--cases must be positive, not {parse.GetValue(cases)}");
            if (!(seconds > 0)) throw new ReparoInputException($"--deadline must be positive, not {seconds}");
            var options = new FuzzOptions { Cases = parse.GetValue(cases), Seed = run.Seed, Deadline = TimeSpan.FromSeconds(seconds) };
            var results = new List<FuzzParserResult>();
            foreach (string p in name == "all" ? ParserFuzzer.Parsers : [name])
            {
                if (!run.Quiet) run.Note($"fuzzing {p} ({options.Cases} cases)");
                results.Add(ParserFuzzer.Run(p, options));
            }
            var table = new Table().AddColumns("parser", "cases", "accepted", "rejected", "internal errors", "hangs", "memory", "seconds");
            foreach (FuzzParserResult r in results)
                table.AddRow(Markup.Escape(r.Parser), r.Cases.ToString(), r.Accepted.ToString(), r.Rejected.ToString(), r.InternalErrors.ToString(), r.Hangs.ToString(), r.MemoryFailures.ToString(), r.Seconds.ToString("0.0"));
            run.Out.Write(table);
            foreach (FuzzParserResult r in results)
                foreach (FuzzFailure f in r.Failures)
                    run.Out.WriteLine($"{r.Parser} {f.Outcome}: case {f.Case} of {f.SeedFile} ({f.Mutation}): {f.Detail}");
            if (parse.GetValue(markdown) is string path) AtomicFile.WriteAllText(path, ParserFuzzer.Markdown(results, options));
            run.WriteJson(new FuzzResult(run.Seed, options.Cases, seconds, options.MemoryLimitBytes, results));
            return results.All(r => r.Clean) ? CliApp.Success : CliApp.InternalError;
        });
        return command;
    }
}
