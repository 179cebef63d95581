using System.Collections.Concurrent;
using System.Diagnostics;

namespace Reparo.Cli.Cluster;

/// <summary>A program started by the scale-out benchmark (Redis, workers), its output lines kept; killed when disposed.</summary>
internal sealed class BackgroundProcess : IDisposable
{
    private readonly Process process;

    private BackgroundProcess(string file, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in args) start.ArgumentList.Add(arg);
        process = Process.Start(start) ?? throw new ReparoEnvironmentException($"could not start {file}", new InvalidOperationException(file));
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) Lines.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Lines.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>Every line the program wrote so far.</summary>
    public ConcurrentQueue<string> Lines { get; } = new();

    /// <summary>Starts <paramref name="file"/> found on the PATH (or at that path).</summary>
    public static BackgroundProcess Start(string file, IEnumerable<string> args)
    {
        string? path = file.Contains('/') ? file : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, file)).FirstOrDefault(File.Exists);
        return path is null ? throw new ReparoEnvironmentException($"{file} is not installed (Debian: apt-get install {file})", new FileNotFoundException(file)) : new BackgroundProcess(path, args);
    }

    /// <summary>Starts this same <c>reparo</c> program with <paramref name="args"/>.</summary>
    public static BackgroundProcess Reparo(IEnumerable<string> args)
    {
        string self = Environment.ProcessPath ?? throw new ReparoEnvironmentException("cannot tell which program this is", new InvalidOperationException());
        return Path.GetFileNameWithoutExtension(self) == "dotnet" ? new BackgroundProcess(self, [typeof(CliApp).Assembly.Location, .. args]) : new BackgroundProcess(self, args);
    }

    /// <summary>Waits until a line contains <paramref name="text"/>; the program ending or the time running out is a <see cref="ReparoEnvironmentException"/>.</summary>
    public void WaitFor(string text, TimeSpan limit)
    {
        DateTime deadline = DateTime.UtcNow + limit;
        while (!Lines.Any(l => l.Contains(text, StringComparison.Ordinal)))
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
                throw new ReparoEnvironmentException($"{Path.GetFileName(process.StartInfo.FileName)} did not say '{text}': {string.Join(" | ", Lines.TakeLast(5))}", new TimeoutException(text));
            Thread.Sleep(50);
        }
    }

    /// <summary>Whether the program has ended.</summary>
    public bool HasExited => process.HasExited;

    /// <summary>Its exit code, once ended.</summary>
    public int ExitCode => process.ExitCode;

    /// <summary>Waits up to <paramref name="limit"/> for the program to end (and its output to be read); false if it has not.</summary>
    public bool WaitForExit(TimeSpan limit)
    {
        bool exited = process.WaitForExit(limit);
        if (exited) process.WaitForExit();
        return exited;
    }

    /// <summary>Kills the program and its children at once.</summary>
    public void Kill() => process.Kill(entireProcessTree: true);

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit(TimeSpan.FromSeconds(10));
        }
        catch (InvalidOperationException)
        {
        }
        process.Dispose();
    }
}
