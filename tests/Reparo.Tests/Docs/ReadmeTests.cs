namespace Reparo.Tests.Docs;

public class ReadmeTests
{
    private static string RepoRoot() => TestSupport.RepoRoot();

    [Fact]
    public void ReadmeCommandsExist()
    {
        string readme = File.ReadAllText(Path.Combine(RepoRoot(), "README.md"));
        Assert.Contains("./reparo demo", readme);
        Assert.Contains("./test", readme);
        Assert.True(File.Exists(Path.Combine(RepoRoot(), "reparo")));
        Assert.True(File.Exists(Path.Combine(RepoRoot(), "test")));
    }
}
