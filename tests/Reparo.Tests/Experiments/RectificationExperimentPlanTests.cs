using System.Text.Json;
using Reparo.Experiments;
using Reparo.Io;

namespace Reparo.Tests.Experiments;

public sealed class RectificationExperimentPlanTests
{
    /// <summary>Rows of a real run (Fixtures/rectification-rows.json: resnet blend with two draws of `default` and P-ClArC, cnn BadNets `default`, draws 3 and 4).</summary>
    private static RectificationExperimentReport Fixture() =>
        JsonSerializer.Deserialize<RectificationExperimentReport>(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "rectification-rows.json")), ReparoJson.Options)!;

    [Fact]
    public void AMissOfTheDefaultsIsListedDrawByDrawWithWhyTheLoopStopped()
    {
        RectificationExperimentReport report = Fixture();
        string markdown = RectificationExperimentPlan.ToMarkdown(report, "r.json");
        Assert.Contains("Where `default` misses its ASR or accuracy goal", markdown);
        // resnet blend misses (ASR 2.47 % and 6.90 %): both draws listed with the stop reason; cnn BadNets meets its goals and is not listed.
        Assert.Contains("- resnet blend:0.1:0:0.5, draw 0: ASR 2.47%, OA -0.17 points, 1 rounds, kept at fc1; gap 1.02E-07 ≤ δ 0.01", markdown);
        Assert.Contains("- resnet blend:0.1:0:0.5, draw 1: ASR 6.90%, OA -0.95 points, 5 rounds, kept at block2.conv1; reached 5 rounds", markdown);
        Assert.DoesNotContain("- cnn badnets", markdown);

        // Without a miss there is no such list.
        RectificationExperimentReport met = report with { Rows = [.. report.Rows.Where(r => r.Arch == "cnn")] };
        Assert.DoesNotContain("misses its ASR", RectificationExperimentPlan.ToMarkdown(met, "r.json"));
    }
}
