using System.Net;
using System.Text;
using System.Text.Json;

namespace Recs.Tests.Api;

[CollectionDefinition(Name)]
public sealed class ApiServerCollection : ICollectionFixture<ApiServerFixture>
{
    public const string Name = "api server";
}

[Collection(ApiServerCollection.Name)]
public sealed class RestApiTests(ApiServerFixture server)
{
    private static string[] Ids(JsonElement items) => items.EnumerateArray().Select(i => i.GetProperty("item_id").GetString()!).ToArray();

    [Fact]
    public async Task A_user_with_history_gets_the_cached_recommendations_of_the_champion()
    {
        var user = await server.QueryAsync<string>("select c.external_id from offline_user_recommendations r join customers c on c.id = r.user_id order by c.id limit 1");
        var cached = await server.QueryAsync<string>("select recommendations::text from offline_user_recommendations r join customers c on c.id = r.user_id where c.external_id = @user", new { user });

        var body = await server.GetJsonAsync($"/api/v1/users/{user}/recommendations?count=5");

        Assert.False(body.GetProperty("fallback").GetBoolean());
        Assert.Equal("1.0.0", body.GetProperty("model_version").GetString());
        var items = body.GetProperty("items");
        Assert.Equal(5, items.GetArrayLength());
        Assert.All(items.EnumerateArray(), i => Assert.Equal("model", i.GetProperty("source").GetString()));
        // The same products, in the same order, as the cache row (which holds database ids).
        var cachedIds = JsonDocument.Parse(cached).RootElement.EnumerateArray().Take(5).Select(e => e.GetProperty("product_id").GetInt64()).ToArray();
        var external = new List<string>();
        foreach (var id in cachedIds)
            external.Add(await server.QueryAsync<string>("select external_id from products where id = @id", new { id }));
        Assert.Equal(external, Ids(items));
    }

    [Fact]
    public async Task An_unknown_user_gets_popular_items_marked_as_a_fallback()
    {
        var body = await server.GetJsonAsync("/api/v1/users/never-seen-before/recommendations?count=7");

        Assert.True(body.GetProperty("fallback").GetBoolean());
        Assert.Contains("unknown user", body.GetProperty("fallback_reason").GetString(), StringComparison.Ordinal);
        var items = body.GetProperty("items");
        Assert.Equal(7, items.GetArrayLength());
        Assert.All(items.EnumerateArray(), i => Assert.Equal("popularity", i.GetProperty("source").GetString()));
        var counts = items.EnumerateArray().Select(i => i.GetProperty("score").GetDouble()).ToArray();
        Assert.Equal(counts.OrderDescending(), counts);
    }

    [Fact]
    public async Task The_category_filter_keeps_only_that_category()
    {
        var user = await server.QueryAsync<string>("select c.external_id from offline_user_recommendations r join customers c on c.id = r.user_id order by c.id desc limit 1");
        var category = await server.QueryAsync<string>("select category from products group by category order by count(*) desc limit 1");

        var body = await server.GetJsonAsync($"/api/v1/users/{user}/recommendations?count=5&category={Uri.EscapeDataString(category)}");

        Assert.Equal(5, body.GetProperty("items").GetArrayLength());
        Assert.All(body.GetProperty("items").EnumerateArray(), i => Assert.Equal(category, i.GetProperty("category").GetString()));
    }

    [Fact]
    public async Task Similar_items_answer_for_a_product_and_404_with_a_message_for_an_unknown_one()
    {
        var body = await server.GetJsonAsync("/api/v1/items/P000001/similar?count=4");
        Assert.Equal(4, body.GetProperty("items").GetArrayLength());
        Assert.DoesNotContain("P000001", Ids(body.GetProperty("items")));

        var missing = await server.GetJsonAsync("/api/v1/items/NO-SUCH-ITEM/similar", 404);
        Assert.Equal("Unknown item 'NO-SUCH-ITEM': no product has that id.", missing.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Ranking_reorders_exactly_the_given_items_and_404s_on_an_unknown_one()
    {
        var user = await server.QueryAsync<string>("select c.external_id from offline_user_recommendations r join customers c on c.id = r.user_id order by c.id limit 1 offset 3");
        string[] given = ["P000010", "P000020", "P000030", "P000040"];

        var body = await server.PostJsonAsync($"/api/v1/users/{user}/ranking", new { item_ids = given });

        Assert.False(body.GetProperty("fallback").GetBoolean());
        var ranked = body.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(given.Order(), ranked.Select(i => i.GetProperty("item_id").GetString()!).Order());
        var scores = ranked.Select(i => i.GetProperty("score").GetDouble()).ToArray();
        Assert.Equal(scores.OrderDescending(), scores);

        var missing = await server.PostJsonAsync($"/api/v1/users/{user}/ranking", new { item_ids = new[] { "P000010", "GHOST" } }, 404);
        Assert.Contains("'GHOST'", missing.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tracked_event_refreshes_the_users_recommendations_before_the_next_read()
    {
        const string user = "tracker-user-1";
        var before = await server.GetJsonAsync($"/api/v1/users/{user}/recommendations?count=10");
        Assert.True(before.GetProperty("fallback").GetBoolean());

        var tracked = await server.PostJsonAsync("/api/v1/events", new
        {
            user_id = user, session_id = "s-1",
            events = new object[] { new { item_id = "P000005", event_type = "purchase" }, new { item_id = "P000006", event_type = "purchase", event_value = 2 } },
        });
        Assert.True(tracked.GetProperty("refreshed").GetBoolean(), tracked.ToString());
        Assert.Equal(2, tracked.GetProperty("stored").GetInt32());

        var after = await server.GetJsonAsync($"/api/v1/users/{user}/recommendations?count=10");
        Assert.False(after.GetProperty("fallback").GetBoolean());
        Assert.Equal("1.0.0", after.GetProperty("model_version").GetString());
        var ids = Ids(after.GetProperty("items"));
        Assert.Equal(10, ids.Length);
        Assert.DoesNotContain("P000005", ids);
        Assert.DoesNotContain("P000006", ids);
        Assert.NotEqual(Ids(before.GetProperty("items")), ids);
        Assert.Equal(2, await server.QueryAsync<long>("select count(*) from interactions i join customers c on c.id = i.user_id where c.external_id = @user", new { user }));
    }

    [Fact]
    public async Task An_event_for_an_unknown_item_is_a_404_and_stores_nothing()
    {
        var body = await server.PostJsonAsync("/api/v1/events", new
        {
            user_id = "tracker-user-2",
            events = new object[] { new { item_id = "P000005", event_type = "purchase" }, new { item_id = "NOT-A-PRODUCT", event_type = "purchase" } },
        }, 404);

        Assert.Contains("'NOT-A-PRODUCT'", body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, await server.QueryAsync<long>("select count(*) from customers where external_id = 'tracker-user-2'"));
    }

    public static TheoryData<string, string, string?, string?, int, string> BadRequests() => new()
    {
        { "GET", "/api/v1/users/C0000001/recommendations?count=0", null, null, 400, "count must be between 1 and 500" },
        { "GET", "/api/v1/users/C0000001/recommendations?count=abc", null, null, 400, "count must be a whole number" },
        { "GET", "/api/v1/users/C0000001/recommendations?count=99999999999999", null, null, 400, "count must be a whole number" },
        { "GET", "/api/v1/users/C0000001/recommendations?count=-3", null, null, 400, "count must be a whole number" },
        { "GET", $"/api/v1/users/{new string('u', 300)}/recommendations", null, null, 400, "userId is longer than 256" },
        { "GET", "/api/v1/items/P000001/similar?count=501", null, null, 400, "count must be between 1 and 500" },
        { "GET", "/api/v1/users/a%00b/recommendations", null, null, 400, "" }, // Kestrel refuses the path itself
        { "POST", "/api/v1/users/C0000001/ranking", "{\"item_ids\": [\"P0\\u0000001\"]}", "application/json", 400, "each item id contains a NUL character" },
        { "POST", "/api/v1/users/C0000001/ranking", "{\"item_ids\": []}", "application/json", 400, "between 1 and 500 item ids" },
        { "POST", "/api/v1/users/C0000001/ranking", "{\"item_ids\": \"P000001\"}", "application/json", 400, "not the JSON this endpoint takes" },
        { "POST", "/api/v1/users/C0000001/ranking", "{}", "application/json", 400, "item_ids is required" },
        { "POST", "/api/v1/users/C0000001/ranking", "", "application/json", 400, "needs a JSON body" },
        { "POST", "/api/v1/users/C0000001/ranking", "item_ids=P000001", "application/x-www-form-urlencoded", 415, "application/json" },
        { "POST", "/api/v1/events", "{\"user_id\": \"u\", \"events\": [{\"item_id\": \"P000001\"", "application/json", 400, "not the JSON this endpoint takes" },
        { "POST", "/api/v1/events", "{\"user_id\": \"u\", \"events\": [{\"item_id\": \"P000001\"}]}", "application/json", 400, "each event needs event_type" },
        { "POST", "/api/v1/events", "{\"events\": [{\"item_id\": \"P000001\", \"event_type\": \"view\"}]}", "application/json", 400, "user_id is required" },
        { "POST", "/api/v1/events", "{\"user_id\": \"u\", \"events\": [{\"item_id\": \"P000001\", \"event_type\": \"view\", \"sent_at\": \"yesterday\"}]}", "application/json", 400, "not the JSON this endpoint takes" },
        { "POST", "/api/v1/events", "{\"user_id\": \"u\", \"events\": [" + string.Join(',', Enumerable.Repeat("{\"item_id\": \"P000001\", \"event_type\": \"view\"}", 11)) + "]}", "application/json", 400, "between 1 and 10 events" },
        { "POST", "/api/v1/events", "{\"user_id\": \"u\", \"events\": [{\"item_id\": \"" + new string('x', 300_000) + "\"}]}", "application/json", 413, "larger than 256 KB" },
        { "DELETE", "/api/v1/users/C0000001/recommendations", null, null, 405, "" },
        { "GET", "/api/v1/no-such-endpoint", null, null, 404, "No API endpoint" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Malformed_requests_get_a_4xx_with_a_message_never_a_500(string method, string path, string? body, string? contentType, int status, string message)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
            request.Content = new StringContent(body, Encoding.UTF8, contentType!);

        using var response = await server.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();

        Assert.True((int)response.StatusCode == status, $"{method} {path}: {(int)response.StatusCode} {text}");
        if (message.Length > 0)
            Assert.Contains(message, JsonDocument.Parse(text).RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("' or '1'='1")]
    [InlineData("1; drop table customers; --")]
    [InlineData("\" union select external_id from customers --")]
    public async Task Injection_strings_are_just_ids_that_do_not_exist(string hostile)
    {
        var escaped = Uri.EscapeDataString(hostile);
        var user = await server.GetJsonAsync($"/api/v1/users/{escaped}/recommendations?count=3");
        Assert.True(user.GetProperty("fallback").GetBoolean());
        await server.GetJsonAsync($"/api/v1/items/{escaped}/similar", 404);
        await server.GetJsonAsync($"/api/v1/users/C0000001/recommendations?count=3&category={escaped}");
        Assert.True(await server.QueryAsync<long>("select count(*) from customers") > 500);
    }

    [Fact]
    public async Task The_OpenAPI_document_describes_every_endpoint()
    {
        var document = await server.GetJsonAsync("/openapi/v1.json");
        var paths = document.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains("/api/v1/users/{userId}/recommendations", paths);
        Assert.Contains("/api/v1/items/{itemId}/similar", paths);
        Assert.Contains("/api/v1/users/{userId}/ranking", paths);
        Assert.Contains("/api/v1/events", paths);
        Assert.Contains("/recommendations", paths);
        Assert.Contains("/personalize-ranking", paths);
        Assert.Contains("/events", paths);
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync("/healthz")).StatusCode);
    }
}
