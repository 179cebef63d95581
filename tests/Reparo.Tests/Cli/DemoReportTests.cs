using Reparo.Cli;
using Reparo.Tests.Reporting;

namespace Reparo.Tests.Cli;

public sealed class DemoReportTests
{
    [Fact]
    public void TheDemoReportHasOneSectionPerStepAndRendersInChromium()
    {
        using var dir = TestSupport.TempFolder();
        string report = dir.File("demo.html");
        (int code, string stdout, string err) = CliRunner.Run("demo", "--arch", "mlp:16x2", "--epochs", "1", "--cache-dir", dir.Path, "--repair-points", "3",
            "--repair-layer", "fc2", "--trojan-pairs", "0", "--influence-top", "0", "--report", report, "--threads", "2");
        Assert.True(code == CliApp.Success, err);
        Assert.Contains($"report written to {report}", stdout);
        string html = File.ReadAllText(report);
        foreach (string heading in new[] { "1. Model", "2. Evaluate", "3. Failures", "4. Repair", "4. Repair: Before and after", "4. Repair: Repair set", "Provenance" })
            Assert.Contains($">{heading}</h2>", html);
        Assert.Contains("<p>Model and failures: mlp:16x2 gets ", html);
        Assert.Contains("<p>Repair: verified (repaired) on the first 3 fog failures at fc2", html);
        Assert.Contains("--report " + report, html);
        // 10 failure thumbnails and 3 repair-set thumbnails.
        Browser.AssertRendersCleanly(report, minimumImages: 13);
    }
}
