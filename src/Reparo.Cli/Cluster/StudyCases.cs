using System.CommandLine;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
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

    /// <summary>Options whose values change where results go or how the client runs, not what a case computes.</summary>
    private static readonly string[] ClientOnly = ["--cluster", "--json", "--markdown", "--plot", "--report"];

    private static readonly string[] ClientOnlyFlags = ["--resume", "--quiet", "-q"];

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
        string[] caseArgs = [.. args];
        string runName = $"study/{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sha + "\n" + string.Join("\n", WhatCasesRead(args)))))[..32]}";
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

    /// <summary>A study's JSON without its timings (every <c>…seconds</c> and <c>…cost_ratio</c> field): what a cluster run must reproduce exactly.</summary>
    public static string WithoutTimings(string json)
    {
        static void Strip(JsonNode? node)
        {
            if (node is JsonObject o)
                foreach (string key in o.Select(p => p.Key).ToArray())
                {
                    if (key.Contains("seconds", StringComparison.Ordinal) || key.Contains("cost_ratio", StringComparison.Ordinal)) o.Remove(key);
                    else Strip(o[key]);
                }
            else if (node is JsonArray a)
                foreach (JsonNode? item in a) Strip(item);
        }
        JsonNode root = JsonNode.Parse(json) ?? throw new InvalidDataException("empty JSON");
        Strip(root);
        return root.ToJsonString();
    }

    /// <summary>The arguments without those that only say where output goes or how the client runs.</summary>
    private static IEnumerable<string> WhatCasesRead(IReadOnlyList<string> args)
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

    /// <summary>Runs study cases on a worker, keeping the last study's session (model, data, and what its cases share) between its cases.</summary>
    internal sealed class Executor : IWorkExecutor
    {
        private readonly Lock gate = new();
        private (string Key, InformedRepairSession Session, int? Threads)? loaded;

        public string Execute(WorkItem item, IReadOnlyDictionary<string, string> models)
        {
            if (item.Kind != Kind) throw new ReparoInputException($"this worker runs {Kind} work, not '{item.Kind}'");
            Payload payload = JsonSerializer.Deserialize<Payload>(item.Payload, ReparoJson.Options) ?? throw new ReparoInputException("an empty study case");
            string modelPath = models[item.Models.Single()];
            lock (gate)
            {
                string key = item.Models.Single() + "\n" + string.Join("\n", payload.Args);
                if (loaded?.Key != key)
                {
                    (Network network, Data.DataSplits splits, InformedRepairOptions options, int? threads) = ReadStudy(payload.Args, modelPath);
                    loaded = (key, new InformedRepairSession(network, splits, options), threads);
                }
                // The study's --threads, when it names one, holds for its cases (results are bit-identical only at the same
                // thread count); otherwise the worker's own. One case runs at a time, so the process-wide setting is safe.
                int own = TorchSharp.torch.get_num_threads();
                if (loaded.Value.Threads is int wanted && wanted != own) TorchSharp.torch.set_num_threads(wanted);
                try
                {
                    StudyCaseResult[] results = [.. payload.Cases.Select(key => loaded.Value.Session.Run(key))];
                    return JsonSerializer.Serialize(results, ReparoJson.Options);
                }
                finally
                {
                    if (TorchSharp.torch.get_num_threads() != own) TorchSharp.torch.set_num_threads(own);
                }
            }
        }

    }

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
        (Network network, Data.DataSplits splits, InformedRepairOptions options) = arguments.Prepare(parse, parse.GetValue(cli.Options.Seed), modelPath);
        int? threads = parse.GetValue(cli.Options.Threads);
        if (threads is < 1) throw new ReparoInputException($"--threads must be at least 1, got {threads}");
        return (network, splits, options, threads);
    }
}
