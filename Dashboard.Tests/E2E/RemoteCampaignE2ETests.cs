using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Dapper;
using Microsoft.Playwright;
using Npgsql;
using Recs.Tests.Api;
using Xunit.Abstractions;

namespace Recs.Tests.E2E;

/// <summary>
/// Issue 16's done-criterion with two real Recs processes: A is an ordinary Recs with a trained model and an AWS access
/// key (the "remote Personalize"); B has the same demo data and its user-recommendations and similar-items campaigns
/// configured against A's endpoint. B's remote batch fills its cache with A's answers, its Regions page shows A's match
/// rates, and a wrong secret fails clearly on B's campaign without touching B's cache.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class RemoteCampaignE2ETests(BrowserFixture browser, ITestOutputHelper output)
{
    private const string UsersArn = "arn:aws:personalize:eu-west-1:000000000000:campaign/retail-user-recommendations";
    private const string SimilarArn = "arn:aws:personalize:eu-west-1:000000000000:campaign/retail-similar-items";
    private static string Screenshots => Path.Combine(RepoPaths.Root, "artifacts", "screenshots");

    private static Dictionary<string, string> RemoteSettings(string endpoint, string secret)
    {
        var settings = new Dictionary<string, string> { ["DemoData:Enabled"] = "false", ["Training:BatchRefreshHours"] = "0" };
        foreach (var (campaign, arn) in new[] { ("user-recommendations", UsersArn), ("similar-items", SimilarArn) })
        {
            settings[$"Engine:Remote:{campaign}:Endpoint"] = endpoint;
            settings[$"Engine:Remote:{campaign}:Region"] = "eu-west-1";
            settings[$"Engine:Remote:{campaign}:CampaignArn"] = arn;
            settings[$"Engine:Remote:{campaign}:AccessKeyId"] = AppProcess.AwsAccessKeyId;
            settings[$"Engine:Remote:{campaign}:SecretAccessKey"] = secret;
        }
        return settings;
    }

    [Fact]
    public async Task Remote_B_caches_A_answers_shows_A_match_rates_and_a_wrong_secret_fails_without_touching_the_cache()
    {
        Directory.CreateDirectory(Screenshots);
        string[] seed = ["seed", "--customers", "600", "--products", "150", "--order-lines", "9000"];
        var dataA = AppProcess.NewDataDirectory();
        var dataB = AppProcess.NewDataDirectory();
        await DashboardCli.RunOkAsync([.. seed, $"--Database:DataDirectory={dataA}", "--Database:ServerSettings:fsync=off"]);
        await DashboardCli.RunOkAsync(["train", "--recipe", "user-personalization", "--factors", "16", "--iterations", "6", $"--Database:DataDirectory={dataA}", "--Database:ServerSettings:fsync=off"]);
        await DashboardCli.RunOkAsync([.. seed, $"--Database:DataDirectory={dataB}", "--Database:ServerSettings:fsync=off"]);

        await using var a = await AppProcess.StartAsync(new Dictionary<string, string> { ["DemoData:Enabled"] = "false" }, dataA);
        var b = await AppProcess.StartAsync(RemoteSettings(a.BaseUrl, AppProcess.AwsSecretKey), dataB);
        string cacheBefore;
        try
        {
            var page = await browser.NewPageAsync(1400, 900);
            await b.SignInAsync(page);

            // B fetches both campaigns from A, started from its Models page; the Training page follows the job.
            await GotoInteractiveAsync(page, $"{b.BaseUrl}/models");
            await Expect(page.GetByTestId("remote-engine-user-recommendations")).ToContainTextAsync($"AWS Personalize {UsersArn}, not fetched yet");
            var clock = Stopwatch.StartNew();
            await page.GetByTestId("remote-fetch-user-recommendations").ClickAsync();
            var usersJob = await WaitForBatchAsync(b, "succeeded");
            var wall = clock.Elapsed;
            await Expect(page.GetByTestId("remote-fetch-similar-items")).ToBeEnabledAsync();
            await page.GetByTestId("remote-fetch-similar-items").ClickAsync();
            await WaitForBatchAsync(b, "succeeded", after: usersJob.Id);
            await GotoInteractiveAsync(page, $"{b.BaseUrl}/models");
            await Expect(page.GetByTestId("remote-engine-user-recommendations")).ToContainTextAsync($"engine: AWS Personalize {UsersArn}, fetched ");
            await Expect(page.GetByTestId("remote-engine-similar-items")).ToContainTextAsync($"engine: AWS Personalize {SimilarArn}, fetched ");
            await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "remote-models.png"), FullPage = true });

            // Throughput: users per second of fetching, as the job measured it.
            var perSecond = usersJob.PerSecond;
            var users = await ScalarAsync<long>(b, "select count(*) from offline_user_recommendations");
            var line = string.Create(CultureInfo.InvariantCulture,
                $"remote fetch B←A: {users} users, {perSecond:F1} users/s (job), {users / wall.TotalSeconds:F1} users/s wall incl. job start; load average {File.ReadAllText("/proc/loadavg").Trim()}");
            output.WriteLine(line);
            await File.WriteAllTextAsync(Path.Combine(RepoPaths.Root, "artifacts", "remote-throughput.txt"), line + "\n");
            Assert.True(perSecond > 0);

            // B's cache: every active user, stamped with the ARN; each sampled list is A's API answer, item for item.
            Assert.Equal(await ScalarAsync<long>(a, "select count(*) from offline_user_recommendations"), users);
            Assert.Equal(0, await ScalarAsync<long>(b, $"select count(*) from offline_user_recommendations where model_version <> '{UsersArn}'"));
            using var http = new HttpClient();
            var sampled = await ListAsync<string>(b, "select c.external_id from offline_user_recommendations r join customers c on c.id = r.user_id order by md5(c.external_id) limit 25");
            foreach (var user in sampled)
            {
                var fromA = await AskAAsync(http, a, $$"""{"campaignArn":"{{UsersArn}}","userId":"{{user}}","numResults":25}""");
                var inB = await ListAsync<string>(b, """
                    select p.external_id from offline_user_recommendations r join customers c on c.id = r.user_id
                    cross join lateral jsonb_array_elements(r.recommendations) with ordinality x(e, ord) join products p on p.id = (x.e->>'product_id')::bigint
                    where c.external_id = @user order by x.ord
                    """, new { user });
                Assert.Equal(fromA, inB);
            }
            var products = await ListAsync<string>(b, "select external_id from products order by md5(external_id) limit 10");
            foreach (var product in products)
            {
                var fromA = await AskAAsync(http, a, $$"""{"campaignArn":"{{SimilarArn}}","itemId":"{{product}}","numResults":25}""");
                var inB = await ListAsync<string>(b, """
                    select p.external_id from offline_similar_items s join products q on q.id = s.product_id
                    cross join lateral jsonb_array_elements(s.similar_products) with ordinality x(e, ord) join products p on p.id = (x.e->>'product_id')::bigint
                    where q.external_id = @product order by x.ord
                    """, new { product });
                Assert.Equal(fromA.Where(i => i != product), inB);
            }

            // B's Regions page shows A's match rates: every heatmap cell's figures, for all users and for the default sample.
            var pageA = await browser.NewPageAsync(1400, 900);
            await a.SignInAsync(pageA);
            foreach (var query in new[] { "?view=table", "?view=table&sample=true", "?view=table&top=25" })
            {
                var cellsA = await HeatmapAsync(pageA, $"{a.BaseUrl}/regions{query}");
                var cellsB = await HeatmapAsync(page, $"{b.BaseUrl}/regions{query}");
                Assert.NotEmpty(cellsB);
                Assert.Equal(cellsA, cellsB);
            }
            await Expect(page.GetByTestId("regions-mode")).ToContainTextAsync($"AWS Personalize {UsersArn}");
            await page.GotoAsync($"{b.BaseUrl}/regions");
            await Charts.WaitDrawnAsync(page, "heatmap-chart");
            await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "remote-regions.png"), FullPage = true });

            // Users and Similar items say which engine served them.
            var customer = await ScalarAsync<long>(b, "select user_id from offline_user_recommendations order by user_id limit 1");
            await GotoInteractiveAsync(page, $"{b.BaseUrl}/users?customer={customer}");
            await Expect(page.Locator(".mud-main-content")).ToContainTextAsync($"from AWS Personalize {UsersArn}, fetched ");
            await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "remote-users.png"), FullPage = true });
            var product0 = await ScalarAsync<long>(b, "select product_id from offline_similar_items order by product_id limit 1");
            await GotoInteractiveAsync(page, $"{b.BaseUrl}/similar-items?product={product0}");
            await Expect(page.Locator(".mud-main-content")).ToContainTextAsync($"Related items from AWS Personalize {SimilarArn}");
            await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "remote-similar-items.png"), FullPage = true });
            cacheBefore = await CacheFingerprintAsync(b.ConnectionString);
        }
        finally
        {
            await b.DisposeAsync();
        }

        // B again with a wrong secret: the fetch fails with a message naming the settings, and the cache is as it was.
        await using var wrong = await AppProcess.StartAsync(RemoteSettings(a.BaseUrl, "not-the-secret"), dataB);
        var page2 = await browser.NewPageAsync(1400, 900);
        await wrong.SignInAsync(page2, "admin", AppProcess.AdminPassword);
        await GotoInteractiveAsync(page2, $"{wrong.BaseUrl}/models");
        var lastJob = await ScalarAsync<long>(wrong, "select max(id) from jobs where kind = 'batch-inference'");
        await page2.GetByTestId("remote-fetch-user-recommendations").ClickAsync();
        var failed = await WaitForBatchAsync(wrong, "failed", after: lastJob);
        Assert.Contains("refused the credentials of the user-recommendations campaign", failed.Error, StringComparison.Ordinal);
        Assert.Contains("InvalidSignatureException", failed.Error, StringComparison.Ordinal);
        var error = page2.GetByTestId("remote-error-user-recommendations");
        await Expect(error).ToContainTextAsync("refused the credentials");
        await Expect(error).ToContainTextAsync("SecretAccessKey");
        await Expect(error).ToContainTextAsync("The cache still holds the lists fetched");
        await Expect(page2.GetByTestId("remote-engine-user-recommendations")).ToContainTextAsync($"engine: AWS Personalize {UsersArn}, fetched ");
        await page2.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "remote-wrong-secret.png"), FullPage = true });
        Assert.Contains("failed after 0 of", await ScalarAsync<string>(wrong, $"select array_to_string(log, E'\\n') from jobs where id = {failed.Id}"), StringComparison.Ordinal);
        Assert.Equal(cacheBefore, await CacheFingerprintAsync(wrong.ConnectionString));
    }

    private static ILocatorAssertions Expect(ILocator locator) => Assertions.Expect(locator);

    /// <summary>Opens a page and waits for its circuit: a click on the prerendered page would do nothing.</summary>
    private static async Task GotoInteractiveAsync(IPage page, string url)
    {
        await page.GotoAsync(url);
        await page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached, Timeout = 90_000 });
    }

    private static async Task<string[]> HeatmapAsync(IPage page, string url)
    {
        await GotoInteractiveAsync(page, url);
        await page.GetByTestId("heatmap-cell").First.WaitForAsync();
        return [.. (await page.GetByTestId("heatmap-cell").EvaluateAllAsync<string[]>("cells => cells.map(c => c.getAttribute('aria-label'))")).Order(StringComparer.Ordinal)];
    }

    private static async Task<List<string>> AskAAsync(HttpClient http, AppProcess a, string body)
    {
        using var request = AwsRequestSigner.SignedPost(new Uri(a.BaseUrl), "/recommendations", body, AppProcess.AwsAccessKeyId, AppProcess.AwsSecretKey);
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return [.. JsonDocument.Parse(text).RootElement.GetProperty("itemList").EnumerateArray().Select(i => i.GetProperty("itemId").GetString()!)];
    }

    private sealed record BatchJob(long Id, string Status, string? Error, double PerSecond);

    private static async Task<BatchJob> WaitForBatchAsync(AppProcess app, string status, long after = 0)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(5))
        {
            await using var connection = new NpgsqlConnection(app.ConnectionString);
            var job = await connection.QuerySingleOrDefaultAsync<BatchJob>("""
                select id as Id, status as Status, error as Error, coalesce((result->>'per_second')::float8, 0) as PerSecond
                from jobs where kind = 'batch-inference' and id > @after order by id desc limit 1
                """, new { after });
            if (job is not null && job.Status is not ("running" or "queued"))
            {
                Assert.True(job.Status == status, $"batch job {job.Id} {job.Status}: {job.Error}");
                return job;
            }
            await Task.Delay(200);
        }
        throw new TimeoutException($"no {status} batch job within 5 minutes:\n{app.Log}");
    }

    private static async Task<string> CacheFingerprintAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        return await connection.QuerySingleAsync<string>("""
            select (select count(*) || ':' || coalesce(md5(string_agg(user_id || recommendations::text || model_version || updated_at, ',' order by user_id)), '') from offline_user_recommendations)
                || '/' || (select count(*) || ':' || coalesce(md5(string_agg(product_id || similar_products::text || model_version || updated_at, ',' order by product_id)), '') from offline_similar_items)
            """);
    }

    private static async Task<T> ScalarAsync<T>(AppProcess app, string sql)
    {
        await using var connection = new NpgsqlConnection(app.ConnectionString);
        return await connection.ExecuteScalarAsync<T>(sql) ?? throw new InvalidOperationException($"no value for {sql}");
    }

    private static async Task<List<T>> ListAsync<T>(AppProcess app, string sql, object? parameters = null)
    {
        await using var connection = new NpgsqlConnection(app.ConnectionString);
        return (await connection.QueryAsync<T>(sql, parameters)).ToList();
    }
}
