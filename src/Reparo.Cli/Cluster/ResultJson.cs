using System.Text.Json.Nodes;

namespace Reparo.Cli.Cluster;

/// <summary>Results without what differs from run to run: what a cluster run, or a second run with the same seed and threads, must reproduce exactly.</summary>
internal static class ResultJson
{
    /// <summary>
    /// <paramref name="json"/> without its timings, machine load and version stamp: every field whose name holds
    /// <c>second</c>, <c>time</c> or <c>cost_ratio</c>, ends in <c>_s</c>, or is <c>minutes</c>, <c>load_before</c> or <c>reparo_version</c>.
    /// </summary>
    public static string WithoutTimings(string json)
    {
        JsonNode root = JsonNode.Parse(json) ?? throw new InvalidDataException("empty JSON");
        Strip(root);
        return root.ToJsonString();
    }

    private static bool IsTiming(string key) =>
        key.Contains("second", StringComparison.Ordinal) || key.Contains("time", StringComparison.Ordinal) || key.Contains("cost_ratio", StringComparison.Ordinal)
        || key.EndsWith("_s", StringComparison.Ordinal) || key is "minutes" or "load_before" or "reparo_version";

    private static void Strip(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (string key in o.Select(p => p.Key).Where(IsTiming).ToList()) o.Remove(key);
                foreach (KeyValuePair<string, JsonNode?> p in o) Strip(p.Value);
                break;
            case JsonArray a:
                foreach (JsonNode? item in a) Strip(item);
                break;
        }
    }
}
