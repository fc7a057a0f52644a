using System.Globalization;
using Plotly.Blazor.LayoutLib;
using Plotly.Blazor.Traces;

namespace Recs.Dashboard.Components.Charts;

/// <summary>
/// Builds a heatmap as two traces over the same grid: trace 0 colours the trustworthy cells on a fixed scale with
/// its legend, trace 1 draws the thin cells (too little data) in flat grey, so nobody reads a colour into them.
/// </summary>
public static class HeatmapFigure
{
    /// <param name="columns">Column labels, left to right.</param>
    /// <param name="rows">Row labels, top to bottom.</param>
    /// <param name="cells">The cells; a missing cell is empty.</param>
    /// <param name="x">The column axis (its title).</param>
    /// <param name="y">The row axis (its title).</param>
    /// <param name="value">The value's name and unit for the colour legend and hover (e.g. "Match rate", " %").</param>
    /// <param name="min">The colour scale's bottom.</param>
    /// <param name="max">The colour scale's top.</param>
    /// <param name="valueFormat">d3 format of the value in cells and hover.</param>
    /// <param name="height">Plot height in pixels.</param>
    public static PlotlyFigure Build(
        IReadOnlyList<string> columns, IReadOnlyList<string> rows, IReadOnlyList<HeatmapCell> cells,
        ChartAxis x, ChartAxis y, (string Name, string Unit) value, double min, double max, string valueFormat, int height)
    {
        var byKey = cells.ToDictionary(c => (c.Row, c.Column));
        HeatmapCell? At(int r, int c) => byKey.GetValueOrDefault((rows[r], columns[c]));
        object?[] Row(int r, Func<HeatmapCell?, object?> pick) => Enumerable.Range(0, columns.Count).Select(c => pick(At(r, c))).ToArray();

        var hover = Enumerable.Range(0, rows.Count).Select(r => (object)Row(r, cell => cell is null ? "" : Hover(cell, value, valueFormat))).ToList();
        var reliable = new HeatMap
        {
            Name = value.Name,
            X = columns.Cast<object>().ToList(),
            Y = rows.Cast<object>().ToList(),
            Z = Enumerable.Range(0, rows.Count).Select(r => (object)Row(r, cell => cell is { Thin: false } ? cell.Value : null)).ToList(),
            ZMin = (decimal)min,
            ZMax = (decimal)max,
            ColorScale = ChartTheme.ShareScale,
            ColorBar = new Plotly.Blazor.Traces.HeatMapLib.ColorBar
            {
                Title = new Plotly.Blazor.Traces.HeatMapLib.ColorBarLib.Title { Text = $"{value.Name} ({value.Unit.Trim()})", Side = Plotly.Blazor.Traces.HeatMapLib.ColorBarLib.TitleLib.SideEnum.Right },
                TickSuffix = value.Unit,
                TickFont = new Plotly.Blazor.Traces.HeatMapLib.ColorBarLib.TickFont { Size = ChartTheme.TickSize },
                Thickness = 14,
            },
            XGap = 2,
            YGap = 2,
            HoverOnGaps = false,
            CustomData = hover,
            HoverTemplate = "%{customdata}<extra></extra>",
            TextTemplate = "%{z:" + valueFormat + "}",
            TextFont = new Plotly.Blazor.Traces.HeatMapLib.TextFont { Size = ChartTheme.TickSize },
        };
        var thin = new HeatMap
        {
            Name = "too few users",
            X = columns.Cast<object>().ToList(),
            Y = rows.Cast<object>().ToList(),
            Z = Enumerable.Range(0, rows.Count).Select(r => (object)Row(r, cell => cell is { Thin: true } ? cell.Value ?? 0 : null)).ToList(),
            ZMin = (decimal)min,
            ZMax = (decimal)max,
            ColorScale = new object[] { new object[] { 0, ChartTheme.ThinColour }, new object[] { 1, ChartTheme.ThinColour } },
            ShowScale = false,
            XGap = 2,
            YGap = 2,
            HoverOnGaps = false,
            CustomData = hover,
            HoverTemplate = "%{customdata}<extra></extra>",
            TextTemplate = "%{z:" + valueFormat + "}?",
            TextFont = new Plotly.Blazor.Traces.HeatMapLib.TextFont { Size = ChartTheme.TickSize, Color = "#5f6368" },
        };

        var layout = ChartTheme.BaseLayout(height, x with { Scale = AxisScale.Category }, y with { Scale = AxisScale.Category }, showLegend: false);
        layout.HoverMode = HoverModeEnum.Closest;
        layout.XAxis[0].ShowGrid = false;
        layout.XAxis[0].Side = Plotly.Blazor.LayoutLib.XAxisLib.SideEnum.Top;
        layout.XAxis[0].TickAngle = -60; // twenty region names side by side only fit slanted steeply
        layout.YAxis[0].ShowGrid = false;
        layout.YAxis[0].AutoRange = Plotly.Blazor.LayoutLib.YAxisLib.AutoRangeEnum.Reversed; // first row on top, as in a table
        layout.PlotBgColor = "#ffffff";

        var detailNames = cells.SelectMany(c => c.Details.Select(d => d.Key)).Distinct().ToList();
        var csv = ChartCsv.Write(
            [y.Title, x.Title, $"{value.Name} ({value.Unit.Trim()})", .. detailNames, "thin"],
            rows.SelectMany(r => columns.Select(c => byKey.GetValueOrDefault((r, c))).OfType<HeatmapCell>())
                .Select(cell => (IReadOnlyList<object?>)[cell.Row, cell.Column, cell.Value,
                    .. detailNames.Select(n => (object?)cell.Details.FirstOrDefault(d => d.Key == n).Value), cell.Thin ? "yes" : "no"]));
        return new PlotlyFigure([reliable, thin], layout, csv);
    }

    private static string Hover(HeatmapCell cell, (string Name, string Unit) value, string valueFormat)
    {
        var number = cell.Value is { } v ? FormatD3(v, valueFormat) + value.Unit : "no data";
        var lines = new List<string> { $"<b>{XyFigure.Escape(cell.Row)}</b> · {XyFigure.Escape(cell.Column)}", $"{XyFigure.Escape(value.Name)}: {number}" };
        lines.AddRange(cell.Details.Select(d => $"{XyFigure.Escape(d.Key)}: {XyFigure.Escape(d.Value)}"));
        if (cell.Thin)
            lines.Add("<i>too few users to rely on (grey)</i>");
        return string.Join("<br>", lines);
    }

    // The cells' printed value in C#, the same as d3 prints ".0f"/".1f" in the cells.
    private static string FormatD3(double v, string format) =>
        format.Length == 3 && format[0] == '.' && format[2] == 'f' && char.IsDigit(format[1])
            ? v.ToString("F" + format[1], CultureInfo.InvariantCulture)
            : v.ToString("0.###", CultureInfo.InvariantCulture);
}
