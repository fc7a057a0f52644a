using Bunit;
using Microsoft.Extensions.DependencyInjection;
using Recs.Dashboard.Components.Pages;
using Recs.Tests.Integration;

namespace Recs.Tests.Components;

public sealed class RegionsPageTests(TrainedDatabaseFixture trained) : MudBunitContext, IClassFixture<TrainedDatabaseFixture>
{
    private Microsoft.AspNetCore.Components.NavigationManager Navigation => Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>();

    [Fact]
    public async Task The_heatmap_has_a_cell_per_region_and_product_and_says_what_it_shows()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);

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
        Navigation.NavigateTo("/regions?category=Toys&top=5&sample=true");

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
    }

    [Fact]
    public async Task Clicking_a_cell_opens_the_drill_down_with_that_regions_users()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);
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
