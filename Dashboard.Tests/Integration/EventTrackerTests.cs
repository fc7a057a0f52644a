using System.Text.Json;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Services.Data;
using Recs.Services.Engine;
using Recs.Services.Models;
using Recs.Services.Serving;
using Recs.Services.Training;

namespace Recs.Tests.Integration;

/// <summary>A small generated business whose champion is an ALS model, so tracked events refresh the cached row by fold-in.</summary>
public sealed class FoldInDatabaseFixture : IAsyncLifetime
{
    public DemoDatabaseFixture Database { get; } = new();

    public async Task InitializeAsync()
    {
        await Database.InitializeAsync();
        await using var services = TestServices.Create(Database.ConnectionString);
        await services.GetRequiredService<TrainingService>().RunNowAsync(new TrainingRequest
        {
            Recipe = AlsRecommender.Name, Hyperparameters = new Dictionary<string, string> { ["factors"] = "8", ["iterations"] = "6" },
        });
        var champion = await services.GetRequiredService<ModelStore>().ChampionAsync();
        Assert.True(champion is { Model: IHistoryScorer, Recipe.CanFoldIn: true }, "the fixture needs an ALS champion that folds users in");
    }

    public Task DisposeAsync() => Database.DisposeAsync();
}

/// <summary>
/// The event tracker on a real database: a retried event is stored once, a request's events are stored all or none,
/// and the refreshed row is the fold-in of the user's history as stored (what the tracker wrote when it read the
/// history back after storing).
/// </summary>
public sealed class EventTrackerTests(FoldInDatabaseFixture fixture) : IClassFixture<FoldInDatabaseFixture>, IAsyncLifetime
{
    private ServiceProvider _services = null!;

    public Task InitializeAsync()
    {
        _services = TestServices.Create(fixture.Database.ConnectionString);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _services.DisposeAsync();

    private EventTracker Tracker => _services.GetRequiredService<EventTracker>();

    private NpgsqlDataSource Db => fixture.Database.DataSource;

    /// <summary>
    /// The reference: the user's whole history as stored, read back from the database, folded in and written as the
    /// cache row, the way the tracker computed it before it learned to fold in from the history it read beforehand.
    /// </summary>
    private async Task<(long[] Products, double[] Scores)> ReferenceRowAsync(string userId)
    {
        var model = (await _services.GetRequiredService<ModelStore>().ChampionAsync())!;
        await using var connection = await Db.OpenConnectionAsync();
        var user = await connection.ExecuteScalarAsync<long>("select id from customers where external_id = @userId", new { userId });
        var (items, weights) = await UserHistory.ReadAsync(connection, model, user, _services.GetRequiredService<IOptions<TrainingOptions>>().Value.EventWeights, CancellationToken.None);
        var topN = _services.GetRequiredService<IOptions<TrainingOptions>>().Value.TopN;
        var top = new int[topN];
        var scores = new float[topN];
        var n = ServedLists.FromHistory(model, items, weights, top, scores);
        return Parse(RecommendationJson.Write(top.AsSpan(0, n), scores.AsSpan(0, n), model.Artifact.ItemIds));
    }

    private async Task<(long[] Products, double[] Scores)> CachedRowAsync(string userId)
    {
        await using var connection = await Db.OpenConnectionAsync();
        var json = await connection.ExecuteScalarAsync<string>(
            "select r.recommendations::text from offline_user_recommendations r join customers c on c.id = r.user_id where c.external_id = @userId", new { userId });
        Assert.NotNull(json);
        return Parse(json);
    }

    private static (long[] Products, double[] Scores) Parse(string json)
    {
        var rows = JsonDocument.Parse(json).RootElement.EnumerateArray().ToList();
        return (rows.Select(r => r.GetProperty("product_id").GetInt64()).ToArray(), rows.Select(r => r.GetProperty("score").GetDouble()).ToArray());
    }

    private static void AssertSameRow((long[] Products, double[] Scores) expected, (long[] Products, double[] Scores) actual)
    {
        Assert.Equal(expected.Products, actual.Products);
        Assert.Equal(expected.Scores.Length, actual.Scores.Length);
        for (var k = 0; k < expected.Scores.Length; k++)
            Assert.Equal(expected.Scores[k], actual.Scores[k], 1e-5);
    }

    private async Task<long> StoredAsync(string userId)
    {
        await using var connection = await Db.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<long>("select count(*) from interactions i join customers c on c.id = i.user_id where c.external_id = @userId", new { userId });
    }

    private async Task<string> ProductAsync(int offset)
    {
        await using var connection = await Db.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<string>("select external_id from products order by id offset @offset limit 1", new { offset }) ?? throw new InvalidOperationException();
    }

    [Fact]
    public async Task A_retried_event_is_stored_once_and_still_refreshes_the_row_and_notifies()
    {
        const string user = "event-retry-user";
        var at = new DateTime(2026, 3, 1, 12, 0, 0, DateTimeKind.Utc);
        TrackedEvent[] events = [new(await ProductAsync(3), "purchase", 12.5f, at), new(await ProductAsync(4), "view", SentAt: at)];

        var first = await Tracker.TrackAsync(user, events, "s-1");
        Assert.Equal((2, 0, true), (first.Stored, first.AlreadyStored, first.Refreshed));
        var row = await CachedRowAsync(user);
        AssertSameRow(await ReferenceRowAsync(user), row);

        // The row is emptied behind the tracker's back: the retry must write it again, and announce the change.
        await using (var connection = await Db.OpenConnectionAsync())
            await connection.ExecuteAsync("update offline_user_recommendations set recommendations = '[]' where user_id = (select id from customers where external_id = @user)", new { user });
        await using var listener = await Db.OpenConnectionAsync();
        var notices = new List<string>();
        listener.Notification += (_, e) => notices.Add(e.Payload);
        await listener.ExecuteAsync($"listen {ChangeChannels.Serving}");

        var retried = await Tracker.TrackAsync(user, events, "s-1");

        Assert.Equal((0, 2, true), (retried.Stored, retried.AlreadyStored, retried.Refreshed));
        Assert.Equal(2, await StoredAsync(user));
        AssertSameRow(row, await CachedRowAsync(user));
        while (notices.Count == 0 && await listener.WaitAsync(TimeSpan.FromSeconds(30))) { }
        Assert.Equal([ServingCache.UserNotice(user)], notices);

        // A retry inside a request with one new event: only that one is stored, and the row counts each event once.
        var third = await Tracker.TrackAsync(user, [.. events, new(await ProductAsync(5), "purchase", SentAt: at)]);
        Assert.Equal((1, 2, true), (third.Stored, third.AlreadyStored, third.Refreshed));
        Assert.Equal(3, await StoredAsync(user));
        AssertSameRow(await ReferenceRowAsync(user), await CachedRowAsync(user));
    }

    [Fact]
    public async Task The_refreshed_row_is_the_fold_in_of_the_history_as_stored_for_a_customer_with_history()
    {
        await using var connection = await Db.OpenConnectionAsync();
        // A customer with history, and one of the (item, type) pairs they already have: its count grows, a new pair is added.
        var (user, item, type) = await connection.QuerySingleAsync<(string, string, string)>("""
            select c.external_id, p.external_id, i.event_type from interactions i join customers c on c.id = i.user_id join products p on p.id = i.item_id
            order by c.id, i.id limit 1
            """);
        var before = await StoredAsync(user);

        var result = await Tracker.TrackAsync(user, [
            new(item, type, SentAt: new DateTime(2026, 4, 1, 9, 0, 0, DateTimeKind.Utc)),
            new(await ProductAsync(7), "view", SentAt: new DateTime(2026, 4, 1, 9, 1, 0, DateTimeKind.Utc)),
            new(await ProductAsync(7), "view", SentAt: new DateTime(2026, 4, 1, 9, 2, 0, DateTimeKind.Utc)),
        ]);

        Assert.Equal((3, 0, true), (result.Stored, result.AlreadyStored, result.Refreshed));
        Assert.Equal(before + 3, await StoredAsync(user));
        AssertSameRow(await ReferenceRowAsync(user), await CachedRowAsync(user));
    }

    [Fact]
    public async Task Concurrent_events_of_one_user_all_count_in_the_refreshed_row()
    {
        // Requests of one user that overlap (each read its history before the others stored theirs), spread over four
        // instances (each its own tracker: one process takes one user's requests in turn, two do not): whatever
        // the interleaving, the row left at the end is the fold-in of every stored event, none lost to a later write.
        var others = Enumerable.Range(0, 3).Select(_ => TestServices.Create(fixture.Database.ConnectionString)).ToList();
        EventTracker[] trackers = [Tracker, .. others.Select(o => o.GetRequiredService<EventTracker>())];
        const string user = "event-concurrent-user";
        var at = new DateTime(2026, 6, 1, 10, 0, 0, DateTimeKind.Utc);
        var items = new string[12];
        for (var k = 0; k < items.Length; k++)
            items[k] = await ProductAsync(10 + k);
        await Tracker.TrackAsync(user, [new(items[0], "view", SentAt: at)]); // the user exists: every request below takes the same path
        // Enough open connections in the pool that the requests below start together rather than one per new connection.
        var warm = await Task.WhenAll(Enumerable.Range(0, items.Length).Select(_ => Db.OpenConnectionAsync().AsTask()));
        foreach (var connection in warm)
            await connection.DisposeAsync();

        var results = await Task.WhenAll(Enumerable.Range(1, items.Length - 1).Select(k =>
            trackers[k % trackers.Length].TrackAsync(user, [new(items[k], k % 3 == 0 ? "purchase" : "view", SentAt: at.AddSeconds(k))])));

        foreach (var o in others)
            await o.DisposeAsync();
        Assert.All(results, r => Assert.Equal((1, true), (r.Stored, r.Refreshed)));
        Assert.Equal(items.Length, await StoredAsync(user));
        AssertSameRow(await ReferenceRowAsync(user), await CachedRowAsync(user));
    }

    [Fact]
    public async Task A_remembered_history_spares_the_read_and_a_write_by_another_process_is_still_caught()
    {
        // Two instances whose change feeds listen (as in the app: each then keeps the histories it stored), taking turns
        // on one user: each one's remembered history lacks the other's events, and every row must still be the fold-in
        // of everything stored.
        var (a, b) = (TestServices.Create(fixture.Database.ConnectionString), TestServices.Create(fixture.Database.ConnectionString));
        try
        {
            foreach (var services in new[] { a, b })
            {
                var feed = services.GetRequiredService<ChangeFeed>();
                await feed.StartAsync(CancellationToken.None);
                var clock = System.Diagnostics.Stopwatch.StartNew();
                while (!services.GetRequiredService<ServingCache>().Enabled && clock.Elapsed < TimeSpan.FromSeconds(30))
                    await Task.Delay(50);
                Assert.True(services.GetRequiredService<ServingCache>().Enabled, "the change feed did not start listening");
            }
            var (ta, tb) = (a.GetRequiredService<EventTracker>(), b.GetRequiredService<EventTracker>());
            const string user = "event-remembered-user";
            var at = new DateTime(2026, 8, 1, 10, 0, 0, DateTimeKind.Utc);
            async Task Track(EventTracker tracker, int k)
            {
                var result = await tracker.TrackAsync(user, [new(await ProductAsync(20 + k % 4), k % 3 == 0 ? "purchase" : "view", SentAt: at.AddMinutes(k))]);
                Assert.Equal((1, true), (result.Stored, result.Refreshed));
                AssertSameRow(await ReferenceRowAsync(user), await CachedRowAsync(user));
            }

            // One instance alone: its first event reads the history, the next ones fold from the one it remembers.
            for (var k = 0; k < 3; k++)
                await Track(ta, k);
            Assert.Equal(1, ta.HistoriesRead);

            // Another instance stores an event: the first one's memory is now one event short. Its next write notices
            // (the count check), rebuilds the row from the history as stored, and reads the history again next time.
            await Track(tb, 3);
            await Track(ta, 4);
            Assert.Equal(2, ta.HistoriesRead);
            await Track(ta, 5);
            Assert.Equal(3, ta.HistoriesRead);
            await Track(ta, 6);
            Assert.Equal(3, ta.HistoriesRead);
            Assert.Equal(7, await StoredAsync(user));
        }
        finally
        {
            foreach (var services in new[] { a, b })
            {
                await services.GetRequiredService<ChangeFeed>().StopAsync(CancellationToken.None);
                await services.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Requests_of_one_user_written_together_keep_their_own_results()
    {
        // Sent at once to one instance, these are written together when they wait behind each other (or one by one):
        // either way, a retried copy is stored once and told so, and an unknown item fails only its own request.
        const string user = "event-group-user";
        var at = new DateTime(2026, 7, 1, 10, 0, 0, DateTimeKind.Utc);
        var items = new string[8];
        for (var k = 0; k < items.Length; k++)
            items[k] = await ProductAsync(30 + k);
        await Tracker.TrackAsync(user, [new(items[0], "view", SentAt: at)]);
        var warm = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Db.OpenConnectionAsync().AsTask()));
        foreach (var connection in warm)
            await connection.DisposeAsync();
        TrackedEvent retried = new(items[1], "purchase", 3f, at.AddMinutes(1));

        var requests = new List<Task<TrackResult>>
        {
            Tracker.TrackAsync(user, [retried]),
            Tracker.TrackAsync(user, [retried]),
            Tracker.TrackAsync(user, [new(items[2], "view", SentAt: at.AddMinutes(2)), new(items[3], "view", SentAt: at.AddMinutes(2))]),
        };
        var unknown = Tracker.TrackAsync(user, [new(items[4], "view", SentAt: at.AddMinutes(3)), new("NO-SUCH-PRODUCT", "view")]);
        for (var k = 5; k < items.Length; k++)
            requests.Add(Tracker.TrackAsync(user, [new(items[k], "view", SentAt: at.AddMinutes(k))]));

        Assert.Equal(404, (await Assert.ThrowsAsync<ServingException>(() => unknown)).Status);
        var results = await Task.WhenAll(requests);
        Assert.Equal([(0, 1), (1, 0)], results.Take(2).Select(r => (r.Stored, r.AlreadyStored)).Order());
        Assert.Equal((2, 0), (results[2].Stored, results[2].AlreadyStored));
        Assert.All(results.Skip(3), r => Assert.Equal((1, 0), (r.Stored, r.AlreadyStored)));
        Assert.All(results, r => Assert.True(r.Refreshed));
        Assert.Equal(1 + 1 + 2 + (items.Length - 5), await StoredAsync(user));
        AssertSameRow(await ReferenceRowAsync(user), await CachedRowAsync(user));
    }

    [Fact]
    public async Task Without_waiting_for_the_disk_events_are_stored_once_and_the_row_refreshed_alike()
    {
        await using var services = TestServices.Create(fixture.Database.ConnectionString, new Dictionary<string, string?> { ["Api:EventsWaitForDisk"] = "false" });
        var tracker = services.GetRequiredService<EventTracker>();
        const string user = "event-no-wait-user";
        TrackedEvent[] events = [new(await ProductAsync(8), "purchase", SentAt: new DateTime(2026, 5, 1, 8, 0, 0, DateTimeKind.Utc))];

        Assert.Equal((1, 0, true), ((await tracker.TrackAsync(user, events)) is var r ? (r.Stored, r.AlreadyStored, r.Refreshed) : default));
        Assert.Equal((0, 1, true), ((await tracker.TrackAsync(user, events)) is var again ? (again.Stored, again.AlreadyStored, again.Refreshed) : default));
        Assert.Equal(1, await StoredAsync(user));
        AssertSameRow(await ReferenceRowAsync(user), await CachedRowAsync(user));
    }

    [Fact]
    public async Task A_request_with_an_unknown_item_is_a_404_and_stores_nothing()
    {
        const string user = "event-unknown-item-user";
        var item = await ProductAsync(1);
        var e = await Assert.ThrowsAsync<ServingException>(() => Tracker.TrackAsync(user, [new(item, "purchase"), new("NO-SUCH-PRODUCT", "purchase")]));

        Assert.Equal(404, e.Status);
        Assert.Equal("Unknown item: 'NO-SUCH-PRODUCT'. Import the catalogue first; no event was stored.", e.Message);
        await using var connection = await Db.OpenConnectionAsync();
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("select count(*) from customers where external_id = @user", new { user }));
    }

    [Theory]
    [InlineData("properties")]
    [InlineData("session")]
    public async Task A_NUL_character_in_properties_or_the_session_is_a_400_and_stores_nothing(string where)
    {
        var user = $"event-nul-{where}-user";
        TrackedEvent[] events = [new(await ProductAsync(1), "view"), new(await ProductAsync(2), "view", Properties: where == "properties" ? "{\"a\": \"x\u0000y\"}" : null)];

        var e = await Assert.ThrowsAsync<ServingException>(() => Tracker.TrackAsync(user, events, where == "session" ? "s\u0000" : "s"));

        Assert.Equal(400, e.Status);
        Assert.Contains("NUL character", e.Message, StringComparison.Ordinal);
        await using var connection = await Db.OpenConnectionAsync();
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("select count(*) from customers where external_id = @user", new { user }));
    }

    /// <summary>Runs <paramref name="action"/> while a trigger refuses events of type "boom" (standing for any failure inside the write: a constraint, a full disk).</summary>
    private async Task WhileBoomIsRefusedAsync(Func<Task> action)
    {
        await using var connection = await Db.OpenConnectionAsync();
        await connection.ExecuteAsync("""
            create or replace function refuse_boom() returns trigger language plpgsql as $$ begin raise exception 'boom refused'; end $$;
            create trigger refuse_boom before insert on interactions for each row when (new.event_type = 'boom') execute function refuse_boom();
            """);
        try
        {
            await action();
        }
        finally
        {
            await connection.ExecuteAsync("drop trigger refuse_boom on interactions; drop function refuse_boom()");
        }
    }

    [Fact]
    public async Task When_the_database_refuses_one_event_of_a_request_none_is_stored_and_no_row_is_written()
    {
        const string user = "event-refused-user";
        await WhileBoomIsRefusedAsync(async () =>
        {
            var e = await Assert.ThrowsAsync<PostgresException>(async () => await Tracker.TrackAsync(user, [new(await ProductAsync(1), "purchase"), new(await ProductAsync(2), "boom")]));
            Assert.Contains("boom refused", e.MessageText, StringComparison.Ordinal);
        });
        await using var connection = await Db.OpenConnectionAsync();
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("select count(*) from customers where external_id = @user", new { user }));

        // A customer with a cached row: the events are not stored and the row stays as it was.
        const string rowOf = "select r.recommendations::text from offline_user_recommendations r join customers c on c.id = r.user_id where c.external_id = @known";
        var known = await connection.ExecuteScalarAsync<string>("select c.external_id from customers c join offline_user_recommendations r on r.user_id = c.id order by c.id limit 1")
            ?? throw new InvalidOperationException("the fixture's champion cached no rows");
        var rowBefore = await connection.ExecuteScalarAsync<string>(rowOf, new { known });
        var countBefore = await StoredAsync(known);
        await WhileBoomIsRefusedAsync(() => Assert.ThrowsAsync<PostgresException>(async () => await Tracker.TrackAsync(known, [new(await ProductAsync(1), "purchase"), new(await ProductAsync(2), "boom")])));
        Assert.Equal(countBefore, await StoredAsync(known));
        Assert.Equal(rowBefore, await connection.ExecuteScalarAsync<string>(rowOf, new { known }));
    }
}
