using System.Diagnostics;
using System.Globalization;
using System.Text;
using Reparo.Cluster;
using Reparo.Experiments;
using Reparo.Io;
using Reparo.Models;

namespace Reparo.Cli.Cluster;

/// <summary>One cluster size of the scale-out benchmark.</summary>
/// <param name="Workers">Worker processes.</param>
/// <param name="StartSeconds">Starting Redis and the workers until every one has joined (not in the wall time).</param>
/// <param name="WallSeconds">The study through the cluster: connecting, storing the model, every case run and collected.</param>
/// <param name="SameAsLocal">Whether the JSON equals the local run's, timings aside.</param>
/// <param name="UnitsPerWorker">How many units of work (a repair set at one size, every method) each worker recorded.</param>
/// <param name="UnitSeconds">Each unit's time from its start to its result, as the client saw it, in plan order.</param>
public sealed record ScaleOutRow(int Workers, double StartSeconds, double WallSeconds, bool SameAsLocal, IReadOnlyDictionary<string, int> UnitsPerWorker, IReadOnlyList<double> UnitSeconds);

/// <summary>The scale-out benchmark's result.</summary>
/// <param name="Command">The command line.</param>
/// <param name="Threads">Torch threads of the local run and of every worker.</param>
/// <param name="Cases">Cases of the study.</param>
/// <param name="LocalSeconds">The same study in one process, without the cluster.</param>
/// <param name="CaseSeconds">Each case's time in the local run, in plan order (the longest bounds any cluster's wall time from below).</param>
/// <param name="Rows">One row per cluster size.</param>
/// <param name="LoadBefore">1-minute load average at the start.</param>
/// <param name="LoadAfter">At the end.</param>
public sealed record ScaleOutReport(string Command, int Threads, int Cases, double LocalSeconds, IReadOnlyList<double> CaseSeconds, IReadOnlyList<ScaleOutRow> Rows, double LoadBefore, double LoadAfter);

/// <summary>
/// <c>reparo bench scale-out</c>: the same study run locally and on clusters of 1, 2, … worker processes on this machine
/// (Redis from Debian's <c>redis-server</c> on a free loopback port, started fresh for each size), timed side by side.
/// </summary>
internal static class ScaleOutBenchmark
{
    public static ScaleOutReport Run(string command, IReadOnlyList<string> studyArgs, string modelPath, Network network, Data.DataSplits splits, InformedRepairOptions options,
        IReadOnlyList<int> workerCounts, int threads, IProgress<string> progress)
    {
        double loadBefore = MachineLoad.OneMinute();
        // The local run as InformedRepairStudy.Run does it (one session, the plan's cases in order, Combine), each case timed.
        var clock = Stopwatch.StartNew();
        var session = new InformedRepairSession(network, splits, options);
        var caseSeconds = new List<double>();
        var results = new List<StudyCaseResult>();
        foreach (StudyCaseKey key in InformedRepairStudy.Plan(network, options))
        {
            double before = clock.Elapsed.TotalSeconds;
            results.Add(session.Run(key));
            caseSeconds.Add(clock.Elapsed.TotalSeconds - before);
        }
        StudyReport localReport = InformedRepairStudy.Combine(results, options.Tolerance);
        double localSeconds = clock.Elapsed.TotalSeconds;
        string local = ResultJson.WithoutTimings(ReparoJson.Serialize(localReport));
        progress.Report($"local: {localReport.Cases.Count} cases in {localSeconds:F1} s");
        var rows = new List<ScaleOutRow>();
        foreach (int count in workerCounts)
        {
            using var scratch = new ScratchFolder();
            clock.Restart();
            int port = ReparoCluster.FreePort();
            var address = new ClusterAddress("127.0.0.1", port);
            using BackgroundProcess redis = BackgroundProcess.Start("redis-server", ["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
            redis.WaitFor("Ready to accept connections", TimeSpan.FromSeconds(30));
            var workers = new List<BackgroundProcess>();
            try
            {
                for (int w = 0; w < count; w++)
                    workers.Add(BackgroundProcess.Reparo(["worker", "--cluster", address.ToString(), "--threads", threads.ToString(CultureInfo.InvariantCulture),
                        "--name", $"w{w + 1}", "--cache-dir", Path.Combine(scratch.Path, $"w{w + 1}"), "--quiet"]));
                foreach (BackgroundProcess worker in workers) worker.WaitFor("joined the cluster", TimeSpan.FromMinutes(2));
                double start = clock.Elapsed.TotalSeconds;
                clock.Restart();
                StudyReport report = StudyCases.RunOnCluster(address, modelPath, studyArgs, network, options, resume: false, new Progress<string>(_ => { }), out ClusterRunResult run);
                double wall = clock.Elapsed.TotalSeconds;
                Dictionary<string, int> perWorker = run.Workers.GroupBy(w => w).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count());
                rows.Add(new ScaleOutRow(count, start, wall, ResultJson.WithoutTimings(ReparoJson.Serialize(report)) == local, perWorker, run.Seconds));
                progress.Report($"{count} worker(s): {wall:F1} s (start {start:F1} s), same JSON as local: {rows[^1].SameAsLocal}");
            }
            finally
            {
                foreach (BackgroundProcess worker in workers) worker.Dispose();
            }
        }
        return new ScaleOutReport(command, threads, localReport.Cases.Count, localSeconds, caseSeconds, rows, loadBefore, MachineLoad.OneMinute());
    }

    /// <summary>The results file: the table, the overhead per case, and the cost model drawn from these figures.</summary>
    public static string ToMarkdown(ScaleOutReport r, string jsonName)
    {
        static string F(double v, string f = "F1") => v.ToString(f, CultureInfo.InvariantCulture);
        var text = new StringBuilder();
        text.AppendLine("# Scale-out: one study on 1 and 2 workers");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Produced by `{r.Command}` on {DateTime.UtcNow:yyyy-MM-dd}. Every figure below is in [{jsonName}](data/{jsonName}).");
        bool busy = r.LoadBefore >= 1;
        text.AppendLine($"Machine: {Environment.ProcessorCount} cores; load (1-minute average) {F(r.LoadBefore, "F2")} at the start, {F(r.LoadAfter, "F2")} at the end"
            + (busy ? ": **other work was running at the start, so the times are inflated**." : ": otherwise idle."));
        text.AppendLine();
        text.AppendLine($"The study: {r.Cases} cases, {r.Threads} torch thread(s) in the local run and in every worker. Workers are `reparo worker` processes on this machine, "
            + "Redis a fresh `redis-server` on loopback for each size; the wall time runs from connecting the client to the last case collected (starting Redis and the workers is the start column).");
        text.AppendLine();
        text.AppendLine("| run | start s | wall s | speed-up over local | units per worker | each unit, s (start to result) | JSON equals the local run's (timings aside) |");
        text.AppendLine("|---|---:|---:|---:|---|---|---|");
        text.AppendLine(CultureInfo.InvariantCulture, $"| local (one process, no cluster) | – | {F(r.LocalSeconds)} | 1.00× | – | – | – |");
        foreach (ScaleOutRow row in r.Rows)
            text.AppendLine(CultureInfo.InvariantCulture, $"| {row.Workers} worker(s) | {F(row.StartSeconds)} | {F(row.WallSeconds)} | {F(r.LocalSeconds / row.WallSeconds, "F2")}× | "
                + $"{string.Join(", ", row.UnitsPerWorker.Select(p => $"{p.Key}: {p.Value}"))} | {string.Join(", ", row.UnitSeconds.Select(u => F(u)))} | {(row.SameAsLocal ? "yes" : "**no**")} |");
        if (r.Rows.FirstOrDefault(x => x.Workers == 1) is { } single)
            foreach (ScaleOutRow row in r.Rows.Where(x => x.Workers > 1))
                text.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"With {row.Workers} workers a unit took {F(row.UnitSeconds.Average())} s on average against {F(single.UnitSeconds.Average())} s with one "
                    + $"({F(row.UnitSeconds.Average() / single.UnitSeconds.Average(), "F2")}×): {row.Workers} busy processes on this machine's {Environment.ProcessorCount} cores slow each other down, so the speed-up stays below the number of workers (workers on separate machines would not contend; not measured here).");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"Cases in the local run: {string.Join(", ", r.CaseSeconds.Select(c => F(c)))} s. The longest, {F(r.CaseSeconds.Max())} s, bounds the wall time of any "
            + $"number of workers from below (a case runs on one worker); with perfect balance 2 workers would need at least {F(Math.Max(r.CaseSeconds.Max(), r.CaseSeconds.Sum() / 2))} s of work.");
        text.AppendLine();
        if (r.Rows.FirstOrDefault(x => x.Workers == 1) is { } one)
        {
            double perCase = r.LocalSeconds / r.Cases, overhead = (one.WallSeconds - r.LocalSeconds) / r.Cases;
            string note = overhead < 0 ? "; negative: the one-worker run was faster than the local one, so the overhead is below this run-to-run variation." : ".";
            text.AppendLine(CultureInfo.InvariantCulture, $"Overhead per case (one worker against the local run): ({F(one.WallSeconds)} − {F(r.LocalSeconds)}) s / {r.Cases} = **{F(overhead, "F2")} s**, "
                + $"against {F(perCase, "F2")} s of work per case (it includes each worker loading the model and data once, and the 0.5 s status poll){note}");
            text.AppendLine();
            text.AppendLine("Cost model (a projection from these two figures, not a measurement): with W workers of one case at a time, a study of cases like these runs at about "
                + "W × 3600 / (work + overhead) cases per hour, as long as there are at least W cases left and Redis and the client keep up:");
            text.AppendLine();
            text.AppendLine("| workers | cases per hour (projected) |");
            text.AppendLine("|---:|---:|");
            foreach (int w in new[] { 1, 2, 4, 8, 16, 32 })
                text.AppendLine(CultureInfo.InvariantCulture, $"| {w} | {F(w * 3600 / (perCase + Math.Max(0, overhead)), "F0")} |");
        }
        return text.ToString();
    }


    private sealed class ScratchFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("reparo-scale-out-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
