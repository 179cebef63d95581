using Reparo.Experiments;
using Reparo.Repair.Editing;
using Reparo.Reporting;

namespace Reparo.Tests.Experiments;

/// <summary>The static-edit ablation's results file (the runs themselves are the experiment's, not a test's).</summary>
public class StaticEditAblationTests
{
    private static StaticEditRun Run(string factor, string setting, int seed, double asr, double accuracy, StaticEditAlignment? alignment = null)
    {
        var corners = new Dictionary<string, double> { ["bottom-right"] = asr, ["bottom-left"] = 0.01, ["top-left"] = 0.02 * (seed + 1), ["top-right"] = 0.03 };
        var before = new RectificationMeasures(0.9, 0.99, corners.ToDictionary(kv => kv.Key, kv => kv.Key == "bottom-right" ? 0.99 : 0.0), null, null, null, null);
        var after = before with { Accuracy = accuracy, Asr = asr, AsrByCorner = corners };
        var report = new RectificationReport("static", "badnets:0.1:0", 1, ["fc1"], 0.99, asr, 0.9, accuracy, 4, before, after, 0.9, 0.89, 0.5, 0.1, "static: one edit", [],
            new RectifyTiming(1, 0, 0.5, 1, 4), null);
        return new StaticEditRun(factor, setting, seed, 1, "fc1", report, alignment, 0.4);
    }

    [Fact]
    public void EachSettingIsSummarisedOverItsPairDrawsAndTheAlignmentIsListedPerDraw()
    {
        var report = new StaticEditAblationReport("./reparo experiment static-edit --threads 2", "cnn", "badnets:0.1:0", 4, 0, 2, 3,
        [
            Run("paper", "fc1", 0, 0.20, 0.90, new StaticEditAlignment(0.62, 6000, 0.05, 3000, 0.55)),
            Run("paper", "fc1", 1, 0.40, 0.89),
            Run("pairs", "20", 0, 0.02, 0.90),
        ]);
        string text = StaticEditAblation.ToMarkdown(report, "rectification-static.json");
        // Mean 30 %, sample sd 14.14 % over the two draws; OA change −0.50 ± 0.71 points; top-left corner mean (2 % + 4 %) / 2.
        Assert.Contains("| paper | fc1 | 2 | 30.00% ± 14.14% | 20.00% – 40.00% | -0.50 ± 0.71 | bottom-left 1.00%, top-left 3.00%, top-right 3.00% |", text);
        Assert.Contains("| paper | fc1 | 0 | fc1 | 0.62 | 6000 | 5.00% | 3000 | 55.00% |", text);
        Assert.Contains("[rectification-static.json](data/rectification-static.json)", text);
        Assert.Contains("Produced by `./reparo experiment static-edit --threads 2`", text);
    }
}
