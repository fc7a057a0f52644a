using Bunit;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Recs.Dashboard.Components.Pages;

namespace Recs.Tests.Components;

public sealed class ExplorerPagesTests(TrainedDatabaseFixture trained) : MudBunitContext, IClassFixture<TrainedDatabaseFixture>
{
    private void NavigateTo(string uri) => Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>().NavigateTo(uri);

    [Fact]
    public async Task Similar_items_lists_the_champions_neighbours_with_bought_both_and_compares_a_version()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);
        await using var connection = await trained.Database.DataSource.OpenConnectionAsync();
        var product = await connection.ExecuteScalarAsync<long>("select item_id from interactions where event_type = 'purchase' group by 1 order by count(*) desc limit 1");
        NavigateTo($"/similar-items?product={product}&compare={trained.Als}");

        var cut = Render<SimilarItems>();

        cut.WaitForAssertion(() => Assert.Equal(25, cut.FindAll("[data-testid=neighbours] tbody tr").Count));
        Assert.Equal(25, cut.FindAll("[data-testid=neighbours-compare] tbody tr").Count);
        Assert.Contains(trained.Popularity, cut.Markup, StringComparison.Ordinal);
        // The most bought item shares customers with its most popular neighbours.
        var boughtBoth = cut.FindAll("[data-testid=neighbours] tbody tr").Select(r => int.Parse(r.Children[5].TextContent.Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains(boughtBoth, n => n > 0);
        Assert.NotNull(cut.Find("[data-testid=breadcrumbs]"));
    }

    [Fact]
    public async Task Users_shows_history_beside_recommendations_each_with_a_reason_and_nothing_already_bought()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);
        await using var connection = await trained.Database.DataSource.OpenConnectionAsync();
        var customer = await connection.ExecuteScalarAsync<long>("select user_id from offline_user_recommendations order by user_id limit 1");
        NavigateTo($"/users?customer={customer}");

        var cut = Render<Users>();

        cut.WaitForAssertion(() => Assert.NotEmpty(cut.FindAll("[data-testid=purchases] tbody tr")));
        var reasons = cut.FindAll("[data-testid=reason]").Select(r => r.TextContent.Trim()).ToList();
        Assert.Equal(25, reasons.Count);
        Assert.All(reasons, r => Assert.False(string.IsNullOrWhiteSpace(r)));
        // Both lists link each product to the explorer by id: no recommended id may be one already bought.
        var bought = cut.FindAll("[data-testid=purchases] a").Select(a => a.GetAttribute("href")).ToHashSet();
        var recommended = cut.FindAll("[data-testid=recommendations] a").Select(a => a.GetAttribute("href")).ToList();
        Assert.Equal(25, recommended.Count);
        Assert.DoesNotContain(recommended, bought.Contains);
        Assert.NotNull(cut.Find("[data-testid=category-mix][data-chart-kind=donut]"));
        var mix = (Plotly.Blazor.Traces.Pie)Assert.Single(cut.FindComponent<Recs.Dashboard.Components.Charts.DonutChart>().Instance.Figure.Data);
        Assert.NotEmpty(mix.Labels);
        Assert.All(mix.Values, v => Assert.True(Convert.ToInt64(v) > 0));
        var categories = cut.FindAll("[data-testid=purchases] tbody tr").Select(r => r.Children[2].TextContent.Trim()).ToHashSet();
        Assert.Contains(mix.Labels.Cast<string>().First(), categories);
    }

    [Fact]
    public async Task Without_a_choice_both_explorers_say_what_to_do()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);

        var similar = Render<SimilarItems>();
        var users = Render<Users>();

        similar.WaitForAssertion(() => Assert.Contains("Pick a product", similar.Find("[data-testid=similar-empty]").TextContent, StringComparison.Ordinal));
        users.WaitForAssertion(() => Assert.Contains("Pick a customer", users.Find("[data-testid=users-empty]").TextContent, StringComparison.Ordinal));
    }
}
