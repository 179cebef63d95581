using System.Diagnostics;
using Reparo.Models;
using static TorchSharp.torch;

namespace Reparo.Repair.Editing;

/// <summary>Settings of <see cref="EditRepair"/>.</summary>
/// <param name="Layer">The Linear or Conv2d layer to edit: dotted name (<c>fc2</c>, <c>block1.fc1</c>) or top-level index.</param>
/// <param name="StatisticsInputs">Clean inputs (e.g. training images) over which the key second moment C is estimated.</param>
/// <param name="Edit">How keys are read and the edit solved.</param>
/// <param name="Ridge">Ridge of C, relative to its mean eigenvalue.</param>
public sealed record EditRepairOptions(string Layer, Tensor StatisticsInputs, EditOptions? Edit = null, double Ridge = 1e-3);

/// <summary>
/// The rank-one edit of Yang et al. (CVPR'26, Sec. 3.2) used as a point repair (<c>edit</c>): one edit of the chosen
/// layer maps every repair vertex's key onto the value its clean counterpart has there (the closed form when the changed
/// keys are at most the key dimension, least squares otherwise), then the independent verifier checks the repair set.
/// The edit restores the clean representation, so it fixes a failure only where the model gets the clean input right:
/// efficacy can be below 1, and the status is then <see cref="RepairStatus.NotVerified"/>.
/// </summary>
public sealed class EditRepair(EditRepairOptions options) : IRepairMethod
{
    /// <inheritdoc />
    public string Name => "edit";

    /// <inheritdoc />
    public RepairResult Repair(RepairProblem problem)
    {
        var total = Stopwatch.StartNew();
        RepairSet set = problem.RepairSet;
        if (string.IsNullOrWhiteSpace(options.Layer)) throw new ReparoInputException("choose the layer to edit with --layer NAME|INDEX");
        Network network = problem.Network.Clone();
        string name = int.TryParse(options.Layer, out _) ? network.Layers[network.LayerIndex(options.Layer)].Name : options.Layer;
        AffineSite site = AffineSites.Find(network, name);
        (Tensor vertices, _, long[] labels) = set.Stacked();
        using Tensor corrupted = vertices;
        using Tensor clean = set.StackedCounterparts();
        EditOptions edit = options.Edit ?? new EditOptions();
        LayerEdit change;
        using (var statistics = new KeyStatistics(network, options.StatisticsInputs, options.Ridge))
        {
            try
            {
                change = RankOneEdit.Compute(network, site, corrupted, clean, labels, statistics.SecondMoment(site, edit.Keys), edit);
            }
            catch (ReparoInputException e)
            {
                network.Dispose();
                return new RepairResult
                {
                    Method = Name,
                    Layer = site.Name,
                    Status = RepairStatus.Infeasible,
                    Message = $"no edit at {site.Name}: {e.Message}",
                    Time = new RepairTiming(total.Elapsed.TotalSeconds, 0, 0, total.Elapsed.TotalSeconds),
                };
            }
        }
        double solveSeconds = total.Elapsed.TotalSeconds;
        change.Apply();
        VerifiedRepair verified = VerifiedRepair.Check(new PlainRepairedModel(network), set);
        VerificationReport report = verified.Report;
        string message = report.Verified
            ? $"one {change.Solver} edit of {site.Name} fixed every region; verified"
            : $"one {change.Solver} edit of {site.Name} fixed {report.Regions.Count - verified.Rejected} of {report.Regions.Count} regions";
        return verified.Result(Name, site.Name, message, new RepairTiming(0, solveSeconds, verified.Seconds, total.Elapsed.TotalSeconds)) with
        {
            Notes = [$"{change.Solver} edit, {change.ChangedKeys} changed keys, ‖ΔW‖ {change.DeltaNorm:G3}"],
        };
    }
}
