using Plotly.Blazor;
using Plotly.Blazor.LayoutLib;
using Plotly.Blazor.Traces;
using Plotly.Blazor.Traces.ScatterLib;
using Plotly.Blazor.Traces.ScatterLib.MarkerLib;

namespace Recs.Dashboard.Components.Charts;

/// <summary>Builds line and scatter charts: one Plotly trace per series, in the order given.</summary>
public static class XyFigure
{
    /// <param name="series">The series; trace i is series i.</param>
    /// <param name="x">The x axis.</param>
    /// <param name="y">The y axis (its <see cref="ChartAxis.HoverFormat"/> prints the exact value on hover).</param>
    /// <param name="unifiedHover">One hover label per x listing every series (TensorBoard's habit) rather than the nearest point only.</param>
    /// <param name="height">Plot height in pixels.</param>
    public static PlotlyFigure Build(IReadOnlyList<XySeries> series, ChartAxis x, ChartAxis y, bool unifiedHover, int height)
    {
        var traces = new List<ITrace>(series.Count);
        var valueFormat = y.HoverFormat ?? y.TickFormat ?? "";
        for (var i = 0; i < series.Count; i++)
        {
            var s = series[i];
            var colour = s.Colour ?? ChartTheme.Colour(i);
            var mode = s.Mode switch
            {
                XyMode.Lines => ModeFlag.Lines,
                XyMode.Markers => ModeFlag.Markers,
                _ => ModeFlag.Lines | ModeFlag.Markers,
            };
            traces.Add(new Scatter
            {
                Name = s.Name,
                Mode = mode,
                X = s.Points.Select(p => ChartTheme.PlotlyValue(p.X)).ToList(),
                Y = s.Points.Select(p => (object)p.Y!).ToList(),
                Line = new Plotly.Blazor.Traces.ScatterLib.Line { Color = colour, Width = 2, Dash = s.Dashed ? "dash" : "solid" },
                Marker = new Marker
                {
                    Color = colour,
                    SymbolArray = s.Points.Select(p => (SymbolEnum?)(p.Highlight ? SymbolEnum.Star : p.Hollow ? SymbolEnum.CircleOpen : SymbolEnum.Circle)).ToList(),
                    SizeArray = s.Points.Select(p => (decimal?)(p.Highlight ? 15 : s.Mode == XyMode.Markers ? 10 : 7)).ToList(),
                    Line = new Plotly.Blazor.Traces.ScatterLib.MarkerLib.Line { Color = colour, Width = 2 },
                },
                LegendGroup = s.Group,
                ShowLegend = s.ShowInLegend && !s.Faint,
                Opacity = s.Faint ? 0.3m : null,
                HoverInfo = s.Faint ? HoverInfoFlag.Skip : null,
                // The note rides in text (not drawn: the mode has no text) so the hover label can carry it.
                TextArray = s.Points.Select(p => p.Note is null ? "" : "<br>" + p.Note).ToList(),
                HoverTemplate = unifiedHover
                    ? $"{Escape(s.Name)}: %{{y{Fmt(valueFormat)}}}%{{text}}<extra></extra>"
                    : $"<b>{Escape(s.Name)}</b><br>{Escape(x.Title)}: %{{x{Fmt(x.HoverFormat ?? x.TickFormat ?? "")}}}<br>{Escape(y.Title)}: %{{y{Fmt(valueFormat)}}}%{{text}}<extra></extra>",
            });
        }

        var layout = ChartTheme.BaseLayout(height, x, y, showLegend: series.Count(s => s.ShowInLegend && !s.Faint) > 1);
        layout.HoverMode = unifiedHover ? HoverModeEnum.XUnified : HoverModeEnum.Closest;
        if (unifiedHover)
            layout.XAxis[0].UnifiedHoverTitle = new Plotly.Blazor.LayoutLib.XAxisLib.UnifiedHoverTitle { Text = $"{Escape(x.Title)} %{{x{Fmt(x.HoverFormat ?? x.TickFormat ?? "")}}}" };
        var csv = ChartCsv.Write(
            ["series", x.Title, y.Title, "note"],
            series.SelectMany(s => s.Points.Select(p => (IReadOnlyList<object?>)[s.Name, p.X, p.Y, p.Note])));
        return new PlotlyFigure(traces, layout, csv);
    }

    private static string Fmt(string format) => format.Length == 0 ? "" : ":" + format;

    // Plotly hover templates are HTML-ish: keep names from breaking them.
    internal static string Escape(string text) => System.Net.WebUtility.HtmlEncode(text).Replace("%{", "%\u200B{", StringComparison.Ordinal);
}
