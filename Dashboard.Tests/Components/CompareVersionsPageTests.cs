using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using Recs.Dashboard.Components.Pages;
using Recs.Tests.Integration;

namespace Recs.Tests.Components;

public sealed class CompareVersionsPageTests(VersionsDatabaseFixture trained, DatabaseFixture empty)
    : MudBunitContext, IClassFixture<VersionsDatabaseFixture>, IClassFixture<DatabaseFixture>
{
    private void NavigateTo(string uri) => Services.GetRequiredService<NavigationManager>().NavigateTo(uri);

    [Fact]
    public async Task The_page_shows_overlap_changes_coverage_regions_and_users_side_by_side()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);
        NavigateTo($"/models/compare?campaign=user-recommendations&a={trained.Popularity}&b={trained.Als}");

        var cut = Render<CompareVersions>();

        cut.WaitForAssertion(() => Assert.NotNull(cut.Find("[data-testid=mean-overlap]")), TimeSpan.FromSeconds(30));
        Assert.Matches(@"^\d+ %$", cut.Find("[data-testid=mean-overlap]").TextContent.Trim());
        // The histogram's CSV: a header and one line per number of shared items, 0 to 10, summing to the users compared.
        var csv = Uri.UnescapeDataString(cut.Find("[data-testid=overlap-histogram] [data-testid=chart-csv]").GetAttribute("href")!.Split(',', 2)[1]);
        var bins = csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(Enumerable.Range(0, 11).Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture)), bins.Select(b => b[1]));
        Assert.NotEmpty(cut.FindAll("[data-testid=entered] tbody tr"));
        Assert.NotEmpty(cut.FindAll("[data-testid=left] tbody tr"));
        Assert.Contains(trained.Popularity, cut.Find("[data-testid=coverage-A]").TextContent, StringComparison.Ordinal);
        Assert.Contains(trained.Als, cut.Find("[data-testid=coverage-B]").TextContent, StringComparison.Ordinal);
        Assert.NotNull(cut.Find("[data-testid=region-difference-chart]"));
        cut.Find("input[data-testid=region-table-toggle]").Change(true);
        cut.WaitForAssertion(() => Assert.NotEmpty(cut.FindAll("[data-testid=diff-cell]")));
        Assert.Equal(8, cut.FindAll("[data-testid=side-by-side]").Count);
        // Lists differ somewhere: items only in A and only in B are marked as such.
        Assert.NotEmpty(cut.FindAll("[data-testid=list-a] li[data-only=a]"));
        Assert.NotEmpty(cut.FindAll("[data-testid=list-b] li[data-only=b]"));
        Assert.Contains("All", cut.Find("[data-testid=compare-scope]").TextContent, StringComparison.Ordinal);
        Assert.Empty(cut.FindAll("[data-testid=compare-sample]"));
    }

    [Fact]
    public async Task A_version_against_itself_shows_identical_lists_and_no_changes()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);
        NavigateTo($"/models/compare?a={trained.Als}&b={trained.Als}");

        var cut = Render<CompareVersions>();

        cut.WaitForAssertion(() => Assert.Equal("100 %", cut.Find("[data-testid=mean-overlap]").TextContent.Trim()), TimeSpan.FromSeconds(30));
        Assert.NotNull(cut.Find("[data-testid=entered-none]"));
        Assert.Empty(cut.FindAll("li[data-only]"));
    }

    [Theory]
    [InlineData("campaign=nope", "There is no campaign 'nope'")]
    [InlineData("a=9.9.9&b=9.9.8", "There is no model version 9.9.9")]
    [InlineData("campaign=similar-items&a={popularity}&b={similar}", "cannot serve the similar-items campaign")]
    public async Task Bad_parameters_show_a_clear_message_not_an_error_page(string query, string message)
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);
        NavigateTo("/models/compare?" + query.Replace("{popularity}", trained.Popularity, StringComparison.Ordinal).Replace("{similar}", trained.Similar, StringComparison.Ordinal));

        var cut = Render<CompareVersions>();

        cut.WaitForAssertion(() => Assert.Contains(message, cut.Find("[data-testid=compare-error]").TextContent, StringComparison.Ordinal));
        Assert.Empty(cut.FindAll("[data-testid=mean-overlap]"));
    }

    [Fact]
    public async Task Without_two_versions_the_page_says_a_comparison_needs_two()
    {
        await UseDatabaseAsync(empty.ConnectionString);

        var cut = Render<CompareVersions>();

        cut.WaitForAssertion(() => Assert.Contains("needs two", cut.Find("[data-testid=compare-empty]").TextContent, StringComparison.Ordinal));
        Assert.Empty(cut.FindAll("[data-testid=compare-a]"));
    }

    [Fact]
    public async Task Models_links_each_version_to_a_comparison_with_the_served_one()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);

        var cut = Render<Models>();

        cut.WaitForAssertion(() => Assert.NotNull(cut.Find($"[data-testid='compare-{trained.Als}']")));
        Assert.Equal($"models/compare?campaign=user-recommendations&a={trained.Popularity}&b={trained.Als}",
            cut.Find($"[data-testid='compare-{trained.Als}']").GetAttribute("href"));
        Assert.Equal($"models/compare?campaign=user-recommendations&a={trained.Popularity}&b={trained.Similar}",
            cut.Find($"[data-testid='compare-{trained.Similar}']").GetAttribute("href"));
        // The champion itself: A stays the champion, B the newest other version.
        Assert.Equal($"models/compare?campaign=user-recommendations&a={trained.Popularity}&b={trained.Similar}",
            cut.Find($"[data-testid='compare-{trained.Popularity}']").GetAttribute("href"));
    }
}
