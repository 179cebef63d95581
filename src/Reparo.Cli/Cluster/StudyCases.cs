using System.CommandLine;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Reparo.Cli.Commands;
using Reparo.Cluster;
using Reparo.Experiments;
using Reparo.Io;
using Reparo.Models;

namespace Reparo.Cli.Cluster;

/// <summary>
/// The informed-repair study's cases as cluster work: the client sends the study's own command line with the keys of
/// the cases to run, and a worker reads that command line exactly as <c>reparo study</c> does, so every case runs with
/// the settings the local run would use (the model comes by its SHA-256). One unit of work is one repair set at one
/// size with every method: building and analysing the repair set (corrupting the whole test split, for fog) is most of
/// a case's cost, and the methods of one set share it, as they do in the local run.
/// </summary>
internal static class StudyCases
{
    /// <summary>The kind of cluster work one study case is.</summary>
    public const string Kind = "study-case";

    private sealed record Payload(string[] Args, IReadOnlyList<StudyCaseKey> Cases);

    /// <summary>Runs the study's cases on the cluster at <paramref name="address"/> and puts them together as the local run does.</summary>
    public static StudyReport RunOnCluster(ClusterAddress address, string modelPath, IReadOnlyList<string> args, Network network, InformedRepairOptions options, bool resume,
        IProgress<string> progress, out ClusterRunResult run)
    {
        using IHost host = ReparoCluster.Connect(address, CancellationToken.None).GetAwaiter().GetResult();
        IClusterClient client = host.Services.GetRequiredService<IClusterClient>();
        return Run(client, () => ReparoCluster.RedisAnswers(address), $"Redis at {address}", modelPath, args, network, options, resume, progress, out run);
    }

    /// <summary>
    /// Runs the study's cases on the cluster behind <paramref name="client"/>: the model stored by its SHA-256, one unit of
    /// work per case of <see cref="InformedRepairStudy.Plan"/>, the results put together as the local run does.
    /// </summary>
    public static StudyReport Run(IClusterClient client, Func<Task<bool>> storageAnswers, string storageName, string modelPath, IReadOnlyList<string> args,
        Network network, InformedRepairOptions options, bool resume, IProgress<string> progress, out ClusterRunResult run)
    {
        IReadOnlyList<StudyCaseKey> plan = InformedRepairStudy.Plan(network, options);
        byte[] model = File.ReadAllBytes(modelPath);
        string sha = Convert.ToHexStringLower(SHA256.HashData(model));
        string[] caseArgs = ClusterExperimentSteps.WhatWorkReads(args);
        string runName = ClusterExperimentSteps.RunName("study", sha, args);
        // The plan runs repair set by repair set, size by size, method by method: each (set, size) is one unit of work.
        StudyCaseKey[][] groups = [.. plan.GroupBy(key => (key.RepairSet, key.Size)).Select(g => g.ToArray())];
        WorkItem[] items = [.. groups.Select(keys => new WorkItem { Kind = Kind, Payload = JsonSerializer.Serialize(new Payload(caseArgs, keys), ReparoJson.Options), Models = [sha] })];
        client.GetGrain<IModelGrain>(sha).Put(model).GetAwaiter().GetResult();
        progress.Report($"{plan.Count} cases in {items.Length} units (a repair set at one size, every method) to the cluster as {runName}{(resume ? " (resuming)" : "")}");
        run = ClusterWork.Run(client, runName, items, resume, storageAnswers, storageName, progress).GetAwaiter().GetResult();
        progress.Report($"{items.Length} units: {run.Resumed} recorded before, {run.Restarts} restarted after a worker went away; workers {string.Join(", ", run.Workers.Distinct())}");
        return Combine(run.Results, options.Tolerance);
    }

    /// <summary>Puts the units' results (JSON arrays of cases, in plan order) together into the study's report.</summary>
    public static StudyReport Combine(IReadOnlyList<string> results, double tolerance) =>
        InformedRepairStudy.Combine([.. results.SelectMany(json => JsonSerializer.Deserialize<StudyCaseResult[]>(json, ReparoJson.Options)
            ?? throw new ReparoEnvironmentException("a worker returned an empty unit", new InvalidDataException(json)))], tolerance);

    /// <summary>
    /// A study unit's session (in a worker's child process): the model, the data and what the study's cases share
    /// (<see cref="InformedRepairSession"/>), and the study's <c>--threads</c>.
    /// </summary>
    internal static WorkerExecutor.Session OpenSession(WorkItem item, IReadOnlyDictionary<string, string> models)
    {
        (Network network, Data.DataSplits splits, InformedRepairOptions options, int? threads) = ReadStudy(Read(item).Args, models[item.Models.Single()]);
        var session = new InformedRepairSession(network, splits, options);
        return new WorkerExecutor.Session((unit, _) => JsonSerializer.Serialize<StudyCaseResult[]>([.. Read(unit).Cases.Select(key => session.Run(key))], ReparoJson.Options), threads);
    }

    private static Payload Read(WorkItem item) => JsonSerializer.Deserialize<Payload>(item.Payload, ReparoJson.Options) ?? throw new ReparoInputException("an empty study case");

    /// <summary>
    /// Reads a study's command line (<c>study --model …</c>) as <c>reparo study</c> does, the model from
    /// <paramref name="modelPath"/>; also its <c>--threads</c>, if it names one.
    /// </summary>
    internal static (Network Network, Data.DataSplits Splits, InformedRepairOptions Options, int? Threads) ReadStudy(IReadOnlyList<string> args, string modelPath)
    {
        var cli = new CliContext(new CliIo(TextWriter.Null, TextWriter.Null), new GlobalOptions()) { Arguments = args };
        var arguments = new StudyCommand.StudyArguments();
        var root = new Command("reparo") { cli.Options.Json, cli.Options.Seed, cli.Options.Threads, cli.Options.Quiet };
        root.Subcommands.Add(StudyCommand.Create(cli, arguments));
        ParseResult parse = root.Parse([.. args]);
        if (parse.Errors.Count > 0 || parse.CommandResult.Command.Name != "study")
            throw new ReparoInputException($"not a study command line: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
        (Network network, Data.DataSplits splits, InformedRepairOptions options) = arguments.Prepare(parse, parse.GetValue(cli.Options.Seed), cli.Options.ModelLoading(parse), modelPath);
        int? threads = parse.GetValue(cli.Options.Threads);
        if (threads is < 1) throw new ReparoInputException($"--threads must be at least 1, got {threads}");
        return (network, splits, options, threads);
    }
}
