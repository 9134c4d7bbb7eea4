using System.Globalization;

namespace SymDsl.Text;

/// <summary>Numbers as the language shows and reads them: invariant culture, finite only.</summary>
public static class Numbers
{
    /// <summary><c>NaN</c>, <c>inf</c>, <c>-inf</c> or the shortest round-trip text.</summary>
    public static string Show(double v) => double.IsNaN(v) ? "NaN" : double.IsPositiveInfinity(v) ? "inf" : double.IsNegativeInfinity(v) ? "-inf" : v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>A finite real number, or null (<c>NaN</c>, <c>Infinity</c>, <c>1e400</c> and text that is no number are all null).</summary>
    public static double? ParseFinite(string text)
        => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d : null;
}
