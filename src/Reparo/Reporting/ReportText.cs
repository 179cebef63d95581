using System.Globalization;

namespace Reparo.Reporting;

/// <summary>How numbers read in report documents: culture-invariant, so the same run gives the same bytes anywhere.</summary>
internal static class ReportText
{
    /// <summary>A share as a percentage with two decimals, <c>n/a</c> for NaN.</summary>
    public static string Percent(double share) => double.IsNaN(share) ? "n/a" : (100 * share).ToString("0.00", CultureInfo.InvariantCulture) + " %";

    /// <summary>A change of a share in percentage points, signed.</summary>
    public static string Points(double share) => double.IsNaN(share) ? "n/a" : (100 * share).ToString("+0.00;-0.00;0.00", CultureInfo.InvariantCulture) + " pp";

    /// <summary>Four significant digits.</summary>
    public static string Number(double value) => value.ToString("G4", CultureInfo.InvariantCulture);

    /// <summary>A whole number with thousands separators.</summary>
    public static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary><paramref name="n"/> and the noun, singular or plural.</summary>
    public static string Count(int n, string singular, string? plural = null) => $"{n} {(n == 1 ? singular : plural ?? singular + "s")}";

    /// <summary>Seconds with two decimals.</summary>
    public static string Seconds(double seconds) => seconds.ToString("0.00", CultureInfo.InvariantCulture) + " s";
}
