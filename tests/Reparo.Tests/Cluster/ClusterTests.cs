using System.Collections.Concurrent;
using Orleans.TestingHost;
using Reparo.Cli;
using Reparo.Cli.Cluster;
using Reparo.Cluster;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Io;
using Reparo.Models;
using Reparo.Tests.Cli;

namespace Reparo.Tests.Cluster;

/// <summary>Study cases on an in-process Orleans cluster of two silos (Orleans' TestingHost) against the local run.</summary>
public sealed class ClusterTests
{
    /// <summary>The real study-case executor, each case held back a moment so that a silo can be stopped in the middle of one.</summary>
    private sealed class HeldBackExecutor : IWorkExecutor
    {
        private readonly WorkerExecutor inner = new();

        public string Execute(WorkItem item, IReadOnlyDictionary<string, string> models)
        {
            Thread.Sleep(TimeSpan.FromSeconds(1.5));
            return inner.Execute(item, models);
        }
    }

    private sealed class Silo : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo) =>
            silo.AddMemoryGrainStorage(ReparoCluster.StorageName)
                .AddReparoWorker(_ => new HeldBackExecutor(), o => o.ModelCache = Path.Combine(Path.GetTempPath(), $"reparo-test-models-{Environment.ProcessId}"));
    }

    internal static string DigitsModel(TempFolder dir)
    {
        DataSplits splits = DataCatalog.Load("digits");
        Network network = ModelZoo.Create("mlp:16x3", splits.Train, seed: 5);
        string path = dir.File("digits.reparo");
        ModelFile.Save(network, path);
        return path;
    }

    internal static string[] StudyArgs(string model, params string[] more) =>
        ["study", "--model", model, "--data", "digits", "--repair-set", "gaussian-noise:3", "--sizes", "4,8,12", "--methods", "ft,edit", "--threads", "1", .. more];

    internal static string LocalStudy(TempFolder dir, string model)
    {
        string json = dir.File("local.json");
        (int code, _, string err) = CliRunner.Run(StudyArgs(model, "--json", json));
        Assert.True(code == CliApp.Success, err);
        return ResultJson.WithoutTimings(File.ReadAllText(json));
    }

    /// <summary>Runs <paramref name="test"/> on a fresh cluster of two silos, then stops the cluster.</summary>
    private static async Task OnTwoSilos(Func<TestCluster, Task> test)
    {
        TestSupport.Init();
        var builder = new TestClusterBuilder(2);
        builder.AddSiloBuilderConfigurator<Silo>();
        TestCluster cluster = builder.Build();
        await cluster.DeployAsync();
        try
        {
            await test(cluster);
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }
    }

    /// <summary>Runs <paramref name="test"/> on two silos with the digits model and its local study's JSON.</summary>
    private static async Task OnTwoSilos(Func<TestCluster, string, string, Task> test)
    {
        TestSupport.Init();
        using var dir = TestSupport.TempFolder();
        string model = DigitsModel(dir);
        string local = LocalStudy(dir, model);
        await OnTwoSilos(cluster => test(cluster, model, local));
    }

    private static Task<StudyReport> OnCluster(TestCluster cluster, string model, IProgress<string> progress, bool resume = false)
    {
        string[] args = StudyArgs(model);
        (Network network, _, InformedRepairOptions options, _) = StudyCases.ReadStudy(args, model);
        return Task.Run(() => StudyCases.Run(cluster.Client, () => Task.FromResult(true), "memory storage", model, args, network, options, resume, progress, out _));
    }

    private sealed class Lines : IProgress<string>
    {
        public ConcurrentQueue<string> All { get; } = new();

        public void Report(string value) => All.Enqueue(value);
    }

    [Fact]
    public Task AStudyOnTwoSilosEqualsTheLocalRunAndAResumeRunsNothingAgain() => OnTwoSilos(async (cluster, model, local) =>
    {
        var lines = new Lines();
        StudyReport report = await OnCluster(cluster, model, lines);
        Assert.Equal(local, ResultJson.WithoutTimings(ReparoJson.Serialize(report)));
        Assert.Equal(2, lines.All.Where(l => l.Contains("recorded by", StringComparison.Ordinal)).Select(l => l.Split("recorded by ")[1].Split(' ')[0]).Distinct().Count());

        // Resumed, the run finds all three units (six cases) recorded and runs none of them again.
        var again = new Lines();
        StudyReport resumed = await OnCluster(cluster, model, again, resume: true);
        Assert.Contains(again.All, l => l.Contains("3 of 3 recorded", StringComparison.Ordinal));
        Assert.DoesNotContain(again.All, l => l.Contains("started on", StringComparison.Ordinal));
        Assert.Equal(local, ResultJson.WithoutTimings(ReparoJson.Serialize(resumed)));
    });

    [Fact]
    public Task ASiloKilledMidCaseLosesNothing() => OnTwoSilos(async (cluster, model, local) =>
    {
        SiloHandle secondary = cluster.SecondarySilos[0];
        var lines = new Lines();
        Task<StudyReport> running = OnCluster(cluster, model, lines);
        DateTime deadline = DateTime.UtcNow.AddSeconds(60);
        while (!lines.All.Any(l => l.Contains($"started on {secondary.Name}", StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < deadline && !running.IsCompleted, "no case started on the secondary silo");
            await Task.Delay(50);
        }
        await cluster.KillSiloAsync(secondary);
        StudyReport report = await running.WaitAsync(TimeSpan.FromMinutes(3));
        // The killed silo's item ran again, on the primary. (The TestingHost's memory storage lives in grains too, so
        // the attempt count may go with the killed silo; Redis keeps it, as the process test shows.)
        string killed = lines.All.First(l => l.Contains($"started on {secondary.Name}", StringComparison.Ordinal)).Split(' ')[1];
        Assert.True(lines.All.Any(l => l.StartsWith('[') && l.Contains($"item {killed} recorded by Primary", StringComparison.Ordinal)), string.Join(" | ", lines.All));
        Assert.Equal(local, ResultJson.WithoutTimings(ReparoJson.Serialize(report)));
    });

    /// <summary>A small rectification experiment: an MLP trained one epoch, BadNets, two pair draws, two methods.</summary>
    internal static string[] ExperimentArgs(string cache, params string[] more) =>
        ["experiment", "rectification", "--quick", "--models", "mlp:16x3@1", "--methods", "static,default", "--threads", "1", "--cache-dir", cache, .. more];

    [Fact]
    public Task AnExperimentsStepsOnTwoSilosEqualTheLocalRun() => OnTwoSilos(async cluster =>
    {
        using var dir = TestSupport.TempFolder();
        string[] args = ExperimentArgs(dir.Path);
        (int code, _, string err) = CliRunner.Run([.. args, "--json", dir.File("local.json")]);
        Assert.True(code == CliApp.Success, err);
        string local = ResultJson.WithoutTimings(File.ReadAllText(dir.File("local.json")));

        // The same plan with the model from the same cache; its four runs go to the two silos, which read the command line.
        var lines = new Lines();
        var runner = new ClusterExperimentSteps(cluster.Client, () => Task.FromResult(true), "memory storage", args, resume: false, lines);
        var plan = new RectificationPlanOptions(Quick: true, [new RectificationModel("mlp:16x3", 1)], ["static", "default"]);
        RectificationExperimentReport report = await Task.Run(() => RectificationExperimentPlan.Run(DataCatalog.Load("fashion-mnist"), new ModelCache(dir.Path, 1), plan, 0,
            "./reparo experiment rectification --quick --models mlp:16x3@1 --methods static,default --threads 1", 1, runner));
        Assert.Equal(local, ResultJson.WithoutTimings(ReparoJson.Serialize(report)));
        Assert.Equal(2, lines.All.Where(l => l.Contains("recorded by", StringComparison.Ordinal)).Select(l => l.Split("recorded by ")[1].Split(' ')[0]).Distinct().Count());
    });

    [Theory]
    [InlineData("redis://")]
    [InlineData("http://127.0.0.1:6379")]
    [InlineData("redis://127.0.0.1")]
    [InlineData("redis://127.0.0.1:6379/0")]
    [InlineData("127.0.0.1:6379")]
    public void AClusterAddressIsRedisHostAndPort(string text)
    {
        var error = Assert.Throws<ReparoInputException>(() => ClusterAddress.Parse(text));
        Assert.Contains("redis://HOST:PORT", error.Message);
        Assert.Equal(new ClusterAddress("10.0.0.7", 6380), ClusterAddress.Parse("redis://10.0.0.7:6380"));
    }
}
