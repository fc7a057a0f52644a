using Microsoft.Playwright;

namespace Recs.Tests.E2E;

/// <summary>The Compare versions page: an engineer reads how version B's lists differ from A's.</summary>
public sealed class CompareVersionsPage(IPage page, string baseUrl) : PageObject(page)
{
    /// <summary>Follows the Models page's Compare link of <paramref name="version"/>.</summary>
    public async Task OpenFromModelsAsync(string version)
    {
        await Page.GotoAsync($"{baseUrl}/models");
        await Page.GetByRole(AriaRole.Heading, new() { Name = "Models", Level = 1 }).WaitForAsync();
        await Page.Locator($"[data-testid='compare-{version}']").ClickAsync();
        await WaitForComparisonAsync();
    }

    public async Task<IResponse?> OpenAsync(string query)
    {
        var response = await Page.GotoAsync($"{baseUrl}/models/compare?{query}");
        await Page.GetByRole(AriaRole.Heading, new() { Name = "Compare two versions", Level = 1 }).WaitForAsync();
        return response;
    }

    public async Task WaitForComparisonAsync()
    {
        await Page.GetByRole(AriaRole.Heading, new() { Name = "Compare two versions", Level = 1 }).WaitForAsync();
        await Page.Locator("[data-testid=mean-overlap]").WaitForAsync(new() { Timeout = 180_000 });
    }

    public async Task<string> MeanOverlapAsync() => (await Page.Locator("[data-testid=mean-overlap]").InnerTextAsync()).Trim();

    /// <summary>The histogram and the diverging heatmap are drawn by Plotly (an SVG inside each chart).</summary>
    public async Task AssertChartsDrawnAsync()
    {
        await Assertions.Expect(Page.Locator("[data-testid=overlap-histogram] .main-svg").First).ToBeVisibleAsync(new() { Timeout = 30_000 });
        await Assertions.Expect(Page.Locator("[data-testid=region-difference-chart] .main-svg").First).ToBeVisibleAsync(new() { Timeout = 30_000 });
    }

    public async Task<int> SideBySideCountAsync() => await Page.Locator("[data-testid=side-by-side]").CountAsync();

    /// <summary>Items only in A's list and only in B's list are marked somewhere in the sample.</summary>
    public async Task AssertDifferencesMarkedAsync()
    {
        Assert.True(await Page.Locator("[data-testid=list-a] li[data-only=a]").CountAsync() > 0, "no item marked as only in A");
        Assert.True(await Page.Locator("[data-testid=list-b] li[data-only=b]").CountAsync() > 0, "no item marked as only in B");
    }

    public async Task<string> ErrorAsync() => (await Page.Locator("[data-testid=compare-error]").InnerTextAsync()).Trim();
}
