using Microsoft.Playwright;
using Npgsql;

namespace Recs.Tests.E2E;

/// <summary>A champion, then a drifted day of shopping: "Check now" on the overview turns into the warning with Retrain.</summary>
[Collection(BrowserCollection.Name)]
public sealed class DriftE2ETests(BrowserFixture browser)
{
    [Fact]
    public async Task After_a_drifted_day_the_overview_and_models_pages_warn_with_retrain_one_click_away()
    {
        var dataDirectory = AppProcess.NewDataDirectory();
        string[] database = [$"--Database:DataDirectory={dataDirectory}", "--Database:ServerSettings:fsync=off"];
        await DashboardCli.RunOkAsync(["seed", "--customers", "600", "--products", "150", "--order-lines", "9000", .. database]);
        await DashboardCli.RunOkAsync(["train", "--recipe", "user-personalization", "--factors", "16", "--iterations", "6", .. database]);

        // No scheduled check during the test: the button decides when it runs.
        await using var app = await AppProcess.StartAsync(new Dictionary<string, string> { ["DemoData:Enabled"] = "false", ["Drift:CheckHours"] = "0" }, dataDirectory);
        var page = await browser.NewPageAsync(1280, 1000);
        await app.SignInAsync(page);
        var overview = new OverviewPage(page, app.BaseUrl);
        await overview.OpenAsync();
        await overview.WaitForFiguresAsync();

        // Right after training nothing has happened since: the compact card says so.
        await overview.CheckHealthNowAsync("no-new-data");
        await Assertions.Expect(page.Locator("[data-testid=health-summary]")).ToContainTextAsync("No interactions since");
        await page.Locator("[data-testid=model-health]").ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Screenshots, "overview-health-no-new-data.png") });

        await using (var connection = new NpgsqlConnection(app.ConnectionString))
        {
            await connection.OpenAsync();
            var now = DateTime.UtcNow;
            await Integration.DriftDatabaseFixture.AppendDriftAsync(connection, now.AddDays(-1), now.AddHours(-2));
        }
        await overview.CheckHealthNowAsync("drifting");

        var warning = await overview.HealthWarningTextAsync();
        Assert.Contains("has drifted since it was trained", warning, StringComparison.Ordinal);
        Assert.Contains("of events since training come from users the model has never seen (600 users; threshold 25 %)", warning, StringComparison.Ordinal);
        Assert.Contains("most moved: Gadgets 0 % →", warning, StringComparison.Ordinal);
        await Assertions.Expect(page.Locator("[data-testid=health-retrain]")).ToBeEnabledAsync();
        await overview.AssertChartIsDrawnAsync();
        await overview.ScreenshotAsync("overview-drift-warning");

        await page.GotoAsync(app.BaseUrl + "/models");
        await page.Locator("[data-testid=health-warning]").WaitForAsync();
        await Assertions.Expect(page.Locator("[data-testid=health-signal-ndcg]")).ToContainTextAsync("lower");
        await page.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Screenshots, "models-drift-warning.png") });
    }
}
