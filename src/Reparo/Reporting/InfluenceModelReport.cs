using System.Globalization;
using Reparo.Influence;
using static Reparo.Reporting.ReportText;

namespace Reparo.Reporting;

/// <summary>What <c>reparo influence build</c> built: the state abstraction chosen, its sizes and times (the command's JSON).</summary>
/// <param name="Model">The recurrent model file.</param>
/// <param name="Data">The training split profiled.</param>
/// <param name="Out">Where the influence model was written.</param>
/// <param name="K">Abstract states chosen.</param>
/// <param name="Pca">PCA components of the hidden states.</param>
/// <param name="MeanStability">Mean state stability at <paramref name="K"/>.</param>
/// <param name="Bic">Bayesian information criterion at <paramref name="K"/>.</param>
/// <param name="States">Hidden states profiled (samples × steps).</param>
/// <param name="Samples">Training samples.</param>
/// <param name="Transitions">Distinct transitions indexed.</param>
/// <param name="ReachedThreshold">Whether <paramref name="K"/>'s stability reached the threshold.</param>
/// <param name="Selection">Why <paramref name="K"/> was chosen, in words.</param>
/// <param name="Candidates">Every K tried, in order.</param>
/// <param name="Time">Seconds per phase.</param>
/// <param name="TimeS">Total seconds.</param>
public sealed record InfluenceModelReport(string Model, string Data, string Out, int K, int Pca, double MeanStability, double Bic, long States, int Samples,
    int Transitions, bool ReachedThreshold, string Selection, IReadOnlyList<CandidateState> Candidates, InfluenceTimings Time, double TimeS) : IReportDocument
{
    /// <summary>The report of <paramref name="build"/>, an influence model of <paramref name="model"/> over <paramref name="data"/> written to <paramref name="out"/>.</summary>
    public static InfluenceModelReport Of(InfluenceBuildReport build, string model, string data, string @out) =>
        new(model, data, @out, build.K, build.Pca, build.MeanStability, build.Bic, build.States, build.Samples, build.Transitions,
            build.ReachedThreshold, build.Selection, build.Candidates, build.Time, build.Time.TotalSeconds);

    /// <summary>The build as a document: the abstraction chosen first, then each K tried (BIC, stability), the sizes and the time per phase.</summary>
    public ReportDocument ToDocument()
    {
        List<string> summary =
        [
            $"Influence model of {Model} over {Count(Samples, "training sample")} of {Data}: {Count(K, "abstract state")} over {Pca} PCA components, mean state stability {Number(MeanStability)}{(ReachedThreshold ? "" : " (below the threshold)")}. {Selection}",
            $"It indexes {Count(States)} hidden states and {Count(Transitions)} transitions; built in {Seconds(TimeS)}, written to {Out}.",
        ];
        var sections = new List<ReportSection>
        {
            new("Abstraction: K per candidate", [new ReportTable(["K", "BIC", "mean stability", "least stability", "largest stability", "iterations", "converged", "seconds"],
                [.. Candidates.Select(c => (IReadOnlyList<string>)[c.K.ToString(CultureInfo.InvariantCulture), c.Bic.ToString("G6", CultureInfo.InvariantCulture), Number(c.MeanStability),
                    Number(c.MinStability), Number(c.MaxStability), c.Iterations.ToString(CultureInfo.InvariantCulture), c.Converged ? "yes" : "no", Seconds(c.Seconds)])],
                $"K = {K} was kept.")]),
            new("Sizes", [new ReportKeyValues(
            [
                new("training samples", Count(Samples)),
                new("hidden states", Count(States)),
                new("PCA components", Pca.ToString(CultureInfo.InvariantCulture)),
                new("abstract states (K)", K.ToString(CultureInfo.InvariantCulture)),
                new("transitions", Count(Transitions)),
            ])]),
            new("Time", [new ReportKeyValues(
            [
                new("profile", Seconds(Time.ProfileSeconds)),
                new("PCA", Seconds(Time.PcaSeconds)),
                new("mixtures", Seconds(Time.MixtureSeconds)),
                new("index", Seconds(Time.IndexSeconds)),
                new("total", Seconds(Time.TotalSeconds)),
            ])]),
        };
        return new ReportDocument($"Influence model of {Model}", summary, sections);
    }
}
