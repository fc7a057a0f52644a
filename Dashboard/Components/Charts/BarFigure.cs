using Plotly.Blazor;
using Plotly.Blazor.LayoutLib;
using Plotly.Blazor.Traces;

namespace Recs.Dashboard.Components.Charts;

/// <summary>Builds bar charts (grouped or stacked series) and histograms (bars touching, from <see cref="HistogramBins"/>).</summary>
public static class BarFigure
{
    public static PlotlyFigure Build(IReadOnlyList<BarSeries> series, ChartAxis x, ChartAxis y, bool stacked, bool histogram, int height)
    {
        var valueFormat = y.HoverFormat ?? y.TickFormat ?? "";
        var traces = series.Select((s, i) => (ITrace)new Bar
        {
            Name = s.Name,
            X = s.Points.Select(p => ChartTheme.PlotlyValue(p.X)).ToList(),
            Y = s.Points.Select(p => (object)p.Y).ToList(),
            Marker = new Plotly.Blazor.Traces.BarLib.Marker { Color = s.Colour ?? ChartTheme.Colour(i) },
            TextArray = s.Points.Select(p => p.Note is null ? "" : "<br>" + p.Note).ToList(),
            TextPosition = Plotly.Blazor.Traces.BarLib.TextPositionEnum.None,
            HoverTemplate = $"<b>{XyFigure.Escape(s.Name)}</b><br>{XyFigure.Escape(x.Title)}: %{{x{Fmt(x.HoverFormat ?? x.TickFormat ?? "")}}}<br>{XyFigure.Escape(y.Title)}: %{{y{Fmt(valueFormat)}}}%{{text}}<extra></extra>",
        }).ToList();

        var layout = ChartTheme.BaseLayout(height, x, y, showLegend: series.Count > 1);
        layout.BarMode = stacked ? BarModeEnum.Stack : BarModeEnum.Group;
        layout.BarGap = histogram ? 0.03m : 0.15m;
        layout.HoverMode = HoverModeEnum.Closest;
        var csv = ChartCsv.Write(
            ["series", x.Title, y.Title, "note"],
            series.SelectMany(s => s.Points.Select(p => (IReadOnlyList<object?>)[s.Name, p.X, p.Y, p.Note])));
        return new PlotlyFigure(traces, layout, csv);
    }

    private static string Fmt(string format) => format.Length == 0 ? "" : ":" + format;
}

/// <summary>Counts values into equal-width bins, for a <see cref="BarChart"/> drawn as a histogram.</summary>
public static class HistogramBins
{
    /// <summary>
    /// <paramref name="bins"/> equal bins over [<paramref name="min"/>, <paramref name="max"/>]; each bar sits at its bin's centre and
    /// says its range on hover. Values outside the range are left out; the last bin includes <paramref name="max"/>.
    /// </summary>
    public static IReadOnlyList<BarPoint> Bin(IEnumerable<double> values, double min, double max, int bins)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 1);
        if (!(max > min))
            throw new ArgumentException("max must be above min", nameof(max));
        var counts = new int[bins];
        var width = (max - min) / bins;
        foreach (var v in values)
        {
            if (!double.IsFinite(v) || v < min || v > max)
                continue;
            counts[Math.Min(bins - 1, (int)((v - min) / width))]++;
        }
        return counts.Select((c, i) =>
        {
            var low = min + i * width;
            var high = low + width;
            var range = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"[{low:0.###}, {high:0.###}{(i == bins - 1 ? "]" : ")")}");
            return new BarPoint(Math.Round(low + width / 2, 9), c) { Note = range };
        }).ToList();
    }
}
