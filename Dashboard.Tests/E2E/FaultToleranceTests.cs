using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;

namespace Recs.Tests.E2E;

/// <summary>Faults against the real app and its real embedded PostgreSQL.</summary>
public sealed class FaultToleranceTests
{
    [Fact]
    public async Task When_the_embedded_server_is_killed_requests_get_503_and_the_watchdog_brings_it_back_without_an_app_restart()
    {
        await using var app = await AppProcess.StartAsync(new Dictionary<string, string> { ["DemoData:Enabled"] = "false", ["Database:WatchdogSeconds"] = "1" });
        using var http = await app.ApiClientAsync("read");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/v1/users/anyone/recommendations")).StatusCode);

        var postmaster = int.Parse(File.ReadLines(Path.Combine(app.DataDirectory, "postmaster.pid")).First(), CultureInfo.InvariantCulture);
        using (var kill = Process.Start("kill", ["-KILL", postmaster.ToString(CultureInfo.InvariantCulture)]))
            await kill.WaitForExitAsync();

        // While it is down or coming back: a clear 503 (or already 200), never a 500. Each request names a new user,
        // so it needs the database (an answer already in the memory cache stays right while nothing can change it).
        var statuses = new List<HttpStatusCode>();
        var clock = Stopwatch.StartNew();
        HttpStatusCode health;
        var attempt = 0;
        do
        {
            var response = await http.GetAsync($"/api/v1/users/someone-{attempt++}/recommendations");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                Assert.Contains("database is not reachable", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
            Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            health = (await http.GetAsync("/healthz")).StatusCode;
            await Task.Delay(200);
        }
        // Until the outage has shown (a backend may still answer for a moment after its postmaster died) and is over.
        while ((health != HttpStatusCode.OK || !statuses.Contains(HttpStatusCode.ServiceUnavailable)) && clock.Elapsed < TimeSpan.FromSeconds(60));

        Assert.Equal(HttpStatusCode.OK, health);
        Assert.Contains(HttpStatusCode.ServiceUnavailable, statuses);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/v1/users/someone-new/recommendations")).StatusCode);
        Assert.Contains("is not running (it died or was stopped outside Recs): restarting it", app.Log, StringComparison.Ordinal);
        Assert.Contains("Embedded PostgreSQL restarted in", app.Log, StringComparison.Ordinal);
        Assert.NotEqual(postmaster, int.Parse(File.ReadLines(Path.Combine(app.DataDirectory, "postmaster.pid")).First(), CultureInfo.InvariantCulture));
    }
}

public sealed class SharedServerTests
{
    [Fact]
    public async Task A_command_run_beside_the_running_dashboard_shares_its_server_and_leaves_it_running()
    {
        await using var app = await AppProcess.StartAsync(new Dictionary<string, string> { ["DemoData:Enabled"] = "false" });
        using var http = new HttpClient { BaseAddress = new Uri(app.BaseUrl) };
        var postmaster = File.ReadLines(Path.Combine(app.DataDirectory, "postmaster.pid")).First();

        var (exit, stdout, stderr) = await DashboardCli.RunAsync("quality", $"--Database:DataDirectory={app.DataDirectory}");

        Assert.True(exit == 0, stderr);
        Assert.Equal(0, JsonDocument.Parse(stdout).RootElement.GetProperty("interactions").GetInt32());
        Assert.Contains("it keeps running after this process", stderr, StringComparison.Ordinal);
        Assert.Equal(postmaster, File.ReadLines(Path.Combine(app.DataDirectory, "postmaster.pid")).First());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
        Assert.DoesNotContain("restarting it", app.Log, StringComparison.Ordinal);
    }
}

public sealed class RateLimitTests
{
    [Fact]
    public async Task The_event_trackers_answer_429_with_Retry_After_beyond_each_keys_limit()
    {
        await using var app = await AppProcess.StartAsync(new Dictionary<string, string>
        {
            // One token per 1,000 s: no refill can happen while the test runs, however slow the machine.
            ["DemoData:Enabled"] = "false", ["Api:EventsPerSecond"] = "0.001", ["Api:EventsBurst"] = "3",
        });
        using var http = await app.ApiClientAsync("write");
        using var other = await app.ApiClientAsync("write");
        var body = """{"user_id": "u1", "events": [{"item_id": "nothing-here", "event_type": "view"}]}""";

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? limited = null;
        for (var k = 0; k < 6; k++)
        {
            var response = await http.PostAsync("/api/v1/events", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
                limited = response;
        }

        // The first three pass the limiter (and are refused by the handler: no such item); then 429.
        Assert.Equal([HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound], statuses.Take(3));
        Assert.All(statuses.Skip(3), s => Assert.Equal(HttpStatusCode.TooManyRequests, s));
        Assert.NotNull(limited);
        Assert.True(limited.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), $"Retry-After: {limited.Headers.RetryAfter}");
        Assert.Contains("Too many events", JsonDocument.Parse(await limited.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);

        // Each key has its own bucket: another key is not limited by the first one's traffic.
        Assert.Equal(HttpStatusCode.NotFound, (await other.PostAsync("/api/v1/events", new StringContent(body, System.Text.Encoding.UTF8, "application/json"))).StatusCode);

        // The AWS PutEvents path is limited per access key and answers in the SDK's error shape.
        var awsStatuses = new List<HttpStatusCode>();
        HttpResponseMessage? awsLimited = null;
        for (var k = 0; k < 6; k++)
        {
            var response = await http.SendAsync(Api.AwsRequestSigner.SignedPost(http.BaseAddress!, "/events",
                """{"trackingId": "t", "userId": "u1", "sessionId": "s", "eventList": [{"eventType": "view", "itemId": "nothing-here", "sentAt": 1700000000}]}""",
                AppProcess.AwsAccessKeyId, AppProcess.AwsSecretKey));
            awsStatuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
                awsLimited = response;
        }
        Assert.Equal([HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound], awsStatuses.Take(3));
        Assert.NotNull(awsLimited);
        Assert.Equal("LimitExceededException", awsLimited.Headers.GetValues("X-Amzn-ErrorType").Single());
        // Reading recommendations is not limited.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/v1/users/u1/recommendations")).StatusCode);
    }
}

/// <summary>An external PostgreSQL (one the app did not start) stopped and started under the running app.</summary>
public sealed class ExternalServerRestartTests
{
    [Fact]
    public async Task When_an_external_server_restarts_requests_get_503_then_recover_without_an_app_restart()
    {
        var server = new Recs.Services.Data.EmbeddedPostgres(new Recs.Services.Data.EmbeddedPostgresSettings
        {
            DataDirectory = Path.Combine(Integration.TestCluster.NewTempDirectory("recs-external"), "pg"),
            ServerSettings = Integration.TestCluster.FastSettings,
        });
        await server.StartAsync();
        try
        {
            await server.EnsureDatabaseAsync("shop");
            var connectionString = server.ConnectionString("shop");
            await using var app = await AppProcess.StartAsync(new Dictionary<string, string> { ["ConnectionStrings:Recs"] = connectionString, ["DemoData:Enabled"] = "false" });
            string key;
            await using (var services = Integration.TestServices.Create(connectionString))
                key = (await services.GetRequiredService<Recs.Services.Security.ApiKeyService>().CreateAsync("restart-test", Recs.Services.Security.ApiKeyScope.Read, "test")).Secret;
            using var http = new HttpClient { BaseAddress = new Uri(app.BaseUrl), Timeout = TimeSpan.FromSeconds(30) };
            http.DefaultRequestHeaders.Add("X-Api-Key", key);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/v1/users/anyone/recommendations")).StatusCode);

            await server.StopAsync();
            var down = await http.GetAsync("/api/v1/users/someone-while-down/recommendations"); // not in the memory cache: needs the database
            Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
            Assert.Contains("database is not reachable", await down.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/healthz")).StatusCode);

            await server.StartAsync();
            var clock = Stopwatch.StartNew();
            HttpStatusCode status;
            do
            {
                status = (await http.GetAsync($"/api/v1/users/someone-{clock.ElapsedTicks}/recommendations")).StatusCode;
                Assert.True(status is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable, $"{status}");
                if (status != HttpStatusCode.OK)
                    await Task.Delay(200);
            }
            while (status != HttpStatusCode.OK && clock.Elapsed < TimeSpan.FromSeconds(30));
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
            Assert.DoesNotContain("restarting it", app.Log, StringComparison.Ordinal); // nobody restarts a server that is not ours
        }
        finally
        {
            await server.StopAsync();
        }
    }
}
