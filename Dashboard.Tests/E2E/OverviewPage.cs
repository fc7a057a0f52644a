using System.Globalization;
using Microsoft.Playwright;

namespace Recs.Tests.E2E;

/// <summary>Page object for the overview, named for what a user checks.</summary>
public sealed class OverviewPage(IPage page, string baseUrl) : PageObject(page)
{
    public async Task OpenAsync()
    {
        await Page.GotoAsync(baseUrl + "/");
        await Page.GetByRole(AriaRole.Heading, new() { Name = "Overview", Level = 1 }).WaitForAsync();
    }

    /// <summary>Waits for the figures (they arrive live once demo data has loaded).</summary>
    public async Task WaitForFiguresAsync()
    {
        // The prerendered figures are replaced by a loading bar when the circuit starts and reloads them: wait for
        // the circuit first, or a screenshot can catch the page between the two.
        await Page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached, Timeout = 90_000 });
        await Page.Locator("[data-testid=count-customers]").WaitForAsync(new() { Timeout = 90_000 });
    }

    public async Task<long> ReadCountAsync(string testId)
    {
        var text = await Page.Locator($"[data-testid={testId}]").InnerTextAsync();
        return long.Parse(text.Trim(), NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
    }

    public async Task AssertDatabaseModeAsync(string mode) =>
        await Assertions.Expect(Page.Locator("[data-testid=database-mode]")).ToHaveTextAsync(mode);

    public async Task AssertChartIsDrawnAsync() =>
        await Assertions.Expect(Page.Locator("[data-testid=chart-interactions-per-month] svg.main-svg").First).ToBeVisibleAsync(new() { Timeout = ChartTimeout });

    /// <summary>Presses "Check now" on the model-health panel and waits for the check to show <paramref name="status"/>.</summary>
    public async Task CheckHealthNowAsync(string status)
    {
        await Page.Locator("[data-testid=health-check]").ClickAsync();
        await Page.Locator($"[data-testid=model-health][data-status={status}]").WaitForAsync(new() { Timeout = 60_000 });
    }

    public async Task<string> HealthWarningTextAsync() => await Page.Locator("[data-testid=health-warning]").InnerTextAsync();

    public async Task<int> CountCategoryRowsAsync() => await Page.Locator("[data-testid=top-categories] tbody tr").CountAsync();
}
