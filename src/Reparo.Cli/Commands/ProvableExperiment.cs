using System.CommandLine;
using System.Text.Json;
using Reparo.Cli.Cluster;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Repair;
using Reparo.Repair.Provable;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment provable [--quick] [--resume] [--cluster redis://HOST:PORT]</c>: the APRNN experiments (Tao et al.
/// PLDI'23) re-run on Fashion-MNIST with Reparo's refinements side by side (<see cref="ProvableStudy"/>). Prints the
/// tables, writes JSON and a Markdown results file, both after every step so an interruption loses one step at most.
/// </summary>
internal sealed class ProvableExperiment : IClusterExperiment
{
    private readonly ExperimentArguments arguments = new("A small version (one small model, small repair sets): minutes instead of hours", "docs/results/provable.md");
    private readonly Option<int?> solverThreads = new("--solver-threads") { Description = "LP solver threads (default: the solver's)" };
    private readonly Option<string> solver = new("--solver") { Description = "LP solver: block-ipm (Reparo's interior point on the LP's block structure; falls back to highs), highs, glop, pdlp, clp or gurobi", DefaultValueFactory = _ => "block-ipm" };
    private readonly Option<int> seeds = new("--seeds") { Description = "Model seeds of the mlp:100x3 rows (from --seed on)", DefaultValueFactory = _ => 5 };
    private readonly Option<int> largeSeeds = new("--large-seeds") { Description = "Model seeds of the mlp:200x9 rows (0: skip them)", DefaultValueFactory = _ => 3 };
    private readonly Option<int> preserve = new("--preserve") { Description = "Preserved training inputs of the default provable repair", DefaultValueFactory = _ => PreserveRequest.DefaultCount };
    private readonly Option<bool> resume = new("--resume") { Description = "Keep the finished steps of an interrupted run of the same command from the --json file (with --cluster: also those recorded in Redis) and run the rest" };

    public string Name => ProvableStudy.Name;

    public Command Create(CliContext cli)
    {
        var command = new Command(Name, "APRNN experiments on Fashion-MNIST: Reparo's default vs APRNN's objective and protocol vs PRDNN, last-layer LP, FT, MFT over several seeds; locality; sizes; rotation polytopes; CNN")
        {
            solverThreads, solver, seeds, largeSeeds, preserve, resume, arguments.Cluster,
        };
        arguments.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = arguments.Start(cli, parse);
            bool small = parse.GetValue(arguments.Quick);
            ProvableStudyOptions options = Options(parse, run.Seed);
            DataSplits splits = arguments.LoadFashionMnist(parse);
            int seedCount = parse.GetValue(seeds), largeCount = parse.GetValue(largeSeeds), preserved = parse.GetValue(preserve);
            string commandLine = "./reparo experiment provable" + (small ? " --quick" : "")
                + (seedCount != 5 ? $" --seeds {seedCount}" : "") + (largeCount != 3 ? $" --large-seeds {largeCount}" : "")
                + (preserved != PreserveRequest.DefaultCount ? $" --preserve {preserved}" : "") + (run.Seed != 0 ? $" --seed {run.Seed}" : "") + $" --threads {run.Threads}";
            string json = Path.GetFileName(run.JsonPath ?? "provable.json");
            Action<ProvableStudyReport> partial = arguments.SoFarWriter<ProvableStudyReport>(run, parse, sofar => ProvableStudy.ToMarkdown(sofar, json, complete: false));
            ProvableStudyReport? earlier = parse.GetValue(resume) ? ExperimentArguments.ReadEarlierRun<ProvableStudyReport>(run.JsonPath, "a provable study") : null;
            ModelCache models = arguments.Models(run, parse);
            string ModelFile(string arch, int epochs, int seed) => models.LoadOrTrain(ModelCache.FileName("experiment", arch, epochs, seed), arch, epochs, splits, "fashion-mnist", seed).Path;
            ProvableStudyReport report = ClusterExperimentSteps.Use(parse.GetValue(arguments.Cluster), cli.Arguments, parse.GetValue(resume), run.Notes,
                runner => ProvableStudy.Run(ModelFile, splits, options, commandLine, run.Threads, runner, run.Notes, partial, earlier));
            return arguments.Finish(run, parse, ProvableStudy.ToMarkdown(report, json), report);
        });
        return command;
    }

    public Func<string, string?, string> StepFunction(ParseResult parse)
    {
        var session = new ProvableExperimentSession(arguments.LoadFashionMnist(parse), Options(parse, parse.GetValue<int>("--seed")).Solver);
        return (step, model) => JsonSerializer.Serialize(session.Run(JsonSerializer.Deserialize<ProvableStep>(step, ClusterExperimentSteps.Transport)
            ?? throw new ReparoInputException("an empty provable step"), model!), ClusterExperimentSteps.Transport);
    }

    private ProvableStudyOptions Options(ParseResult parse, int seed)
    {
        bool small = parse.GetValue(arguments.Quick);
        int seedCount = parse.GetValue(seeds), largeCount = parse.GetValue(largeSeeds), preserved = parse.GetValue(preserve);
        if (seedCount < 1 || largeCount < 0 || preserved < 0) throw new ReparoInputException("--seeds must be positive, --large-seeds and --preserve 0 or more");
        return new ProvableStudyOptions
        {
            Quick = small,
            Seeds = [.. Enumerable.Range(seed, small ? Math.Min(seedCount, 2) : seedCount)],
            LargeSeeds = [.. Enumerable.Range(seed, largeCount)],
            DefaultPreserve = preserved,
            Solver = new LpSolverOptions { Solver = LpSolverOptions.ParseSolver(parse.GetValue(solver)!), Threads = parse.GetValue(solverThreads), TimeLimitSeconds = 1800 },
        };
    }
}
