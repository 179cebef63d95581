using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;

namespace Reparo.Tests.Packaging;

/// <summary>
/// Reparo the .NET way: both packages packed into a folder feed, the <c>reparo</c> tool installed from it into a tool path
/// and run (<c>--version</c>, <c>doctor</c>, a small <c>train</c> and <c>repair</c>), and a throwaway console project that
/// references the library package and runs the README's C# snippet. On this Debian 12 machine (libstdc++ up to
/// GLIBCXX_3.4.30) torch loads in both only if the libtorch load fix travelled with the packages.
/// </summary>
public sealed partial class PackagingTests
{
    private static (int Code, string Output) Run(string file, IEnumerable<string> args, string folder, IDictionary<string, string>? environment = null, int minutes = 6)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in args) start.ArgumentList.Add(arg);
        // The test host's own settings (MSBuild's node reuse, the test's SDK environment) stay out of the child builds.
        foreach (string name in new[] { "MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH", "DOTNET_HOST_PATH" }) start.Environment.Remove(name);
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync(), error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(minutes)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} ran past {minutes} minutes");
        }
        return (process.ExitCode, output.Result + error.Result);
    }

    private static string Ok(string file, IEnumerable<string> args, string folder, IDictionary<string, string>? environment = null)
    {
        (int code, string output) = Run(file, args, folder, environment);
        Assert.True(code == 0, $"{file} {string.Join(' ', args)} exited with {code}:\n{output[Math.Max(0, output.Length - 3000)..]}");
        return output;
    }

    /// <summary>The README's first C# block: its usings, then the model path the snippet saves to (the program's argument), then the rest.</summary>
    private static string ReadmeProgram()
    {
        string readme = File.ReadAllText(Path.Combine(TestSupport.RepoRoot(), "README.md")).ReplaceLineEndings("\n");
        string[] lines = CSharpBlock().Match(readme).Groups[1].Value.Split('\n');
        int usings = lines.TakeWhile(l => l.StartsWith("using ", StringComparison.Ordinal) || l.Length == 0).Count();
        return string.Join("\n", [.. lines[..usings], "string modelPath = args[0];", .. lines[usings..]]);
    }

    [GeneratedRegex("```csharp\n(.*?)\n```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    [Fact]
    public void TheToolAndTheLibraryInstallFromTheirPackagesAndLoadTorch()
    {
        using var dir = TestSupport.TempFolder();
        string root = TestSupport.RepoRoot();
        // One version for both packages: the one this build of Reparo carries.
        string version = typeof(Reparo.Models.Network).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];
        string feed = Directory.CreateDirectory(dir.File("feed")).FullName;
        foreach (string project in new[] { "src/Reparo/Reparo.csproj", "src/Reparo.Cli/Reparo.Cli.csproj" })
            Ok("dotnet", ["pack", project, "-c", "Release", "-o", feed, "--nologo", "-v", "quiet"], root);
        Assert.True(File.Exists(Path.Combine(feed, $"Reparo.{version}.nupkg")), string.Join(", ", Directory.GetFiles(feed)));
        Assert.True(File.Exists(Path.Combine(feed, $"Reparo.Cli.{version}.nupkg")), string.Join(", ", Directory.GetFiles(feed)));

        // The tool, from the feed into a tool path (its own package folder, so no older package of this version is reused).
        var fresh = new Dictionary<string, string> { ["NUGET_PACKAGES"] = Directory.CreateDirectory(dir.File("packages")).FullName };
        string tools = dir.File("tools");
        Ok("dotnet", ["tool", "install", "Reparo.Cli", "--tool-path", tools, "--add-source", feed, "--version", version], dir.Path, fresh);
        string reparo = Path.Combine(tools, "reparo");
        Assert.StartsWith(version + "+", Ok(reparo, ["--version"], dir.Path).Trim());
        Assert.Matches(@"torch\s*│\s*2\.", Ok(reparo, ["doctor"], dir.Path));
        Ok(reparo, ["train", "--data", "digits", "--arch", "mlp:16x3", "--epochs", "3", "--out", "m.reparo", "--threads", "2"], dir.Path);
        string repaired = Ok(reparo, ["repair", "--method", "provable", "--model", "m.reparo", "--data", "digits", "--repair-set", "gaussian-noise:3:3", "--layer", "fc2",
            "--out", "r.reparo", "--threads", "2", "--json", "repair.json"], dir.Path);
        Assert.StartsWith(version + "+", System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(dir.File("repair.json")))!["reparo_version"]!.GetValue<string>());
        Assert.True(File.Exists(dir.File("r.reparo")), repaired);

        // The library, in a throwaway console project that references the package (the feed beside the usual sources).
        string consumer = Directory.CreateDirectory(dir.File("consumer")).FullName;
        File.WriteAllText(Path.Combine(consumer, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <RuntimeIdentifier>linux-x64</RuntimeIdentifier>
                <SelfContained>false</SelfContained>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Reparo" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(consumer, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="reparo-feed" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(consumer, "Program.cs"), ReadmeProgram());
        // The packages folder the machine's builds use (the consumer's dependencies are there); this version of Reparo is
        // removed from it before and after, so the package read is the one packed above.
        string cached = Path.Combine(Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"), "reparo", version);
        if (Directory.Exists(cached)) Directory.Delete(cached, recursive: true);
        try
        {
            Ok("dotnet", ["build", "-c", "Release", "--nologo", "-v", "quiet"], consumer);
            string output = Ok("dotnet", [Path.Combine(consumer, "bin", "Release", "net10.0", "linux-x64", "Consumer.dll"), dir.File("readme.reparo")], consumer);
            Match accuracy = Regex.Match(output, @"test accuracy ([0-9.]+) ?%");
            Assert.True(accuracy.Success && double.Parse(accuracy.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > 80, output);
            Assert.True(File.Exists(dir.File("readme.reparo")));
        }
        finally
        {
            if (Directory.Exists(cached)) Directory.Delete(cached, recursive: true);
        }
    }
}
