namespace Reparo.Io;

/// <summary>Writes files so that a reader never sees half of one: a temporary file beside the target, then a rename.</summary>
public static class AtomicFile
{
    /// <summary>Writes text atomically, creating the folder if needed.</summary>
    public static void WriteAllText(string path, string text) => Write(path, stream =>
    {
        using var writer = new StreamWriter(stream);
        writer.Write(text);
    });

    /// <summary>Writes bytes atomically, creating the folder if needed.</summary>
    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, stream => stream.Write(bytes));

    /// <summary>Writes through <paramref name="write"/> to a temporary file, then renames it to <paramref name="path"/>.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string? folder = Path.GetDirectoryName(full);
        if (folder is not null) Directory.CreateDirectory(folder);
        string temporary = $"{full}.{Environment.ProcessId}.partial";
        try
        {
            using (var stream = File.Create(temporary)) write(stream);
            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }
}
