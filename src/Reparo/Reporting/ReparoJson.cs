using System.Text.Json;
using System.Text.Json.Serialization;

namespace Reparo.Reporting;

/// <summary>The JSON conventions of every file Reparo writes: snake_case names, enums as snake_case strings, indented.</summary>
public static class ReparoJson
{
    /// <summary>Serializer options shared by model headers, result files and reports.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>Serializes <paramref name="value"/> with <see cref="Options"/>.</summary>
    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    /// <summary>Writes <paramref name="value"/> as JSON to <paramref name="path"/> atomically (a temporary file, then a rename).</summary>
    public static void Write<T>(string path, T value) => AtomicFile.WriteAllText(path, Serialize(value) + Environment.NewLine);
}

/// <summary>Writes files so that a reader never sees half of one: a temporary file beside the target, then a rename.</summary>
public static class AtomicFile
{
    /// <summary>Writes text atomically, creating the folder if needed.</summary>
    public static void WriteAllText(string path, string text) => Write(path, stream =>
    {
        using var writer = new StreamWriter(stream);
        writer.Write(text);
    });

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
