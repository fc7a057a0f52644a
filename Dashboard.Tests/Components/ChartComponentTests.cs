using System.Text.Json;
using Bunit;
using Microsoft.Extensions.DependencyInjection;
using Plotly.Blazor.Interop;
using Plotly.Blazor.LayoutLib;
using Plotly.Blazor.Traces;
using Plotly.Blazor.Traces.ScatterLib.MarkerLib;
using Recs.Dashboard.Components.Charts;

namespace Recs.Tests.Components;

/// <summary>Our Plotly chart components: what they hand to Plotly (traces, layout) and the CSV they offer, from plain data.</summary>
public sealed class ChartComponentTests : MudBunitContext
{
    private static readonly ChartAxis Epochs = new("Epoch") { TickFormat = "d" };

    [Fact]
    public void A_line_chart_draws_a_log_axis_a_dashed_series_hollow_and_highlighted_points_and_a_unified_hover()
    {
        IReadOnlyList<XySeries> series =
        [
            new("v1 train", [new(1, 0.5), new(2, 0.25) { Highlight = true, Note = "best epoch" }]) { Group = "v1" },
            new("v1 validation", [new(1, 0.6), new(2, 0.4) { Hollow = true, Note = "other split" }]) { Group = "v1", Dashed = true, Colour = "#123456" },
        ];

        var cut = Render<LineChart>(p => p
            .Add(c => c.Title, "Loss")
            .Add(c => c.Series, series)
            .Add(c => c.X, Epochs)
            .Add(c => c.Y, new ChartAxis("Loss (MSE)", AxisScale.Log) { HoverFormat = ".4f" })
            .Add(c => c.TestId, "curve-loss"));

        var figure = cut.Instance.Figure;
        Assert.Equal(Plotly.Blazor.LayoutLib.YAxisLib.TypeEnum.Log, figure.Layout.YAxis[0].Type);
        Assert.Equal("Loss (MSE)", figure.Layout.YAxis[0].Title.Text);
        Assert.Equal("Epoch", figure.Layout.XAxis[0].Title.Text);
        Assert.True(figure.Layout.YAxis[0].TickFont.Size >= 12);
        Assert.Equal(HoverModeEnum.XUnified, figure.Layout.HoverMode);
        var train = Assert.IsType<Scatter>(figure.Data[0]);
        var validation = Assert.IsType<Scatter>(figure.Data[1]);
        Assert.Equal("solid", train.Line.Dash);
        Assert.Equal("dash", validation.Line.Dash);
        Assert.Equal("#123456", validation.Line.Color);
        Assert.Equal(ChartTheme.Palette[0], train.Line.Color);
        Assert.Equal("v1", validation.LegendGroup);
        Assert.Equal([SymbolEnum.Circle, SymbolEnum.Star], train.Marker.SymbolArray);
        Assert.Equal([SymbolEnum.Circle, SymbolEnum.CircleOpen], validation.Marker.SymbolArray);
        Assert.Equal(["", "<br>other split"], validation.TextArray);
        Assert.Contains("%{y:.4f}", validation.HoverTemplate, StringComparison.Ordinal);
        Assert.Equal([0.6, 0.4], validation.Y.Cast<double>());

        Assert.NotNull(cut.Find("[data-testid=curve-loss][data-chart-kind=line]"));
        Assert.Contains("Loss", cut.Find("h2").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public void A_line_chart_offers_its_data_as_csv_and_a_linear_axis_by_default()
    {
        var cut = Render<LineChart>(p => p
            .Add(c => c.Title, "NDCG")
            .Add(c => c.Series, new List<XySeries> { new("v1, \"big\"", [new(new DateTime(2026, 3, 1, 12, 0, 0, DateTimeKind.Utc), 0.125)]) })
            .Add(c => c.X, new ChartAxis("Trained (UTC)", AxisScale.Date))
            .Add(c => c.Y, new ChartAxis("NDCG@10"))
            .Add(c => c.FileName, "ndcg"));

        Assert.Equal(Plotly.Blazor.LayoutLib.YAxisLib.TypeEnum.Linear, cut.Instance.Figure.Layout.YAxis[0].Type);
        Assert.Equal(Plotly.Blazor.LayoutLib.XAxisLib.TypeEnum.Date, cut.Instance.Figure.Layout.XAxis[0].Type);
        Assert.Equal("2026-03-01 12:00:00", Assert.IsType<Scatter>(cut.Instance.Figure.Data[0]).X[0]);
        var link = cut.Find("[data-testid=chart-csv]");
        Assert.Equal("ndcg.csv", link.GetAttribute("download"));
        var href = link.GetAttribute("href")!;
        Assert.StartsWith("data:text/csv;charset=utf-8,", href, StringComparison.Ordinal);
        var csv = Uri.UnescapeDataString(href["data:text/csv;charset=utf-8,".Length..]);
        Assert.Equal("series,Trained (UTC),NDCG@10,note\r\n\"v1, \"\"big\"\"\",2026-03-01T12:00:00,0.125,\r\n", csv);
    }

    [Fact]
    public void Clicking_a_point_that_has_a_link_opens_it()
    {
        var cut = Render<LineChart>(p => p
            .Add(c => c.Title, "History")
            .Add(c => c.Series, new List<XySeries> { new("ndcg", [new(1, 0.1) { Link = "models?version=1.0.0" }, new(2, 0.2) { Link = "models?version=1.1.0" }]) })
            .Add(c => c.X, Epochs)
            .Add(c => c.Y, new ChartAxis("NDCG@10")));
        var frame = cut.FindComponent<PlotlyFrame>();

        cut.InvokeAsync(() => frame.Instance.OnClick.InvokeAsync(new ChartClick(0, 1, null, null)));

        Assert.EndsWith("/models?version=1.1.0", Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>().Uri, StringComparison.Ordinal);
        Assert.True(frame.Instance.Clickable);
    }

    [Fact]
    public void A_heatmap_has_a_fixed_0_to_100_scale_with_a_legend_greys_thin_cells_and_reports_the_clicked_cell()
    {
        IReadOnlyList<HeatmapCell> cells =
        [
            new("North", "Tea", 80) { Details = [new("Users", "120"), new("95 % interval", "72–86 %")] },
            new("South", "Tea", 20) { Thin = true, Details = [new("Users", "4")] },
            new("North", "Cake", 55),
        ];
        (string Row, string Column)? clicked = null;
        var cut = Render<HeatmapChart>(p => p
            .Add(c => c.Title, "Match rate by region")
            .Add(c => c.Columns, new[] { "North", "South" })
            .Add(c => c.Rows, new[] { "Tea", "Cake" })
            .Add(c => c.Cells, cells)
            .Add(c => c.X, new ChartAxis("Region"))
            .Add(c => c.Y, new ChartAxis("Product"))
            .Add(c => c.ValueName, "Match rate")
            .Add(c => c.Unit, " %")
            .Add(c => c.OnCellClick, ((string Row, string Column) cell) => clicked = cell));

        var figure = cut.Instance.Figure;
        var reliable = Assert.IsType<HeatMap>(figure.Data[0]);
        var thin = Assert.IsType<HeatMap>(figure.Data[1]);
        Assert.Equal(0m, reliable.ZMin);
        Assert.Equal(100m, reliable.ZMax);
        Assert.NotEqual(false, reliable.ShowScale);
        Assert.Equal(" %", reliable.ColorBar.TickSuffix);
        Assert.Equal("Match rate (%)", reliable.ColorBar.Title.Text);
        Assert.Equal([80.0, null], (object?[])reliable.Z[0]);
        Assert.Equal([55.0, null], (object?[])reliable.Z[1]);
        Assert.Equal([null, 20.0], (object?[])thin.Z[0]);
        Assert.False(thin.ShowScale);
        Assert.Contains(ChartTheme.ThinColour, JsonSerializer.Serialize(thin.ColorScale), StringComparison.Ordinal);
        var hover = (object?[])reliable.CustomData[0];
        Assert.Contains("Users: 120", (string)hover[0]!, StringComparison.Ordinal);
        Assert.Contains("95 % interval: 72–86 %", (string)hover[0]!, StringComparison.Ordinal);
        Assert.Contains("too few users", (string)hover[1]!, StringComparison.Ordinal);
        Assert.Equal(Plotly.Blazor.LayoutLib.YAxisLib.AutoRangeEnum.Reversed, figure.Layout.YAxis[0].AutoRange);
        Assert.Equal("Product,Region,Match rate (%),Users,95 % interval,thin\r\nTea,North,80,120,72–86 %,no\r\nTea,South,20,4,,yes\r\nCake,North,55,,,no\r\n", figure.Csv);

        cut.InvokeAsync(() => cut.Instance.OnClick(new ChartClick(1, null, 0, 1)));
        Assert.Equal(("Tea", "South"), clicked);
    }

    [Fact]
    public void A_bar_chart_stacks_when_asked_and_a_histogram_counts_values_into_bins()
    {
        var bins = HistogramBins.Bin([0.0, 0.1, 0.5, 0.95, 1.0, 1.5], 0, 1, 4);
        Assert.Equal([2.0, 0, 1, 2], bins.Select(b => b.Y));
        Assert.Equal([0.125, 0.375, 0.625, 0.875], bins.Select(b => (double)b.X));
        Assert.Equal("[0.75, 1]", bins[3].Note);

        var cut = Render<BarChart>(p => p
            .Add(c => c.Title, "Overlap@10")
            .Add(c => c.Series, new List<BarSeries> { new("users", bins), new("other", bins) { Colour = "#000" } })
            .Add(c => c.X, new ChartAxis("Overlap@10"))
            .Add(c => c.Y, new ChartAxis("Users") { FromZero = true })
            .Add(c => c.Stacked, true)
            .Add(c => c.Histogram, true));

        var figure = cut.Instance.Figure;
        Assert.Equal(BarModeEnum.Stack, figure.Layout.BarMode);
        Assert.True(figure.Layout.BarGap < 0.1m);
        Assert.Equal("#000", Assert.IsType<Bar>(figure.Data[1]).Marker.Color);
        Assert.Equal(Plotly.Blazor.LayoutLib.YAxisLib.RangeModeEnum.ToZero, figure.Layout.YAxis[0].RangeMode);
        Assert.NotNull(cut.Find("[data-chart-kind=bar]"));
    }

    [Fact]
    public void A_scatter_chart_draws_markers_only_and_hovers_the_nearest_point()
    {
        var cut = Render<ScatterChart>(p => p
            .Add(c => c.Title, "Trials")
            .Add(c => c.Series, new List<XySeries> { new("ease", [new(1, 0.1), new(2, 0.2)]) })
            .Add(c => c.X, new ChartAxis("Trial"))
            .Add(c => c.Y, new ChartAxis("Validation NDCG@10")));

        var trace = Assert.IsType<Scatter>(cut.Instance.Figure.Data[0]);
        Assert.Equal(Plotly.Blazor.Traces.ScatterLib.ModeFlag.Markers, trace.Mode);
        Assert.Equal(HoverModeEnum.Closest, cut.Instance.Figure.Layout.HoverMode);
    }

    [Fact]
    public void Every_chart_keeps_the_png_button_drops_the_logo_and_fills_the_width()
    {
        var config = ChartTheme.Config("curves");
        Assert.False(config.DisplayLogo);
        Assert.True(config.Responsive);
        Assert.DoesNotContain("toImage", JsonSerializer.Serialize(config.ModeBarButtonsToRemove), StringComparison.Ordinal);
        Assert.Equal("curves", ((Dictionary<string, object>)config.ToImageButtonOptions)["filename"]);
    }

    [Fact]
    public void A_click_is_read_as_a_point_index_or_a_heatmap_row_and_column()
    {
        var heat = PlotlyFrame.ToClick(new EventDataPoint { TraceIndex = 1, PointIndex = JsonDocument.Parse("[2, 3]").RootElement });
        Assert.Equal(new ChartClick(1, null, 2, 3), heat);
        var line = PlotlyFrame.ToClick(new EventDataPoint { TraceIndex = 0, PointIndex = JsonDocument.Parse("4").RootElement });
        Assert.Equal(new ChartClick(0, 4, null, null), line);
    }

    [Fact]
    public void An_empty_chart_says_so_instead_of_drawing()
    {
        var cut = Render<LineChart>(p => p
            .Add(c => c.Title, "Curves")
            .Add(c => c.Series, new List<XySeries>())
            .Add(c => c.X, Epochs)
            .Add(c => c.Y, new ChartAxis("Loss"))
            .Add(c => c.EmptyText, "Not recorded."));

        Assert.Contains("Not recorded.", cut.Markup, StringComparison.Ordinal);
        Assert.Empty(cut.FindAll("[data-testid=chart-csv]"));
    }
}
