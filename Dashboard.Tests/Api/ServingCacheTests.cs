using System.Diagnostics;
using Recs.Tests.E2E;

namespace Recs.Tests.Api;

/// <summary>
/// The API answers from memory, and a change made anywhere — this process, another one, plain SQL with a
/// notification — reaches it at once.
/// </summary>
[Collection(ApiServerCollection.Name)]
public sealed class ServingCacheTests(ApiServerFixture server)
{
    private async Task<string> UpdatedAtAsync(string user) =>
        (await server.GetJsonAsync($"/api/v1/users/{user}/recommendations?count=3")).GetProperty("updated_at").GetString()!;

    private async Task<string> WaitForChangeAsync(string user, string from)
    {
        var clock = Stopwatch.StartNew();
        string now;
        while ((now = await UpdatedAtAsync(user)) == from && clock.Elapsed < TimeSpan.FromSeconds(10))
            await Task.Delay(100);
        return now;
    }

    [Fact]
    public async Task Answers_come_from_memory_until_a_change_is_announced_by_this_or_another_process()
    {
        var user = await server.QueryAsync<string>("select c.external_id from offline_user_recommendations r join customers c on c.id = r.user_id order by c.id desc limit 1");
        var first = await UpdatedAtAsync(user);

        // A change nobody announces (a hand-made edit) is not seen: the answer is served from memory.
        const string edit = "update offline_user_recommendations set updated_at = '2001-02-03T04:05:06Z' where user_id = (select id from customers where external_id = @user)";
        await server.ExecuteAsync(edit, new { user });
        Assert.Equal(first, await UpdatedAtAsync(user));

        // Announced for that user, it is: the next read goes to the database.
        await server.ExecuteAsync("select pg_notify('recs_serving_cache', 'user:' || @user)", new { user });
        Assert.StartsWith("2001-02-03T04:05:06", await WaitForChangeAsync(user, first), StringComparison.Ordinal);

        // Batch inference run from the command line (another process) rewrites the cache and announces it.
        await DashboardCli.RunOkAsync("batch", $"--Database:DataDirectory={server.App.DataDirectory}");
        var refreshed = await WaitForChangeAsync(user, "2001-02-03T04:05:06Z");
        Assert.DoesNotContain("2001-02-03", refreshed, StringComparison.Ordinal);
        Assert.True(DateTime.Parse(refreshed, System.Globalization.CultureInfo.InvariantCulture).ToUniversalTime() > DateTime.UtcNow.AddMinutes(-5), refreshed);
    }

    private async Task<(long Hits, long Misses, long Entries, bool Warm, long Generation)> CountersAsync()
    {
        var json = await server.GetJsonAsync("/diagnostics/cache");
        return (json.GetProperty("hits").GetInt64(), json.GetProperty("misses").GetInt64(), json.GetProperty("entries").GetInt64(), json.GetProperty("warm").GetBoolean(),
            json.GetProperty("generation").GetInt64());
    }

    [Fact]
    public async Task Every_customer_s_list_is_in_memory_before_their_first_read()
    {
        // Warmed at start and after every "all", this one too: once the cache says it is warm again (and stays so for
        // a second, in case another test's "all" was still on its way), every customer's first read is answered from memory.
        var generation = (await CountersAsync()).Generation;
        await server.ExecuteAsync("select pg_notify('recs_serving_cache', 'all')");
        var clock = Stopwatch.StartNew();
        var before = await CountersAsync();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(1000);
            var now = await CountersAsync();
            if (before.Generation > generation && before.Warm && now.Warm && now.Generation == before.Generation)
                break;
            before = now;
        }
        before = await CountersAsync();
        Assert.True(before.Generation > generation && before.Warm, "the answer cache is not warm again 30 s after the notice");

        // Customers with a list and without one (the newest, created by other tests' events, may have none): 25 of each end.
        var users = (await server.QueryAsync<string>("""
            select string_agg(external_id, ' ') from (
                (select external_id from customers order by id limit 25) union all (select external_id from customers order by id desc limit 25)) u
            """)).Split(' ');
        foreach (var user in users)
            Assert.Equal(10, (await server.GetJsonAsync($"/api/v1/users/{Uri.EscapeDataString(user)}/recommendations?count=10")).GetProperty("items").GetArrayLength());
        // Ids that are no customer: the warm-up read every customer, so they are known to be unknown, from memory too.
        var unknown = Enumerable.Range(0, 5).Select(k => $"warm-unknown-{Guid.NewGuid():N}").ToArray();
        foreach (var user in unknown)
            Assert.Equal("unknown user: popular items", (await server.GetJsonAsync($"/api/v1/users/{user}/recommendations?count=10")).GetProperty("fallback_reason").GetString());
        var after = await CountersAsync();
        Assert.Equal(before.Generation, after.Generation); // nothing started the cache over meanwhile
        Assert.Equal(before.Misses, after.Misses);
        Assert.Equal(before.Hits + users.Length + unknown.Length, after.Hits);

        // One of them becomes a customer with an event: announced, so their next read finds them (and their refreshed list).
        var item = await server.QueryAsync<string>("select external_id from products order by id limit 1");
        await server.PostJsonAsync("/api/v1/events", new { user_id = unknown[0], events = new[] { new { item_id = item, event_type = "purchase" } } });
        var answer = await server.GetJsonAsync($"/api/v1/users/{unknown[0]}/recommendations?count=10");
        Assert.False(answer.GetProperty("fallback").GetBoolean(), answer.ToString());
        Assert.Equal(before.Misses + 1, (await CountersAsync()).Misses);
    }

    [Fact]
    public async Task Product_names_come_from_memory_until_a_catalogue_change_is_announced()
    {
        // A product in the top three of two users' lists: the first read keeps its name, the second user's reuses it.
        var found = (await server.QueryAsync<string>("""
            select concat_ws(' ', p.id, (array_agg(c.external_id order by c.id))[1], (array_agg(c.external_id order by c.id))[2])
            from offline_user_recommendations r join customers c on c.id = r.user_id
            cross join lateral jsonb_array_elements(r.recommendations) with ordinality as x(e, ord)
            join products p on p.id = (x.e->>'product_id')::bigint
            where x.ord <= 3 group by p.id having count(*) >= 2 order by p.id limit 1
            """)).Split(' ');
        var (productId, first, second) = (long.Parse(found[0], System.Globalization.CultureInfo.InvariantCulture), found[1], found[2]);
        var name = await server.QueryAsync<string>("select name from products where id = @productId", new { productId });
        async Task<string> NameFor(string user)
        {
            await server.ExecuteAsync("select pg_notify('recs_serving_cache', 'user:' || @user)", new { user }); // this user's answer from the database
            await Task.Delay(200);
            var items = (await server.GetJsonAsync($"/api/v1/users/{user}/recommendations?count=3")).GetProperty("items").EnumerateArray();
            return items.Select(i => i.GetProperty("name").GetString()!).Single(n => n == name || n.StartsWith("Renamed ", StringComparison.Ordinal));
        }
        try
        {
            Assert.Equal(name, await NameFor(first));
            await server.ExecuteAsync("update products set name = 'Renamed ' || name where id = @productId", new { productId }); // not announced
            Assert.Equal(name, await NameFor(second));

            await server.ExecuteAsync("select pg_notify('recs_serving_cache', 'all')"); // what every import says
            var clock = Stopwatch.StartNew();
            while (await NameFor(second) == name && clock.Elapsed < TimeSpan.FromSeconds(10)) { }
            Assert.Equal("Renamed " + name, await NameFor(second));
        }
        finally
        {
            await server.ExecuteAsync("update products set name = @name where id = @productId; select pg_notify('recs_serving_cache', 'all')", new { name, productId });
        }
    }

    [Fact]
    public async Task An_event_announces_its_user_to_every_instance_and_a_refused_one_announces_nothing()
    {
        await using var listener = new Npgsql.NpgsqlConnection(server.App.ConnectionString);
        await listener.OpenAsync();
        var heard = new System.Collections.Concurrent.ConcurrentQueue<string>();
        listener.Notification += (_, e) => heard.Enqueue(e.Payload);
        await using (var listen = new Npgsql.NpgsqlCommand("listen recs_serving_cache", listener))
            await listen.ExecuteNonQueryAsync();
        var item = await server.QueryAsync<string>("select external_id from products order by id limit 1");

        await server.PostJsonAsync("/api/v1/events", new { user_id = "announced-user", events = new[] { new { item_id = item, event_type = "view" } } });
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!heard.Contains("user:announced-user"))
            await listener.WaitAsync(wait.Token);

        // A refused event (unknown item) is rolled back, and so is its announcement.
        heard.Clear();
        await server.PostJsonAsync("/api/v1/events", new { user_id = "refused-user", events = new[] { new { item_id = "no-such-item", event_type = "view" } } }, 404);
        await server.ExecuteAsync("select pg_notify('recs_serving_cache', 'marker')");
        using var wait2 = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!heard.Contains("marker"))
            await listener.WaitAsync(wait2.Token);
        Assert.DoesNotContain("user:refused-user", heard);
    }
}
