using System.Text.Json;
using Reparo.Cli;

namespace Reparo.Tests.Cli;

public class ExplainCliTests
{
    [Fact]
    public void ExplainsOneDigitWithJsonAndReport()
    {
        using var dir = TestSupport.TempFolder();
        string model = dir.File("digits.reparo");
        (int trained, _, string trainErr) = CliRunner.Run("train", "--data", "digits", "--arch", "mlp:16x2", "--epochs", "3", "--out", model, "--threads", "2");
        Assert.True(trained == 0, trainErr);

        (int code, string output, string err) = CliRunner.Run("explain", "--model", model, "--data", "digits", "--index", "3", "--steps", "8", "--json", "-",
            "--report", dir.File("explain.html"));
        Assert.True(code == 0, err);
        using JsonDocument doc = JsonDocument.Parse(output);
        JsonElement root = doc.RootElement;
        Assert.Equal(3, root.GetProperty("index").GetInt32());
        string prediction = root.GetProperty("prediction").GetString()!;
        Assert.False(string.IsNullOrEmpty(root.GetProperty("label").GetString()));
        JsonElement[] probabilities = [.. root.GetProperty("probabilities").EnumerateArray()];
        Assert.Equal(10, probabilities.Length);
        Assert.Equal(prediction, probabilities.MaxBy(p => p.GetProperty("probability").GetDouble()).GetProperty("class").GetString());
        Assert.Equal(5, root.GetProperty("neighbours").GetArrayLength());
        Assert.True(root.GetProperty("neighbours")[0].GetProperty("distance").GetDouble() <= root.GetProperty("neighbours")[4].GetProperty("distance").GetDouble());
        JsonElement layer = root.GetProperty("editable_layer");
        Assert.Equal(2, layer.GetProperty("scores").GetArrayLength()); // mlp:16x2: fc1, fc2
        Assert.Contains(layer.GetProperty("scores").EnumerateArray(), s => s.GetProperty("layer").GetString() == layer.GetProperty("layer").GetString());
        Assert.Equal(10, root.GetProperty("input_attribution").GetProperty("top").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("influence").ValueKind);
        Assert.False(root.TryGetProperty("attribution_picture", out _));
        Assert.Contains("most editable", err); // the human summary moved to stderr
        string html = File.ReadAllText(dir.File("explain.html"));
        Assert.Contains("Most editable layer", html);
        // The input, its attribution heatmap and the five neighbours' thumbnails.
        Reparo.Tests.Reporting.Browser.AssertRendersCleanly(dir.File("explain.html"), minimumImages: 7);

        (code, output, err) = CliRunner.Run("explain", "--model", model, "--data", "digits", "--index", "100000");
        Assert.Equal(CliApp.BadInput, code);
        Assert.Equal("", output);
        string[] lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains("--index 100000 is outside the test split", lines[0]);

        foreach (string[] args in new[]
        {
            new[] { "explain", "--model", dir.File("missing.reparo"), "--data", "digits", "--index", "0" },
            ["explain", "--model", model, "--data", "digits", "--index", "0", "--influence", dir.File("missing.influence")],
        })
        {
            (code, output, err) = CliRunner.Run(args);
            Assert.Equal(CliApp.BadInput, code);
            Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains("missing.", err);
        }
    }
}
