namespace Reparo.Io;

/// <summary>
/// The canonical form of a path: absolute, with every symbolic link along it (the file's own and its folders') resolved,
/// so two names of one file compare equal. A path that does not exist yet resolves its existing folders and keeps the
/// rest as written. (Hard links are separate names of one file that only the file system's inode numbers reveal;
/// they are not resolved.)
/// </summary>
public static class RealPath
{
    private const int MaxLinks = 40;

    /// <summary>The canonical form of <paramref name="path"/>.</summary>
    public static string Of(string path) => Resolve(Path.GetFullPath(path), MaxLinks);

    private static string Resolve(string full, int linksLeft)
    {
        string root = Path.GetPathRoot(full) ?? "/";
        string current = root;
        string[] parts = full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < parts.Length; i++)
        {
            string next = Path.Combine(current, parts[i]);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.LinkTarget is string target)
            {
                if (linksLeft == 0) throw new ReparoInputException($"{full}: too many levels of symbolic links");
                string resolved = Path.GetFullPath(target, current);
                string rest = string.Join(Path.DirectorySeparatorChar, parts[(i + 1)..]);
                return Resolve(rest.Length == 0 ? resolved : Path.Combine(resolved, rest), linksLeft - 1);
            }
            current = next;
        }
        return current;
    }
}
