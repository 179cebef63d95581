using System.Text.Json;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Io;
using Reparo.Models;
using Reparo.Runtime;
using TorchSharp;

namespace Reparo.Tests.Influence;

/// <summary>The influence benchmark's EM comparison runs both sides with the same number of starts.</summary>
public class InfluenceBenchmarkTests
{
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void WithRestartsScikitLearnRunsWithOneStartAndWithAsManyStartsAsReparo()
    {
        TestSupport.Init();
        using TempFolder folder = TestSupport.TempFolder();
        // A stand-in for Python: it answers as scripts/sklearn_gmm.py does and reports the n_init it was given (argument 6).
        string python = folder.File("python");
        // With more than one start, one of them fails as a collapsed component does.
        File.WriteAllText(python, "#!/bin/sh\nfailed=0; [ \"$7\" -gt 1 ] && failed=1\n" +
            "echo \"{\\\"time_s\\\": 1.5, \\\"iterations\\\": $7, \\\"converged\\\": true, \\\"bic\\\": 10.0, \\\"failed_starts\\\": $failed, \\\"failure\\\": \\\"collapsed\\\"}\"\n");
        File.SetUnixFileMode(python, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Dataset data = TestSupport.RandomTokens(20, length: 9, seed: 4);
        using Network network = ModelZoo.Create("gru:6", data, seed: 1);

        InfluenceBenchmarkReport report = InfluenceBenchmark.Run(network, data, data,
            new InfluenceBenchmarkOptions([2], Queries: 2, Top: 3, ExportVectors: folder.File("steps.npy"), Python: python, Seed: 0, Restarts: 3));

        Assert.Equal(["reparo", "reparo, best of 3 starts", "scikit-learn", "scikit-learn, best of 3 starts"], report.Fits.Select(f => f.Implementation));
        Assert.Equal([1, 3], report.Fits.Where(f => f.Implementation.StartsWith("scikit", StringComparison.Ordinal)).Select(f => f.Iterations));
        Assert.EndsWith(" 100 0.001 3", report.SklearnCommand);
        Assert.Equal("scikit-learn: 1 of 3 starts failed and were left out of its best (collapsed)", report.SklearnNote);

        // The results file pairs each of Reparo's fits with scikit-learn's at the same number of starts, and says how busy the machine was.
        string markdown = InfluenceBenchmark.ToMarkdown(report, "`gru:6`", "test", "speed.json");
        Assert.Contains("- reparo against scikit-learn: ", markdown);
        Assert.Contains("- reparo, best of 3 starts against scikit-learn, best of 3 starts: ", markdown);
        Assert.Contains("Machine load (1-minute average)", markdown);
        Assert.Contains("| end to end: K sweep 2 (stops at the first stable K) | 2 |", markdown);
    }
    [Fact]
    public void TheRnnRepairResultsPairEachEmFitWithScikitLearnsAtTheSameStarts()
    {
        // A quick run's results (Fixtures/rnnrepair-quick.json) with a 4-start pair beside the single starts, as the full run writes them.
        RnnRepairResults run = JsonSerializer.Deserialize<RnnRepairResults>(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "rnnrepair-quick.json")), ReparoJson.Options)!;
        InfluenceBenchmarkReport speed = run.Speed!;
        MixtureFit[] fits = [speed.Fits[0], speed.Fits[0] with { Implementation = "reparo, best of 4 starts", Seconds = 4 }, speed.Fits[1],
            speed.Fits[1] with { Implementation = "scikit-learn, best of 4 starts", Seconds = 80 }];
        string markdown = RnnRepairExperimentPlan.ToMarkdown(run with { Speed = speed with { Fits = fits } }, "test", 1, "rnnrepair-quick.json");
        Assert.Contains(FormattableString.Invariant($"- reparo against scikit-learn: {fits[2].Seconds / fits[0].Seconds:F2}× the speed"), markdown);
        Assert.Contains("- reparo, best of 4 starts against scikit-learn, best of 4 starts: 20.00× the speed", markdown);
    }

    [Fact]
    public void TheScikitLearnScriptKeepsTheBestOfItsStartsAndFailsOnlyWhenEveryStartDoes()
    {
        // The script itself (scripts/sklearn_gmm.py, copied beside the binaries), two starts on two clusters of float32 vectors.
        TestSupport.Init();
        string python = InfluenceBenchmark.FindSklearnPython() ?? throw new InvalidOperationException("no Python with scikit-learn (./test installs python3-sklearn)");
        using TempFolder folder = TestSupport.TempFolder();
        ChildProcessResult Fit(double centre)
        {
            string vectors = folder.File($"steps-{centre}.npy");
            using (var x = torch.cat([torch.randn(200, 3, generator: new torch.Generator(1)).mul(0.2), torch.randn(200, 3, generator: new torch.Generator(2)).mul(0.2).add(centre)], 0))
                NpyWriter.Write(vectors, x);
            return ChildProcess.Run(python, [Path.Combine(AppContext.BaseDirectory, "sklearn_gmm.py"), vectors, "2", "0", "100", "0.001", "2"]);
        }

        ChildProcessResult run = Fit(1);
        Assert.True(run.ExitCode == 0, run.Stderr);
        using JsonDocument json = JsonDocument.Parse(run.Stdout);
        Assert.Equal(2, json.RootElement.GetProperty("n_init").GetInt32());
        Assert.Equal(0, json.RootElement.GetProperty("failed_starts").GetInt32());
        Assert.Equal(400, json.RootElement.GetProperty("n").GetInt32());
        Assert.True(json.RootElement.GetProperty("converged").GetBoolean());

        // Far from the origin, scikit-learn 1.2's k-means++ start (one point per component, its variance computed in float32
        // as E[x²] − E[x]², so it rounds below reg_covar) is "ill-defined" in both starts: only then does the script fail.
        ChildProcessResult far = Fit(10);
        Assert.NotEqual(0, far.ExitCode);
        Assert.Contains("every one of 2 start(s) failed: Fitting the mixture model failed because some components have ill-defined empirical covariance", far.Stderr);
    }
}
