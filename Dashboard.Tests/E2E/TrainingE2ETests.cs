using Dapper;
using Npgsql;

namespace Recs.Tests.E2E;

[Collection(BrowserCollection.Name)]
public sealed class TrainingE2ETests(BrowserFixture browser)
{
    [Fact]
    public async Task A_training_run_started_in_the_browser_shows_up_on_models_and_curves_and_feeds_the_explorers()
    {
        await using var app = await AppProcess.StartAsync();
        await app.WaitForDemoDataAsync(TimeSpan.FromSeconds(60));
        var page = await browser.NewPageAsync();
        await app.SignInAsync(page);

        var training = new TrainingPage(page, app.BaseUrl);
        await training.OpenAsync("user-personalization");
        await training.SetHyperparameterAsync("factors", "16");
        await training.SetHyperparameterAsync("iterations", "8");
        await training.StartAsync();
        await training.AssertRunningAsync();
        await training.WaitForSuccessAsync();
        Assert.Contains("100%", await training.ProgressFiguresAsync(), StringComparison.Ordinal);
        var version = await training.NewestVersionAsync();
        await training.ScreenshotAsync("training");

        await using (var connection = new NpgsqlConnection(app.ConnectionString))
        {
            Assert.Equal("user-personalization", await connection.ExecuteScalarAsync<string>("select recipe from model_versions where version = @version", new { version }));
            Assert.Equal("champion", await connection.ExecuteScalarAsync<string>("select status from model_versions where version = @version", new { version }));
            Assert.True(await connection.ExecuteScalarAsync<long>("select count(*) from offline_user_recommendations") > 0);
        }

        var models = new ModelsPage(page, app.BaseUrl);
        await models.OpenAsync();
        await models.AssertVersionListedAsync(version, "champion");
        await models.AssertChartIsDrawnAsync();
        await models.ScreenshotAsync("models");

        var curves = new LearningCurvesPage(page, app.BaseUrl);
        await curves.OpenAsync(version);
        await curves.AssertCurveDrawnWithBestEpochAsync(version);
        await curves.ScreenshotAsync("learning-curves");

        var overview = new OverviewPage(page, app.BaseUrl);
        await overview.OpenAsync();
        await overview.WaitForFiguresAsync();
        await Microsoft.Playwright.Assertions.Expect(page.Locator("[data-testid=champion-version]")).ToHaveTextAsync(version);
        await overview.ScreenshotAsync("overview-with-champion");

        // A product owner checks a product's neighbours and follows one.
        var similar = new SimilarItemsPage(page, app.BaseUrl);
        await similar.OpenAsync();
        await similar.ScreenshotAsync("similar-items-empty");
        await similar.SearchAndPickAsync("P000001");
        var first = await similar.ChosenProductAsync();
        Assert.EndsWith("(P000001)", await page.Locator("input[data-testid=product-search]").InputValueAsync(), StringComparison.Ordinal);
        await similar.AssertNeighbourCountAsync(25);
        await similar.FollowNeighbourAsync(0);
        await similar.AssertBreadcrumbHasAsync(first);
        await similar.ScreenshotAsync("similar-items");

        // ...and a customer's history beside what they are recommended.
        long customer;
        await using (var connection = new NpgsqlConnection(app.ConnectionString))
            customer = await connection.ExecuteScalarAsync<long>("select user_id from offline_user_recommendations order by user_id limit 1");
        var users = new UsersPage(page, app.BaseUrl);
        await users.OpenAsync(customer);
        await users.AssertRecommendationCountAsync(25);
        await users.AssertSomePurchasesAsync();
        await users.ScreenshotAsync("users");

        // An analyst reads the regional heatmap, clicks a cell and exports the tiers.
        var regions = new RegionsPage(page, app.BaseUrl);
        await regions.OpenAsync();
        await regions.AssertHeatmapAsync(20);
        await regions.ScreenshotAsync("regions");
        var hover = await regions.ClickHeatmapCellAsync(0, 0);
        Assert.Contains("Users: ", hover, StringComparison.Ordinal);
        await regions.AssertDrillDownUsersAsync();
        await regions.ShowTableAsync();
        await regions.AssertTableAsync(20);
        var label = await regions.ClickCellAsync(0);
        Assert.Contains(" users (", label, StringComparison.Ordinal);
        await regions.AssertDrillDownUsersAsync();
        Assert.Contains("region=", page.Url, StringComparison.Ordinal);
        await regions.ScreenshotAsync("regions-drill-down");
        await regions.OpenAsync("?top=5&sample=true");
        await regions.ScreenshotAsync("regions-sample");

        // The export downloads with the browser's sign-in; without one it sends you to the sign-in page.
        var csv = await page.APIRequest.GetAsync($"{app.BaseUrl}/regions/tiers.csv?top=5");
        Assert.StartsWith("text/csv", csv.Headers["content-type"], StringComparison.Ordinal);
        Assert.StartsWith("region,product_id,product_name,match_rate,tier,borderline,users", await csv.TextAsync(), StringComparison.Ordinal);
        var bad = await page.APIRequest.GetAsync($"{app.BaseUrl}/regions/tiers.csv?top=7");
        Assert.Equal(400, bad.Status);
        using var anonymous = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        var refused = await anonymous.GetAsync($"{app.BaseUrl}/regions/tiers.csv?top=5");
        Assert.Equal(System.Net.HttpStatusCode.Redirect, refused.StatusCode);
        Assert.Contains("/account/login", refused.Headers.Location?.ToString(), StringComparison.Ordinal);
    }
}
