using Google.OrTools.ModelBuilder;
using static TorchSharp.torch;

namespace Reparo.Runtime;

/// <summary>What <c>reparo doctor</c> reports about this machine's runtime.</summary>
/// <param name="TorchVersion">libtorch's version.</param>
/// <param name="Threads">Intra-op threads torch uses.</param>
/// <param name="ProcessorCount">Logical processors of the machine.</param>
/// <param name="Solvers">LP / MIP solvers OR-Tools can load here, by name.</param>
public sealed record RuntimeReport(string TorchVersion, int Threads, int ProcessorCount, IReadOnlyList<string> Solvers);

/// <summary>
/// Loads the native torch library once, sets the thread count, and turns a native-load failure into one line that
/// says what is wrong. Same seed gives bit-identical results only at the same thread count, so commands set it.
/// </summary>
public static class TorchRuntime
{
    /// <summary>The OR-Tools solver names probed by <see cref="Report"/>.</summary>
    public static readonly IReadOnlyList<string> KnownSolvers = ["highs", "glop", "pdlp", "clp", "scip", "cbc", "gurobi"];

    /// <summary>Loads torch and sets the number of intra-op threads (default: all processors).</summary>
    public static void Initialize(int? threads = null)
    {
        if (threads is < 1) throw new ReparoInputException($"--threads must be at least 1, got {threads}");
        try
        {
            InitializeDeviceType(TorchSharp.DeviceType.CPU);
            set_num_threads(threads ?? Environment.ProcessorCount);
        }
        catch (Exception e) when (e is TypeInitializationException or NotSupportedException or DllNotFoundException)
        {
            throw new ReparoEnvironmentException(ExplainLoadFailure(e), e);
        }
    }

    /// <summary>The runtime facts <c>reparo doctor</c> prints.</summary>
    public static RuntimeReport Report() =>
        new(__version__, get_num_threads(), Environment.ProcessorCount, KnownSolvers.Where(SolverAvailable).ToArray());

    /// <summary>Whether OR-Tools can create the named solver on this machine.</summary>
    public static bool SolverAvailable(string name)
    {
        // Probing Gurobi without its library only logs a warning on stderr; look for an installation first.
        if (name == "gurobi" && !GurobiInstalled(Environment.GetEnvironmentVariable("GUROBI_HOME"), "/opt"))
            return false;
        try
        {
            // OR-Tools' model builder front end reaches HiGHS, GLOP, PDLP, SCIP and Gurobi; COIN-OR's CLP and CBC only
            // through the older linear-solver front end.
            if (name is "clp" or "cbc") return Google.OrTools.LinearSolver.Solver.CreateSolver(name.ToUpperInvariant()) is not null;
            return new Solver(name).SolverIsSupported();
        }
        catch (Exception e) when (e is ApplicationException or DllNotFoundException or EntryPointNotFoundException or TypeInitializationException)
        {
            return false;
        }
    }

    /// <summary>Whether Gurobi looks installed: <c>GUROBI_HOME</c> set, or a <c>gurobi*</c> folder in <paramref name="optFolder"/> (which may not exist).</summary>
    internal static bool GurobiInstalled(string? gurobiHome, string optFolder) =>
        gurobiHome is not null || (Directory.Exists(optFolder) && Directory.EnumerateDirectories(optFolder, "gurobi*").Any());

    /// <summary>One line explaining why the native torch library failed to load.</summary>
    public static string ExplainLoadFailure(Exception e)
    {
        string all = string.Join(" | ", Chain(e).Select(x => x.Message));
        int glibcxx = all.IndexOf("GLIBCXX_", StringComparison.Ordinal);
        if (glibcxx >= 0)
        {
            string version = new(all[glibcxx..].TakeWhile(c => char.IsLetterOrDigit(c) || c is '_' or '.').ToArray());
            return $"torch failed to load: libLibTorchSharp.so needs {version.TrimEnd('.')}, which this system's libstdc++ lacks; " +
                   "build Reparo with 'dotnet build' (build/TorchSharpNativeFix.targets marks that need weak in every output folder) " +
                   "rather than copying binaries built elsewhere";
        }
        if (all.Contains("libtorch", StringComparison.OrdinalIgnoreCase) && all.Contains("reference", StringComparison.OrdinalIgnoreCase))
            return "torch failed to load: the libtorch native package is missing from the output folder; rebuild with 'dotnet build'";
        string first = Chain(e).Last().Message.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? e.GetType().Name;
        return $"torch failed to load: {first.Trim()}";
    }

    private static IEnumerable<Exception> Chain(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException) yield return x;
    }
}
