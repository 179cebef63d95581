using Reparo.Runtime;

namespace Reparo.Tests.Runtime;

public sealed class ChildProcessTests
{
    [Fact]
    public async Task AChildThatFillsItsErrorPipeBeforeWritingOutputDoesNotDeadlock()
    {
        // 1 MiB on stderr first: far beyond a pipe's buffer, so reading stdout to its end before stderr would wait forever.
        Task<ChildProcessResult> run = Task.Run(() => ChildProcess.Run("/bin/sh", ["-c", "head -c 1048576 /dev/zero | tr '\\0' x >&2; echo done; exit 3"]));
        Assert.Same(run, await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(60))));
        ChildProcessResult result = await run;
        Assert.Equal(3, result.ExitCode);
        Assert.Equal("done\n", result.Stdout);
        Assert.Equal(1 << 20, result.Stderr.Length);
    }
}
