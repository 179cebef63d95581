using System.Diagnostics;

namespace Reparo.Repair;

/// <summary>
/// The step every repair method ends with: <see cref="RepairVerifier.Verify"/> re-checks the method's model on the
/// repair set, timed, and the method's <see cref="RepairResult"/> reports that check.
/// </summary>
/// <param name="Model">The repaired model.</param>
/// <param name="Report">The independent check.</param>
/// <param name="Seconds">Time the check took.</param>
internal sealed record VerifiedRepair(IRepairedModel Model, VerificationReport Report, double Seconds)
{
    /// <summary>Checks <paramref name="model"/> on <paramref name="set"/>.</summary>
    public static VerifiedRepair Check(IRepairedModel model, RepairSet set)
    {
        var clock = Stopwatch.StartNew();
        VerificationReport report = RepairVerifier.Verify(model, set);
        return new VerifiedRepair(model, report, clock.Elapsed.TotalSeconds);
    }

    /// <summary>How many regions the check rejected.</summary>
    public int Rejected => Report.Regions.Count(r => !r.Passed);

    /// <summary>
    /// The method's result: the model, the check and, unless <paramref name="status"/> says otherwise,
    /// <see cref="RepairStatus.Repaired"/> when the check accepted every region, else <see cref="RepairStatus.NotVerified"/>.
    /// </summary>
    public RepairResult Result(string method, string layer, string message, RepairTiming time, RepairStatus? status = null) => new()
    {
        Method = method,
        Layer = layer,
        Status = status ?? (Report.Verified ? RepairStatus.Repaired : RepairStatus.NotVerified),
        Message = message,
        Model = Model,
        Verification = Report,
        Time = time,
    };
}
