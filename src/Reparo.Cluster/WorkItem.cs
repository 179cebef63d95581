namespace Reparo.Cluster;

/// <summary>
/// One unit of work for the cluster: what kind it is (the executor that runs it), its payload (JSON the executor reads),
/// and the models it needs, by the SHA-256 of their files (each fetched from the cluster once per worker).
/// </summary>
[GenerateSerializer, Alias("reparo.work-item")]
public sealed class WorkItem
{
    /// <summary>The executor's kind (e.g. <c>study-case</c>).</summary>
    [Id(0)] public required string Kind { get; init; }

    /// <summary>What to run, as the executor reads it.</summary>
    [Id(1)] public required string Payload { get; init; }

    /// <summary>SHA-256 (lower-case hex) of every model file the work reads.</summary>
    [Id(2)] public IReadOnlyList<string> Models { get; init; } = [];
}

/// <summary>Where a unit of work stands.</summary>
[GenerateSerializer, Alias("reparo.work-state")]
public enum WorkState
{
    /// <summary>Not running anywhere (never started, or its worker went away): start it.</summary>
    NotStarted,

    /// <summary>Running on a worker.</summary>
    Running,

    /// <summary>Finished and recorded.</summary>
    Done,

    /// <summary>Finished with an error (not recorded: starting it again runs it again).</summary>
    Failed,

    /// <summary>
    /// Not started: the worker it was placed on is running other work. The grain deactivates, so that starting it again
    /// places it anew (Orleans places it on the worker with the fewest activations).
    /// </summary>
    Busy,
}

/// <summary>A unit of work's state, result (when done) or error (when failed), and the worker that ran it.</summary>
[GenerateSerializer, Alias("reparo.work-status")]
public sealed class WorkStatus
{
    /// <summary>Where it stands.</summary>
    [Id(0)] public WorkState State { get; init; }

    /// <summary>The executor's result (JSON) when done.</summary>
    [Id(1)] public string? Result { get; init; }

    /// <summary>The error's message when failed.</summary>
    [Id(2)] public string? Error { get; init; }

    /// <summary>The worker that ran (or runs) it.</summary>
    [Id(3)] public string? Worker { get; init; }

    /// <summary>How many times it was started.</summary>
    [Id(4)] public int Attempts { get; init; }
}

/// <summary>Runs units of work of the kinds it knows, on a worker (a silo), one at a time.</summary>
public interface IWorkExecutor
{
    /// <summary>Runs <paramref name="item"/> and returns its result as JSON; a bad item throws <see cref="ReparoInputException"/>.</summary>
    /// <param name="item">The work.</param>
    /// <param name="models">The local path of every model the item names, by its SHA-256.</param>
    string Execute(WorkItem item, IReadOnlyDictionary<string, string> models);
}
