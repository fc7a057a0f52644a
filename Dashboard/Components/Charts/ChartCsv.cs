using System.Globalization;
using System.Text;

namespace Recs.Dashboard.Components.Charts;

/// <summary>CSV as spreadsheets read it (RFC 4180: comma, CRLF, quotes doubled), numbers in the invariant culture, exact.</summary>
public static class ChartCsv
{
    public static string Write(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<object?>> rows)
    {
        var csv = new StringBuilder();
        Line(csv, header);
        foreach (var row in rows)
            Line(csv, row);
        return csv.ToString();
    }

    /// <summary>A data URL holding <paramref name="csv"/>, for a download link that needs no server round trip.</summary>
    public static string DataUrl(string csv) => "data:text/csv;charset=utf-8," + Uri.EscapeDataString(csv);

    private static void Line(StringBuilder csv, IEnumerable<object?> cells)
    {
        var first = true;
        foreach (var cell in cells)
        {
            if (!first)
                csv.Append(',');
            first = false;
            csv.Append(Escape(Format(cell)));
        }
        csv.Append("\r\n");
    }

    private static string Format(object? value) => value switch
    {
        null => "",
        double d when !double.IsFinite(d) => "",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        DateTime d => d.ToString(d.TimeOfDay == TimeSpan.Zero ? "yyyy-MM-dd" : "yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string Escape(string value) =>
        value.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
}
