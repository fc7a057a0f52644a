using Bunit;
using Plotly.Blazor.Traces;
using Recs.Dashboard.Components.Charts;
using Recs.Dashboard.Components.Shared;
using Recs.Services.Analytics;
using Recs.Services.Data;

namespace Recs.Tests.Components;

public sealed class WidgetTests : MudBunitContext
{
    [Fact]
    public void A_stat_tile_shows_its_label_value_and_caption()
    {
        var cut = Render<StatTile>(p => p
            .Add(t => t.Label, "Customers")
            .Add(t => t.Value, "5,000")
            .Add(t => t.Caption, "in 20 regions")
            .Add(t => t.TestId, "count-customers"));

        Assert.Equal("5,000", cut.Find("[data-testid=count-customers]").TextContent);
        Assert.Contains("Customers", cut.Markup, StringComparison.Ordinal);
        Assert.Contains("in 20 regions", cut.Markup, StringComparison.Ordinal);
    }

    [Fact]
    public void Top_categories_are_listed_in_the_order_given_with_their_units()
    {
        var cut = Render<TopCategoriesTable>(p => p.Add(t => t.Categories, new List<CategorySales>
        {
            new("Toys", 1500, 30_000m, 40),
            new("Garden", 700, 12_500m, 35),
        }));

        var rows = cut.FindAll("tbody tr");
        Assert.Equal(2, rows.Count);
        Assert.StartsWith("Toys", rows[0].TextContent.Trim(), StringComparison.Ordinal);
        Assert.Contains("1,500", rows[0].TextContent, StringComparison.Ordinal);
        Assert.Contains("12,500", rows[1].TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public void Top_categories_without_purchases_show_an_empty_state()
    {
        var cut = Render<TopCategoriesTable>(p => p.Add(t => t.Categories, new List<CategorySales>()));

        Assert.Empty(cut.FindAll("tbody tr"));
        Assert.Contains("No purchases recorded yet.", cut.Markup, StringComparison.Ordinal);
    }

    [Fact]
    public void The_monthly_chart_stacks_one_series_per_event_type_on_a_time_axis_and_an_empty_state_without_data()
    {
        var jan = new DateTime(2026, 1, 1);
        var feb = new DateTime(2026, 2, 1);
        var cut = Render<InteractionsPerMonthChart>(p => p.Add(t => t.PerMonth, new List<MonthlyInteractions>
        {
            new(jan, "purchase", 10), new(feb, "purchase", 20), new(feb, "view", 5),
        }));

        Assert.NotNull(cut.Find("[data-testid=chart-interactions-per-month][data-chart-kind=bar]"));
        var figure = cut.FindComponent<BarChart>().Instance.Figure;
        var bars = figure.Data.Cast<Bar>().ToList();
        Assert.Equal(["purchase", "view"], bars.Select(b => b.Name));
        Assert.Equal([10L, 20L], bars[0].Y.Select(Convert.ToInt64));
        Assert.Equal("2026-01-15 00:00:00", bars[0].X[0]);
        Assert.Equal(Plotly.Blazor.LayoutLib.XAxisLib.TypeEnum.Date, figure.Layout.XAxis[0].Type);
        Assert.Equal("%b %Y", figure.Layout.XAxis[0].TickFormat);
        Assert.Equal(Plotly.Blazor.LayoutLib.XAxisLib.TickLabelModeEnum.Period, figure.Layout.XAxis[0].TickLabelMode);
        Assert.Equal(Plotly.Blazor.LayoutLib.BarModeEnum.Stack, figure.Layout.BarMode);
        Assert.Contains("purchase,2026-01-15,10,", figure.Csv, StringComparison.Ordinal);

        var empty = Render<InteractionsPerMonthChart>(p => p.Add(t => t.PerMonth, new List<MonthlyInteractions>()));
        Assert.Contains("No interactions recorded yet.", empty.Markup, StringComparison.Ordinal);
        Assert.Empty(empty.FindAll("[data-testid=chart-csv]"));
    }

    [Fact]
    public void The_database_card_says_whether_the_database_is_embedded_or_external()
    {
        var embedded = Render<DatabaseCard>(p => p.Add(t => t.Info, new DatabaseInfo(true, "/var/lib/recs/postgres", "15.18", TimeSpan.FromSeconds(1.5), false)));
        Assert.Equal("embedded", embedded.Find("[data-testid=database-mode]").TextContent.Trim());
        Assert.Contains("/var/lib/recs/postgres", embedded.Markup, StringComparison.Ordinal);
        Assert.Contains("1.5 s", embedded.Markup, StringComparison.Ordinal);

        var external = Render<DatabaseCard>(p => p.Add(t => t.Info, new DatabaseInfo(false, "db.example:5432/recs", "16.2", null, null)));
        Assert.Equal("external", external.Find("[data-testid=database-mode]").TextContent.Trim());
        Assert.Contains("db.example:5432/recs", external.Markup, StringComparison.Ordinal);
    }
}
