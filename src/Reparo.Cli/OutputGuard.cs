using System.CommandLine;
using System.CommandLine.Parsing;
using Reparo.Io;

namespace Reparo.Cli;

/// <summary>
/// Refuses, before a command does any work, an output path option that names one of the command's inputs: every other
/// argument on the command line that names an existing file or folder (also after a <c>scheme:</c> prefix such as
/// <c>npz:PATH</c>), compared as <see cref="RealPath"/>s, so a symbolic link to an input counts as the input.
/// </summary>
internal static class OutputGuard
{
    /// <summary>The options whose value is a path the command writes.</summary>
    public static readonly IReadOnlySet<string> OutputOptions = new HashSet<string>(StringComparer.Ordinal)
    {
        "--out", "--json", "--export-lp", "--export-vectors", "--markdown", "--plot", "--png", "--report", "--tensorboard",
    };

    /// <summary>The one output option whose value is a folder.</summary>
    private const string FolderOutput = "--tensorboard";

    /// <summary>Throws a one-line <see cref="ReparoInputException"/> when an output of <paramref name="parse"/> is one of its inputs.</summary>
    public static void Check(ParseResult parse)
    {
        var outputs = new List<(string Option, string Path)>();
        var inputs = new List<string>();
        IReadOnlyList<Token> tokens = parse.Tokens;
        for (int i = 0; i < tokens.Count; i++)
        {
            Token token = tokens[i];
            if (token.Type == TokenType.Option && OutputOptions.Contains(token.Value) && i + 1 < tokens.Count && tokens[i + 1].Type == TokenType.Argument)
            {
                if (tokens[i + 1].Value != "-") outputs.Add((token.Value, tokens[i + 1].Value));
                i++;
            }
            else if (token.Type == TokenType.Argument)
            {
                inputs.Add(token.Value);
            }
        }
        if (outputs.Count == 0) return;
        var existing = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string argument in inputs)
        {
            foreach (string candidate in Candidates(argument))
            {
                if (File.Exists(candidate) || Directory.Exists(candidate)) existing.TryAdd(RealPath.Of(candidate), argument);
            }
        }
        foreach ((string option, string path) in outputs)
        {
            if (existing.TryGetValue(RealPath.Of(path), out string? input))
                throw new ReparoInputException($"{option} {path} would overwrite the input {input}: write the output to another path");
            CheckPlace(option, path);
        }
    }

    /// <summary>A file output must not be a folder, and the nearest existing folder above it must be a folder, not a file.</summary>
    private static void CheckPlace(string option, string path)
    {
        string full = Path.GetFullPath(path);
        if (option != FolderOutput && Directory.Exists(full)) throw new ReparoInputException($"{option} {path} is a folder: give a file name");
        for (string? above = Path.GetDirectoryName(full); above is not null; above = Path.GetDirectoryName(above))
        {
            if (Directory.Exists(above)) return;
            if (File.Exists(above)) throw new ReparoInputException($"{option} {path}: {above} is a file, not a folder, so nothing can be written there");
        }
    }

    /// <summary>The argument itself and every part after one of its colons (<c>npz:a.npz</c> → <c>a.npz</c>).</summary>
    private static IEnumerable<string> Candidates(string argument)
    {
        if (argument.Length == 0) yield break;
        yield return argument;
        for (int at = argument.IndexOf(':'); at >= 0 && at + 1 < argument.Length; at = argument.IndexOf(':', at + 1))
            yield return argument[(at + 1)..];
    }
}
