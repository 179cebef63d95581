using Reparo.Data;
using Reparo.Experiments;

namespace Reparo.UseCases;

/// <summary>Which RNNRepair remediation protocol <c>reparo remediate</c> runs.</summary>
public enum RemediationLevel
{
    /// <summary>Table 3: one influence-chosen augmented sample per fault.</summary>
    Sample,

    /// <summary>Table 4: the faulty token inserted into the most similar training sequences.</summary>
    Segment,
}

/// <summary>What <c>reparo remediate</c> is asked to do.</summary>
/// <param name="Level">Which protocol.</param>
/// <param name="Data">The data spec, or null for the level's default (<c>fashion-mnist</c> for sample, <c>wordnet:animal,plant</c> for segment).</param>
/// <param name="DataOptions">Where and how to load it (its training limit is set from <paramref name="TrainLimit"/>).</param>
/// <param name="TrainLimit">Training rows (of the chosen classes for sample); null for the level's default (3000 for sample, 1000 for segment), 0 for all.</param>
public sealed record RemediateRequest(RemediationLevel Level, string? Data, DataOptions DataOptions, int? TrainLimit)
{
    /// <summary>The sample level's options (its training rows come from <see cref="TrainLimit"/>).</summary>
    public SampleRemediationOptions Sample { get; init; } = new();

    /// <summary>The segment level's options.</summary>
    public SegmentRemediationOptions Segment { get; init; } = new();
}

/// <summary>
/// <c>reparo remediate</c>: RNNRepair's remediation protocols (Xie et al., ICML'21, Tables 3 and 4) — trains the original
/// recurrent model, chooses the repairs with its influence model, retrains and compares with random repairs.
/// </summary>
public static class RemediateUseCase
{
    /// <summary>The default data of the sample level.</summary>
    public const string SampleData = "fashion-mnist";

    /// <summary>The default data of the segment level.</summary>
    public const string SegmentData = "wordnet:animal,plant";

    /// <summary>Loads the level's data and runs its protocol; <paramref name="progress"/> hears each phase.</summary>
    public static IRemediationReport Run(RemediateRequest request, IProgress<string>? progress = null)
    {
        if (request.Level == RemediationLevel.Sample)
        {
            SampleRemediationOptions options = request.Sample with { TrainRows = AllIfZero(request.TrainLimit ?? 3000) };
            options.Validate();
            DataSplits splits = DataCatalog.Load(request.Data ?? SampleData, request.DataOptions with { TrainLimit = null });
            return SampleRemediationStudy.Run(splits, options, progress);
        }
        request.Segment.Validate();
        DataSplits text = DataCatalog.Load(request.Data ?? SegmentData, request.DataOptions with { TrainLimit = AllIfZero(request.TrainLimit ?? 1000) });
        return SegmentRemediationStudy.Run(text, request.Segment, progress);
    }

    private static int? AllIfZero(int rows) => rows > 0 ? rows : null;
}
