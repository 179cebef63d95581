using System.Text.Json;

namespace Reparo.Tests.Cli;

public class ProgressCliTests
{
    [Fact]
    public void ProgressGoesToStderrOnlyAndQuietSilencesIt()
    {
        using var dir = TestSupport.TempFolder();
        string[] train = ["train", "--data", "digits", "--arch", "mlp:8x1", "--epochs", "2", "--out", dir.File("m.reparo"), "--threads", "2", "--json", "-"];

        (int code, string output, string err) = CliRunner.Run(train);
        Assert.True(code == 0, err);
        Assert.Contains("train mlp:8x1: epoch 2/2 loss", err); // not a terminal: a line per epoch
        Assert.DoesNotContain("epoch 1/2", output);
        using (JsonDocument.Parse(output))
        {
            // stdout holds the JSON result and nothing else
        }

        (code, output, err) = CliRunner.Run([.. train, "--quiet"]);
        Assert.True(code == 0, err);
        Assert.DoesNotContain("train mlp:8x1: epoch", err); // the result's epoch table (human output, on stderr with --json -) stays
        Assert.DoesNotContain("epoch 1/2", output);
        using (JsonDocument.Parse(output))
        {
        }
    }
}
