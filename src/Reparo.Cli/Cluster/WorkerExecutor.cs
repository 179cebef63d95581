using Reparo.Cluster;
using static TorchSharp.torch;

namespace Reparo.Cli.Cluster;

/// <summary>
/// What a <c>reparo worker</c> runs: study cases (<see cref="StudyCases"/>) and experiment steps
/// (<see cref="ClusterExperimentSteps"/>). It keeps the session of the last run it served (what the run's command line
/// describes: data, model, what its units share) for that run's next unit, and runs each unit at the run's
/// <c>--threads</c> when its command line names one: results are bit-identical only at the same thread count.
/// </summary>
internal sealed class WorkerExecutor : IWorkExecutor
{
    /// <summary>A run's session on a worker.</summary>
    /// <param name="Run">Runs one of the run's units: the item and the local path of each model it names to its result (JSON).</param>
    /// <param name="Threads">The run's <c>--threads</c>, if its command line names one.</param>
    internal sealed record Session(Func<WorkItem, IReadOnlyDictionary<string, string>, string> Run, int? Threads);

    // Torch's thread count is process-wide: units run one at a time in a process, even with several silos in it (a test host).
    private static readonly Lock Gate = new();
    private (string Key, Session Session)? loaded;

    public string Execute(WorkItem item, IReadOnlyDictionary<string, string> models)
    {
        lock (Gate)
        {
            (string key, Func<Session> open) = item.Kind switch
            {
                StudyCases.Kind => StudyCases.SessionOf(item, models),
                ClusterExperimentSteps.Kind => ClusterExperimentSteps.SessionOf(item),
                _ => throw new ReparoInputException($"a worker runs {StudyCases.Kind} and {ClusterExperimentSteps.Kind} work, not '{item.Kind}'"),
            };
            if (loaded?.Key != key) loaded = (key, open());
            Session session = loaded.Value.Session;
            int own = get_num_threads();
            if (session.Threads is int wanted && wanted != own) set_num_threads(wanted);
            try
            {
                return session.Run(item, models);
            }
            finally
            {
                if (get_num_threads() != own) set_num_threads(own);
            }
        }
    }
}
