using Plotly.Blazor;

namespace Recs.Dashboard.Components.Charts;

/// <summary>A chart as Plotly draws it (traces and layout) and the same numbers as CSV, built once from plain data.</summary>
public sealed record PlotlyFigure(IList<ITrace> Data, Plotly.Blazor.Layout Layout, string Csv)
{
    public static PlotlyFigure Empty { get; } = new([], new Plotly.Blazor.Layout(), "");
}
