using System.Globalization;

namespace Reparo.Experiments;

/// <summary>How busy the machine is with other work, for the timing notes of benchmarks and experiments.</summary>
public static class MachineLoad
{
    /// <summary>The 1-minute load average from /proc/loadavg (NaN where there is none).</summary>
    public static double OneMinute() =>
        File.Exists("/proc/loadavg") && double.TryParse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture, out double l) ? l : double.NaN;
}
