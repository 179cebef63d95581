using Reparo.Data;
using Reparo.Models;
using Reparo.Repair;
using Reparo.Reporting;

namespace Reparo.Tests.Reporting;

public class RepairReportDocumentTests
{
    /// <summary>An untrained Fashion-MNIST MLP repaired at fc2 on its first three fog failures.</summary>
    private static (RepairProblem Problem, RepairResult Result, RepairReport Report) Repaired()
    {
        TestSupport.Init();
        DataSplits splits = DataCatalog.Load("fashion-mnist", new DataOptions { TrainLimit = 100, TestLimit = 300 });
        Network network = ModelZoo.Create("mlp:16x2", splits.Train, seed: 3);
        RepairProblem problem = RepairSetSpec.Build("fog:3:3", network, splits, seed: 0);
        RepairResult result = RepairMethods.Create("provable", new RepairSettings { Layer = "fc2", Seed = 0 }).Repair(problem);
        Assert.True(result.Verified, result.Message);
        return (problem, result, RepairReport.Create(problem, result));
    }

    [Fact]
    public void EvidenceAgreesWithTheMetrics()
    {
        (RepairProblem problem, RepairResult result, RepairReport report) = Repaired();
        RepairEvidence evidence = RepairEvidence.Compute(problem, result);

        static double Accuracy(long[][] m) => (double)Enumerable.Range(0, m.Length).Sum(i => m[i][i]) / m.Sum(r => r.Sum());
        Assert.Equal(problem.Drawdown.Count, evidence.ConfusionBefore.Sum(r => r.Sum()));
        Assert.Equal(report.Metrics.AccuracyBefore, Accuracy(evidence.ConfusionBefore), 12);
        Assert.Equal(report.Metrics.AccuracyAfter, Accuracy(evidence.ConfusionAfter!), 12);
        // Only fc2 changed; the layers' L∞ and L1 make up the report's.
        Assert.Equal(["fc1", "fc2"], evidence.Layers.Select(l => l.Layer));
        Assert.All(evidence.Layers.Where(l => l.Layer != "fc2"), l => Assert.Equal(0, l.Changed));
        Assert.True(evidence.Layers.Single(l => l.Layer == "fc2").Changed > 0);
        Assert.Equal(report.ParamDeltaLinf, evidence.Layers.Max(l => l.Linf), 12);
        Assert.Equal(report.ParamDeltaL1, evidence.Layers.Sum(l => l.L1), 9);
        // The fog failures were wrong before and are right after, each with a PNG thumbnail and a verified margin.
        Assert.Equal(3, evidence.Samples.Count);
        Assert.All(evidence.Samples, s =>
        {
            Assert.NotEqual(s.Label, s.Before);
            Assert.Equal(s.Label, s.After);
            Assert.True(s.Passed);
            Assert.True(s.MarginFloat32 > 0);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, s.Png![..4]);
        });
    }

    [Fact]
    public void TheDocumentLeadsWithTheSummaryAndRendersInChromium()
    {
        (RepairProblem problem, RepairResult result, RepairReport report) = Repaired();
        ReportDocument document = (report with { Evidence = RepairEvidence.Compute(problem, result) }).ToDocument();

        Assert.Equal(4, document.Summary.Count);
        Assert.StartsWith("What was wrong: the model misclassified 3 of the 3 repair regions it was shown from fog:3:3", document.Summary[0]);
        Assert.StartsWith("What changed: provable edited fc2", document.Summary[1]);
        Assert.StartsWith("Verified: the independent check accepted all 3 regions in float32 and float64; smallest margins", document.Summary[2]);
        Assert.StartsWith("Cost: ", document.Summary[3]);
        Assert.Contains("LP of ", document.Summary[3]);
        Assert.Equal(["Before and after", "Confusion matrices on the clean held-out set", "Parameter change per layer", "Repair set"], document.Sections.Select(s => s.Heading));
        ReportMatrix[] matrices = [.. document.Sections[1].Blocks.OfType<ReportMatrix>()];
        Assert.Equal(["before the repair", "after the repair"], matrices.Select(m => m.Caption));
        ReportGallery gallery = Assert.IsType<ReportGallery>(Assert.Single(document.Sections[3].Blocks));
        Assert.All(gallery.Items, t => Assert.Matches(@"^fashion-mnist/test\+fog:3#\d+ · true: [A-Za-z/ -]+ · before: [A-Za-z/ -]+ · after: [A-Za-z/ -]+ · margin ", t.Caption));

        using var dir = TestSupport.TempFolder();
        string path = dir.File("repair.html");
        ReportFile.Write(path, document);
        Browser.AssertRendersCleanly(path, minimumImages: 3);
        // Without the evidence the document still says what the JSON says.
        ReportDocument plain = report.ToDocument();
        Assert.StartsWith("What was wrong: the repair set fog:3:3, 3 regions with 3 vertices.", plain.Summary[0]);
        Assert.Equal(["Before and after"], plain.Sections.Select(s => s.Heading));
    }

    [Fact]
    public void ThePreservedInputsRowSaysHowTheyWereKept()
    {
        (_, _, RepairReport report) = Repaired();
        string Row(RepairReport r) => r.ToDocument().Sections[0].Blocks.OfType<ReportKeyValues>().Single().Rows.Single(kv => kv.Key == "preserved training inputs kept").Value;
        Assert.Equal("29 of 30", Row(report with { Preserved = 30, PreservedKept = 29 }));
        Assert.Equal("29 of 30 (a penalised output change, weight 0.1)", Row(report with { Preserved = 30, PreservedKept = 29, PreservedPenalty = 0.1, PreservedPenaltyOn = PreservedChange.Logits }));
        Assert.Equal("29 of 30 (a penalised change of the repaired layer's outputs, weight 1)",
            Row(report with { Preserved = 30, PreservedKept = 29, PreservedPenalty = 1, PreservedPenaltyOn = PreservedChange.LayerOutput }));
    }
}
