namespace Reparo.Tests.Docs;

public class ReadmeTests
{
    private static string RepoRoot() => TestSupport.RepoRoot();

    private static string Region(string[] lines, string marker)
    {
        int start = Array.FindIndex(lines, l => l.Trim() == $"// README:{marker}") + 1;
        int end = Array.FindIndex(lines, start, l => l.Trim() == "// README:end");
        string[] region = lines[start..end];
        int indent = region.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return string.Join("\n", region.Select(l => l.Length >= indent ? l[indent..] : l.Trim()));
    }

    [Fact]
    public void ReadmeShowsExactlyTheCompiledExample()
    {
        string root = RepoRoot();
        string[] source = File.ReadAllLines(Path.Combine(root, "tests", "Reparo.Tests", "Docs", "ReadmeExample.cs"));
        string expected = Region(source, "usings") + "\n\n" + Region(source, "body");
        string readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");
        Assert.Contains("```csharp\n" + expected + "\n```", readme);
    }

    [Fact]
    public void ReadmeExampleRunsAndTrainsAUsefulModel()
    {
        TestSupport.Init();
        using var dir = TestSupport.TempFolder();
        double accuracy = ReadmeExample.Run(dir.File("mlp.reparo"));
        Assert.True(accuracy > 0.8, $"accuracy {accuracy}");
        Assert.True(File.Exists(dir.File("mlp.reparo")));
    }

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
