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
    /// <remarks>A file system refusal (no permission, a file where a folder should be, a full disk) is a one-line <see cref="ReparoInputException"/> naming the path.</remarks>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string? folder = Path.GetDirectoryName(full);
        string temporary = $"{full}.{Environment.ProcessId}.partial";
        try
        {
            if (folder is not null) Directory.CreateDirectory(folder);
            using (var stream = File.Create(temporary)) write(stream);
            File.Move(temporary, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ReparoInputException($"{path}: cannot be written ({e.Message.Split('\n')[0]})");
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }
}
