using System.Text.Json;
using System.Text.Json.Serialization;

namespace Reparo.Io;

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

    /// <summary>
    /// A command's result as JSON: <paramref name="value"/> with the version of Reparo that produced it first
    /// (<c>reparo_version</c>, <see cref="ReparoVersion.Current"/>) when it is a JSON object; readers of the result ignore it.
    /// </summary>
    public static string SerializeResult<T>(T value)
    {
        if (JsonSerializer.SerializeToNode(value, Options) is not System.Text.Json.Nodes.JsonObject result) return Serialize(value);
        result.Insert(0, "reparo_version", ReparoVersion.Current);
        return result.ToJsonString(Options);
    }
}
