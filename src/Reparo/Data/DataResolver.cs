namespace Reparo.Data;

/// <summary>
/// Finds dataset files on disk. For a dataset it looks, in order, in the folder given with <c>--data-dir</c>, in
/// <c>$REPARO_DATA</c>, in <c>~/.cache/reparo/datasets</c> (each as is and with the dataset's own subfolder) and finally
/// in the folder where the Debian package puts it. A miss raises a one-line <see cref="ReparoInputException"/> naming
/// every place it looked and how to get the data.
/// </summary>
public static class DataResolver
{
    /// <summary>Environment variable naming a folder that holds datasets.</summary>
    public const string EnvironmentVariable = "REPARO_DATA";

    /// <summary>Where Reparo keeps downloaded or generated datasets for the current user.</summary>
    public static string UserCacheFolder =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "reparo", "datasets");

    /// <summary>A dataset's files and where it usually lives.</summary>
    /// <param name="Name">The dataset's name, also its subfolder name in a data folder.</param>
    /// <param name="Files">Files that must all be present; each may alternatively end in <c>.gz</c> or lack it.</param>
    /// <param name="SystemFolder">Where the Debian package installs it.</param>
    /// <param name="HowToGet">One sentence on how to get it.</param>
    public sealed record Layout(string Name, string[] Files, string SystemFolder, string HowToGet);

    /// <summary>Fashion-MNIST as Debian's <c>dataset-fashion-mnist</c> ships it.</summary>
    public static readonly Layout FashionMnist = new("fashion-mnist",
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"],
        "/usr/share/datasets/fashion-mnist", "install it with 'sudo apt-get install dataset-fashion-mnist' or put the four IDX files there");

    /// <summary>WordNet's noun database from Debian's <c>wordnet-base</c>.</summary>
    public static readonly Layout WordNet = new("wordnet", ["data.noun"], "/usr/share/wordnet",
        "install it with 'sudo apt-get install wordnet-base' or copy data.noun there");

    /// <summary>The fortune cookie files from Debian's <c>fortunes</c>.</summary>
    public static readonly Layout Fortunes = new("fortunes", [], "/usr/share/games/fortunes",
        "install it with 'sudo apt-get install fortunes' or put the topic files there");

    /// <summary>scikit-learn's 8×8 digits table from Debian's <c>python3-sklearn</c>.</summary>
    public static readonly Layout Digits = new("digits", ["digits.csv.gz"], "/usr/lib/python3/dist-packages/sklearn/datasets/data",
        "install it with 'sudo apt-get install python3-sklearn' or copy digits.csv.gz there");

    /// <summary>The folders searched for <paramref name="layout"/>, in order.</summary>
    public static IReadOnlyList<string> Candidates(Layout layout, string? dataDir)
    {
        var roots = new List<string>();
        if (!string.IsNullOrEmpty(dataDir)) roots.Add(dataDir);
        string? env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(env)) roots.Add(env);
        roots.Add(UserCacheFolder);
        var folders = new List<string>();
        foreach (string root in roots)
        {
            folders.Add(Path.Combine(root, layout.Name));
            folders.Add(root);
        }
        folders.Add(layout.SystemFolder);
        return folders.Distinct().ToArray();
    }

    /// <summary>The first candidate folder that holds all of the layout's files (and, for file-less layouts, exists).</summary>
    public static string Locate(Layout layout, string? dataDir, Func<string, bool>? accept = null)
    {
        if (!string.IsNullOrEmpty(dataDir) && !Directory.Exists(dataDir))
            throw new ReparoInputException($"--data-dir {dataDir}: no such folder");
        IReadOnlyList<string> candidates = Candidates(layout, dataDir);
        foreach (string folder in candidates)
        {
            if (!Directory.Exists(folder)) continue;
            if (layout.Files.All(f => FindFile(folder, f) is not null) && (accept?.Invoke(folder) ?? true)) return folder;
        }
        throw new ReparoInputException(
            $"dataset '{layout.Name}' not found; looked in {string.Join(", ", candidates)}; {layout.HowToGet} (or pass --data-dir or set ${EnvironmentVariable})");
    }

    /// <summary>The file <paramref name="name"/> in <paramref name="folder"/>, accepting it with or without a <c>.gz</c> suffix.</summary>
    public static string? FindFile(string folder, string name)
    {
        string bare = name.EndsWith(".gz", StringComparison.Ordinal) ? name[..^3] : name;
        foreach (string candidate in new[] { Path.Combine(folder, bare + ".gz"), Path.Combine(folder, bare) })
        {
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}
