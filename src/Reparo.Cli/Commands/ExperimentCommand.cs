using System.CommandLine;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Io;
using Reparo.Repair;
using Reparo.Repair.Provable;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment provable [--quick]</c>: the APRNN experiments (Tao et al. PLDI'23) re-run on Fashion-MNIST with
/// Reparo's refinements side by side (<see cref="ProvableStudy"/>). Prints the tables, writes JSON and a Markdown results file,
/// both after every step so an interruption loses one step at most.
/// </summary>
internal static class ExperimentCommand
{
    public static Command Create(CliContext cli)
    {
        var arguments = new ExperimentArguments("A small version (one small model, small repair sets): minutes instead of hours", "docs/results/provable.md");
        var solverThreads = new Option<int?>("--solver-threads") { Description = "LP solver threads (default: the solver's)" };
        var solver = new Option<string>("--solver") { Description = "LP solver: block-ipm (Reparo's interior point on the LP's block structure; falls back to highs), highs, glop, pdlp, clp or gurobi", DefaultValueFactory = _ => "block-ipm" };
        var seeds = new Option<int>("--seeds") { Description = "Model seeds of the mlp:100x3 rows (from --seed on)", DefaultValueFactory = _ => 5 };
        var largeSeeds = new Option<int>("--large-seeds") { Description = "Model seeds of the mlp:200x9 rows (0: skip them)", DefaultValueFactory = _ => 3 };
        var preserve = new Option<int>("--preserve") { Description = "Preserved training inputs of the default provable repair", DefaultValueFactory = _ => PreserveRequest.DefaultCount };
        var resume = new Option<bool>("--resume") { Description = "Keep the finished steps of an interrupted run of the same command from the --json file and run the rest" };
        var provable = new Command("provable", "APRNN experiments on Fashion-MNIST: Reparo's default vs APRNN's objective and protocol vs PRDNN, last-layer LP, FT, MFT over several seeds; locality; sizes; rotation polytopes; CNN")
        {
            solverThreads, solver, seeds, largeSeeds, preserve, resume,
        };
        arguments.AddTo(provable);
        provable.SetAction(parse =>
        {
            CommandRun run = arguments.Start(cli, parse);
            bool small = parse.GetValue(arguments.Quick);
            DataSplits splits = arguments.LoadFashionMnist(parse);
            int seedCount = parse.GetValue(seeds), largeCount = parse.GetValue(largeSeeds), preserved = parse.GetValue(preserve);
            if (seedCount < 1 || largeCount < 0 || preserved < 0) throw new ReparoInputException("--seeds must be positive, --large-seeds and --preserve 0 or more");
            var options = new ProvableStudyOptions
            {
                Quick = small,
                Seeds = [.. Enumerable.Range(run.Seed, small ? Math.Min(seedCount, 2) : seedCount)],
                LargeSeeds = [.. Enumerable.Range(run.Seed, largeCount)],
                DefaultPreserve = preserved,
                Solver = new LpSolverOptions { Solver = LpSolverOptions.ParseSolver(parse.GetValue(solver)!), Threads = parse.GetValue(solverThreads), TimeLimitSeconds = 1800 },
            };
            string command = "./reparo experiment provable" + (small ? " --quick" : "")
                + (seedCount != 5 ? $" --seeds {seedCount}" : "") + (largeCount != 3 ? $" --large-seeds {largeCount}" : "")
                + (preserved != PreserveRequest.DefaultCount ? $" --preserve {preserved}" : "") + (run.Seed != 0 ? $" --seed {run.Seed}" : "") + $" --threads {run.Threads}";
            string json = Path.GetFileName(run.JsonPath ?? "provable.json");
            string? markdown = parse.GetValue(arguments.Markdown);
            void Partial(ProvableStudyReport partial)
            {
                if (markdown is not null) AtomicFile.WriteAllText(markdown, ProvableStudy.ToMarkdown(partial, json, complete: false));
                run.WriteJson(partial);
            }
            ProvableStudyReport? earlier = parse.GetValue(resume) ? ExperimentArguments.ReadEarlierRun<ProvableStudyReport>(run.JsonPath, "a provable study") : null;
            ProvableStudyReport report = ProvableStudy.Run(arguments.Models(run, parse).Memoized("experiment", splits, "fashion-mnist"), splits, options, command, run.Threads, new Progress<string>(run.Note), Partial, earlier);
            return arguments.Finish(run, parse, ProvableStudy.ToMarkdown(report, json), report);
        });
        return new Command("experiment", "Re-run a paper's experiments (with --quick for a small version)") { provable, new RectificationExperiment().Create(cli), RnnRepairExperiment.Create(cli), new InformedRepairExperiment().Create(cli), OnnxConformanceExperiment.Create(cli), OnnxFixturesExperiment.Create(cli), StaticEditExperiment.Create(cli) };
    }
}
