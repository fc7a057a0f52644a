using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;

namespace Recs.Tests.E2E;

/// <summary>Faults against the real app and its real embedded PostgreSQL.</summary>
public sealed class FaultToleranceTests
{
    [Fact]
    public async Task When_the_embedded_server_is_killed_requests_get_503_and_the_watchdog_brings_it_back_without_an_app_restart()
    {
        await using var app = await AppProcess.StartAsync(new Dictionary<string, string> { ["DemoData:Enabled"] = "false", ["Database:WatchdogSeconds"] = "1" });
        using var http = new HttpClient { BaseAddress = new Uri(app.BaseUrl), Timeout = TimeSpan.FromSeconds(30) };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/v1/users/anyone/recommendations")).StatusCode);

        var postmaster = int.Parse(File.ReadLines(Path.Combine(app.DataDirectory, "postmaster.pid")).First(), CultureInfo.InvariantCulture);
        using (var kill = Process.Start("kill", ["-KILL", postmaster.ToString(CultureInfo.InvariantCulture)]))
            await kill.WaitForExitAsync();

        // While it is down or coming back: a clear 503 (or already 200), never a 500.
        var statuses = new List<HttpStatusCode>();
        var clock = Stopwatch.StartNew();
        HttpStatusCode health;
        do
        {
            var response = await http.GetAsync("/api/v1/users/anyone/recommendations");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                Assert.Contains("database is not reachable", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
            Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            health = (await http.GetAsync("/healthz")).StatusCode;
            await Task.Delay(200);
        }
        while (health != HttpStatusCode.OK && clock.Elapsed < TimeSpan.FromSeconds(60));

        Assert.Equal(HttpStatusCode.OK, health);
        Assert.Contains(HttpStatusCode.ServiceUnavailable, statuses);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/v1/users/anyone/recommendations")).StatusCode);
        Assert.Contains("is not running (it died or was stopped outside Recs): restarting it", app.Log, StringComparison.Ordinal);
        Assert.Contains("Embedded PostgreSQL restarted in", app.Log, StringComparison.Ordinal);
        Assert.NotEqual(postmaster, int.Parse(File.ReadLines(Path.Combine(app.DataDirectory, "postmaster.pid")).First(), CultureInfo.InvariantCulture));
    }
}
