using Microsoft.Playwright;

namespace Recs.Tests.E2E;

/// <summary>
/// The three neural recipes trained from the Training page on the demo business: progress per epoch while a neural fit
/// runs, cancelling it, and their learning curves overlaid on one page.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class NeuralE2ETests(BrowserFixture browser)
{
    [Fact]
    public async Task Neural_fits_report_each_epoch_stop_when_cancelled_and_overlay_their_learning_curves()
    {
        await using var app = await AppProcess.StartAsync();
        await app.WaitForDemoDataAsync(TimeSpan.FromSeconds(60));
        var page = await browser.NewPageAsync();
        await app.SignInAsync(page);
        var training = new TrainingPage(page, app.BaseUrl);

        // A long ncf-hybrid run: the page follows it epoch by epoch, and Cancel stops it.
        await training.OpenAsync("ncf-hybrid");
        await training.SetHyperparameterAsync("epochs", "200");
        await training.StartAsync();
        await Assertions.Expect(page.Locator("[data-testid=progress-message]"))
            .ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"iteration [1-9]\d* of 200, loss \d"), new() { Timeout = 120_000 });
        await training.ScreenshotAsync("training-neural-progress");
        await page.Locator("[data-testid=cancel-training]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=training-progress] [data-testid=status]")).ToHaveTextAsync("cancelled", new() { Timeout = 60_000 });

        // Each recipe, short, to completion.
        var versions = new List<string>();
        string[] recipes = ["ncf-hybrid", "mult-vae", "sasrec"];
        foreach (var (recipe, epochs) in recipes.Zip(["3", "8", "4"]))
        {
            await training.OpenAsync(recipe);
            await training.SetHyperparameterAsync("epochs", epochs);
            // Follow this run's own row of the job history: until the new job's render arrives, the progress panel
            // still shows the previous run's "succeeded".
            var newest = page.Locator("[data-testid=job-history] tbody tr").First;
            var previous = await newest.Locator("td").First.InnerTextAsync();
            await training.StartAsync();
            await Assertions.Expect(newest.Locator("td").First).Not.ToHaveTextAsync(previous, new() { Timeout = 60_000 });
            await Assertions.Expect(newest.Locator("[data-testid=status]"))
                .ToHaveTextAsync(new System.Text.RegularExpressions.Regex("succeeded|failed|cancelled"), new() { Timeout = 300_000 });
            var status = (await newest.Locator("[data-testid=status]").InnerTextAsync()).Trim();
            // A failed fit names its error in the row; the app's log says where it came from.
            Assert.True(status == "succeeded", $"{recipe} {status}: {await newest.InnerTextAsync()}\n{app.Log}");
            versions.Add((await newest.Locator("a").InnerTextAsync()).Trim());
        }
        Assert.Equal(3, versions.Distinct().Count());

        var curves = new LearningCurvesPage(page, app.BaseUrl);
        await curves.OpenAsync(string.Join(',', versions));
        foreach (var (version, recipe) in versions.Zip(recipes))
        {
            await curves.AssertCurveDrawnWithBestEpochAsync(version);
            await Assertions.Expect(page.Locator("[data-testid=best-epochs]")).ToContainTextAsync($"· {recipe}");
        }
        // Each version's validation NDCG@10 is its own line on one chart, named in the legend.
        foreach (var version in versions)
            await Assertions.Expect(page.Locator("[data-testid=curve-ndcg] text.legendtext").Filter(new() { HasText = $"{version} validation NDCG@10" })).ToHaveCountAsync(1);
        await curves.ScreenshotAsync("learning-curves-neural");
    }
}
