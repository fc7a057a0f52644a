using Dapper;
using Npgsql;

namespace Recs.Tests.E2E;

[Collection(BrowserCollection.Name)]
public sealed class OverviewE2ETests(BrowserFixture browser)
{
    [Fact]
    public async Task A_fresh_start_prepares_demo_data_and_the_overview_shows_the_database_counts()
    {
        await using var app = await AppProcess.StartAsync();
        var page = await browser.NewPageAsync();
        await app.SignInAsync(page);
        var overview = new OverviewPage(page, app.BaseUrl);

        // The page is served while demo data is still being prepared.
        await overview.OpenAsync();
        await overview.ScreenshotAsync("overview-first-start");

        await overview.WaitForFiguresAsync();
        await app.WaitForDemoDataAsync(TimeSpan.FromSeconds(60));
        await overview.OpenAsync();
        await overview.WaitForFiguresAsync();

        await using var connection = new NpgsqlConnection(app.ConnectionString);
        Assert.Equal(await connection.ExecuteScalarAsync<long>("select count(*) from customers"), await overview.ReadCountAsync("count-customers"));
        Assert.Equal(await connection.ExecuteScalarAsync<long>("select count(*) from products"), await overview.ReadCountAsync("count-products"));
        Assert.Equal(await connection.ExecuteScalarAsync<long>("select count(*) from orders"), await overview.ReadCountAsync("count-orders"));
        Assert.Equal(await connection.ExecuteScalarAsync<long>("select count(*) from interactions"), await overview.ReadCountAsync("count-interactions"));
        Assert.Equal(await connection.ExecuteScalarAsync<long>("select count(distinct region) from customers"), await overview.ReadCountAsync("count-regions"));
        Assert.Equal(5_000, await overview.ReadCountAsync("count-customers"));
        await overview.AssertDatabaseModeAsync("embedded");
        await overview.AssertChartIsDrawnAsync();
        Assert.Equal(10, await overview.CountCategoryRowsAsync());
        await overview.ScreenshotAsync("overview");

        var narrow = await browser.NewPageAsync(390, 844);

        await app.SignInAsync(narrow);
        var phone = new OverviewPage(narrow, app.BaseUrl);
        await phone.OpenAsync();
        await phone.WaitForFiguresAsync();
        await phone.ScreenshotAsync("overview-narrow");
    }

    [Fact]
    public async Task Without_demo_data_the_overview_shows_an_empty_state()
    {
        await using var app = await AppProcess.StartAsync(new Dictionary<string, string> { ["DemoData:Enabled"] = "false" });
        var page = await browser.NewPageAsync();
        await app.SignInAsync(page);
        var overview = new OverviewPage(page, app.BaseUrl);

        await overview.OpenAsync();

        await Microsoft.Playwright.Assertions.Expect(page.Locator("[data-testid=overview-empty]")).ToContainTextAsync("No data yet");
        await overview.AssertDatabaseModeAsync("embedded");
        await overview.ScreenshotAsync("overview-empty");
    }
}
