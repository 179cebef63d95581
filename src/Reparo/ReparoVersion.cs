using System.Reflection;

namespace Reparo;

/// <summary>Reparo's version, one for the library and the tool: <c>MAJOR.MINOR.PATCH+COMMIT</c> (the commit it was built from).</summary>
public static class ReparoVersion
{
    /// <summary>The version of this build (what <c>reparo --version</c> prints, every JSON's <c>reparo_version</c> and every report's provenance).</summary>
    public static string Current { get; } = Of(typeof(ReparoVersion).Assembly);

    /// <summary>An assembly's informational version (its file version when it has none).</summary>
    public static string Of(Assembly assembly) =>
        assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? assembly.GetName().Version?.ToString() ?? "unknown";
}
