using System.CommandLine;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Influence;
using Reparo.Io;
using Reparo.Models;
using Reparo.Repair.Provable;
using Spectre.Console;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo bench train</c>: a table of training and inference throughput for each zoo model; <c>reparo bench influence</c>:
/// RNNRepair's influence model over the 60 000 Fashion-MNIST training images (build, query, EM against scikit-learn);
/// <c>reparo bench lp</c>: LP solvers side by side on one program read from an MPS file.
/// </summary>
internal static class BenchCommand
{
    private sealed record BenchResult(string Data, int Threads, IReadOnlyList<TrainingSpeed> Rows);

    public static Command Create(CliContext cli)
    {
        var data = new DataArguments(defaultData: "fashion-mnist", preprocessing: false);
        var archs = new Option<string>("--archs")
        {
            Description = "Comma-separated architectures",
            DefaultValueFactory = _ => string.Join(",", ModelZoo.ImageBenchmarkArchitectures),
        };
        var batchSize = new Option<int>("--batch-size") { Description = "Samples per step", DefaultValueFactory = _ => 128 };
        var batches = new Option<int>("--batches") { Description = "Timed steps per model", DefaultValueFactory = _ => 30 };
        var train = new Command("train", "Measure forward+backward samples/s and epoch time of each zoo model") { archs, batchSize, batches };
        data.AddTo(train);
        train.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            DataSplits splits = data.Load(parse);
            var rows = new List<TrainingSpeed>();
            foreach (string arch in parse.GetValue(archs)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                run.Note($"bench: {arch}");
                rows.Add(TrainingBenchmark.Measure(arch, splits.Train, parse.GetValue(batchSize), parse.GetValue(batches), run.Seed));
            }
            var table = new Table().AddColumns("model", "parameters", "train samples/s", "inference samples/s", $"epoch s ({splits.Train.Count} samples)");
            foreach (TrainingSpeed r in rows)
                table.AddRow(Markup.Escape(r.Architecture), r.Parameters.ToString("N0"), r.TrainSamplesPerSecond.ToString("N0"), r.InferenceSamplesPerSecond.ToString("N0"), r.EpochSeconds.ToString("F1"));
            run.Out.MarkupLine($"training throughput on {Markup.Escape(parse.GetValue(data.Data)!)}, batch {parse.GetValue(batchSize)}, {run.Threads} threads");
            run.Out.Write(table);
            run.WriteJson(new BenchResult(parse.GetValue(data.Data)!, run.Threads, rows));
            return CliApp.Success;
        });
        return new Command("bench", "Benchmarks (print a table, write JSON)") { train, Influence(cli), Lp(cli), ScaleOut(cli) };
    }

    private static Command ScaleOut(CliContext cli)
    {
        var workers = new Option<string>("--workers") { Description = "Cluster sizes to time, comma-separated (worker processes on this machine)", DefaultValueFactory = _ => "1,2", HelpName = "N[,N…]" };
        var markdown = new Option<string?>("--markdown") { Description = "Write the results as Markdown here (e.g. docs/results/scale-out.md)", HelpName = "PATH" };
        var study = new StudyCommand.StudyArguments();
        var command = new Command("scale-out", "Time one study locally and on clusters of 1, 2, … reparo worker processes here (Redis from redis-server on loopback)") { workers, markdown };
        study.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            int[] counts = [.. parse.GetValue(workers)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(t => int.TryParse(t, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int n) && n is > 0 and <= 64
                    ? n : throw new ReparoInputException($"--workers: '{t}' is not a number of workers (1–64)"))];
            (Network network, DataSplits splits, InformedRepairOptions options) = study.Prepare(parse, run.Seed, run.ModelLoading);
            // The study's own command line, as a worker reads it: "bench scale-out" becomes "study", --workers and --markdown go.
            var args = new List<string>();
            for (int i = 0; i < cli.Arguments.Count; i++)
            {
                string token = cli.Arguments[i];
                if (token == "bench" && i + 1 < cli.Arguments.Count && cli.Arguments[i + 1] == "scale-out") { args.Add("study"); i++; continue; }
                if (token is "--workers" or "--markdown") { i++; continue; }
                if (token.StartsWith("--workers=", StringComparison.Ordinal) || token.StartsWith("--markdown=", StringComparison.Ordinal)) continue;
                args.Add(token);
            }
            Cluster.ScaleOutReport report = Cluster.ScaleOutBenchmark.Run("./reparo " + string.Join(' ', cli.Arguments), args, parse.GetValue(study.Model)!, network, splits, options, counts, run.Threads, new Progress<string>(run.Note));
            var table = new Table().AddColumns("run", "start s", "wall s", "speed-up over local", "same JSON as local");
            table.AddRow("local", "–", report.LocalSeconds.ToString("F1"), "1.00×", "–");
            foreach (Cluster.ScaleOutRow row in report.Rows)
                table.AddRow($"{row.Workers} worker(s)", row.StartSeconds.ToString("F1"), row.WallSeconds.ToString("F1"), $"{report.LocalSeconds / row.WallSeconds:F2}×", row.SameAsLocal ? "yes" : "no");
            run.Out.Write(table);
            if (parse.GetValue(markdown) is string path)
                AtomicFile.WriteAllText(path, Cluster.ScaleOutBenchmark.ToMarkdown(report, Path.GetFileName(run.JsonPath ?? "scale-out.json")));
            run.WriteJson(report);
            return CliApp.Success;
        });
        return command;
    }

    private static Command Influence(CliContext cli)
    {
        var model = new Option<string?>("--model") { Description = "A recurrent model of Fashion-MNIST (default: train or reuse a cached --arch model)", HelpName = "PATH" };
        var arch = new Option<string>("--arch") { Description = "Architecture of the default model", DefaultValueFactory = _ => "lstm:128", HelpName = "lstm:H|gru:H" };
        var markdown = new Option<string?>("--markdown") { Description = "Write the results as Markdown here (e.g. docs/results/influence-speed.md)", HelpName = "PATH" };
        var epochs = new Option<int>("--epochs") { Description = "Training epochs of the default model", DefaultValueFactory = _ => 3 };
        var k = new Option<string>("--k") { Description = "Candidate numbers of abstract states swept by stability", DefaultValueFactory = _ => "5,10,15,20,25,30,35,40", HelpName = "K[,K…]" };
        var queries = new Option<int>("--queries") { Description = "Test inputs queried for the latency figures", DefaultValueFactory = _ => 100 };
        var export = new Option<string?>("--export-vectors") { Description = "Write the PCA-reduced step vectors here (.npy) for scikit-learn (default: a temporary file, deleted after)", HelpName = "PATH" };
        var restarts = new Option<int>("--restarts") { Description = "Also time Reparo's EM from this many k-means++ starts, keeping the best (scikit-learn's n_init)", DefaultValueFactory = _ => 1, HelpName = "N" };
        var noSklearn = new Option<bool>("--no-sklearn") { Description = "Do not run scikit-learn even if it is installed" };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Where the default model is cached (default ~/.cache/reparo/models)", HelpName = "DIR" };
        var dataDir = new Option<string?>("--data-dir") { Description = "Folder searched first for dataset files", HelpName = "DIR" };
        var command = new Command("influence", "RNNRepair influence model on all 60 000 Fashion-MNIST training images: build time, query latency, EM against scikit-learn")
        {
            model, arch, epochs, k, queries, export, restarts, noSklearn, cacheDir, dataDir, markdown,
        };
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            DataSplits splits = DataCatalog.Load("fashion-mnist", new DataOptions { DataDir = parse.GetValue(dataDir) });
            string architecture = parse.GetValue(arch)!;
            Network network = parse.GetValue(model) is string path ? run.LoadModel(path)
                : run.Models(parse.GetValue(cacheDir) ?? ModelCache.DefaultFolder).LoadOrTrain(ModelCache.FileName("bench", architecture, parse.GetValue(epochs), run.Seed),
                    architecture, parse.GetValue(epochs), splits, "fashion-mnist", run.Seed).Network;
            string described = parse.GetValue(model) is string given ? $"`{given}`" : $"`{architecture}` trained {parse.GetValue(epochs)} epochs (seed {run.Seed}, cached)";
            Dataset all = Remediation.RetrainComparison.Append(splits.Train, splits.Validation);
            string vectors = parse.GetValue(export) ?? Path.Combine(Path.GetTempPath(), $"reparo-steps-{Environment.ProcessId}.npy");
            try
            {
                var options = new InfluenceBenchmarkOptions(InfluenceCommand.ParseCandidates(parse.GetValue(k)!), parse.GetValue(queries), 100, vectors,
                    parse.GetValue(noSklearn) ? null : InfluenceBenchmark.FindSklearnPython(), run.Seed, parse.GetValue(restarts));
                InfluenceBenchmarkReport report = InfluenceBenchmark.Run(network, all, splits.Test, options, new Progress<string>(run.Note));
                Print(run.Out, report);
                run.WriteJson(report);
                if (parse.GetValue(markdown) is string md)
                {
                    string commandLine = "./reparo bench influence" + (parse.GetValue(model) is string m ? $" --model {m}" : $" --arch {architecture} --epochs {parse.GetValue(epochs)}")
                        + $" --k {parse.GetValue(k)}" + (parse.GetValue(restarts) > 1 ? $" --restarts {parse.GetValue(restarts)}" : "") + $" --threads {run.Threads}"
                        + (run.JsonPath is { } j ? $" --json {j}" : "") + $" --markdown {md}";
                    AtomicFile.WriteAllText(md, InfluenceBenchmark.ToMarkdown(report, described, commandLine, Path.GetFileName(run.JsonPath ?? "influence-speed.json")));
                }
            }
            finally
            {
                if (parse.GetValue(export) is null) File.Delete(vectors);
            }
            return CliApp.Success;
        });
        return command;
    }

    private static Command Lp(CliContext cli)
    {
        var mps = new Option<string>("--mps") { Description = "The program, in MPS format (e.g. written by reparo repair --export-lp)", Required = true, HelpName = "PATH" };
        var solvers = new Option<string>("--solvers") { Description = "Comma-separated solvers, run in this order; the first is the reference objective", DefaultValueFactory = _ => "highs,block-ipm", HelpName = "S[,S…]" };
        var threads = new Option<int?>("--solver-threads") { Description = "Solver threads (default: each solver's own)" };
        var timeLimit = new Option<double?>("--time-limit") { Description = "Time limit per solver in seconds", HelpName = "S" };
        var markdown = new Option<string?>("--markdown") { Description = "Write or replace this program's section (headed by the MPS file's name) of a results file (e.g. docs/results/lp-solvers.md)", HelpName = "PATH" };
        var solverOptions = new Option<string[]>("--solver-option") { Description = "A further option for one of the solvers, SOLVER:NAME=VALUE in that solver's own names (repeatable; e.g. block-ipm:max_multiply_adds=1e11)", HelpName = "SOLVER:NAME=VALUE" };
        var command = new Command("lp", "Time LP solvers side by side on one program: status, objective, violation, seconds (block-ipm without its HiGHS fallback)")
        {
            mps, solvers, threads, timeLimit, markdown, solverOptions,
        };
        command.SetAction(parse =>
        {
            CommandRun run = cli.Start(parse);
            string path = parse.GetValue(mps)!;
            if (!File.Exists(path)) throw new ReparoInputException($"no MPS file at {path}");
            LinearProgram lp;
            using (var reader = new StreamReader(path)) lp = LinearProgram.ReadMps(reader);
            LpSolverKind[] kinds = [.. parse.GetValue(solvers)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(LpSolverOptions.ParseSolver)];
            var settings = new LpSolverOptions { Threads = parse.GetValue(threads), TimeLimitSeconds = parse.GetValue(timeLimit) };
            string[] optionItems = parse.GetValue(solverOptions) ?? [];
            LpSolverBenchmarkReport report = LpSolverBenchmark.Run(lp, path, kinds, settings, ParseSolverOptions(optionItems), new Progress<string>(run.Note));
            Print(run.Out, report);
            run.WriteJson(report);
            if (parse.GetValue(markdown) is string md)
            {
                string commandLine = $"./reparo bench lp --mps {path} --solvers {parse.GetValue(solvers)}" + (parse.GetValue(threads) is int t ? $" --solver-threads {t}" : "")
                    + (parse.GetValue(timeLimit) is double limit ? FormattableString.Invariant($" --time-limit {limit}") : "") + string.Concat(optionItems.Select(o => $" --solver-option {o}"))
                    + (run.JsonPath is { } json ? $" --json {json}" : "") + $" --markdown {md}";
                MarkdownSection.Write(md, "# LP solvers side by side", LpSolverBenchmark.SectionHeading(report), LpSolverBenchmark.ToMarkdown(report, commandLine, run.JsonPath ?? "lp.json"));
            }
            return CliApp.Success;
        });
        return command;
    }

    /// <summary>Parses SOLVER:NAME=VALUE items into each solver's own options.</summary>
    private static Dictionary<LpSolverKind, IReadOnlyDictionary<string, string>> ParseSolverOptions(string[] items)
    {
        var result = new Dictionary<LpSolverKind, Dictionary<string, string>>();
        foreach (string item in items)
        {
            int colon = item.IndexOf(':', StringComparison.Ordinal), eq = item.IndexOf('=', StringComparison.Ordinal);
            if (colon <= 0 || eq <= colon + 1) throw new ReparoInputException($"--solver-option '{item}' should be SOLVER:NAME=VALUE");
            LpSolverKind kind = LpSolverOptions.ParseSolver(item[..colon].Trim());
            if (!result.TryGetValue(kind, out Dictionary<string, string>? own)) result[kind] = own = [];
            own[item[(colon + 1)..eq].Trim()] = item[(eq + 1)..].Trim();
        }
        return result.ToDictionary(kv => kv.Key, kv => (IReadOnlyDictionary<string, string>)kv.Value);
    }

    internal static void Print(IAnsiConsole console, LpSolverBenchmarkReport r)
    {
        console.MarkupLine(Markup.Escape($"{r.Source}: {r.Size.Rows:N0} rows × {r.Size.Cols:N0} columns, {r.Size.Nonzeros:N0} nonzeros; solver threads {r.Threads}"));
        var table = new Table().AddColumns("solver", "status", "seconds", "objective", "rel. diff", "max violation", "iterations");
        foreach (LpSolverRun s in r.Runs)
            table.AddRow(Markup.Escape(s.Solver), s.Status.ToString(), $"{s.Seconds:F2}", $"{s.Objective:G10}", $"{s.ObjectiveDifference:G2}", $"{s.MaxViolation:G2}", s.Iterations?.ToString() ?? "");
        console.Write(table);
        foreach (LpSolverRun s in r.Runs)
        {
            console.WriteLine($"{s.Solver}: {s.Detail}");
            if (s.Structure is not null) console.WriteLine($"  structure: {s.Structure}");
            if (s.Phases is { } p) console.WriteLine($"  time: set-up {p.Setup:F2} s, factorisations {p.Factor:F2} s, rest {p.Solve:F2} s");
        }
        foreach (LpSolverRun other in r.Runs.Skip(1))
            console.WriteLine(LpSolverBenchmark.Ratio(r.Runs[0], other) is double ratio
                ? $"{r.Runs[0].Solver} / {other.Solver} time: {ratio:F2}×"
                : $"no time ratio for {other.Solver}: it ended {other.Status}");
    }

    internal static void Print(IAnsiConsole console, InfluenceBenchmarkReport r)
    {
        var build = new Table().AddColumns("build", "K", "profile s", "PCA s", "mixtures s", "index s", "total s");
        foreach ((string name, InfluenceBuildReport b) in new[] { ("K sweep (stability)", r.Sweep), ("chosen K alone", r.FixedK) })
            build.AddRow(name, b.K.ToString(), $"{b.Time.ProfileSeconds:F2}", $"{b.Time.PcaSeconds:F2}", $"{b.Time.MixtureSeconds:F2}", $"{b.Time.IndexSeconds:F2}", $"{b.Time.TotalSeconds:F2}");
        console.MarkupLine($"influence model over {r.Samples} sequences, {r.Steps} hidden states (paper: 76.37 s; target ≤ 20 s)");
        console.Write(build);
        QueryLatency q = r.Latency;
        console.MarkupLine($"query over {q.Count} test inputs: search mean {q.SearchMean:F2} ms, median {q.SearchMedian:F2} ms, max {q.SearchMax:F2} ms; with profiling the input {q.WithProfilingMean:F2} ms (paper: 1.16 s; target ≤ 10 ms)");
        var fits = new Table().AddColumns("EM", "K", "seconds", "iterations", "converged", "BIC");
        foreach (MixtureFit f in r.Fits) fits.AddRow(f.Implementation, f.K.ToString(), $"{f.Seconds:F2}", f.Iterations.ToString(), f.Converged ? "yes" : "no", f.Bic.ToString("G8"));
        console.Write(fits);
        if (r.SklearnCommand is not null) console.WriteLine($"scikit-learn on the same vectors: {r.SklearnCommand}");
        if (r.SklearnNote is not null) console.WriteLine(r.SklearnNote);
    }
}
