using System.Text.Json;
using Reparo.Data;
using Reparo.Experiments;
using Reparo.Io;
using Reparo.Models;

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
        File.WriteAllText(python, "#!/bin/sh\necho \"{\\\"time_s\\\": 1.5, \\\"iterations\\\": $7, \\\"converged\\\": true, \\\"bic\\\": 10.0}\"\n");
        File.SetUnixFileMode(python, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Dataset data = TestSupport.RandomTokens(20, length: 9, seed: 4);
        using Network network = ModelZoo.Create("gru:6", data, seed: 1);

        InfluenceBenchmarkReport report = InfluenceBenchmark.Run(network, data, data,
            new InfluenceBenchmarkOptions([2], Queries: 2, Top: 3, ExportVectors: folder.File("steps.npy"), Python: python, Seed: 0, Restarts: 3));

        Assert.Equal(["reparo", "reparo, best of 3 starts", "scikit-learn", "scikit-learn, best of 3 starts"], report.Fits.Select(f => f.Implementation));
        Assert.Equal([1, 3], report.Fits.Where(f => f.Implementation.StartsWith("scikit", StringComparison.Ordinal)).Select(f => f.Iterations));
        Assert.EndsWith(" 100 0.001 3", report.SklearnCommand);

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
}
