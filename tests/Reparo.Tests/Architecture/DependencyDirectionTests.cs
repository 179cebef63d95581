namespace Reparo.Tests.Architecture;

/// <summary>
/// The dependency direction of docs/architecture.md, checked on the sources: every namespace of src/Reparo and
/// src/Reparo.Cluster and src/Reparo.Cli imports only from the layers below its own.
/// </summary>
public sealed class DependencyDirectionTests
{
    [Fact]
    public void NoNamespaceImportsAgainstTheDirection()
    {
        string root = TestSupport.RepoRoot();
        IEnumerable<SourceFile> sources = ((string[])["src/Reparo", "src/Reparo.Cluster", "src/Reparo.Cli"])
            .SelectMany(folder => Directory.EnumerateFiles(Path.Combine(root, folder), "*.cs", SearchOption.AllDirectories))
            .Where(path => !path.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !path.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Select(path => new SourceFile(Path.GetRelativePath(root, path), File.ReadAllText(path)));
        IReadOnlyList<string> violations = DependencyRules.Violations(sources.ToList());
        Assert.True(violations.Count == 0, "imports against the dependency direction:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void TheCheckerFindsEveryKindOfImportAgainstTheDirection()
    {
        SourceFile[] sources =
        [
            new("src/Reparo/Data/Upward.cs", """
                using Reparo.Models;
                using Reparo.Io;

                namespace Reparo.Data;

                // Reparo.Experiments.ModelCache in a comment and "Reparo.UseCases.X" in a string are not imports.
                public static class Upward
                {
                    public static object Cache() => new Reparo.Experiments.ModelCache("folder", 1);

                    public static void Check() => Verification.OnnxRuntimeCheck.Run();
                }
                """),
            new("src/Reparo/Verification/OnnxRuntimeCheck.cs", """
                namespace Reparo.Verification;

                public static class OnnxRuntimeCheck
                {
                    public static void Run() { }
                }
                """),
            new("src/Reparo/Models/Downward.cs", """
                using Reparo.Data;

                namespace Reparo.Models;

                public static class Downward
                {
                    public static int Count(Dataset data) => Training.Count + Reparo.Io.NpyReader.Version;
                }
                """),
            new("src/Reparo/Sideways/Unplaced.cs", "namespace Reparo.Sideways;\n\npublic static class Unplaced { }\n"),
        ];

        IReadOnlyList<string> violations = DependencyRules.Violations(sources);

        Assert.Equal(
        [
            "src/Reparo/Data/Upward.cs: Data imports Models (using Reparo.Models)",
            "src/Reparo/Data/Upward.cs: Data imports Experiments (Reparo.Experiments.ModelCache)",
            "src/Reparo/Data/Upward.cs: Data imports Verification (Verification.OnnxRuntimeCheck)",
            "src/Reparo/Sideways/Unplaced.cs: namespace Reparo.Sideways has no layer in the dependency table",
        ], violations);
    }

    [Fact]
    public void ArchitectureDocStatesTheSameLayers()
    {
        string[] lines = File.ReadAllLines(Path.Combine(TestSupport.RepoRoot(), "docs", "architecture.md"));
        int heading = Array.IndexOf(lines, "## Dependency direction");
        Assert.True(heading >= 0, "docs/architecture.md has no '## Dependency direction' section");
        string[] rows = lines.Skip(heading + 1).SkipWhile(l => !l.StartsWith('|')).TakeWhile(l => l.StartsWith('|')).Skip(2).ToArray();
        string[] documented = rows.Select(row => row.Split('|')[1].Replace("`", "").Trim()).ToArray();
        Assert.Equal(DependencyRules.Layers.Select(layer => string.Join(", ", layer)), documented);
    }
}
