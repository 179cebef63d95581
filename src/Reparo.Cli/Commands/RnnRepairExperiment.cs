using System.CommandLine;
using System.Text.Json;
using Reparo.Cli.Cluster;
using Reparo.Data;
using Reparo.Experiments;

namespace Reparo.Cli.Commands;

/// <summary>
/// <c>reparo experiment rnnrepair [--quick] [--resume] [--cluster redis://HOST:PORT]</c>: the evaluation of RNNRepair (Xie
/// et al., ICML'21) — influence-model build time and query latency on Fashion-MNIST (Sec. 4.1) with Reparo's EM beside
/// scikit-learn's, the fidelity of the abstract model's features (Table 1), mislabel finding against Koh &amp; Liang,
/// TracIn, representer points and random (Sec. 4.2), and sample- and segment-level remediation (Tables 3 and 4). Writes
/// the JSON and the Markdown after every part so an interruption loses one part at most; <c>--resume</c> keeps the
/// finished parts of the JSON at <c>--json</c> (and, with <c>--cluster</c>, every part the cluster recorded).
/// </summary>
internal sealed class RnnRepairExperiment : IClusterExperiment
{
    private readonly ExperimentArguments arguments = new("A small version (subsets, one pair, few seeds): minutes", "docs/results/rnnrepair.md");
    private readonly Option<bool> resume = new("--resume") { Description = "Keep the finished parts of an interrupted run of the same command from the --json file (with --cluster: also those recorded in Redis) and run the rest" };

    public string Name => RnnRepairExperimentPlan.Name;

    public Command Create(CliContext cli)
    {
        var command = new Command(Name, "RNNRepair on Fashion-MNIST and WordNet: influence-model speed, fidelity, mislabel finding, sample- and segment-level remediation") { arguments.Cluster, resume };
        arguments.AddTo(command);
        command.SetAction(parse =>
        {
            CommandRun run = arguments.Start(cli, parse);
            bool quick = parse.GetValue(arguments.Quick);
            RnnRepairResults? earlier = parse.GetValue(resume) ? ExperimentArguments.ReadEarlierRun<RnnRepairResults>(run.JsonPath, "an RNNRepair experiment") : null;
            ModelCache models = arguments.Models(run, parse);
            string commandLine = "./reparo experiment rnnrepair" + (quick ? " --quick" : "") + (run.Seed != 0 ? $" --seed {run.Seed}" : "") + $" --threads {run.Threads}";
            string json = Path.GetFileName(run.JsonPath ?? "rnnrepair.json");
            Action<RnnRepairResults> partial = arguments.SoFarWriter<RnnRepairResults>(run, parse, sofar => RnnRepairExperimentPlan.ToMarkdown(sofar, commandLine, run.Threads, json));
            DataSplits fashion = arguments.LoadFashionMnist(parse);
            RnnRepairResults results = ClusterExperimentSteps.Use(parse.GetValue(arguments.Cluster), cli.Arguments, parse.GetValue(resume), run.Notes,
                runner => RnnRepairExperimentPlan.Run(fashion, parse.GetValue(arguments.DataDir), models, quick, run.Seed, runner, run.Notes, partial, earlier));
            return arguments.Finish(run, parse, RnnRepairExperimentPlan.ToMarkdown(results, commandLine, run.Threads, json), results);
        });
        return command;
    }

    public Func<string, string?, string> StepFunction(ParseResult parse)
    {
        var session = new RnnRepairExperimentSession(arguments.LoadFashionMnist(parse), parse.GetValue(arguments.DataDir), parse.GetValue(arguments.Quick), parse.GetValue<int>("--seed"));
        return (step, model) => JsonSerializer.Serialize(session.Run(JsonSerializer.Deserialize<RnnRepairPart>(step, ClusterExperimentSteps.Transport)
            ?? throw new ReparoInputException("an empty RNNRepair part"), model), ClusterExperimentSteps.Transport);
    }
}
