using System.Net.Http.Json;
using System.Text.Json;
using Recs.Tests.E2E;

namespace Recs.Tests.Api;

/// <summary>Recommendation ids on every answer, attribution through the REST event tracker, the experiment report endpoint and the CLI verbs.</summary>
[Collection(ApiServerCollection.Name)]
public sealed class ExperimentApiTests(ApiServerFixture server)
{
    private string Database => $"--ConnectionStrings:Recs={server.App.ConnectionString}";

    [Fact]
    public async Task Every_answer_carries_its_own_recommendation_id()
    {
        var user = await server.QueryAsync<string>("select c.external_id from offline_user_recommendations r join customers c on c.id = r.user_id order by c.id limit 1 offset 7");

        var first = await server.GetJsonAsync($"/api/v1/users/{user}/recommendations?count=5");
        var again = await server.GetJsonAsync($"/api/v1/users/{user}/recommendations?count=5");
        var similar = await server.GetJsonAsync("/api/v1/items/P000001/similar?count=3");
        var ranked = await server.PostJsonAsync($"/api/v1/users/{user}/ranking", new { item_ids = new[] { "P000001", "P000002" } });

        var ids = new[] { first, again, similar, ranked }.Select(b => b.GetProperty("recommendation_id").GetString()!).ToList();
        Assert.All(ids, id => Assert.Matches("^RID-[0-9a-f]{32}$", id));
        // The second read comes from the answer cache, yet is its own answer with its own id.
        Assert.Equal(4, ids.Distinct().Count());

        var logged = await server.GetJsonAsync($"/api/v1/recommendations/{ids[0]}");
        Assert.Equal(user, logged.GetProperty("user_id").GetString());
        Assert.Equal("user-recommendations", logged.GetProperty("campaign").GetString());
        Assert.Equal("1.0.0", logged.GetProperty("model_version").GetString());
        Assert.Equal(first.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("item_id").GetString()), logged.GetProperty("items").EnumerateArray().Select(i => i.GetString()));
        Assert.Equal("similar-items", (await server.GetJsonAsync($"/api/v1/recommendations/{ids[2]}")).GetProperty("campaign").GetString());
        Assert.Equal("personalized-ranking", (await server.GetJsonAsync($"/api/v1/recommendations/{ids[3]}")).GetProperty("campaign").GetString());
    }

    [Fact]
    public async Task A_rest_event_naming_an_answer_is_attributed_to_it_when_its_item_was_shown()
    {
        const string user = "experiment-api-user";
        var answer = await server.GetJsonAsync($"/api/v1/users/{user}/recommendations?count=4");
        var id = answer.GetProperty("recommendation_id").GetString()!;
        var shown = answer.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("item_id").GetString()!).ToList();
        var other = await server.QueryAsync<string>("select external_id from products where not (external_id = any(@shown)) order by id limit 1", new { shown = shown.ToArray() });

        await server.PostJsonAsync("/api/v1/events", new
        {
            user_id = user,
            events = new object[]
            {
                new { item_id = shown[1], event_type = "view", recommendation_id = id, impression = shown },
                new { item_id = other, event_type = "view", recommendation_id = id, impression = shown },
            },
        });

        var attribution = await server.GetJsonAsync($"/api/v1/recommendations/{id}");
        Assert.Equal([shown[1]], attribution.GetProperty("clicked").EnumerateArray().Select(i => i.GetString()));
        Assert.Equal(0, attribution.GetProperty("conversions").GetInt32());
    }

    [Theory]
    [InlineData("/api/v1/experiments/no-such-campaign", 404, "There is no campaign 'no-such-campaign'")]
    [InlineData("/api/v1/recommendations/RID-0123456789abcdef0123456789abcdef", 404, "Unknown recommendation id")]
    [InlineData("/api/v1/recommendations/not-an-id", 404, "Unknown recommendation id")]
    public async Task Unknown_campaigns_and_recommendation_ids_are_404s_with_a_message(string path, int status, string message)
    {
        var body = await server.GetJsonAsync(path, status);
        Assert.Contains(message, body.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_attribution_fields_on_events_are_400s()
    {
        var tooLong = await server.Http.PostAsJsonAsync("/api/v1/events", new { user_id = "u1", events = new[] { new { item_id = "P000001", event_type = "view", recommendation_id = new string('x', 300) } } });
        Assert.Equal(400, (int)tooLong.StatusCode);
        Assert.Contains("recommendationId is longer", await tooLong.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var huge = await server.Http.PostAsJsonAsync("/api/v1/events", new { user_id = "u1", events = new[] { new { item_id = "P000001", event_type = "view", impression = Enumerable.Repeat("P000001", 501).ToArray() } } });
        Assert.Equal(400, (int)huge.StatusCode);
        Assert.Contains("impression lists at most 500", await huge.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_cli_starts_shows_lists_and_stops_an_experiment_and_refuses_bad_input_with_a_message()
    {
        var trained = JsonDocument.Parse(await DashboardCli.RunOkAsync("train", "--recipe", "popularity", "--no-promote", Database)).RootElement;
        var challenger = trained.GetProperty("version").GetString()!;

        async Task Refused(string expected, params string[] args)
        {
            var (exit, _, stderr) = await DashboardCli.RunAsync([.. args, Database]);
            Assert.Equal(2, exit);
            Assert.Contains(expected, stderr, StringComparison.Ordinal);
        }

        await Refused("no campaign 'nope'", "experiments", "start", "--campaign", "nope", "--challenger", challenger, "--share", "10");
        await Refused("between 1 and 99", "experiments", "start", "--campaign", "user-recommendations", "--challenger", challenger, "--share", "0");
        await Refused("whole percentage", "experiments", "start", "--campaign", "user-recommendations", "--challenger", challenger, "--share", "ten");
        await Refused("no model version 7.7.7", "experiments", "start", "--campaign", "user-recommendations", "--challenger", "7.7.7", "--share", "10");
        await Refused("already serves", "experiments", "start", "--campaign", "user-recommendations", "--challenger", "1.0.0", "--share", "10");
        await Refused("No experiment is running", "experiments", "stop", "--campaign", "user-recommendations");

        var none = JsonDocument.Parse(await DashboardCli.RunOkAsync("experiments", "show", "--campaign", "personalized-ranking", Database)).RootElement;
        Assert.Equal("none", none.GetProperty("status").GetString());

        var started = JsonDocument.Parse(await DashboardCli.RunOkAsync("experiments", "start", "--campaign", "user-recommendations", "--challenger", challenger, "--share", "10", Database)).RootElement;
        try
        {
            Assert.Equal("running", started.GetProperty("status").GetString());
            Assert.Equal(10, started.GetProperty("share").GetInt32());
            await Refused("already running on user-recommendations", "experiments", "start", "--campaign", "user-recommendations", "--challenger", challenger, "--share", "50");

            var show = JsonDocument.Parse(await DashboardCli.RunOkAsync("experiments", "show", "--campaign", "user-recommendations", Database)).RootElement;
            Assert.Equal("user-recommendations", show.GetProperty("campaign").GetString());
            Assert.Equal("running", show.GetProperty("status").GetString());
            var arms = show.GetProperty("arms").EnumerateArray().ToList();
            Assert.Equal([("1.0.0", 90), (challenger, 10)], arms.Select(a => (a.GetProperty("version").GetString()!, a.GetProperty("share").GetInt32())));
            foreach (var key in new[] { "users", "impressions", "clicks", "ctr", "ctr_interval", "conversions", "conversion_rate", "conversion_rate_interval", "revenue_per_user", "revenue_per_user_interval" })
                Assert.All(arms, a => Assert.True(a.TryGetProperty(key, out _), $"arm without {key}"));
            Assert.Equal(JsonValueKind.Number, show.GetProperty("p_value").ValueKind);
            Assert.Equal("too-small", show.GetProperty("decision").GetString());

            // The same report through the API, for a shop's or a simulator's dashboards.
            var api = await server.GetJsonAsync("/api/v1/experiments/user-recommendations");
            Assert.Equal(started.GetProperty("experiment_id").GetInt64(), api.GetProperty("experiment_id").GetInt64());
            Assert.Equal(2, api.GetProperty("arms").GetArrayLength());

            var list = JsonDocument.Parse(await DashboardCli.RunOkAsync("experiments", "list", Database)).RootElement;
            Assert.Contains(list.EnumerateArray(), e => e.GetProperty("experiment_id").GetInt64() == started.GetProperty("experiment_id").GetInt64());
            await Refused("No winner yet", "experiments", "promote", "--campaign", "user-recommendations");
        }
        finally
        {
            var stopped = JsonDocument.Parse(await DashboardCli.RunOkAsync("experiments", "stop", "--campaign", "user-recommendations", Database)).RootElement;
            Assert.Equal("stopped", stopped.GetProperty("status").GetString());
        }
    }
}
