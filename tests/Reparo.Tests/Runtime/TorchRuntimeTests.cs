using Reparo.Runtime;

namespace Reparo.Tests.Runtime;

public class TorchRuntimeTests
{
    [Fact]
    public void GlibcxxLoadFailureIsExplainedInOneLine()
    {
        var native = new NotSupportedException("Trace from LoadNativeBackend:\n  Failed to load native component libLibTorchSharp.so:\n"
            + "  /lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.32' not found (required by libLibTorchSharp.so)\n");
        string line = TorchRuntime.ExplainLoadFailure(new TypeInitializationException("TorchSharp.torch", native));
        Assert.DoesNotContain('\n', line);
        Assert.Contains("needs GLIBCXX_3.4.32", line);
        Assert.Contains("TorchSharpNativeFix.targets", line);
    }

    [Fact]
    public void OtherLoadFailuresKeepTheirFirstLine()
    {
        string line = TorchRuntime.ExplainLoadFailure(new DllNotFoundException("libtorch_cpu.so: cannot open shared object file\nmore detail"));
        Assert.Equal("torch failed to load: libtorch_cpu.so: cannot open shared object file", line);
    }

    [Fact]
    public void AMachineWithoutOptIsAMachineWithoutGurobiNotACrash()
    {
        using var dir = TestSupport.TempFolder();
        string missing = Path.Combine(dir.Path, "no-opt");
        Assert.False(TorchRuntime.GurobiInstalled(null, missing));
        Assert.True(TorchRuntime.GurobiInstalled("/somewhere/gurobi", missing));
        Directory.CreateDirectory(Path.Combine(dir.Path, "gurobi1203"));
        Assert.True(TorchRuntime.GurobiInstalled(null, dir.Path));
    }

    [Fact]
    public void TorchLoadsHereAndReportsSolvers()
    {
        TestSupport.Init();
        RuntimeReport report = TorchRuntime.Report();
        Assert.StartsWith("2.10", report.TorchVersion);
        Assert.Equal(2, report.Threads);
        Assert.Contains("highs", report.Solvers);
        Assert.Contains("glop", report.Solvers);
        Assert.Contains("pdlp", report.Solvers);
        Assert.Contains("clp", report.Solvers);
    }
}
