using Bunit;
using Microsoft.Extensions.DependencyInjection;
using Plotly.Blazor.Traces;
using Recs.Dashboard.Components.Charts;
using Recs.Dashboard.Components.Pages;
using Recs.Tests.Integration;

namespace Recs.Tests.Components;

public sealed class RegionsPageTests(TrainedDatabaseFixture trained) : MudBunitContext, IClassFixture<TrainedDatabaseFixture>
{
    private Microsoft.AspNetCore.Components.NavigationManager Navigation => Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>();

    [Fact]
    public async Task The_heatmap_chart_has_a_cell_per_region_and_product_on_a_0_to_100_scale_with_the_figures_on_hover()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);

        var cut = Render<Regions>();

        cut.WaitForAssertion(() => Assert.NotNull(cut.Find("[data-testid=heatmap-chart][data-chart-kind=heatmap]")));
        Assert.Empty(cut.FindAll("[data-testid=heatmap]")); // the table is the other view
        var figure = cut.FindComponent<HeatmapChart>().Instance.Figure;
        var heat = Assert.IsType<HeatMap>(figure.Data[0]);
        Assert.Equal(20, heat.X.Count);
        Assert.InRange(heat.Y.Count, 1, 30);
        Assert.Equal(heat.Y.Count, heat.Z.Count);
        Assert.Equal(0m, heat.ZMin);
        Assert.Equal(100m, heat.ZMax);
        Assert.Equal(" %", heat.ColorBar.TickSuffix);
        var hover = (string)((object?[])heat.CustomData[0])[0]!;
        Assert.Contains("Users: ", hover, StringComparison.Ordinal);
        Assert.Contains("Matches: ", hover, StringComparison.Ordinal);
        Assert.Contains("95 % interval: ", hover, StringComparison.Ordinal);
        Assert.StartsWith("Product,Region,Match rate (%),Users,Matches,95 % interval,thin", figure.Csv, StringComparison.Ordinal);
        Assert.Contains(trained.Popularity, cut.Find("[data-testid=regions-mode]").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_table_view_has_a_cell_per_region_and_product_and_says_what_it_shows()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);
        Navigation.NavigateTo("/regions?view=table");

        var cut = Render<Regions>();

        cut.WaitForAssertion(() => Assert.Equal(20, cut.FindAll("[data-testid=heatmap] thead .heatmap-region").Count));
        var rows = cut.FindAll("[data-testid=heatmap] tbody tr").Count;
        Assert.InRange(rows, 1, 30);
        Assert.Equal(20 * rows, cut.FindAll("[data-testid=heatmap-cell]").Count);
        Assert.Contains("all users with cached recommendations", cut.Find("[data-testid=regions-mode]").TextContent, StringComparison.Ordinal);
        Assert.Contains(trained.Popularity, cut.Find("[data-testid=regions-mode]").TextContent, StringComparison.Ordinal);
        Assert.Equal(20, cut.FindAll("[data-testid=tiers] tbody tr").Count);
        Assert.All(cut.FindAll("[data-testid=heatmap-cell]"), c => Assert.Contains(" users (", c.GetAttribute("aria-label"), StringComparison.Ordinal));
    }

    [Fact]
    public async Task Filters_come_from_the_url_and_the_sample_marks_thin_regions()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);
        Navigation.NavigateTo("/regions?category=Toys&top=5&sample=true&view=table");

        var cut = Render<Regions>();

        cut.WaitForAssertion(() => Assert.Contains("sample of 50 users per region", cut.Find("[data-testid=regions-mode]").TextContent, StringComparison.Ordinal));
        Assert.Contains("top 5", cut.Find("[data-testid=regions-mode]").TextContent, StringComparison.Ordinal);
        // 400 demo customers over 20 regions: most sampled regions have fewer than 30 users. A cell is marked exactly when it is thin.
        var cells = cut.FindAll("[data-testid=heatmap-cell]");
        Assert.All(cells, c =>
        {
            var users = int.Parse(System.Text.RegularExpressions.Regex.Match(c.GetAttribute("aria-label")!, @"of (\d+) users").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(users < 30, c.ClassName!.Contains("heatmap-unreliable", StringComparison.Ordinal));
        });
        Assert.Contains(cells, c => c.ClassName!.Contains("heatmap-unreliable", StringComparison.Ordinal));
        Assert.Contains("CSV", cut.Find("[data-testid=export-csv]").TextContent, StringComparison.Ordinal);
        Assert.Contains("category=Toys", cut.Find("[data-testid=export-csv]").GetAttribute("href"), StringComparison.Ordinal);

        // The chart greys exactly the same cells: they leave the coloured trace for the grey one.
        Navigation.NavigateTo("/regions?category=Toys&top=5&sample=true");
        cut.WaitForAssertion(() => Assert.NotNull(cut.Find("[data-testid=heatmap-chart]")));
        var figure = cut.FindComponent<HeatmapChart>().Instance.Figure;
        var coloured = ((HeatMap)figure.Data[0]).Z.Cast<object?[]>().SelectMany(r => r).ToList();
        var grey = ((HeatMap)figure.Data[1]).Z.Cast<object?[]>().SelectMany(r => r).ToList();
        var thin = cells.Count(c => c.ClassName!.Contains("heatmap-unreliable", StringComparison.Ordinal));
        Assert.Equal(thin, grey.Count(v => v is not null));
        Assert.Equal(cells.Count - thin, coloured.Count(v => v is not null));
        Assert.All(coloured.Zip(grey), pair => Assert.True(pair.First is null ^ pair.Second is null));
    }

    [Fact]
    public async Task Clicking_a_heatmap_cell_opens_the_drill_down_for_that_region_and_product()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);
        var cut = Render<Regions>();
        cut.WaitForAssertion(() => Assert.NotNull(cut.Find("[data-testid=heatmap-chart]")));
        var chart = cut.FindComponent<HeatmapChart>();
        var region = chart.Instance.Columns[2];

        // Plotly reports a heatmap click as trace and [row, column].
        await cut.InvokeAsync(() => chart.FindComponent<PlotlyFrame>().Instance.OnClick.InvokeAsync(new ChartClick(0, null, 0, 2)));

        cut.WaitForAssertion(() => Assert.Contains($"region={Uri.EscapeDataString(region)}", Navigation.Uri, StringComparison.Ordinal));
        Assert.Contains("product=", Navigation.Uri, StringComparison.Ordinal);
        cut.WaitForAssertion(() => Assert.Contains(region, cut.Find("[data-testid=drill-down] h2").TextContent, StringComparison.Ordinal));
        Assert.True(chart.FindComponent<PlotlyFrame>().Instance.Clickable);
    }

    [Fact]
    public async Task Clicking_a_table_cell_opens_the_drill_down_with_that_regions_users()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);
        Navigation.NavigateTo("/regions?view=table");
        var cut = Render<Regions>();
        cut.WaitForAssertion(() => Assert.NotEmpty(cut.FindAll("[data-testid=heatmap-cell]")));

        cut.FindAll("[data-testid=heatmap-cell]")[0].Click();

        // The click is dispatched to the renderer; the link that reproduces the view follows.
        cut.WaitForAssertion(() =>
        {
            Assert.Contains("region=", Navigation.Uri, StringComparison.Ordinal);
            Assert.Contains("product=", Navigation.Uri, StringComparison.Ordinal);
        });
        cut.WaitForAssertion(() => Assert.NotNull(cut.Find("[data-testid=drill-down]")));
    }
}

public sealed class RegionsPageEmptyTests(DatabaseFixture db) : MudBunitContext, IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task Without_a_served_model_the_page_says_how_to_get_match_rates()
    {
        await UseDatabaseAsync(db.ConnectionString);

        var cut = Render<Regions>();

        cut.WaitForAssertion(() => Assert.Contains("No match rates yet", cut.Find("[data-testid=regions-empty]").TextContent, StringComparison.Ordinal));
    }
}
