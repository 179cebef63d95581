using Reparo.Reporting;

namespace Reparo.Experiments;

/// <summary>What one of RNNRepair's remediation protocols measured: <see cref="SampleRemediationReport"/> or <see cref="SegmentRemediationReport"/>.</summary>
public interface IRemediationReport : IReportDocument
{
    /// <summary>The results section as Markdown (the paper's table with its setup).</summary>
    string ToMarkdown();
}
