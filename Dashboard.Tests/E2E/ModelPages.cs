using Microsoft.Playwright;

namespace Recs.Tests.E2E;

/// <summary>What every page object can do: save a full-page screenshot under artifacts/screenshots.</summary>
public abstract class PageObject(IPage page)
{
    /// <summary>The first chart on a page waits for plotly.js (3.5 MB) to load and parse, slow on a busy machine.</summary>
    protected const float ChartTimeout = 30_000;

    protected IPage Page { get; } = page;

    public async Task ScreenshotAsync(string name)
    {
        // From the top: a full-page capture of a scrolled page draws the fixed app bar where the scroll left it.
        await Page.EvaluateAsync("window.scrollTo(0, 0)");
        await Page.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Screenshots, name + ".png"), FullPage = true });
    }
}

/// <summary>Page objects for the dashboard's pages, named for what a user does and checks.</summary>
public sealed class TrainingPage(IPage page, string baseUrl) : PageObject(page)
{
    public async Task OpenAsync(string recipe)
    {
        await Page.GotoAsync($"{baseUrl}/training?recipe={recipe}");
        await Page.GetByRole(AriaRole.Heading, new() { Name = "Training", Level = 1 }).WaitForAsync();
        await Page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
    }

    public async Task SetHyperparameterAsync(string name, string value) =>
        await Page.Locator($"input[data-testid=hyper-{name}]").FillAsync(value);

    public async Task StartAsync()
    {
        await Assertions.Expect(Page.Locator("[data-testid=start-training]")).ToBeEnabledAsync();
        await Page.Locator("[data-testid=start-training]").ClickAsync();
    }

    public async Task AssertRunningAsync() =>
        await Assertions.Expect(Page.Locator("[data-testid=training-progress] [data-testid=status]")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("running|succeeded"));

    public async Task WaitForSuccessAsync() =>
        await Assertions.Expect(Page.Locator("[data-testid=training-progress] [data-testid=status]")).ToHaveTextAsync("succeeded", new() { Timeout = 120_000 });

    public async Task<string> ProgressFiguresAsync() => await Page.Locator("[data-testid=progress-figures]").InnerTextAsync();

    public async Task<string> NewestVersionAsync() =>
        (await Page.Locator("[data-testid=job-history] tbody tr").First.Locator("a").InnerTextAsync()).Trim();

    /// <summary>Presses "Simulate shoppers" for <paramref name="minutes"/> of wall-clock time.</summary>
    public async Task SimulateShoppersAsync(string minutes)
    {
        var field = Page.Locator("input[data-testid=simulation-minutes]");
        await field.FillAsync(minutes);
        await field.PressAsync("Tab");
        await Assertions.Expect(Page.Locator("[data-testid=start-simulation]")).ToBeEnabledAsync();
        await Page.Locator("[data-testid=start-simulation]").ClickAsync();
    }

    /// <summary>Waits for the simulation to finish and returns its message (what the shoppers did).</summary>
    public async Task<string> WaitForSimulationAsync()
    {
        await Assertions.Expect(Page.Locator("[data-testid=simulation] [data-testid=status]")).ToHaveTextAsync("succeeded", new() { Timeout = 120_000 });
        return await Page.Locator("[data-testid=simulation-message]").InnerTextAsync();
    }
}

public sealed class ModelsPage(IPage page, string baseUrl) : PageObject(page)
{
    public async Task OpenAsync()
    {
        await Page.GotoAsync($"{baseUrl}/models");
        await Page.GetByRole(AriaRole.Heading, new() { Name = "Models", Level = 1 }).WaitForAsync();
    }

    public async Task AssertVersionListedAsync(string version, string status) =>
        await Assertions.Expect(Page.Locator($"[data-testid='version-{version}'] [data-testid=status]")).ToHaveTextAsync(status);

    public async Task AssertChartIsDrawnAsync() =>
        await Assertions.Expect(Page.Locator("[data-testid=metric-history-chart] svg.main-svg").First).ToBeVisibleAsync(new() { Timeout = ChartTimeout });
}

public sealed class LearningCurvesPage(IPage page, string baseUrl) : PageObject(page)
{
    public async Task OpenAsync(string version)
    {
        await Page.GotoAsync($"{baseUrl}/learning-curves?versions={version}");
        await Page.GetByRole(AriaRole.Heading, new() { Name = "Learning curves", Level = 1 }).WaitForAsync();
    }

    public async Task AssertCurveDrawnWithBestEpochAsync(string version)
    {
        await Assertions.Expect(Page.Locator("[data-testid=curve-ndcg] svg.main-svg").First).ToBeVisibleAsync(new() { Timeout = ChartTimeout });
        await Assertions.Expect(Page.Locator("[data-testid=best-epochs]")).ToContainTextAsync($"{version}: ★ best epoch");
    }
}

public sealed class SimilarItemsPage(IPage page, string baseUrl) : PageObject(page)
{
    public async Task OpenAsync()
    {
        await Page.GotoAsync($"{baseUrl}/similar-items");
        await Page.GetByRole(AriaRole.Heading, new() { Name = "Similar items", Level = 1 }).WaitForAsync();
        await Page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
    }

    public async Task SearchAndPickAsync(string text)
    {
        // The page has loaded when it shows its "Pick a product" state; typing earlier can be lost to that render.
        await Page.Locator("[data-testid=similar-empty]").WaitForAsync();
        var input = Page.Locator("input[data-testid=product-search]");
        // The suggestion for the whole text: one for a shorter prefix can be replaced while it is being clicked.
        var option = Page.Locator(".mud-popover-open .mud-list-item").Filter(new() { HasText = text }).First;
        var chosen = Page.Locator("[data-testid=chosen-product]");
        for (var attempt = 1; ; attempt++)
        {
            await input.FillAsync("");
            await input.ClickAsync();
            await input.PressSequentiallyAsync(text, new() { Delay = 50 });
            try
            {
                await option.WaitForAsync(new() { Timeout = 10_000 });
                await option.ClickAsync(new() { Timeout = 10_000 });
                await chosen.WaitForAsync(new() { Timeout = attempt < 3 ? 10_000 : 30_000 });
                return;
            }
            catch (TimeoutException) when (attempt < 3)
            {
                // The suggestions did not open, or the click landed while they re-rendered (a render raced the
                // typing): type again.
            }
        }
    }

    public async Task<string> ChosenProductAsync() => (await Page.Locator("[data-testid=chosen-product] h2").InnerTextAsync()).Trim();

    public async Task AssertNeighbourCountAsync(int count) =>
        await Assertions.Expect(Page.Locator("[data-testid=neighbours] tbody tr")).ToHaveCountAsync(count);

    public async Task<string> FollowNeighbourAsync(int index)
    {
        var link = Page.Locator("[data-testid=neighbours] [data-testid=neighbour-link]").Nth(index);
        var name = (await link.InnerTextAsync()).Trim();
        await link.ClickAsync();
        await Assertions.Expect(Page.Locator("[data-testid=chosen-product] h2")).ToHaveTextAsync(name);
        return name;
    }

    public async Task AssertBreadcrumbHasAsync(string name) =>
        await Assertions.Expect(Page.Locator("[data-testid=breadcrumbs]")).ToContainTextAsync(name);
}

public sealed class UsersPage(IPage page, string baseUrl) : PageObject(page)
{
    public async Task OpenAsync(long customerId)
    {
        await Page.GotoAsync($"{baseUrl}/users?customer={customerId}");
        await Page.GetByRole(AriaRole.Heading, new() { Name = "Users", Level = 1 }).WaitForAsync();
    }

    public async Task AssertRecommendationCountAsync(int count) =>
        await Assertions.Expect(Page.Locator("[data-testid=recommendations] tbody tr")).ToHaveCountAsync(count);

    public async Task AssertSomePurchasesAsync() =>
        await Assertions.Expect(Page.Locator("[data-testid=purchases] tbody tr").First).ToBeVisibleAsync();
}

public sealed class RegionsPage(IPage page, string baseUrl) : PageObject(page)
{
    public async Task OpenAsync(string query = "")
    {
        await Page.GotoAsync($"{baseUrl}/regions{query}");
        await Page.GetByRole(AriaRole.Heading, new() { Name = "Regions", Level = 1 }).WaitForAsync();
        await Page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
        await Page.Locator("[data-testid=heatmap-chart] svg.main-svg, [data-testid=heatmap], [data-testid=regions-empty], [data-testid=regions-error]").First.WaitForAsync();
    }

    /// <summary>The Plotly heatmap is drawn with one column per region.</summary>
    public async Task AssertHeatmapAsync(int regions)
    {
        await Assertions.Expect(Page.Locator("[data-testid=heatmap-chart] svg.main-svg").First).ToBeVisibleAsync(new() { Timeout = ChartTimeout });
        Assert.Equal(regions, await Charts.EvaluateAsync<int>(Page, "heatmap-chart", "gd => gd.data[0].x.length"));
    }

    /// <summary>Hovers the heatmap cell at (row, column), returns Plotly's hover label, clicks and waits for the drill-down.</summary>
    public async Task<string> ClickHeatmapCellAsync(int row, int column)
    {
        var (x, y) = await Charts.CategoryCellAsync(Page, "heatmap-chart", row, column);
        await Page.Mouse.MoveAsync(x, y);
        var hover = Page.Locator("[data-testid=heatmap-chart] .hoverlayer .hovertext").First;
        await hover.WaitForAsync();
        var label = await hover.TextContentAsync() ?? "";
        await Page.Mouse.ClickAsync(x, y);
        await Page.Locator("[data-testid=drill-down]").WaitForAsync();
        return label;
    }

    /// <summary>Switches to the table view (the keyboard- and screen-reader-friendly one).</summary>
    public async Task ShowTableAsync()
    {
        await Page.Locator("[data-testid=view-toggle]").GetByText("Table").ClickAsync();
        await Page.Locator("[data-testid=heatmap]").WaitForAsync();
    }

    public async Task AssertTableAsync(int regions) =>
        await Assertions.Expect(Page.Locator("[data-testid=heatmap] thead .heatmap-region")).ToHaveCountAsync(regions);

    public async Task<string> ClickCellAsync(int index)
    {
        var cell = Page.Locator("[data-testid=heatmap-cell]").Nth(index);
        var label = await cell.GetAttributeAsync("aria-label") ?? "";
        await cell.ClickAsync();
        await Page.Locator("[data-testid=drill-down]").WaitForAsync();
        return label;
    }

    public async Task AssertDrillDownUsersAsync() =>
        await Assertions.Expect(Page.Locator("[data-testid=drill-down-users] tbody tr").First).ToBeVisibleAsync();
}
