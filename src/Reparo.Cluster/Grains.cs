using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Orleans.Placement;

namespace Reparo.Cluster;

/// <summary>A unit of work, by its key (run key / index): started once, run on one worker at a time, recorded once.</summary>
[Alias("reparo.IWorkGrain")]
public interface IWorkGrain : IGrainWithStringKey
{
    /// <summary>Starts the work unless it is done or running; returns where it stands.</summary>
    [Alias("Start")]
    Task<WorkStatus> Start(WorkItem item);

    /// <summary>Where the work stands; a finished run is recorded here (the result written to storage) before it is reported done.</summary>
    [Alias("Status")]
    Task<WorkStatus> Status();
}

/// <summary>A model file by the SHA-256 of its bytes, kept in the cluster's storage so that every worker can fetch it.</summary>
[Alias("reparo.IModelGrain")]
public interface IModelGrain : IGrainWithStringKey
{
    /// <summary>Stores the bytes (refused unless their SHA-256 is the grain's key).</summary>
    [Alias("Put")]
    Task Put(byte[] bytes);

    /// <summary>The bytes, or null when nothing was stored.</summary>
    [Alias("Get")]
    Task<byte[]?> Get();
}

/// <summary>A run's generation: a fresh run takes the next one, a resumed run the current one, so results of an older run are never mixed in.</summary>
[Alias("reparo.IRunGrain")]
public interface IRunGrain : IGrainWithStringKey
{
    /// <summary>Starts a new generation and returns it.</summary>
    [Alias("Next")]
    Task<int> Next();

    /// <summary>The current generation (0 when none was started).</summary>
    [Alias("Current")]
    Task<int> Current();
}

/// <summary>What the cluster's storage keeps of a unit of work.</summary>
[GenerateSerializer, Alias("reparo.work-record")]
public sealed class WorkRecord
{
    /// <summary>The result, once recorded.</summary>
    [Id(0)] public string? Result { get; set; }

    /// <summary>The worker that produced it.</summary>
    [Id(1)] public string? Worker { get; set; }

    /// <summary>Times started.</summary>
    [Id(2)] public int Attempts { get; set; }
}

/// <summary>What the cluster's storage keeps of a model file.</summary>
[GenerateSerializer, Alias("reparo.model-record")]
public sealed class ModelRecord
{
    /// <summary>The file's bytes.</summary>
    [Id(0)] public byte[]? Bytes { get; set; }
}

/// <summary>What the cluster's storage keeps of a run.</summary>
[GenerateSerializer, Alias("reparo.run-record")]
public sealed class RunRecord
{
    /// <summary>The current generation.</summary>
    [Id(0)] public int Generation { get; set; }
}

/// <summary>Settings of a worker: how many units of work it runs at once and where it keeps fetched models.</summary>
public sealed class WorkerOptions
{
    /// <summary>Units of work run at once (1: a worker's threads all go to one case).</summary>
    public int Slots { get; set; } = 1;

    /// <summary>Folder of fetched model files (named by their SHA-256).</summary>
    public string ModelCache { get; set; } = Path.Combine(Path.GetTempPath(), "reparo-cluster-models");

    /// <summary>The worker's name in results (null: the silo's name).</summary>
    public string? Name { get; set; }
}

/// <summary>The worker's slots: at most <see cref="WorkerOptions.Slots"/> units of work run at once on a silo.</summary>
internal sealed class WorkerSlots(IOptions<WorkerOptions> options)
{
    public SemaphoreSlim Gate { get; } = new(options.Value.Slots, options.Value.Slots);
}

/// <summary>
/// Runs a unit of work on the silo it is placed on (the one with the fewest activations, so that work spreads over the
/// workers), off Orleans' scheduler on a thread of its own, and records the result in storage when it is asked for its
/// status after finishing. If the silo dies, the grain comes back elsewhere with its record: not started, or done.
/// </summary>
[ActivationCountBasedPlacement]
internal sealed class WorkGrain(
    [PersistentState("work", ReparoCluster.StorageName)] IPersistentState<WorkRecord> record,
    IWorkExecutor executor, WorkerSlots slots, IOptions<WorkerOptions> worker, ILocalSiloDetails silo) : Grain, IWorkGrain
{
    private readonly string name = worker.Value.Name ?? silo.Name;
    private Task<string>? running;
    private string? failure;

    public async Task<WorkStatus> Start(WorkItem item)
    {
        if (record.State.Result is null && running is null)
        {
            // One unit at a time per worker slot: on a busy worker, leave so that the next Start places the grain anew.
            if (!slots.Gate.Wait(0))
            {
                DeactivateOnIdle();
                return new WorkStatus { State = WorkState.Busy, Worker = name, Attempts = record.State.Attempts };
            }
            failure = null;
            Dictionary<string, string> models = [];
            try
            {
                record.State.Attempts++;
                await record.WriteStateAsync();
                foreach (string sha in item.Models) models[sha] = await FetchedModels.PathOf(GrainFactory, sha, worker.Value.ModelCache);
            }
            catch
            {
                slots.Gate.Release();
                throw;
            }
            // Keep the activation while the work runs (the client may be away; a finished run waits here to be recorded).
            DelayDeactivation(TimeSpan.FromDays(7));
            running = Task.Factory.StartNew(() =>
            {
                try
                {
                    return executor.Execute(item, models);
                }
                finally
                {
                    slots.Gate.Release();
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
        return await Status();
    }

    public async Task<WorkStatus> Status()
    {
        if (record.State.Result is not null) return Recorded();
        if (failure is not null) return new WorkStatus { State = WorkState.Failed, Error = failure, Worker = name, Attempts = record.State.Attempts };
        if (running is null) return new WorkStatus { State = WorkState.NotStarted, Attempts = record.State.Attempts };
        if (!running.IsCompleted) return new WorkStatus { State = WorkState.Running, Worker = name, Attempts = record.State.Attempts };
        if (running.IsFaulted || running.IsCanceled)
        {
            Exception? error = running.Exception?.GetBaseException();
            failure = error is null ? "cancelled" : error is ReparoInputException ? error.Message : $"{error.GetType().Name}: {error.Message}";
            running = null;
            return await Status();
        }
        record.State.Result = running.Result;
        record.State.Worker = name;
        await record.WriteStateAsync();
        running = null;
        DelayDeactivation(TimeSpan.Zero);
        DeactivateOnIdle();
        return Recorded();
    }

    private WorkStatus Recorded() => new() { State = WorkState.Done, Result = record.State.Result, Worker = record.State.Worker, Attempts = record.State.Attempts };
}

/// <summary>Keeps a model file's bytes in the cluster's storage, checked against its SHA-256.</summary>
internal sealed class ModelGrain([PersistentState("model", ReparoCluster.StorageName)] IPersistentState<ModelRecord> record) : Grain, IModelGrain
{
    public async Task Put(byte[] bytes)
    {
        string sha = FetchedModels.Sha256(bytes);
        if (sha != this.GetPrimaryKeyString()) throw new ReparoInputException($"model bytes hash to {sha}, not {this.GetPrimaryKeyString()}");
        if (record.State.Bytes is not null) return;
        record.State.Bytes = bytes;
        await record.WriteStateAsync();
    }

    public Task<byte[]?> Get() => Task.FromResult(record.State.Bytes);
}

/// <summary>Counts a run's generations.</summary>
internal sealed class RunGrain([PersistentState("run", ReparoCluster.StorageName)] IPersistentState<RunRecord> record) : Grain, IRunGrain
{
    public async Task<int> Next()
    {
        record.State.Generation++;
        await record.WriteStateAsync();
        return record.State.Generation;
    }

    public Task<int> Current() => Task.FromResult(record.State.Generation);
}

/// <summary>Model files on a worker's disk, fetched from the cluster once by their SHA-256.</summary>
internal static class FetchedModels
{
    private static readonly SemaphoreSlim Fetching = new(1, 1);

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    public static async Task<string> PathOf(IGrainFactory grains, string sha, string folder)
    {
        string path = Path.Combine(folder, $"{sha}.reparo");
        if (File.Exists(path)) return path;
        await Fetching.WaitAsync();
        try
        {
            if (File.Exists(path)) return path;
            byte[] bytes = await grains.GetGrain<IModelGrain>(sha).Get() ?? throw new ReparoInputException($"the cluster holds no model with SHA-256 {sha}");
            if (Sha256(bytes) != sha) throw new ReparoInputException($"the cluster's copy of model {sha} is damaged");
            Directory.CreateDirectory(folder);
            Io.AtomicFile.WriteAllBytes(path, bytes);
            return path;
        }
        finally
        {
            Fetching.Release();
        }
    }
}
