using Reparo.Data;
using Reparo.Experiments;
using Reparo.Influence;
using Reparo.Remediation;
using Reparo.Reporting;
using Reparo.Training;
using Reparo.UseCases;

namespace Reparo.Tests.UseCases;

public class RemediateUseCaseTests
{
    /// <summary>The sample level loads the data it is given, keeps the training rows asked for, and compares five training sets.</summary>
    [Fact]
    public void SampleLevelOnDigitsKeepsTheTrainingLimitAndComparesFiveConditions()
    {
        var request = new RemediateRequest(RemediationLevel.Sample, "digits", new DataOptions(), TrainLimit: 120)
        {
            Sample = new SampleRemediationOptions
            {
                Classes = null,
                Architecture = "lstm:8",
                CheckpointEpochs = 2,
                Training = new TrainingOptions { BatchSize = 40, Patience = 0 },
                Seeds = 1,
                MaxFaults = 2,
                Augmentation = new AugmentationOptions(RotationStep: 90, MaxShift: 1),
                Influence = new InfluenceOptions { Abstraction = new AbstractionOptions { PcaComponents = 3, Candidates = [4], StopAtFirstStable = true } },
            },
        };
        SampleRemediationReport report = Assert.IsType<SampleRemediationReport>(RemediateUseCase.Run(request));
        Assert.Equal(120, report.TrainRows);
        Assert.Equal(["original", "influence", "random", "pool-random", "neighbour"], report.Conditions.Select(c => c.Condition));
        Assert.InRange(report.Faults, 1, 2);
        ReportDocument document = report.ToDocument();
        Assert.StartsWith($"{report.Faults} fault", document.Summary[0]);
        Assert.Equal(5, Assert.IsType<ReportTable>(document.Sections[0].Blocks[0]).Rows.Count);
    }

    [Fact]
    public void SegmentLevelRejectsBadOptionsBeforeLoadingData()
    {
        var request = new RemediateRequest(RemediationLevel.Segment, "no-such-data", new DataOptions(), null) { Segment = new SegmentRemediationOptions { M = [] } };
        Assert.Contains("--m", Assert.Throws<ReparoInputException>(() => RemediateUseCase.Run(request)).Message);
    }
}
