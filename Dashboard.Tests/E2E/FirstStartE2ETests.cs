using System.Diagnostics;
using Dapper;
using Microsoft.Playwright;
using Npgsql;
using Recs.Services.Ingestion;

namespace Recs.Tests.E2E;

/// <summary>A newcomer's first start: demo data, then the first models trained by themselves, and every page filled.</summary>
[Collection(BrowserCollection.Name)]
public sealed class FirstStartE2ETests(BrowserFixture browser)
{
    [Fact]
    public async Task From_an_empty_data_folder_the_first_models_train_by_themselves_and_every_page_shows_recommendations()
    {
        var clock = Stopwatch.StartNew();
        await using var app = await AppProcess.StartAsync(new Dictionary<string, string> { ["Training:FirstModel"] = "true" });
        var page = await browser.NewPageAsync();
        await app.SignInAsync(page);
        var overview = new OverviewPage(page, app.BaseUrl);
        await overview.OpenAsync();

        // Demo data, then the two first-start training jobs: no test waits on how fast they are, only on their outcome.
        await using var connection = new NpgsqlConnection(app.ConnectionString);
        // Done = the similar-items campaign has a version, its cache (written in one transaction after the promotion)
        // carries it, and no training or batch job is still running.
        await WaitUntilAsync(async () => await connection.ExecuteScalarAsync<bool>("""
            select exists (select 1 from campaigns c where c.name = 'similar-items' and c.model_version is not null
                             and exists (select 1 from offline_similar_items s where s.model_version = c.model_version))
               and not exists (select 1 from jobs where kind in ('training', 'batch-inference') and status in ('queued', 'running'))
            """), TimeSpan.FromMinutes(15), app);
        var filled = clock.Elapsed;
        Console.WriteLine($"first start: empty data folder to both campaigns served in {filled.TotalSeconds:F0} s (this machine, under the test suite)");

        var campaigns = (await connection.QueryAsync<(string Name, string? Version, string? Recipe)>("""
            select c.name, c.model_version, v.recipe from campaigns c left join model_versions v on v.version = c.model_version order by c.name
            """)).ToDictionary(c => c.Name);
        Assert.NotNull(campaigns["user-recommendations"].Version);
        Assert.Equal("similar-items", campaigns["similar-items"].Recipe);
        Assert.Equal(2L, await connection.ExecuteScalarAsync<long>("select count(*) from model_versions where status <> 'failed'"));
        Assert.True(await connection.ExecuteScalarAsync<long>("select count(*) from offline_user_recommendations") > 1000);
        Assert.Equal(await connection.ExecuteScalarAsync<long>("select count(*) from products"),
            await connection.ExecuteScalarAsync<long>("select count(*) from offline_similar_items where model_version = @v", new { v = campaigns["similar-items"].Version }));

        await overview.OpenAsync();
        await overview.WaitForFiguresAsync();
        await Assertions.Expect(page.Locator("[data-testid='campaign-similar-items']")).ToContainTextAsync("similar-items");
        await overview.ScreenshotAsync("first-start-overview");

        // Models: how auto chose the champion, trial by trial.
        var models = new ModelsPage(page, app.BaseUrl);
        await models.OpenAsync();
        await Assertions.Expect(page.Locator("[data-testid=trials-table] tbody tr").First).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-testid=search-trials]")).ToContainTextAsync("the test period was not used");
        await models.ScreenshotAsync("first-start-models");

        // Regions: the tiers say something (some products High or Medium).
        var regions = new RegionsPage(page, app.BaseUrl);
        await regions.OpenAsync();
        await regions.AssertHeatmapAsync(20);
        await Assertions.Expect(page.Locator("[data-testid=tiers] .mud-chip-color-success, [data-testid=tiers] .mud-chip-color-warning").First).ToBeVisibleAsync();
        await regions.ScreenshotAsync("first-start-regions");

        // Similar items: a product's neighbours share its category or are its planted bundle mates.
        var truth = DemoDataGenerator.Generate(new DemoDataOptions().ToSpec(TimeProvider.System));
        // Demo product ids are the generator's indices plus one.
        var neighbours = (await connection.QueryAsync<(long Product, long Neighbour)>("""
            select s.product_id, (x.e->>'product_id')::bigint
            from offline_similar_items s cross join lateral jsonb_array_elements(s.similar_products) with ordinality as x(e, ord)
            where x.ord <= 10
            """)).ToList();
        var share = neighbours.GroupBy(n => n.Product).Average(g => g.Average(n =>
        {
            int a = (int)n.Product - 1, b = (int)n.Neighbour - 1;
            return truth.Products[a].Category == truth.Products[b].Category || truth.ProductBundle[a] == truth.ProductBundle[b] ? 1.0 : 0.0;
        }));
        Assert.True(share >= 0.75, $"on average {share:P0} of a product's top-10 neighbours share its category or bundle");
        var similar = new SimilarItemsPage(page, app.BaseUrl);
        await similar.OpenAsync();
        await similar.SearchAndPickAsync("P000001");
        await similar.AssertNeighbourCountAsync(25);
        await similar.ScreenshotAsync("first-start-similar-items");

        // Users: recommendations with a reason each.
        var customer = await connection.ExecuteScalarAsync<long>("select user_id from offline_user_recommendations order by user_id limit 1");
        var users = new UsersPage(page, app.BaseUrl);
        await users.OpenAsync(customer);
        await users.AssertRecommendationCountAsync(25);
        await Assertions.Expect(page.Locator("[data-testid=reason]").First).Not.ToBeEmptyAsync();
        await users.ScreenshotAsync("first-start-users");

        // The neural recipes' native library (libtorch) is loaded only when one of them trains: not by start-up,
        // the first model, batch inference or serving.
        Assert.False(app.HasMapped("libtorch"), "the app loaded libtorch without training a neural recipe");
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> done, TimeSpan timeout, AppProcess app)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            try
            {
                if (await done())
                    return;
            }
            catch (PostgresException e) when (e.SqlState == "42P01")
            {
                // The migrations have not created the table yet.
            }
            await Task.Delay(500);
        }
        throw new TimeoutException($"The first models were not served within {timeout.TotalMinutes} minutes:\n{app.Log}");
    }
}
