using Microsoft.Extensions.DependencyInjection;
using Recs.Services.Engine;
using Recs.Services.Training;
using Recs.Tests.Integration;

namespace Recs.Tests.E2E;

[Collection(BrowserCollection.Name)]
public sealed class CompareVersionsE2ETests(BrowserFixture browser)
{
    [Fact]
    public async Task An_engineer_opens_the_comparison_of_two_versions_from_the_models_page()
    {
        await using var app = await AppProcess.StartAsync();
        await app.WaitForDemoDataAsync(TimeSpan.FromSeconds(60));
        string popularity, als;
        await using (var services = TestServices.Create(app.ConnectionString))
        {
            var training = services.GetRequiredService<TrainingService>();
            popularity = (await training.RunNowAsync(new TrainingRequest { Recipe = PopularityRecommender.Name })).Version.Version;
            als = (await training.RunNowAsync(new TrainingRequest
            {
                Recipe = AlsRecommender.Name, AutoPromote = false, Hyperparameters = new Dictionary<string, string> { ["factors"] = "16", ["iterations"] = "8" },
            })).Version.Version;
        }
        var page = await browser.NewPageAsync();
        await app.SignInAsync(page);

        var models = new ModelsPage(page, app.BaseUrl);
        await models.OpenAsync();
        await models.AssertVersionListedAsync(als, "challenger");
        await models.ScreenshotAsync("models-compare-links");

        var compare = new CompareVersionsPage(page, app.BaseUrl);
        await compare.OpenFromModelsAsync(als);

        Assert.Contains($"a={popularity}", page.Url, StringComparison.Ordinal);
        Assert.Contains($"b={als}", page.Url, StringComparison.Ordinal);
        Assert.Matches(@"^\d+ %$", await compare.MeanOverlapAsync());
        Assert.NotEqual("100 %", await compare.MeanOverlapAsync());
        await compare.AssertChartsDrawnAsync();
        Assert.Equal(8, await compare.SideBySideCountAsync());
        await compare.AssertDifferencesMarkedAsync();
        await compare.ScreenshotAsync("compare-versions");

        // A phone-width window: the same page, one column.
        var narrow = await browser.NewPageAsync(420, 900);
        await app.SignInAsync(narrow);
        var small = new CompareVersionsPage(narrow, app.BaseUrl);
        await small.OpenAsync($"campaign=user-recommendations&a={popularity}&b={als}");
        await small.WaitForComparisonAsync();
        await small.AssertChartsDrawnAsync();
        await small.ScreenshotAsync("compare-versions-narrow");

        // A version that does not exist is a message on the page, not an error page.
        var response = await compare.OpenAsync($"a={popularity}&b=9.9.9");
        Assert.Equal(200, response!.Status);
        Assert.Contains("There is no model version 9.9.9", await compare.ErrorAsync(), StringComparison.Ordinal);
    }
}
