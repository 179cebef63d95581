using System.Diagnostics;
using System.Text.Json;
using Reparo.Cluster;
using Reparo.Io;
using static TorchSharp.torch;

namespace Reparo.Cli.Cluster;

/// <summary>
/// What a <c>reparo worker</c> runs: study cases (<see cref="StudyCases"/>) and experiment steps
/// (<see cref="ClusterExperimentSteps"/>), each in a child process (<c>reparo worker-unit</c>), one at a time. A silo's
/// own threads allocate all the time, and a garbage collection they trigger can finalize a TorchSharp temporary (a
/// scalar argument) while a native call still reads it — seen as torch's <c>toFloat</c> check failing in a two-silo
/// test host. In a child process only the unit's thread runs managed code, as in the local run. The unit runs at the
/// run's <c>--threads</c> when its command line names one (results are bit-identical only at the same thread count),
/// otherwise at the worker's.
/// </summary>
internal sealed class WorkerExecutor : IWorkExecutor
{
    /// <summary>A run's session: runs one of the run's units (the item and the local path of each model it names) to its result (JSON); the run's <c>--threads</c>, if named.</summary>
    internal sealed record Session(Func<WorkItem, IReadOnlyDictionary<string, string>, string> Run, int? Threads);

    /// <summary>What the child process reads on its standard input.</summary>
    internal sealed record Unit(WorkItem Item, Dictionary<string, string> Models);

    // Units run one at a time in a worker process, even with several silos in it (a test host).
    private static readonly Lock Gate = new();

    public string Execute(WorkItem item, IReadOnlyDictionary<string, string> models)
    {
        lock (Gate)
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string arg in new[] { typeof(WorkerExecutor).Assembly.Location, "worker-unit", "--quiet", "--threads", get_num_threads().ToString(System.Globalization.CultureInfo.InvariantCulture) })
                start.ArgumentList.Add(arg);
            using Process child = Process.Start(start) ?? throw new InvalidOperationException("could not start reparo worker-unit");
            Task<string> output = child.StandardOutput.ReadToEndAsync(), errors = child.StandardError.ReadToEndAsync();
            child.StandardInput.Write(JsonSerializer.Serialize(new Unit(item, new Dictionary<string, string>(models)), ReparoJson.Options));
            child.StandardInput.Close();
            child.WaitForExit();
            if (child.ExitCode == 0) return output.Result;
            string line = errors.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault(l => l.StartsWith("reparo: ", StringComparison.Ordinal)) ?? errors.Result.Trim();
            string message = line.StartsWith("reparo: ", StringComparison.Ordinal) ? line["reparo: ".Length..] : line;
            if (child.ExitCode == CliApp.BadInput) throw new ReparoInputException(message);
            throw new InvalidOperationException($"reparo worker-unit exited with {child.ExitCode}: {message}");
        }
    }

    /// <summary>Runs one unit here (in the child process): opens its run's session and runs it at the run's thread count.</summary>
    internal static string RunHere(Unit unit)
    {
        WorkItem item = unit.Item;
        Session session = item.Kind switch
        {
            StudyCases.Kind => StudyCases.OpenSession(item, unit.Models),
            ClusterExperimentSteps.Kind => ClusterExperimentSteps.OpenSession(item),
            _ => throw new ReparoInputException($"a worker runs {StudyCases.Kind} and {ClusterExperimentSteps.Kind} work, not '{item.Kind}'"),
        };
        if (session.Threads is int wanted && wanted != get_num_threads()) set_num_threads(wanted);
        return session.Run(item, unit.Models);
    }
}
