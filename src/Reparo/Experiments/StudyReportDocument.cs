using Reparo.Reporting;
using static Reparo.Reporting.ReportText;

namespace Reparo.Experiments;

public sealed partial record StudyReport : IReportDocument
{
    /// <summary>The study as a document: the automatic choice's record first, then the regret and cost plots and the table per heuristic and method.</summary>
    public ReportDocument ToDocument()
    {
        List<string> summary =
        [
            $"The question: which layer to repair. Every layer heuristic's pick was judged against brute force (a repair at every candidate layer) in {Count(Cases.Count, "case")}.",
            $"The automatic choice came within {Percent(Tolerance)} of the best drawdown in {Percent(AutoWithin10PctShare)} of the cases, at {Number(AutoCostRatio)} × brute force's time.",
        ];
        HeuristicSummary[] overall = [.. Summary.Where(s => s.Method == "all")];
        if (overall.Length > 0)
        {
            HeuristicSummary best = overall.OrderByDescending(s => s.WithinShare).ThenBy(s => s.MeanCostRatio).First();
            summary.Add($"Over all methods the {best.Heuristic} rule did best: within the tolerance in {Percent(best.WithinShare)} of its {best.Cases} cases, mean drawdown regret {Percent(best.MeanDrawdownRegret)}, at {Number(best.MeanCostRatio)} × brute force's cost.");
        }
        var plots = new List<ReportBlock>();
        if (Summary.Count > 0)
        {
            plots.Add(new ReportFigure(StudyPlot.Encode(this), "Per heuristic and method: the share of cases within 10 % of the best drawdown.", "Bar chart of each heuristic's share of cases within 10 % of the brute-force best drawdown, one bar per method"));
            if (overall.Length > 0)
                plots.Add(new ReportFigure(StudyPlot.EncodeRegretCost(this), "Over all methods: each heuristic's mean drawdown regret against its mean cost relative to brute force (lower left is better).", "Scatter plot of mean drawdown regret against mean cost ratio, one point per heuristic"));
        }
        var sections = new List<ReportSection>
        {
            new("Regret and cost", plots.Count > 0 ? plots : [new ReportNote("No case was judged, so there is nothing to plot.")]),
            new("Per heuristic and method", [new ReportTable(["heuristic", "method", "cases", "within tolerance", "drawdown regret", "generalisation regret", "rank correlation", "cost ratio"],
                [.. Summary.Select(s => (IReadOnlyList<string>)[s.Heuristic, s.Method, s.Cases.ToString(System.Globalization.CultureInfo.InvariantCulture), Percent(s.WithinShare),
                    Percent(s.MeanDrawdownRegret), Percent(s.MeanGeneralizationRegret), Number(s.MeanRankCorrelation), Number(s.MeanCostRatio)])])]),
        };
        return new ReportDocument("Informed repair study: which layer to repair", summary, sections);
    }
}
