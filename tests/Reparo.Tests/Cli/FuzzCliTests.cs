using System.Text.Json;

namespace Reparo.Tests.Cli;

public sealed class FuzzCliTests
{
    [Fact]
    public void FuzzPrintsTheCountsWritesJsonAndMarkdownAndExitsZeroWhenClean()
    {
        using var dir = TestSupport.TempFolder();
        (int code, string output, string error) = CliRunner.Run("fuzz", "npy", "--cases", "40", "--seed", "3", "--quiet", "--json", dir.File("f.json"), "--markdown", dir.File("f.md"));
        Assert.True(code == 0, error);
        Assert.Contains("internal errors", output);
        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(dir.File("f.json")));
        JsonElement npy = json.RootElement.GetProperty("parsers")[0];
        Assert.Equal("npy", npy.GetProperty("parser").GetString());
        Assert.Equal(40, npy.GetProperty("accepted").GetInt32() + npy.GetProperty("rejected").GetInt32());
        Assert.Contains("| npy | 40 |", File.ReadAllText(dir.File("f.md")));
    }

    [Theory]
    [InlineData("fuzz", "bogus")]
    [InlineData("fuzz", "idx", "--cases", "0")]
    [InlineData("fuzz", "idx", "--deadline", "0")]
    public void BadFuzzArgumentsAreOneLineAndExitTwo(params string[] args)
    {
        (int code, _, string error) = CliRunner.Run(args);
        Assert.Equal(2, code);
        Assert.Single(error.Trim().Split('\n'));
    }
}
