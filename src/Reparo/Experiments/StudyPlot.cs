using Reparo.Io;

namespace Reparo.Experiments;

/// <summary>The informed-repair study's figure: per heuristic, the share of cases within 10 % of the brute-force best drawdown, one bar group per method.</summary>
public static class StudyPlot
{
    /// <summary>Writes the figure as a PNG (atomically).</summary>
    public static void Write(string path, StudyReport report, int width = 1000, int height = 500)
    {
        byte[] png = Encode(report, width, height);
        AtomicFile.WriteAllBytes(path, png);
    }

    /// <summary>The PNG bytes of the figure <see cref="Write"/> draws.</summary>
    public static byte[] Encode(StudyReport report, int width = 1000, int height = 500)
    {
        string[] heuristics = [.. report.Summary.Select(s => s.Heuristic).Distinct()];
        string[] methods = [.. report.Summary.Select(s => s.Method).Where(m => m != "all").Distinct()];
        var plot = new ScottPlot.Plot();
        var bars = new List<ScottPlot.Bar>();
        ScottPlot.IPalette palette = new ScottPlot.Palettes.Category10();
        for (int h = 0; h < heuristics.Length; h++)
        {
            for (int m = 0; m < methods.Length; m++)
            {
                HeuristicSummary? s = report.Summary.FirstOrDefault(x => x.Heuristic == heuristics[h] && x.Method == methods[m]);
                if (s is null) continue;
                bars.Add(new ScottPlot.Bar { Position = h * (methods.Length + 1) + m, Value = 100 * s.WithinShare, FillColor = palette.GetColor(m) });
            }
        }
        plot.Add.Bars(bars);
        double[] ticks = [.. heuristics.Select((_, h) => h * (methods.Length + 1) + (methods.Length - 1) / 2.0)];
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks, heuristics);
        for (int m = 0; m < methods.Length; m++) plot.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = methods[m], FillColor = palette.GetColor(m) });
        plot.ShowLegend();
        plot.Axes.Left.Label.Text = "cases within 10 % of the best drawdown (%)";
        plot.Title($"Layer heuristics against brute force ({report.Cases.Count} cases)");
        plot.Axes.SetLimitsY(0, 105);
        return plot.GetImageBytes(width, height, ScottPlot.ImageFormat.Png);
    }

    /// <summary>
    /// The regret/cost figure as PNG bytes: per heuristic over all methods, its mean drawdown regret (percentage points)
    /// against its mean cost relative to brute force, each point labelled with the heuristic's name.
    /// </summary>
    public static byte[] EncodeRegretCost(StudyReport report, int width = 1000, int height = 500)
    {
        var plot = new ScottPlot.Plot();
        ScottPlot.IPalette palette = new ScottPlot.Palettes.Category10();
        HeuristicSummary[] overall = [.. report.Summary.Where(s => s.Method == "all")];
        for (int i = 0; i < overall.Length; i++)
        {
            HeuristicSummary s = overall[i];
            double x = double.IsFinite(s.MeanCostRatio) ? s.MeanCostRatio : 0, y = double.IsFinite(s.MeanDrawdownRegret) ? 100 * s.MeanDrawdownRegret : 0;
            var marker = plot.Add.Marker(x, y);
            marker.Color = palette.GetColor(i);
            marker.MarkerSize = 12;
            var label = plot.Add.Text(s.Heuristic, x, y);
            label.LabelFontColor = palette.GetColor(i);
            label.OffsetX = 8;
        }
        plot.Axes.Bottom.Label.Text = "mean cost over brute force (×)";
        plot.Axes.Left.Label.Text = "mean drawdown regret (percentage points)";
        plot.Title($"Regret against cost ({report.Cases.Count} cases)");
        return plot.GetImageBytes(width, height, ScottPlot.ImageFormat.Png);
    }
}
