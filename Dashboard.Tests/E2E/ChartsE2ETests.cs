using System.Globalization;
using Dapper;
using Microsoft.Playwright;
using Npgsql;

namespace Recs.Tests.E2E;

/// <summary>The Plotly charts in a real Chromium: hover reads exact values, clicks navigate, CSV downloads, nothing comes from outside the app.</summary>
[Collection(BrowserCollection.Name)]
public sealed class ChartsE2ETests(BrowserFixture browser)
{
    [Fact]
    public async Task Charts_hover_exact_values_click_through_download_csv_and_load_nothing_from_outside()
    {
        await using var app = await AppProcess.StartAsync();
        await app.WaitForDemoDataAsync(TimeSpan.FromSeconds(60));
        var page = await browser.NewPageAsync();
        var requests = new List<string>();
        page.Request += (_, request) => { lock (requests) requests.Add(request.Url); };
        await app.SignInAsync(page);

        // Two iterative versions to overlay: BPR (validation loss and NDCG) and ALS (NDCG).
        var training = new TrainingPage(page, app.BaseUrl);
        await training.OpenAsync("bpr");
        await training.SetHyperparameterAsync("epochs", "6");
        await training.StartAsync();
        await training.WaitForSuccessAsync();
        var bpr = await training.NewestVersionAsync();
        await training.OpenAsync("user-personalization");
        await training.SetHyperparameterAsync("factors", "16");
        await training.SetHyperparameterAsync("iterations", "6");
        await training.StartAsync();
        await training.WaitForSuccessAsync();
        var als = await training.NewestVersionAsync();
        Assert.NotEqual(bpr, als);

        // Learning curves: hovering epoch 2 shows every overlaid version's exact validation NDCG@10, as the CSV has it.
        var curves = new LearningCurvesPage(page, app.BaseUrl);
        await curves.OpenAsync($"{bpr},{als}");
        await curves.AssertCurveDrawnWithBestEpochAsync(bpr);
        var csv = await Charts.CsvAsync(page, "curve-ndcg");
        var expected = Value(csv, $"{bpr} validation NDCG@10", 2);
        var (x, y) = await Charts.PointAsync(page, "curve-ndcg", 0, 1);
        await page.Mouse.MoveAsync(x, y);
        var hover = await Charts.HoverTextAsync(page, "curve-ndcg");
        Assert.Contains("Epoch 2", hover, StringComparison.Ordinal);
        Assert.Contains($"{bpr} validation NDCG@10: {expected.ToString("F4", CultureInfo.InvariantCulture)}", hover, StringComparison.Ordinal);
        Assert.Contains($"{als} validation NDCG@10: {Value(csv, $"{als} validation NDCG@10", 2).ToString("F4", CultureInfo.InvariantCulture)}", hover, StringComparison.Ordinal);
        // The loss chart carries BPR's train (solid) and validation (dashed) loss in one colour.
        var dashes = await Charts.EvaluateAsync<string[]>(page, "curve-loss", "gd => gd.data.map(t => t.name + '|' + t.line.dash + '|' + t.line.color)");
        Assert.Contains(dashes, d => d.StartsWith($"{bpr} train loss|solid|", StringComparison.Ordinal));
        var validationLoss = Assert.Single(dashes, d => d.StartsWith($"{bpr} validation loss|dash|", StringComparison.Ordinal));
        Assert.EndsWith(dashes.First(d => d.StartsWith($"{bpr} train loss", StringComparison.Ordinal)).Split('|')[2], validationLoss, StringComparison.Ordinal);
        // The CSV link downloads the same numbers.
        var download = await page.RunAndWaitForDownloadAsync(() => page.Locator("[data-testid=curve-ndcg] [data-testid=chart-csv]").ClickAsync());
        Assert.Equal("learning-curves-ndcg.csv", download.SuggestedFilename);
        Assert.Equal(csv, await File.ReadAllTextAsync(await download.PathAsync()));
        // Log scale and smoothing redraw the chart.
        await page.Locator("[data-testid=log-scale] input").CheckAsync();
        await Assertions.Expect(page.Locator("[data-testid=curve-ndcg] .ytick").First).ToBeVisibleAsync();
        await page.WaitForFunctionAsync("() => document.querySelector('[data-testid=curve-ndcg] .js-plotly-plot')._fullLayout.yaxis.type === 'log'");
        await curves.ScreenshotAsync("charts-learning-curves-1280");

        // Models: the metric history is on a date axis; clicking BPR's point opens that version.
        var models = new ModelsPage(page, app.BaseUrl);
        await models.OpenAsync();
        await models.AssertChartIsDrawnAsync();
        Assert.Equal("date", await Charts.EvaluateAsync<string>(page, "metric-history-chart", "gd => gd._fullLayout.xaxis.type"));
        await models.ScreenshotAsync("charts-models-1280");
        var points = await Charts.EvaluateAsync<string[]>(page, "metric-history-chart", "gd => gd.data[0].text");
        var index = Array.FindIndex(points, t => t.Contains(bpr, StringComparison.Ordinal));
        (x, y) = await Charts.PointAsync(page, "metric-history-chart", 0, index);
        await page.Mouse.MoveAsync(x, y);
        Assert.Contains(bpr, await Charts.HoverTextAsync(page, "metric-history-chart"), StringComparison.Ordinal);
        await page.Mouse.ClickAsync(x, y);
        await page.WaitForURLAsync(url => url.Contains($"version={bpr}", StringComparison.Ordinal));
        await Assertions.Expect(page.Locator($"[data-testid='version-{bpr}']")).ToHaveAttributeAsync("data-selected", "true");

        // Regions: a cell's hover has the figures; a click opens its drill-down.
        var regions = new RegionsPage(page, app.BaseUrl);
        await regions.OpenAsync();
        await regions.AssertHeatmapAsync(20);
        var (zmin, zmax) = (await Charts.EvaluateAsync<double>(page, "heatmap-chart", "gd => gd.data[0].zmin"), await Charts.EvaluateAsync<double>(page, "heatmap-chart", "gd => gd.data[0].zmax"));
        Assert.Equal((0, 100), (zmin, zmax));
        await regions.ScreenshotAsync("charts-regions-1280");
        var label = await regions.ClickHeatmapCellAsync(1, 2);
        Assert.Contains("Users: ", label, StringComparison.Ordinal);
        Assert.Contains("95 % interval: ", label, StringComparison.Ordinal);
        var region = await Charts.EvaluateAsync<string>(page, "heatmap-chart", "gd => gd.data[0].x[2]");
        Assert.Contains(region, label, StringComparison.Ordinal);
        Assert.Contains($"region={Uri.EscapeDataString(region)}", page.Url, StringComparison.Ordinal);
        await Assertions.Expect(page.Locator("[data-testid=drill-down] h2")).ToContainTextAsync(region);
        await regions.ScreenshotAsync("charts-regions-drill-down-1280");
        await regions.OpenAsync("?top=5&sample=true");
        await regions.AssertHeatmapAsync(20);
        await regions.ScreenshotAsync("charts-regions-thin-1280");

        var overview = new OverviewPage(page, app.BaseUrl);
        await overview.OpenAsync();
        await overview.WaitForFiguresAsync();
        await overview.AssertChartIsDrawnAsync();
        Assert.Equal("date", await Charts.EvaluateAsync<string>(page, "chart-interactions-per-month", "gd => gd._fullLayout.xaxis.type"));
        await overview.ScreenshotAsync("charts-overview-1280");

        long customer;
        await using (var connection = new NpgsqlConnection(app.ConnectionString))
            customer = await connection.ExecuteScalarAsync<long>("select user_id from offline_user_recommendations order by user_id limit 1");
        var users = new UsersPage(page, app.BaseUrl);
        await users.OpenAsync(customer);
        await Charts.WaitDrawnAsync(page, "category-mix");
        await users.ScreenshotAsync("charts-users-1280");
        var data = new DataPage(page, app.BaseUrl);
        await data.OpenAsync();
        await Charts.WaitDrawnAsync(page, "chart-quality-months");
        await data.ScreenshotAsync("charts-data-1280");

        // plotly.js came from the app itself; nothing was fetched from another host.
        lock (requests)
        {
            Assert.Contains(requests, r => r.StartsWith($"{app.BaseUrl}/_content/Plotly.Blazor/plotly-3.7.0.min.js", StringComparison.Ordinal));
            Assert.All(requests, r => Assert.True(r.StartsWith(app.BaseUrl, StringComparison.Ordinal) || r.StartsWith("data:", StringComparison.Ordinal) || r.StartsWith("blob:", StringComparison.Ordinal), r));
        }

        // The same pages at a phone's width.
        var narrow = await browser.NewPageAsync(420, 800);
        await app.SignInAsync(narrow);
        await new LearningCurvesPage(narrow, app.BaseUrl).OpenAsync($"{bpr},{als}");
        await Charts.WaitDrawnAsync(narrow, "curve-ndcg");
        await new LearningCurvesPage(narrow, app.BaseUrl).ScreenshotAsync("charts-learning-curves-420");
        await new ModelsPage(narrow, app.BaseUrl).OpenAsync();
        await Charts.WaitDrawnAsync(narrow, "metric-history-chart");
        await new ModelsPage(narrow, app.BaseUrl).ScreenshotAsync("charts-models-420");
        var narrowRegions = new RegionsPage(narrow, app.BaseUrl);
        await narrowRegions.OpenAsync();
        await narrowRegions.AssertHeatmapAsync(20);
        await narrowRegions.ScreenshotAsync("charts-regions-420");
        var narrowOverview = new OverviewPage(narrow, app.BaseUrl);
        await narrowOverview.OpenAsync();
        await narrowOverview.WaitForFiguresAsync();
        await Charts.WaitDrawnAsync(narrow, "chart-interactions-per-month");
        await narrowOverview.ScreenshotAsync("charts-overview-420");
        await new UsersPage(narrow, app.BaseUrl).OpenAsync(customer);
        await Charts.WaitDrawnAsync(narrow, "category-mix");
        await new UsersPage(narrow, app.BaseUrl).ScreenshotAsync("charts-users-420");
        await new DataPage(narrow, app.BaseUrl).OpenAsync();
        await Charts.WaitDrawnAsync(narrow, "chart-quality-months");
        await new DataPage(narrow, app.BaseUrl).ScreenshotAsync("charts-data-420");
    }

    /// <summary>The value of <paramref name="series"/> at <paramref name="epoch"/> in a chart's CSV (series, x, y, note).</summary>
    private static double Value(string csv, string series, int epoch)
    {
        var line = csv.Split("\r\n").Single(l => l.StartsWith($"{series},{epoch},", StringComparison.Ordinal));
        return double.Parse(line.Split(',')[2], CultureInfo.InvariantCulture);
    }
}
