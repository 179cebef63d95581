using System.CommandLine;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Reparo.Cluster;
using Reparo.Experiments;
using Reparo.Io;

namespace Reparo.Cli.Cluster;

/// <summary>
/// An experiment whose steps a cluster's workers can run (<c>reparo experiment NAME … --cluster</c>): its command, whose
/// options a worker reads from the client's command line, and its step function.
/// </summary>
internal interface IClusterExperiment
{
    /// <summary>The experiment's name: its subcommand and the name its plan gives the runner.</summary>
    string Name { get; }

    /// <summary>The experiment's subcommand.</summary>
    Command Create(CliContext cli);

    /// <summary>The step function a worker runs for the command line in <paramref name="parse"/>: a step (JSON) and the local path of its model (null: none) to the result (JSON).</summary>
    Func<string, string?, string> StepFunction(ParseResult parse);
}

/// <summary>
/// Experiment steps as cluster work: the client stores each model the steps read by its SHA-256 and sends every step
/// with the experiment's own command line; a worker reads that command line exactly as <c>reparo experiment</c> does and
/// runs the experiment's step function (the same one the in-process run calls), so the results are the same. A step is
/// recorded in Redis once; <c>--resume</c> continues the run's latest generation, and finds each recorded step by its content.
/// </summary>
internal sealed class ClusterExperimentSteps(IClusterClient client, Func<Task<bool>> storageAnswers, string storageName, IReadOnlyList<string> args, bool resume,
    IProgress<string> progress) : IExperimentStepRunner
{
    /// <summary>The kind of cluster work one experiment step is.</summary>
    public const string Kind = "experiment-step";

    /// <summary>Options whose values say where results go or how the client runs, not what the work computes.</summary>
    private static readonly string[] ClientOnly = ["--cluster", "--json", "--markdown", "--plot", "--report", "--cache-dir"];

    private static readonly string[] ClientOnlyFlags = ["--resume", "--quiet", "-q"];

    private sealed record Payload(string Experiment, string[] Args, string Step);

    /// <summary>How steps and results travel: Reparo's JSON with fields too (a step's row range is a tuple), so that a result comes back whole.</summary>
    public static JsonSerializerOptions Transport { get; } = new(ReparoJson.Options) { IncludeFields = true, WriteIndented = false };

    /// <summary>The experiments a worker can run steps of (new instances: each holds its command's options).</summary>
    public static IClusterExperiment[] Experiments() =>
        [new Commands.ProvableExperiment(), new Commands.RectificationExperiment(), new Commands.InformedRepairExperiment(), new Commands.RnnRepairExperiment()];

    /// <summary>
    /// Runs <paramref name="body"/> with the runner the command line asks for: in this process without
    /// <paramref name="address"/>, else on the cluster there (connected for the duration).
    /// </summary>
    public static T Use<T>(string? address, IReadOnlyList<string> args, bool resume, IProgress<string> progress, Func<IExperimentStepRunner, T> body)
    {
        if (address is null) return body(InProcessStepRunner.Instance);
        ClusterAddress cluster = ClusterAddress.Parse(address);
        using IHost host = ReparoCluster.Connect(cluster, CancellationToken.None).GetAwaiter().GetResult();
        return body(new ClusterExperimentSteps(host.Services.GetRequiredService<IClusterClient>(), () => ReparoCluster.RedisAnswers(cluster), $"Redis at {cluster}", args, resume, progress));
    }

    /// <inheritdoc/>
    public void Run<TStep, TResult>(string experiment, IReadOnlyList<ExperimentStep<TStep>> steps, Func<TStep, string?, TResult> runHere, Action<int, TResult> recorded)
    {
        var shas = new Dictionary<string, string>();
        foreach (string path in steps.Select(s => s.ModelPath).OfType<string>().Distinct())
        {
            byte[] bytes = File.ReadAllBytes(path);
            shas[path] = Convert.ToHexStringLower(SHA256.HashData(bytes));
            client.GetGrain<IModelGrain>(shas[path]).Put(bytes).GetAwaiter().GetResult();
        }
        WorkItem[] items = [.. steps.Select(s => Item(experiment, args, JsonSerializer.Serialize(s.Step, Transport), s.ModelPath is null ? null : shas[s.ModelPath]))];
        string runName = RunName($"experiment/{experiment}", "", args);
        progress.Report($"{items.Length} steps of the {experiment} experiment to the cluster as {runName}{(resume ? " (resuming)" : "")}");
        ClusterRunResult run = ClusterWork.Run(client, runName, items, resume, storageAnswers, storageName, progress,
            (i, json) => recorded(i, JsonSerializer.Deserialize<TResult>(json, Transport) ?? throw new ReparoEnvironmentException($"a worker returned an empty result for step {i}", new InvalidDataException(json))))
            .GetAwaiter().GetResult();
        progress.Report($"{items.Length} steps: {run.Resumed} recorded before, {run.Restarts} restarted after a worker went away; workers {string.Join(", ", run.Workers.Distinct())}");
    }

    /// <summary>One step as a unit of work: the experiment, its command line as a worker reads it, the step (JSON), the SHA-256 of the model it reads (if any).</summary>
    internal static WorkItem Item(string experiment, IReadOnlyList<string> args, string step, string? modelSha) => new()
    {
        Kind = Kind,
        Payload = JsonSerializer.Serialize(new Payload(experiment, WhatWorkReads(args), step), ReparoJson.Options),
        Models = modelSha is null ? [] : [modelSha],
    };

    /// <summary>An experiment step's session (in a worker's child process): the step function its command line describes, and its <c>--threads</c>.</summary>
    internal static WorkerExecutor.Session OpenSession(WorkItem item)
    {
        Payload payload = Read(item);
        var cli = new CliContext(new CliIo(TextWriter.Null, TextWriter.Null), new GlobalOptions()) { Arguments = payload.Args };
        IClusterExperiment[] experiments = Experiments();
        var group = new Command("experiment");
        foreach (IClusterExperiment experiment in experiments) group.Subcommands.Add(experiment.Create(cli));
        var root = new Command("reparo") { cli.Options.Json, cli.Options.Seed, cli.Options.Threads, cli.Options.Quiet };
        root.Subcommands.Add(group);
        ParseResult parse = root.Parse(payload.Args);
        IClusterExperiment? named = experiments.FirstOrDefault(e => e.Name == payload.Experiment && parse.CommandResult.Command.Name == e.Name);
        if (parse.Errors.Count > 0 || named is null)
            throw new ReparoInputException($"not a command line of the {payload.Experiment} experiment: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
        int? threads = parse.GetValue(cli.Options.Threads);
        if (threads is < 1) throw new ReparoInputException($"--threads must be at least 1, got {threads}");
        Func<string, string?, string> step = named.StepFunction(parse);
        return new WorkerExecutor.Session((unit, models) => step(Read(unit).Step, unit.Models.Count == 0 ? null : models[unit.Models.Single()]), threads);
    }

    private static Payload Read(WorkItem item) => JsonSerializer.Deserialize<Payload>(item.Payload, ReparoJson.Options) ?? throw new ReparoInputException("an empty experiment step");

    /// <summary>
    /// A run's name in the cluster: <paramref name="prefix"/> and a hash of <paramref name="content"/> and of the command
    /// line without the options that only say where output goes or how the client runs, so that the same run resumed
    /// (<c>--resume</c>) finds its generation.
    /// </summary>
    internal static string RunName(string prefix, string content, IReadOnlyList<string> args) =>
        $"{prefix}/{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(content + "\n" + string.Join("\n", WithoutClientOptions(args)))))[..32]}";

    /// <summary>
    /// The command line without the options that only say where output goes or how the client runs: what a worker
    /// reads, and what names the run (so a resumed run, with <c>--resume</c> and perhaps another <c>--json</c>, is the same run).
    /// </summary>
    internal static string[] WhatWorkReads(IReadOnlyList<string> args) => [.. WithoutClientOptions(args)];

    private static IEnumerable<string> WithoutClientOptions(IReadOnlyList<string> args)
    {
        for (int i = 0; i < args.Count; i++)
        {
            string name = args[i].Split('=', 2)[0];
            if (ClientOnlyFlags.Contains(name)) continue;
            if (ClientOnly.Contains(name))
            {
                if (!args[i].Contains('=')) i++;
                continue;
            }
            yield return args[i];
        }
    }
}
