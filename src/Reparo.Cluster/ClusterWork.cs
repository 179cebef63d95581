namespace Reparo.Cluster;

/// <summary>How a cluster run went: every item's result in order, and how the work was shared.</summary>
/// <param name="Results">Each item's result (JSON), in the items' order.</param>
/// <param name="Workers">The worker that recorded each item.</param>
/// <param name="Seconds">Each item's time from its (last) start to its result collected, as the client saw it (NaN for items recorded before a resumed run).</param>
/// <param name="Resumed">Items found already recorded when the run started (a resumed run).</param>
/// <param name="Restarts">Times an item was started again after its worker went away.</param>
/// <param name="Generation">The run's generation in the cluster.</param>
public sealed record ClusterRunResult(IReadOnlyList<string> Results, IReadOnlyList<string> Workers, IReadOnlyList<double> Seconds, int Resumed, int Restarts, int Generation);

/// <summary>
/// Submits a run's units of work to the cluster and collects their results: as many at a time as there are active
/// workers, each polled until recorded; an item whose worker died is started again (Orleans places it on a live
/// worker); a resumed run takes the recorded results from Redis and runs only the rest. A Redis outage stops the run
/// with one clear message, and nothing recorded before it is lost.
/// </summary>
public static class ClusterWork
{
    /// <summary>Runs <paramref name="items"/> as run <paramref name="runName"/> on the cluster behind <paramref name="client"/>.</summary>
    /// <param name="client">A connected Orleans client (or a test cluster's).</param>
    /// <param name="runName">The run's name: the same name with <paramref name="resume"/> continues its latest generation.</param>
    /// <param name="items">The work, in the order results are returned.</param>
    /// <param name="resume">Continue the latest generation of this run instead of starting a new one.</param>
    /// <param name="storageAnswers">Checks whether the cluster's storage (Redis) answers, asked when a call fails.</param>
    /// <param name="storageName">How the storage is named in messages.</param>
    /// <param name="progress">A line per item recorded.</param>
    /// <param name="recorded">Called with an item's index and result as it is recorded (at once for items a resumed run finds recorded).</param>
    /// <param name="cancel">Stops waiting (work already started goes on and is recorded on the workers).</param>
    /// <param name="poll">Time between status polls (default 0.5 s).</param>
    public static async Task<ClusterRunResult> Run(IClusterClient client, string runName, IReadOnlyList<WorkItem> items, bool resume, Func<Task<bool>> storageAnswers,
        string storageName, IProgress<string>? progress = null, Action<int, string>? recorded = null, CancellationToken cancel = default, TimeSpan? poll = null)
    {
        TimeSpan interval = poll ?? TimeSpan.FromSeconds(0.5);
        int failures = 0;
        async Task<T> Call<T>(Func<Task<T>> call)
        {
            while (true)
            {
                cancel.ThrowIfCancellationRequested();
                try
                {
                    T value = await call();
                    failures = 0;
                    return value;
                }
                catch (Exception e) when (e is not (ReparoInputException or ReparoEnvironmentException or OperationCanceledException))
                {
                    if (!await storageAnswers())
                        throw new ReparoEnvironmentException($"{storageName} does not answer: the run stopped; every result recorded before is kept there (continue with --resume)", e);
                    if (++failures > 600)
                        throw new ReparoEnvironmentException($"the cluster has not answered for a long time: {e.GetBaseException().Message.Split('\n')[0]}", e);
                    // A worker went away: Orleans notices within seconds and places the grain on a live worker.
                    await Task.Delay(TimeSpan.FromSeconds(1), cancel);
                }
            }
        }

        IRunGrain run = client.GetGrain<IRunGrain>(runName);
        int generation = resume ? await Call(run.Current) : 0;
        if (generation == 0) generation = await Call(run.Next);
        // An item's grain is named by its content, so a resumed run finds it whatever else its list holds this time.
        string[] keys = [.. items.Select(item => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(
            item.Kind + "\n" + string.Join(",", item.Models) + "\n" + item.Payload)))[..32])];
        IWorkGrain Grain(int i) => client.GetGrain<IWorkGrain>($"{runName}/g{generation}/{keys[i]}");

        var results = new string?[items.Count];
        var workers = new string?[items.Count];
        int resumed = 0, restarts = 0;
        if (resume)
        {
            for (int i = 0; i < items.Count; i++)
            {
                WorkStatus status = await Call(() => Grain(i).Status());
                if (status.State != WorkState.Done) continue;
                (results[i], workers[i]) = (status.Result, status.Worker);
                resumed++;
                recorded?.Invoke(i, status.Result!);
            }
            progress?.Report($"resumed generation {generation} of {runName}: {resumed} of {items.Count} recorded");
        }

        var pending = new Queue<int>(Enumerable.Range(0, items.Count).Where(i => results[i] is null));
        var inFlight = new List<int>();
        var started = new System.Diagnostics.Stopwatch[items.Count];
        double[] seconds = [.. Enumerable.Repeat(double.NaN, items.Count)];
        int done = resumed;
        IManagementGrain management = client.GetGrain<IManagementGrain>(0);
        while (pending.Count > 0 || inFlight.Count > 0)
        {
            int capacity = Math.Max(1, (await Call(() => management.GetHosts(onlyActive: true))).Count);
            var bounced = new List<int>();
            for (int free = capacity - inFlight.Count; free > 0 && pending.Count > 0; free--)
            {
                int i = pending.Dequeue();
                WorkStatus start = await Call(() => Grain(i).Start(items[i]));
                if (start.State == WorkState.Busy)
                {
                    // Placed on a worker that is running another item: try again after the next poll (placed anew).
                    bounced.Add(i);
                    continue;
                }
                inFlight.Add(i);
                started[i] = System.Diagnostics.Stopwatch.StartNew();
                if (start.Attempts > 1) restarts++;
                progress?.Report($"item {i} started on {start.Worker}{(start.Attempts > 1 ? $" (attempt {start.Attempts})" : "")}");
            }
            foreach (int i in bounced) pending.Enqueue(i);
            await Task.Delay(interval, cancel);
            foreach (int i in inFlight.ToArray())
            {
                WorkStatus status = await Call(() => Grain(i).Status());
                switch (status.State)
                {
                    case WorkState.Done:
                        (results[i], workers[i], seconds[i]) = (status.Result, status.Worker, started[i].Elapsed.TotalSeconds);
                        inFlight.Remove(i);
                        progress?.Report($"[{++done}/{items.Count}] item {i} recorded by {status.Worker} after {seconds[i]:F1} s");
                        recorded?.Invoke(i, status.Result!);
                        break;
                    case WorkState.Failed:
                        throw new ReparoEnvironmentException($"item {i} failed on worker {status.Worker}: {status.Error}", new InvalidOperationException(status.Error));
                    case WorkState.NotStarted or WorkState.Busy:
                        // Its worker went away before recording it: start it again (on a live worker), or later if that one is busy.
                        WorkStatus again = await Call(() => Grain(i).Start(items[i]));
                        if (again.State == WorkState.Busy)
                        {
                            inFlight.Remove(i);
                            pending.Enqueue(i);
                            break;
                        }
                        if (again.Attempts > 1) restarts++;
                        started[i] = System.Diagnostics.Stopwatch.StartNew();
                        progress?.Report($"item {i} started again on {again.Worker} (attempt {again.Attempts}): its worker went away");
                        break;
                }
            }
        }
        return new ClusterRunResult([.. results.Select(r => r!)], [.. workers.Select(w => w ?? "")], seconds, resumed, restarts, generation);
    }
}
