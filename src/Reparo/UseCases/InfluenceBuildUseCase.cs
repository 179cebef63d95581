using Reparo.Data;
using Reparo.Influence;
using Reparo.Io;
using Reparo.Models;
using Reparo.Reporting;

namespace Reparo.UseCases;

/// <summary>What <c>reparo influence build</c> is asked to do.</summary>
/// <param name="Network">The recurrent model.</param>
/// <param name="ModelPath">Its file (reported; the influence model must not overwrite it).</param>
/// <param name="Train">The training split to profile.</param>
/// <param name="Out">Where the influence model goes.</param>
/// <param name="Options">PCA components, candidate K and the stability threshold.</param>
public sealed record InfluenceBuildRequest(Network Network, string ModelPath, Dataset Train, string Out, InfluenceOptions Options);

/// <summary>
/// <c>reparo influence build</c>: RNNRepair's influence model of a recurrent network (Xie et al., ICML'21) — the training
/// split profiled, its hidden states abstracted (PCA, then a GMM per candidate K, the first stable one kept), the
/// transitions indexed — written to a file.
/// </summary>
public static class InfluenceBuildUseCase
{
    /// <summary>Builds and writes the influence model; <paramref name="progress"/> hears each phase.</summary>
    public static InfluenceModelReport Run(InfluenceBuildRequest request, IProgress<string>? progress = null)
    {
        if (RealPath.Of(request.Out) == RealPath.Of(request.ModelPath)) throw new ReparoInputException("--out must not overwrite the model");
        using InfluenceModel built = InfluenceModel.Build(request.Network, request.Train, request.Options, progress);
        built.Save(request.Out);
        return InfluenceModelReport.Of(built.Report, request.ModelPath, request.Train.Name, request.Out);
    }
}
