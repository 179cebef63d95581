using Reparo.Cli.Cluster;
using Reparo.Tests.Cli;

namespace Reparo.Tests.Cluster;

/// <summary>
/// The cluster as a user runs it: Debian's <c>redis-server</c> on a free loopback port, two <c>reparo worker</c>
/// processes and a <c>reparo study --cluster</c> client; one worker is killed during the run, then Redis during a second
/// run, which <c>--resume</c> finishes once Redis is back.
/// </summary>
public sealed class ClusterProcessTests
{
    private static BackgroundProcess Reparo(params string[] args) => BackgroundProcess.Start("dotnet", [Path.Combine(AppContext.BaseDirectory, "Reparo.Cli.dll"), .. args]);

    [Fact]
    public void AKilledWorkerOrARedisOutageLosesNothing()
    {
        TestSupport.Init();
        string redisServer = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, "redis-server")).FirstOrDefault(File.Exists)
            ?? throw new Xunit.Sdk.XunitException("redis-server is not installed: the cluster test runs Debian's (apt-get install redis-server), as ./test does");
        using var dir = TestSupport.TempFolder();
        string model = ClusterTests.DigitsModel(dir);
        string local = ClusterTests.LocalStudy(dir, model);
        int port = global::Reparo.Cluster.ReparoCluster.FreePort();
        string cluster = $"redis://127.0.0.1:{port}";
        // Every write on disk before Redis answers it (append-only file, fsync always): an outage loses nothing recorded.
        string[] redisArgs = ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
            "--appendfsync", "always", "--dir", Directory.CreateDirectory(dir.File("redis")).FullName];
        var redis = BackgroundProcess.Start(redisServer, redisArgs);
        try
        {
            redis.WaitFor("Ready to accept connections", TimeSpan.FromSeconds(30));
            using BackgroundProcess one = Reparo("worker", "--cluster", cluster, "--threads", "2", "--name", "one", "--cache-dir", dir.File("one"));
            using BackgroundProcess two = Reparo("worker", "--cluster", cluster, "--threads", "2", "--name", "two", "--cache-dir", dir.File("two"));
            one.WaitFor("joined the cluster", TimeSpan.FromSeconds(90));
            two.WaitFor("joined the cluster", TimeSpan.FromSeconds(90));

            string json = dir.File("cluster.json");
            using BackgroundProcess client = Reparo([.. ClusterTests.StudyArgs(model, "--json", json, "--cluster", cluster)]);
            client.WaitFor("started on two", TimeSpan.FromSeconds(120));
            two.Kill();
            Assert.True(client.WaitForExit(TimeSpan.FromMinutes(4)), "the client did not finish: " + string.Join(" | ", client.Lines.TakeLast(20)));
            Assert.True(client.ExitCode == 0, string.Join(" | ", client.Lines.TakeLast(20)));
            Assert.Equal(local, ResultJson.WithoutTimings(File.ReadAllText(json)));
            Assert.Contains(client.Lines, l => l.Contains("on one (attempt 2)", StringComparison.Ordinal));
            Assert.False(one.HasExited, "the surviving worker stopped");

            // Redis killed during a new run of the same study: the client stops with one line; the run resumed once Redis is
            // back keeps every case recorded before and gives the same JSON.
            string second = dir.File("second.json");
            using (BackgroundProcess stopped = Reparo([.. ClusterTests.StudyArgs(model, "--json", second, "--cluster", cluster)]))
            {
                stopped.WaitFor("recorded by one", TimeSpan.FromSeconds(120));
                redis.Kill();
                redis.Dispose();
                Assert.True(stopped.WaitForExit(TimeSpan.FromMinutes(2)), "the client did not stop: " + string.Join(" | ", stopped.Lines.TakeLast(20)));
                Assert.Equal(1, stopped.ExitCode);
                Assert.Contains(stopped.Lines, l => l.StartsWith($"reparo: Redis at {cluster} does not answer: the run stopped", StringComparison.Ordinal));
                Assert.False(File.Exists(second), "a stopped run wrote its JSON");
                int recorded = stopped.Lines.Count(l => l.Contains("recorded by", StringComparison.Ordinal));
                redis = BackgroundProcess.Start(redisServer, redisArgs);
                redis.WaitFor("Ready to accept connections", TimeSpan.FromSeconds(30));
                using BackgroundProcess resumed = Reparo([.. ClusterTests.StudyArgs(model, "--json", second, "--cluster", cluster, "--resume")]);
                Assert.True(resumed.WaitForExit(TimeSpan.FromMinutes(4)), "the resumed client did not finish: " + string.Join(" | ", resumed.Lines.TakeLast(20)));
                Assert.True(resumed.ExitCode == 0, string.Join(" | ", resumed.Lines.TakeLast(20)));
                string line = resumed.Lines.Single(l => l.Contains("resumed generation", StringComparison.Ordinal));
                int kept = int.Parse(line.Split(": ")[^1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
                Assert.True(kept >= recorded, $"{recorded} cases were recorded before the outage, {kept} after it: {line}");
                Assert.Equal(local, ResultJson.WithoutTimings(File.ReadAllText(second)));
            }

            // An experiment's steps on the cluster (reparo experiment … --cluster) give the local run's JSON.
            string[] experiment = ClusterTests.ExperimentArgs(dir.File("models"));
            (int code, _, string err) = CliRunner.Run([.. experiment, "--json", dir.File("experiment-local.json")]);
            Assert.True(code == 0, err);
            using (BackgroundProcess steps = Reparo([.. experiment, "--json", dir.File("experiment-cluster.json"), "--cluster", cluster]))
            {
                Assert.True(steps.WaitForExit(TimeSpan.FromMinutes(4)), "the experiment did not finish: " + string.Join(" | ", steps.Lines.TakeLast(20)));
                Assert.True(steps.ExitCode == 0, string.Join(" | ", steps.Lines.TakeLast(20)));
                Assert.Contains(steps.Lines, l => l.Contains("recorded by one", StringComparison.Ordinal));
                Assert.Equal(ResultJson.WithoutTimings(File.ReadAllText(dir.File("experiment-local.json"))), ResultJson.WithoutTimings(File.ReadAllText(dir.File("experiment-cluster.json"))));
            }
        }
        finally
        {
            redis.Dispose();
        }
    }
}
