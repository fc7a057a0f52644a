using Microsoft.Playwright;

namespace Recs.Tests.E2E;

/// <summary>Page objects for the ML engineer's pages, named for what a user does and checks.</summary>
public sealed class TrainingPage(IPage page, string baseUrl)
{
    public async Task OpenAsync(string recipe)
    {
        await page.GotoAsync($"{baseUrl}/training?recipe={recipe}");
        await page.GetByRole(AriaRole.Heading, new() { Name = "Training", Level = 1 }).WaitForAsync();
        await page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
    }

    public async Task SetHyperparameterAsync(string name, string value) =>
        await page.Locator($"input[data-testid=hyper-{name}]").FillAsync(value);

    public async Task StartAsync()
    {
        await Assertions.Expect(page.Locator("[data-testid=start-training]")).ToBeEnabledAsync();
        await page.Locator("[data-testid=start-training]").ClickAsync();
    }

    public async Task AssertRunningAsync() =>
        await Assertions.Expect(page.Locator("[data-testid=training-progress] [data-testid=status]")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("running|succeeded"));

    public async Task WaitForSuccessAsync() =>
        await Assertions.Expect(page.Locator("[data-testid=training-progress] [data-testid=status]")).ToHaveTextAsync("succeeded", new() { Timeout = 120_000 });

    public async Task<string> ProgressFiguresAsync() => await page.Locator("[data-testid=progress-figures]").InnerTextAsync();

    public async Task<string> NewestVersionAsync() =>
        (await page.Locator("[data-testid=job-history] tbody tr").First.Locator("a").InnerTextAsync()).Trim();

    public async Task ScreenshotAsync(string name) =>
        await page.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Screenshots, name + ".png"), FullPage = true });
}

public sealed class ModelsPage(IPage page, string baseUrl)
{
    public async Task OpenAsync()
    {
        await page.GotoAsync($"{baseUrl}/models");
        await page.GetByRole(AriaRole.Heading, new() { Name = "Models", Level = 1 }).WaitForAsync();
    }

    public async Task AssertVersionListedAsync(string version, string status) =>
        await Assertions.Expect(page.Locator($"[data-testid='version-{version}'] [data-testid=status]")).ToHaveTextAsync(status);

    public async Task AssertChartIsDrawnAsync() =>
        await Assertions.Expect(page.Locator("[data-testid=metric-history-chart] svg").First).ToBeVisibleAsync();

    public async Task ScreenshotAsync(string name) =>
        await page.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Screenshots, name + ".png"), FullPage = true });
}

public sealed class LearningCurvesPage(IPage page, string baseUrl)
{
    public async Task OpenAsync(string version)
    {
        await page.GotoAsync($"{baseUrl}/learning-curves?versions={version}");
        await page.GetByRole(AriaRole.Heading, new() { Name = "Learning curves", Level = 1 }).WaitForAsync();
    }

    public async Task AssertCurveDrawnWithBestEpochAsync(string version)
    {
        await Assertions.Expect(page.Locator("[data-testid=curve-ndcg] svg").First).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-testid=best-epochs]")).ToContainTextAsync($"{version}: ★ best epoch");
    }

    public async Task ScreenshotAsync(string name) =>
        await page.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Screenshots, name + ".png"), FullPage = true });
}

public sealed class SimilarItemsPage(IPage page, string baseUrl)
{
    public async Task OpenAsync()
    {
        await page.GotoAsync($"{baseUrl}/similar-items");
        await page.GetByRole(AriaRole.Heading, new() { Name = "Similar items", Level = 1 }).WaitForAsync();
        await page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
    }

    public async Task SearchAndPickAsync(string text)
    {
        var input = page.Locator("input[data-testid=product-search]");
        await input.ClickAsync();
        await input.PressSequentiallyAsync(text, new() { Delay = 50 });
        var option = page.Locator(".mud-popover-open .mud-list-item").First;
        await option.WaitForAsync(new() { Timeout = 15_000 });
        await option.ClickAsync();
        await page.Locator("[data-testid=chosen-product]").WaitForAsync();
    }

    public async Task<string> ChosenProductAsync() => (await page.Locator("[data-testid=chosen-product] h2").InnerTextAsync()).Trim();

    public async Task AssertNeighbourCountAsync(int count) =>
        await Assertions.Expect(page.Locator("[data-testid=neighbours] tbody tr")).ToHaveCountAsync(count);

    public async Task<string> FollowNeighbourAsync(int index)
    {
        var link = page.Locator("[data-testid=neighbours] [data-testid=neighbour-link]").Nth(index);
        var name = (await link.InnerTextAsync()).Trim();
        await link.ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=chosen-product] h2")).ToHaveTextAsync(name);
        return name;
    }

    public async Task AssertBreadcrumbHasAsync(string name) =>
        await Assertions.Expect(page.Locator("[data-testid=breadcrumbs]")).ToContainTextAsync(name);

    public async Task ScreenshotAsync(string name) =>
        await page.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Screenshots, name + ".png"), FullPage = true });
}

public sealed class UsersPage(IPage page, string baseUrl)
{
    public async Task OpenAsync(long customerId)
    {
        await page.GotoAsync($"{baseUrl}/users?customer={customerId}");
        await page.GetByRole(AriaRole.Heading, new() { Name = "Users", Level = 1 }).WaitForAsync();
    }

    public async Task AssertRecommendationCountAsync(int count) =>
        await Assertions.Expect(page.Locator("[data-testid=recommendations] tbody tr")).ToHaveCountAsync(count);

    public async Task AssertSomePurchasesAsync() =>
        await Assertions.Expect(page.Locator("[data-testid=purchases] tbody tr").First).ToBeVisibleAsync();

    public async Task ScreenshotAsync(string name) =>
        await page.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Screenshots, name + ".png"), FullPage = true });
}

public sealed class RegionsPage(IPage page, string baseUrl)
{
    public async Task OpenAsync(string query = "")
    {
        await page.GotoAsync($"{baseUrl}/regions{query}");
        await page.GetByRole(AriaRole.Heading, new() { Name = "Regions", Level = 1 }).WaitForAsync();
        await page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
        await page.Locator("[data-testid=heatmap], [data-testid=regions-empty], [data-testid=regions-error]").First.WaitForAsync();
    }

    public async Task AssertHeatmapAsync(int regions) =>
        await Assertions.Expect(page.Locator("[data-testid=heatmap] thead .heatmap-region")).ToHaveCountAsync(regions);

    public async Task<string> ClickCellAsync(int index)
    {
        var cell = page.Locator("[data-testid=heatmap-cell]").Nth(index);
        var label = await cell.GetAttributeAsync("aria-label") ?? "";
        await cell.ClickAsync();
        await page.Locator("[data-testid=drill-down]").WaitForAsync();
        return label;
    }

    public async Task AssertDrillDownUsersAsync() =>
        await Assertions.Expect(page.Locator("[data-testid=drill-down-users] tbody tr").First).ToBeVisibleAsync();

    public async Task ScreenshotAsync(string name) =>
        await page.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Screenshots, name + ".png"), FullPage = true });
}
