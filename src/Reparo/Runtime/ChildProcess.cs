using System.Diagnostics;

namespace Reparo.Runtime;

/// <summary>What a finished child process gave back.</summary>
/// <param name="ExitCode">Its exit code.</param>
/// <param name="Stdout">Everything it wrote to standard output.</param>
/// <param name="Stderr">Everything it wrote to standard error.</param>
public sealed record ChildProcessResult(int ExitCode, string Stdout, string Stderr);

/// <summary>
/// Runs a program to completion with both output streams captured. Both are drained at the same time, so a child that
/// fills one pipe while the other is being read cannot deadlock the two processes.
/// </summary>
public static class ChildProcess
{
    /// <summary>Runs <paramref name="program"/> with <paramref name="arguments"/>; a program that cannot be started raises <see cref="System.ComponentModel.Win32Exception"/>.</summary>
    public static ChildProcessResult Run(string program, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return new ChildProcessResult(process.ExitCode, stdout, stderr.GetAwaiter().GetResult());
    }
}
