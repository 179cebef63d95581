using System.Diagnostics;
using Reparo.Data;
using Reparo.Influence;
using Reparo.Io;
using Reparo.Models;
using Reparo.Runtime;
using static TorchSharp.torch;

namespace Reparo.Experiments;

/// <summary>How the influence-model benchmark runs.</summary>
/// <param name="Candidates">K swept by the semantic-guided selection.</param>
/// <param name="Queries">Test inputs queried (the first ones of the test split).</param>
/// <param name="Top">Training samples returned per query.</param>
/// <param name="ExportVectors">Where the PCA-reduced step vectors are written as <c>.npy</c> (null: not written).</param>
/// <param name="Python">A Python with scikit-learn to fit the same vectors with, or null to skip the comparison.</param>
/// <param name="Seed">Seed of the mixtures.</param>
/// <param name="Restarts">Besides the single-start fit, also time Reparo's EM with this many starts (best kept); 1: no extra row.</param>
public sealed record InfluenceBenchmarkOptions(IReadOnlyList<int> Candidates, int Queries = 100, int Top = 100, string? ExportVectors = null,
    string? Python = null, int Seed = 0, int Restarts = 1);

/// <summary>Query latency over many test inputs, in milliseconds.</summary>
/// <param name="Count">Queries timed.</param>
/// <param name="SearchMean">Mean time of the distance computation and ranking.</param>
/// <param name="SearchMedian">Median of the same.</param>
/// <param name="SearchMax">Slowest.</param>
/// <param name="WithProfilingMean">Mean time including running the network over the input and abstracting it.</param>
public sealed record QueryLatency(int Count, double SearchMean, double SearchMedian, double SearchMax, double WithProfilingMean);

/// <summary>One EM fit of the same step vectors.</summary>
/// <param name="Implementation">"reparo" or "scikit-learn".</param>
/// <param name="K">Components.</param>
/// <param name="Seconds">Fit time.</param>
/// <param name="Iterations">EM iterations.</param>
/// <param name="Converged">Whether the tolerance was reached.</param>
/// <param name="Bic">BIC on the vectors (scikit-learn's formula).</param>
public sealed record MixtureFit(string Implementation, int K, double Seconds, int Iterations, bool Converged, double Bic);

/// <summary>What the influence-model benchmark measured.</summary>
/// <param name="Samples">Training sequences.</param>
/// <param name="Steps">Step vectors (hidden states) abstracted.</param>
/// <param name="Sweep">The build with the K sweep.</param>
/// <param name="FixedK">The build at the chosen K alone (what the paper times).</param>
/// <param name="Latency">Sample-level query latency.</param>
/// <param name="Fits">Reparo's EM and, if run, scikit-learn's on the same vectors at the chosen K.</param>
/// <param name="SklearnCommand">The command that fits the exported vectors with scikit-learn.</param>
/// <param name="SklearnNote">Why scikit-learn was not run, when it was not.</param>
/// <param name="LoadBefore">1-minute load average when the benchmark started (the machine's other work).</param>
/// <param name="LoadAfter">The same when it ended.</param>
public sealed record InfluenceBenchmarkReport(int Samples, long Steps, InfluenceBuildReport Sweep, InfluenceBuildReport FixedK, QueryLatency Latency,
    IReadOnlyList<MixtureFit> Fits, string? SklearnCommand, string? SklearnNote, double LoadBefore, double LoadAfter);

/// <summary>
/// The speed figures of RNNRepair (Xie et al., ICML'21, Sec. 4.1): building the influence model over a whole training set,
/// answering sample-level queries, and Reparo's EM against scikit-learn's <c>GaussianMixture(covariance_type="diag")</c>
/// on the very same PCA-reduced step vectors (exported as <c>.npy</c>, fitted by <c>scripts/sklearn_gmm.py</c>).
/// </summary>
public static class InfluenceBenchmark
{
    /// <summary>Runs the benchmark for <paramref name="network"/> (recurrent) over <paramref name="train"/>, querying <paramref name="test"/>.</summary>
    public static InfluenceBenchmarkReport Run(Network network, Dataset train, Dataset test, InfluenceBenchmarkOptions options, IProgress<string>? progress = null)
    {
        if (options.Queries < 1 || options.Top < 1) throw new ReparoInputException("the benchmark needs at least one query and one result per query");
        double loadBefore = MachineLoad.OneMinute();
        var sweepOptions = new InfluenceOptions { Abstraction = new AbstractionOptions { Candidates = options.Candidates, StopAtFirstStable = true, Mixture = new GaussianMixtureOptions(Seed: options.Seed) } };
        InfluenceBuildReport sweep;
        using (InfluenceModel swept = InfluenceModel.Build(network, train, sweepOptions, progress)) sweep = swept.Report;
        var fixedOptions = sweepOptions with { Abstraction = sweepOptions.Abstraction with { Candidates = [sweep.K] } };
        progress?.Report($"building again at K = {sweep.K} alone");
        using InfluenceModel model = InfluenceModel.Build(network, train, fixedOptions, progress);

        progress?.Report($"{options.Queries} queries");
        int queries = Math.Min(options.Queries, test.Count);
        var search = new double[queries];
        var total = new double[queries];
        model.Query(test, 0, options.Top);
        for (int i = 0; i < queries; i++)
        {
            var clock = Stopwatch.StartNew();
            SampleQuery answer = model.Query(test, i, options.Top);
            total[i] = clock.Elapsed.TotalMilliseconds;
            search[i] = answer.SearchMilliseconds;
        }
        double[] sorted = search.Order().ToArray();
        var latency = new QueryLatency(queries, search.Average(), sorted[queries / 2], sorted[^1], total.Average());

        progress?.Report("EM on the reduced step vectors");
        var fits = new List<MixtureFit>();
        string? command = null, note = null;
        using (RecurrentProfile profile = RecurrentProfile.Collect(network, train))
        using (Tensor reduced = model.Abstraction.Pca.Transform(profile.States))
        {
            var clock = Stopwatch.StartNew();
            GaussianMixture ours = GaussianMixture.Fit(reduced, sweep.K, new GaussianMixtureOptions(Seed: options.Seed));
            double seconds = clock.Elapsed.TotalSeconds;
            fits.Add(new MixtureFit("reparo", sweep.K, seconds, ours.Iterations, ours.Converged, ours.Bic(reduced)));
            if (options.Restarts > 1)
            {
                clock.Restart();
                GaussianMixture best = GaussianMixture.Fit(reduced, sweep.K, new GaussianMixtureOptions(Seed: options.Seed, Restarts: options.Restarts));
                fits.Add(new MixtureFit($"reparo, best of {options.Restarts} starts", sweep.K, clock.Elapsed.TotalSeconds, best.Iterations, best.Converged, best.Bic(reduced)));
            }
            if (options.ExportVectors is string path)
            {
                NpyWriter.Write(path, reduced);
                command = $"python3 scripts/sklearn_gmm.py {path} {sweep.K} {options.Seed}" + (options.Restarts > 1 ? $" 100 0.001 {options.Restarts}" : "");
                if (options.Python is string python)
                {
                    // Like for like: scikit-learn with one start beside Reparo's one start, and with as many starts (n_init) as Reparo's restarts.
                    var notes = new List<string>();
                    foreach (int starts in options.Restarts > 1 ? new[] { 1, options.Restarts } : [1])
                    {
                        fits.Add(RunSklearn(python, path, sweep.K, options.Seed, starts, out string? fitNote) ?? new MixtureFit(SklearnName(starts), sweep.K, double.NaN, 0, false, double.NaN));
                        if (fitNote is not null) notes.Add(fitNote);
                    }
                    note = notes.Count == 0 ? null : string.Join("; ", notes);
                }
                else note = "no Python with scikit-learn found; run the command above";
            }
        }
        fits.RemoveAll(f => double.IsNaN(f.Seconds));
        return new InfluenceBenchmarkReport(train.Count, sweep.States, sweep, model.Report, latency, fits, command, note, loadBefore, MachineLoad.OneMinute());
    }

    /// <summary>The first of <c>/usr/bin/python3</c>, <c>python3</c> that imports scikit-learn, or null.</summary>
    public static string? FindSklearnPython()
    {
        foreach (string candidate in new[] { "/usr/bin/python3", "python3" })
        {
            try
            {
                if (ChildProcess.Run(candidate, ["-c", "import sklearn"]).ExitCode == 0) return candidate;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // not installed: try the next one
            }
        }
        return null;
    }

    /// <summary>
    /// The results file: the build end to end (the K sweep) and at the chosen K with the time split, the query latency,
    /// and the EM fits on the same vectors with scikit-learn beside Reparo at the same number of starts.
    /// </summary>
    public static string ToMarkdown(InfluenceBenchmarkReport r, string model, string command, string jsonName)
    {
        var text = new System.Text.StringBuilder();
        string F(double v) => v.ToString("F2", System.Globalization.CultureInfo.InvariantCulture);
        text.AppendLine("# RNNRepair influence model: build, query and EM speed");
        text.AppendLine();
        text.AppendLine($"Produced by `{command}` on {DateTime.UtcNow:yyyy-MM-dd}. Every figure below is in [{jsonName}](data/{jsonName}).");
        bool busy = Math.Max(r.LoadBefore, r.LoadAfter) >= 3;
        text.AppendLine($"Machine load (1-minute average): {F(r.LoadBefore)} at the start, {F(r.LoadAfter)} at the end on 2 cores: "
            + (busy ? "**other work was running, so every time below is inflated**." : "otherwise idle."));
        text.AppendLine();
        text.AppendLine($"Model: {model}. {r.Samples:N0} training sequences (train + validation), {r.Steps:N0} hidden states, PCA {r.FixedK.Pca}. "
            + "Paper (Xie et al., ICML'21, Sec. 4.1): 76.37 s to build, 1.16 s per query. Goals: the build end to end (profiling, PCA, the K sweep, index) ≤ 20 s; a query ≤ 10 ms.");
        text.AppendLine();
        text.AppendLine("| build | K | profile s | PCA s | mixtures s | index s | total s | goal ≤ 20 s |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|");
        foreach ((string name, InfluenceBuildReport b) in new[] { ("end to end: K sweep " + string.Join(", ", r.Sweep.Candidates.Select(c => c.K)) + " (stops at the first stable K)", r.Sweep), ("the chosen K alone (what the paper times)", r.FixedK) })
            text.AppendLine($"| {name} | {b.K} | {F(b.Time.ProfileSeconds)} | {F(b.Time.PcaSeconds)} | {F(b.Time.MixtureSeconds)} | {F(b.Time.IndexSeconds)} | {F(b.Time.TotalSeconds)} | {(b.Time.TotalSeconds <= 20 ? "met" : "missed")} |");
        text.AppendLine();
        text.AppendLine("K sweep: " + string.Join("; ", r.Sweep.Candidates.Select(c => $"K {c.K}: stability {c.MeanStability:F3}, BIC {c.Bic:G6}, {F(c.Seconds)} s")) + $". {r.Sweep.Selection}. "
            + $"The sweep's mixtures column also holds the chosen K's fit and every vector's assignment; on every vector K = {r.Sweep.K} has stability {r.Sweep.MeanStability:F4} and BIC {r.Sweep.Bic:G6}.");
        text.AppendLine();
        QueryLatency q = r.Latency;
        text.AppendLine($"Sample-level query (top 100 of {r.Samples:N0}) over {q.Count} test inputs: search mean {F(q.SearchMean)} ms, median {F(q.SearchMedian)} ms, max {F(q.SearchMax)} ms; "
            + $"with profiling and abstracting the input {F(q.WithProfilingMean)} ms (goal ≤ 10 ms: {(q.SearchMean <= 10 ? "met" : "missed")} on the mean).");
        text.AppendLine();
        text.AppendLine($"EM on the same {r.Steps:N0} reduced step vectors at K = {r.Sweep.K}, every start on all of them (scikit-learn's `GaussianMixture(covariance_type=\"diag\", init_params=\"k-means++\", tol=1e-3, reg_covar=1e-6)` with `n_init` = the starts), timed in this run:");
        text.AppendLine();
        text.AppendLine("| EM | seconds | iterations (kept start) | converged | BIC (lower is better) |");
        text.AppendLine("|---|---:|---:|---|---:|");
        foreach (MixtureFit f in r.Fits) text.AppendLine($"| {f.Implementation} | {F(f.Seconds)} | {f.Iterations} | {(f.Converged ? "yes" : "no")} | {f.Bic:F0} |");
        text.AppendLine();
        foreach (string line in LikeForLike(r.Fits)) text.AppendLine($"- {line}");
        if (r.SklearnNote is not null) text.AppendLine($"- {r.SklearnNote}");
        return text.ToString();
    }

    /// <summary>One line per pair of Reparo's and scikit-learn's fits at the same number of starts: the speed ratio and the BIC difference.</summary>
    internal static IEnumerable<string> LikeForLike(IReadOnlyList<MixtureFit> fits) =>
        Pairs(fits).Select(p => FormattableString.Invariant(
            $"{p.Ours.Implementation} against {p.Theirs.Implementation}: {p.Theirs.Seconds / p.Ours.Seconds:F2}× the speed; BIC {p.Ours.Bic - p.Theirs.Bic:+0;-0} ({(p.Ours.Bic - p.Theirs.Bic) / Math.Abs(p.Theirs.Bic):+0.00%;-0.00%}) relative to scikit-learn."));

    /// <summary>Reparo's and scikit-learn's fits at the same number of starts, pair by pair.</summary>
    internal static IEnumerable<(MixtureFit Ours, MixtureFit Theirs)> Pairs(IReadOnlyList<MixtureFit> fits)
    {
        MixtureFit? Find(string name) => fits.FirstOrDefault(f => f.Implementation == name);
        if (Find("reparo") is { } one && Find(SklearnName(1)) is { } sklearnOne) yield return (one, sklearnOne);
        foreach (MixtureFit best in fits.Where(f => f.Implementation.StartsWith("reparo, best of ", StringComparison.Ordinal)))
        {
            string starts = best.Implementation["reparo, best of ".Length..].Split(' ')[0];
            if (int.TryParse(starts, out int n) && Find(SklearnName(n)) is { } theirs) yield return (best, theirs);
        }
    }

    private static string SklearnName(int starts) => starts == 1 ? "scikit-learn" : $"scikit-learn, best of {starts} starts";

    private static MixtureFit? RunSklearn(string python, string path, int k, int seed, int starts, out string? note)
    {
        string script = Path.Combine(AppContext.BaseDirectory, "sklearn_gmm.py");
        string Inv(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        ChildProcessResult run = ChildProcess.Run(python, [script, path, Inv(k), Inv(seed), "100", "0.001", Inv(starts)]);
        if (run.ExitCode != 0)
        {
            note = $"scikit-learn with {starts} start(s) failed: {run.Stderr.Trim().Split('\n').LastOrDefault()}";
            return null;
        }
        string output = run.Stdout;
        using var json = System.Text.Json.JsonDocument.Parse(output);
        var root = json.RootElement;
        int failed = root.TryGetProperty("failed_starts", out var f) ? f.GetInt32() : 0;
        note = failed == 0 ? null : $"scikit-learn: {failed} of {starts} starts failed and were left out of its best ({root.GetProperty("failure").GetString()})";
        return new MixtureFit(SklearnName(starts), k, root.GetProperty("time_s").GetDouble(), root.GetProperty("iterations").GetInt32(),
            root.GetProperty("converged").GetBoolean(), root.GetProperty("bic").GetDouble());
    }
}
