using Plotly.Blazor.Traces;

namespace Recs.Dashboard.Components.Charts;

/// <summary>Builds a donut of shares: slices in the order given, the palette's colours, count and share on hover.</summary>
public static class DonutFigure
{
    public static PlotlyFigure Build(IReadOnlyList<ShareSlice> slices, string valueName, int height)
    {
        var pie = new Pie
        {
            Name = valueName,
            Labels = slices.Select(s => (object)s.Label).ToList(),
            Values = slices.Select(s => (object)s.Value).ToList(),
            Hole = 0.55m,
            Sort = false,
            Marker = new Plotly.Blazor.Traces.PieLib.Marker { Colors = slices.Select((_, i) => (object)ChartTheme.Colour(i)).ToList() },
            TextInfo = Plotly.Blazor.Traces.PieLib.TextInfoFlag.Percent,
            TextFont = new Plotly.Blazor.Traces.PieLib.TextFont { Size = ChartTheme.TickSize },
            HoverTemplate = $"<b>%{{label}}</b><br>{XyFigure.Escape(valueName)}: %{{value:,}}<br>share: %{{percent}}<extra></extra>",
        };
        var layout = ChartTheme.BaseLayout(height, new ChartAxis(""), new ChartAxis(""), showLegend: true);
        layout.Legend[0].Orientation = Plotly.Blazor.LayoutLib.LegendLib.OrientationEnum.V;
        layout.Legend[0].X = 1.02m;
        layout.Legend[0].Y = 0.5m;
        layout.Legend[0].YAnchor = Plotly.Blazor.LayoutLib.LegendLib.YAnchorEnum.Middle;
        var total = slices.Sum(s => s.Value);
        var csv = ChartCsv.Write(["label", valueName, "share"],
            slices.Select(s => (IReadOnlyList<object?>)[s.Label, s.Value, total > 0 ? Math.Round(s.Value / total, 6) : null]));
        return new PlotlyFigure([pie], layout, csv);
    }
}
