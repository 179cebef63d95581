using System.Globalization;

namespace Reparo.Cluster;

/// <summary>Where a cluster's Redis is: <c>redis://HOST:PORT</c>. Redis holds the cluster's membership and every recorded result.</summary>
/// <param name="Host">Host name or address of the Redis server.</param>
/// <param name="Port">Its port.</param>
public sealed record ClusterAddress(string Host, int Port)
{
    /// <summary>The StackExchange.Redis configuration string (<c>HOST:PORT</c>, without failing fast when Redis is late).</summary>
    public string RedisConfiguration => string.Create(CultureInfo.InvariantCulture, $"{Host}:{Port},abortConnect=false,connectTimeout=3000");

    /// <summary>Whether the Redis host is this machine (workers then advertise the loopback address).</summary>
    public bool IsLoopback => Host is "localhost" || (System.Net.IPAddress.TryParse(Host, out System.Net.IPAddress? ip) && System.Net.IPAddress.IsLoopback(ip));

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"redis://{Host}:{Port}");

    /// <summary>Parses <c>redis://HOST:PORT</c>; anything else is a one-line <see cref="ReparoInputException"/>.</summary>
    public static ClusterAddress Parse(string text)
    {
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out Uri? uri) || uri.Scheme != "redis" || string.IsNullOrEmpty(uri.Host)
            || uri.IsDefaultPort || uri.AbsolutePath is not ("" or "/") || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
            throw new ReparoInputException($"--cluster: '{text}' is not redis://HOST:PORT");
        return new ClusterAddress(uri.Host, uri.Port);
    }
}
