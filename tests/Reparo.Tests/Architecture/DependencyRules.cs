using System.Text.RegularExpressions;

namespace Reparo.Tests.Architecture;

/// <summary>One C# source file: its path (relative to the repository) and its text.</summary>
internal sealed record SourceFile(string Path, string Text);

/// <summary>
/// The allowed dependency direction between Reparo's top-level namespaces (<c>Reparo.X</c>, sub-namespaces included;
/// everything in src/Reparo.Cli is <c>Cli</c>), and a checker that finds the imports against it in source text.
/// </summary>
internal static partial class DependencyRules
{
    /// <summary>
    /// The layers, top first: a namespace may import from the layers below its own, never from its own row's other
    /// namespaces or from above. The root namespace <c>Reparo</c> (the exceptions) is below them all.
    /// </summary>
    public static readonly string[][] Layers =
    [
        ["Cli"],
        ["Cluster"],
        ["UseCases"],
        ["Experiments"],
        ["Reporting"],
        ["Localisation"],
        ["Repair"],
        ["Attribution", "Influence", "Remediation"],
        ["Training", "Verification"],
        ["Models"],
        ["Data"],
        ["Io", "Runtime"],
    ];

    private const string Root = "Reparo";

    /// <summary>Every import against <see cref="Layers"/>, as "path: A imports B (the import)", in file order.</summary>
    public static IReadOnlyList<string> Violations(IReadOnlyList<SourceFile> sources)
    {
        var layerOf = new Dictionary<string, int> { [Root] = Layers.Length };
        for (int i = 0; i < Layers.Length; i++)
        {
            foreach (string name in Layers[i]) layerOf[name] = i;
        }
        var code = sources.Select(s => (s.Path, Code: WithoutCommentsAndStrings(s.Text))).ToList();
        var typesOf = new Dictionary<string, HashSet<string>>();
        foreach ((string path, string text) in code)
        {
            string ns = NamespaceOf(path, text);
            if (!typesOf.TryGetValue(ns, out HashSet<string>? types)) typesOf[ns] = types = [];
            types.UnionWith(TypeDeclaration().Matches(text).Select(m => m.Groups[1].Value));
        }

        var violations = new List<string>();
        foreach ((string path, string text) in code)
        {
            string unit = UnitOf(NamespaceOf(path, text));
            if (!layerOf.TryGetValue(unit, out int layer))
            {
                violations.Add($"{path}: namespace Reparo.{unit} has no layer in the dependency table");
                continue;
            }
            foreach ((string target, string import) in Imports(text, typesOf).Distinct())
            {
                if (target == unit) continue;
                if (!layerOf.TryGetValue(target, out int targetLayer) || targetLayer <= layer)
                    violations.Add($"{path}: {unit} imports {target} ({import})");
            }
        }
        return violations;
    }

    /// <summary>
    /// The top-level namespaces a source refers to: <c>using Reparo.X…</c> directives, fully qualified
    /// <c>Reparo.X.…</c> names, and names qualified from inside Reparo (<c>X.Type</c> where Reparo.X declares Type).
    /// </summary>
    private static IEnumerable<(string Target, string Import)> Imports(string code, IReadOnlyDictionary<string, HashSet<string>> typesOf)
    {
        foreach (Match m in UsingDirective().Matches(code)) yield return (m.Groups[2].Value, $"using {m.Groups[1].Value}");
        foreach (Match m in QualifiedName().Matches(UsingDirective().Replace(code, "")))
        {
            string first = m.Groups[1].Value, second = m.Groups[2].Value;
            bool refers = m.Value.StartsWith("Reparo.", StringComparison.Ordinal)
                ? !typesOf.GetValueOrDefault(Root, []).Contains(first)
                : typesOf.GetValueOrDefault($"{Root}.{first}", []).Contains(second) || typesOf.ContainsKey($"{Root}.{first}.{second}");
            if (refers) yield return (first, m.Value);
        }
    }

    private static string NamespaceOf(string path, string code)
    {
        if (path.Replace('\\', '/').StartsWith("src/Reparo.Cli/", StringComparison.Ordinal)) return "Reparo.Cli";
        Match m = NamespaceDeclaration().Match(code);
        return m.Success ? m.Groups[1].Value : Root;
    }

    private static string UnitOf(string ns) => ns == Root ? Root : ns.Split('.')[1];

    /// <summary>The code without comments, string and character literals (their text is no import).</summary>
    private static string WithoutCommentsAndStrings(string text) => CommentOrLiteral().Replace(text, m => m.Value.StartsWith('/') ? "" : "\"\"");

    [GeneratedRegex(@"^\s*(?:global\s+)?using\s+(?:static\s+)?(?:\w+\s*=\s*)?(Reparo\.(\w+)[\w.]*)\s*;", RegexOptions.Multiline)]
    private static partial Regex UsingDirective();

    [GeneratedRegex(@"(?<![\w.])(?:Reparo\.)?([A-Z]\w*)\.([A-Z]\w*)")]
    private static partial Regex QualifiedName();

    [GeneratedRegex(@"^\s*namespace\s+([\w.]+)", RegexOptions.Multiline)]
    private static partial Regex NamespaceDeclaration();

    [GeneratedRegex(@"^(?:public |internal )?(?:(?:static|sealed|abstract|readonly|partial) )*(?:class|record struct|record|struct|enum|interface|delegate [\w<>\[\]?, ]+?) (\w+)", RegexOptions.Multiline)]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/|@""(?:[^""]|"""")*""|\$?""""""[\s\S]*?""""""|\$?""(?:[^""\\\n]|\\.)*""|'(?:[^'\\\n]|\\.)+'", RegexOptions.Singleline)]
    private static partial Regex CommentOrLiteral();
}
