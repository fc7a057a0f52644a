using System.Diagnostics;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Recs.Services.Engine;
using Recs.Services.Models;

namespace Recs.Services.Serving;

/// <summary>
/// The event tracker: stores events (a retried event is stored once) and, when the champion can score from a history
/// (<see cref="IHistoryScorer"/>: item-based models, or factor models by folding the user in), rewrites that user's
/// cached recommendations before it answers, so the next read reflects the events. A call costs two round trips: one
/// read (the items, which events are retries, the history), then one batch of two transactions: the events (durable),
/// then the refreshed row and the notice.
/// </summary>
public sealed class EventTracker(NpgsqlDataSource dataSource, ModelStore models, IOptions<TrainingOptions> options, IOptions<ApiOptions> api, TimeProvider time, ServingCache cache,
    IOptions<Remote.EngineOptions> engine)
{
    /// <summary>
    /// Stores events (an event already stored, same user, item, type and time, is not stored twice: clients retry) and
    /// refreshes the user's cached recommendations by fold-in when the champion is an ALS model.
    /// </summary>
    public async Task<TrackResult> TrackAsync(string userId, IReadOnlyList<TrackedEvent> events, string? sessionId = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        RecommendationService.CheckId(userId, "userId");
        if (events.Count is 0 or > RecommendationService.MaxEvents)
            throw ServingException.BadRequest($"Send between 1 and {RecommendationService.MaxEvents} events at a time, not {events.Count}.");
        foreach (var e in events)
        {
            RecommendationService.CheckId(e.ItemId, "each event's itemId");
            RecommendationService.CheckId(e.EventType, "each event's eventType");
            if (e.EventValue is { } v && !float.IsFinite(v))
                throw ServingException.BadRequest("eventValue must be a finite number.");
            if (e.SentAt is { } at && (at.Year < 1970 || at > time.GetUtcNow().UtcDateTime.AddDays(1)))
                throw ServingException.BadRequest($"sentAt {at:u} is not a plausible event time.");
            if (e.RecommendationId is not null)
                RecommendationService.CheckId(e.RecommendationId, "recommendationId");
            if (e.Properties is not null && e.Properties.Contains('\0', StringComparison.Ordinal))
                throw ServingException.BadRequest("properties contains a NUL character."); // the database's JSON cannot hold one
            if (e.Impression is { } impression)
            {
                if (impression.Count > RecommendationService.MaxRankItems)
                    throw ServingException.BadRequest($"An impression lists at most {RecommendationService.MaxRankItems} items, not {impression.Count}.");
                foreach (var shown in impression)
                    RecommendationService.CheckId(shown, "each impression item id");
            }
        }
        if (sessionId is not null && sessionId.Length > RecommendationService.MaxIdLength)
            throw ServingException.BadRequest($"sessionId is longer than {RecommendationService.MaxIdLength} characters.");
        if (sessionId is not null && sessionId.Contains('\0', StringComparison.Ordinal))
            throw ServingException.BadRequest("sessionId contains a NUL character.");

        var now = time.GetUtcNow().UtcDateTime;
        var ats = new DateTime[events.Count];
        for (var k = 0; k < ats.Length; k++)
            ats[k] = DateTime.SpecifyKind(events[k].SentAt ?? now, DateTimeKind.Utc);
        var attributes = events.Select(e => Attributes(sessionId, e)).ToArray();

        // One write at a time per user in this process, and the requests that arrive meanwhile are written together
        // next (group commit): a request that read the history while another of the same user was storing would fold
        // from a history without that event and have to rebuild the row, and one user's events would queue behind each
        // other's flush to disk one by one. The count check in StoreAsync still guards against other processes.
        var request = new Request(events, attributes, ats, clock, new TaskCompletionSource<TrackResult>(TaskCreationOptions.RunContinuationsAsynchronously));
        Lane? lead = null;
        lock (_lanes)
        {
            if (!_lanes.TryGetValue(userId, out var lane))
                _lanes[userId] = lane = new Lane();
            lane.Waiting.Add(request);
            if (!lane.Busy)
                (lane.Busy, lead) = (true, lane);
        }
        if (lead is not null)
            _ = Task.Run(() => DrainAsync(userId, lead), CancellationToken.None);
        return await request.Done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>One request waiting for its user's next write: its events, each event's stored attributes and time.</summary>
    private sealed record Request(IReadOnlyList<TrackedEvent> Events, string?[] Attributes, DateTime[] Ats, Stopwatch Clock, TaskCompletionSource<TrackResult> Done);

    /// <summary>A user's requests waiting to be written, and whether a writer is at work on them.</summary>
    private sealed class Lane
    {
        public readonly List<Request> Waiting = [];
        public bool Busy;
    }

    private readonly Dictionary<string, Lane> _lanes = new(StringComparer.Ordinal);

    /// <summary>Writes the user's waiting requests, all that arrived since the last write together, until none is left.</summary>
    private async Task DrainAsync(string userId, Lane lane)
    {
        while (true)
        {
            Request[] batch;
            lock (_lanes)
            {
                if (lane.Waiting.Count == 0)
                {
                    lane.Busy = false;
                    _lanes.Remove(userId);
                    return;
                }
                batch = [.. lane.Waiting];
                lane.Waiting.Clear();
            }
            try
            {
                await WriteBatchAsync(userId, batch);
            }
            catch (Exception e)
            {
                foreach (var r in batch)
                    r.Done.TrySetException(e);
            }
        }
    }

    /// <summary>
    /// Several requests together (one read, one write), each told what was stored of its own events; if that fails
    /// (an unknown item in one of them, a refused event), each is written alone, so one request's fault is its own.
    /// </summary>
    private async Task WriteBatchAsync(string userId, Request[] batch)
    {
        var model = await models.ChampionAsync(CancellationToken.None);
        // A remote campaign's lists are its own: the champion must not fold a user's row over them.
        string? notRefreshed = engine.Value.For(Campaigns.UserRecommendations) is { } remote
                ? $"user-recommendations is served by AWS Personalize {remote.CampaignArn}; its lists refresh at the next fetch"
            : model is null ? "there is no champion model yet"
            : model.Model is not IHistoryScorer || !model.Recipe.CanFoldIn ? $"the champion ({model.Recipe.Name}) cannot fold in a new event; the cache refreshes at the next batch"
            : null;
        if (batch.Length > 1)
        {
            // The same event sent twice (a client retrying before the first answer came) is written once.
            var keys = new Dictionary<(string, string, DateTime), int>();
            var events = new List<TrackedEvent>();
            var attributes = new List<string?>();
            var ats = new List<DateTime>();
            var index = batch.Select(r => r.Events.Select((e, k) =>
            {
                if (keys.TryGetValue((e.ItemId, e.EventType, r.Ats[k]), out var at))
                    return (At: at, First: false);
                keys[(e.ItemId, e.EventType, r.Ats[k])] = events.Count;
                events.Add(e);
                attributes.Add(r.Attributes[k]);
                ats.Add(r.Ats[k]);
                return (At: events.Count - 1, First: true);
            }).ToArray()).ToArray();
            (int Stored, bool[] New)? written = null;
            try
            {
                written = await WriteAsync(userId, events, [.. attributes], [.. ats], model, notRefreshed);
            }
            catch (Exception)
            {
                // Written alone below.
            }
            if (written is { } w)
            {
                for (var r = 0; r < batch.Length; r++)
                {
                    var stored = w.Stored == w.New.Count(n => n) ? index[r].Count(x => x.First && w.New[x.At]) : 0;
                    batch[r].Done.TrySetResult(new TrackResult(userId, stored, batch[r].Events.Count - stored, notRefreshed is null, model?.Version.Version, notRefreshed,
                        batch[r].Clock.Elapsed.TotalMilliseconds));
                }
                return;
            }
        }
        foreach (var r in batch)
        {
            try
            {
                var (stored, _) = await WriteAsync(userId, r.Events, r.Attributes, r.Ats, model, notRefreshed);
                r.Done.TrySetResult(new TrackResult(userId, stored, r.Events.Count - stored, notRefreshed is null, model?.Version.Version, notRefreshed, r.Clock.Elapsed.TotalMilliseconds));
            }
            catch (Exception e)
            {
                r.Done.TrySetException(e);
            }
        }
    }

    /// <summary>Stores one user's events and refreshes their row: how many it stored, and which events were new when read.</summary>
    private async Task<(int Stored, bool[] New)> WriteAsync(string userId, IReadOnlyList<TrackedEvent> events, string?[] attributes, DateTime[] ats, LoadedModel? model, string? notRefreshed)
    {
        var cancellationToken = CancellationToken.None; // the write serves every request of the batch: none may cancel it halfway
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        // Two round trips, each about a millisecond on an idle machine (the call used to make three, in an explicit
        // transaction). The first reads; the second stores the events in one transaction, then writes the refreshed row
        // and the notice in a second one (see StoreAsync: the row must not wait for, or hold a lock across, the
        // events' flush to disk). A failure to store leaves nothing behind; the answer comes after both.
        for (var attempt = 1; ; attempt++)
        {
            // The history this process stored last for the user, if it is still current: then the read skips it.
            var generation = cache.Generation;
            var known = notRefreshed is null && cache.Enabled && _histories.TryGetValue(userId, out var k) && k.Generation == generation ? k : null;
            if (notRefreshed is null && known is null)
                Interlocked.Increment(ref _historiesRead);
            var read = await ReadAsync(connection, userId, events, ats, notRefreshed is null && known is null, cancellationToken);
            var history = known is null ? read.History : [.. known.History];
            string? json = null;
            var expected = (known?.Events ?? history.Sum(h => (long)h.Count)) + read.NewCount; // before FoldIn adds the new events to it
            if (notRefreshed is null)
                json = FoldIn(model!, history, read, events);
            var written = await StoreAsync(connection, userId, read.UserId, events, read.ProductIds, ats, attributes, json, model?.Version.Version, expected, cancellationToken);
            if (written.UserId is null && attempt == 1)
                continue; // another request created this user between the two round trips: once more, now that it exists
            if (json is not null && written.Refreshed)
                Remember(userId, new KnownHistory(history, expected, generation));
            else
                _histories.TryRemove(userId, out _);
            if (json is not null && !written.Refreshed)
            {
                // Another process stored events of this user between the two round trips (another event, or a client
                // retrying these before the first answer came), or since this process last did: the row was folded from
                // a history that lacks them or counts them twice, so it is rewritten from the history as stored.
                await RefreshFromStoredHistoryAsync(connection, model!, written.UserId!.Value, userId, cancellationToken);
            }
            cache.Invalidate(ServingCache.UserKey(userId));
            return (written.Stored, read.New);
        }
    }

    /// <summary>
    /// A user's history as this process last stored it (grouped by item and type, in the order of each entry's latest
    /// event) and how many events it counts. Its next event skips the history read (milliseconds for a user with
    /// thousands of events); the refresh still writes the row only when the database holds exactly that many events of
    /// the user plus the new ones, so a write by another process is caught and the history read again. Kept until the
    /// serving cache starts over (imports and demo data, which may rewrite histories, announce "all"); at most
    /// <see cref="MaxKnownHistories"/> users, then it starts over too.
    /// </summary>
    private sealed record KnownHistory(List<(long Item, string Type, int Count)> History, long Events, long Generation);

    public const int MaxKnownHistories = 10_000;

    private long _historiesRead;

    /// <summary>How many times a write read the user's history from the database (for tests and diagnostics).</summary>
    public long HistoriesRead => Interlocked.Read(ref _historiesRead);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, KnownHistory> _histories = new(StringComparer.Ordinal);

    private void Remember(string userId, KnownHistory history)
    {
        if (_histories.Count >= MaxKnownHistories && !_histories.ContainsKey(userId))
            _histories.Clear();
        _histories[userId] = history;
    }

    /// <summary>What the first round trip learns: the user (null when new), each event's product, which events are new, and the history before them.</summary>
    private sealed record Lookup(long? UserId, long[] ProductIds, bool[] New, int NewCount, List<(long Item, string Type, int Count)> History);

    /// <summary>
    /// One round trip: the user's id, each event's product and whether that event is already stored (same user, item,
    /// type and time: a retry), and, when the row is to be refreshed, the user's history grouped by item and type.
    /// Throws 404 for an unknown item, before anything is written.
    /// </summary>
    private static async Task<Lookup> ReadAsync(NpgsqlConnection connection, string userId, IReadOnlyList<TrackedEvent> events, DateTime[] ats, bool withHistory, CancellationToken cancellationToken)
    {
        const string sql = """
            select c.id as UserId, x.item_ext as ItemId, p.id as ProductId,
                   exists (select 1 from interactions i where i.user_id = c.id and i.occurred_at = x.at and i.item_id = p.id and i.event_type = x.type) as Stored
            from unnest(@items::text[], @types::text[], @ats::timestamptz[]) with ordinality as x(item_ext, type, at, ord)
            left join products p on p.external_id = x.item_ext
            left join customers c on c.external_id = @userId
            order by x.ord;
            select i.item_id, i.event_type, count(*)::int from interactions i
            where @withHistory and i.user_id = (select id from customers where external_id = @userId) group by 1, 2 order by max(i.occurred_at), 1, 2;
            """;
        var items = new string[events.Count];
        var types = new string[events.Count];
        for (var k = 0; k < items.Length; k++)
            (items[k], types[k]) = (events[k].ItemId, events[k].EventType);
        using var results = await connection.QueryMultipleAsync(new CommandDefinition(sql, new { userId, items, types, ats, withHistory }, cancellationToken: cancellationToken));
        var rows = (await results.ReadAsync<(long? UserId, string ItemId, long? ProductId, bool Stored)>()).ToList();
        var history = (await results.ReadAsync<(long Item, string Type, int Count)>()).ToList();
        var unknown = rows.Where(r => r.ProductId is null).Select(r => r.ItemId).Distinct().ToList();
        if (unknown.Count > 0)
            throw ServingException.NotFound($"Unknown item{(unknown.Count > 1 ? "s" : "")}: {string.Join(", ", unknown.Select(u => $"'{u}'"))}. Import the catalogue first; no event was stored.");
        var isNew = rows.Select(r => !r.Stored).ToArray();
        return new Lookup(rows[0].UserId, rows.Select(r => r.ProductId!.Value).ToArray(), isNew, isNew.Count(n => n), history);
    }

    /// <summary>
    /// The user's refreshed row: their history (as the first round trip read it, or as this process last stored it; updated in place) plus the events about to be stored,
    /// exactly the history the database will hold once they are (a retried event is not counted twice), folded in.
    /// </summary>
    private string FoldIn(LoadedModel model, List<(long Item, string Type, int Count)> history, Lookup read, IReadOnlyList<TrackedEvent> events)
    {
        for (var k = 0; k < events.Count; k++)
        {
            if (!read.New[k])
                continue;
            var (item, type) = (read.ProductIds[k], events[k].EventType);
            var at = history.FindIndex(h => h.Item == item && h.Type == type);
            // The history stays ordered by each entry's latest event (a sequence model reads the order): a repeat moves to the end.
            var count = 1;
            if (at >= 0)
            {
                count += history[at].Count;
                history.RemoveAt(at);
            }
            history.Add((item, type, count));
        }
        return RowJson(model, history);
    }

    /// <summary>The cached row (JSON) for a history: scored by the model, the best TopN kept, as the batch and the tracker always wrote it.</summary>
    private string RowJson(LoadedModel model, IEnumerable<(long Item, string Type, int Count)> history)
    {
        var (items, weights) = UserHistory.Weighted(model, history, options.Value.EventWeights);
        var topN = options.Value.TopN;
        var top = new int[topN];
        var topScores = new float[topN];
        var n = ServedLists.FromHistory(model, items, weights, top, topScores);
        return RecommendationJson.Write(top.AsSpan(0, n), topScores.AsSpan(0, n), model.Artifact.ItemIds);
    }

    /// <summary>What an event keeps beyond its columns: session, properties, and the answer it came from with the items shown (for attribution).</summary>
    private static string? Attributes(string? sessionId, TrackedEvent e)
    {
        var attributes = new Dictionary<string, object>();
        if (sessionId is not null)
            attributes["session_id"] = sessionId;
        if (e.Properties is not null)
            attributes["properties"] = e.Properties;
        if (e.RecommendationId is not null)
            attributes["recommendation_id"] = e.RecommendationId;
        if (e.Impression is { Count: > 0 } impression)
            attributes["impression"] = impression;
        return attributes.Count == 0 ? null : JsonSerializer.Serialize(attributes);
    }

    /// <summary>
    /// The second round trip, two transactions in one batch. The first creates the user if new and stores the events
    /// not stored yet (same user, item, type and time: a retry is stored once); it alone waits for the disk (see
    /// <see cref="ApiOptions.EventsWaitForDisk"/>) and it locks no row another event of the same user needs, so a
    /// user's events do not queue behind each other's flush. The second upserts the refreshed row and announces the
    /// user's change (delivered at its commit): the row is derived data that the next event or batch rebuilds, so it
    /// does not wait for the disk. It writes the row only when the user's stored events are exactly the history the
    /// row was folded from plus these: if the first failed, or a concurrent request stored events between the two
    /// round trips, it writes nothing and the caller rebuilds from the history as stored.
    /// Returns the user's id (null only when another request created the user meanwhile), how many events it
    /// stored, and whether the row was written.
    /// </summary>
    private async Task<(long? UserId, int Stored, bool Refreshed)> StoreAsync(NpgsqlConnection connection, string userId, long? user, IReadOnlyList<TrackedEvent> events,
        long[] productIds, DateTime[] ats, string?[] attributes, string? json, string? version, long expectedEvents, CancellationToken cancellationToken)
    {
        const string store = """
            with created as (insert into customers (external_id) select $1 where $2::bigint is null on conflict (external_id) do nothing returning id),
            u as (select id from created union all select $2::bigint where $2::bigint is not null union all
                  select id from customers where $2::bigint is null and external_id = $1 limit 1),
            e as (
                insert into interactions (user_id, item_id, event_type, event_value, occurred_at, attributes)
                select u.id, x.item_id, x.type, x.value, x.at, x.attributes::jsonb
                from u cross join unnest($3::bigint[], $4::text[], $5::real[], $6::timestamptz[], $7::text[]) as x(item_id, type, value, at, attributes)
                where not exists (select 1 from interactions i where i.user_id = u.id and i.occurred_at = x.at and i.item_id = x.item_id and i.event_type = x.type)
                returning 1)
            select (select id from u), (select count(*) from e)::int
            from (select set_config('synchronous_commit', coalesce($8, current_setting('synchronous_commit')), true)) as durability
            """;
        // The refresh is two statements of one transaction: the first locks the user (FOR NO KEY UPDATE: the events'
        // foreign-key checks take only KEY SHARE, so storing is not held up), so the second's snapshot, taken after it,
        // sees every event stored by a refresh that came before; a refresh of the same user that comes later waits.
        const string lockUser = "select set_config('synchronous_commit', 'off', true), id from customers where external_id = $1 for no key update";
        const string refresh = """
            with u as (select id from customers where external_id = $1),
            r as (
                insert into offline_user_recommendations (user_id, recommendations, model_version, updated_at)
                select u.id, $2::jsonb, $3, $4 from u
                where $2::text is not null and (select count(*) from interactions i where i.user_id = u.id) = $5
                on conflict (user_id) do update set recommendations = excluded.recommendations, model_version = excluded.model_version, updated_at = excluded.updated_at
                returning 1)
            select (select count(*) from r)::int
            from (select pg_notify($6, $7)) as notified
            """;
        var types = new string[events.Count];
        var values = new float?[events.Count];
        for (var k = 0; k < events.Count; k++)
            (types[k], values[k]) = (events[k].EventType, events[k].EventValue);
        await using var batch = new NpgsqlBatch(connection);
        // An error barrier after the first: the store is then its own transaction (a Sync after it), the lock and the
        // refresh another (one Sync at the end).
        batch.BatchCommands.Add(new NpgsqlBatchCommand(store)
        {
            AppendErrorBarrier = true,
            Parameters =
            {
                Parameter(userId, NpgsqlDbType.Text), Parameter(user, NpgsqlDbType.Bigint), Parameter(productIds, NpgsqlDbType.Array | NpgsqlDbType.Bigint),
                Parameter(types, NpgsqlDbType.Array | NpgsqlDbType.Text), Parameter(values, NpgsqlDbType.Array | NpgsqlDbType.Real),
                Parameter(ats, NpgsqlDbType.Array | NpgsqlDbType.TimestampTz), Parameter(attributes, NpgsqlDbType.Array | NpgsqlDbType.Text),
                // null keeps the server's setting (see ApiOptions.EventsWaitForDisk)
                Parameter(api.Value.EventsWaitForDisk ? null : "off", NpgsqlDbType.Text),
            },
        });
        batch.BatchCommands.Add(new NpgsqlBatchCommand(lockUser) { Parameters = { Parameter(userId, NpgsqlDbType.Text) } });
        batch.BatchCommands.Add(new NpgsqlBatchCommand(refresh)
        {
            Parameters =
            {
                Parameter(userId, NpgsqlDbType.Text), Parameter(json, NpgsqlDbType.Text), Parameter(version, NpgsqlDbType.Text),
                Parameter(time.GetUtcNow().UtcDateTime, NpgsqlDbType.TimestampTz), Parameter(expectedEvents, NpgsqlDbType.Bigint),
                // The user's answers change (a refreshed row, or a user who now exists): every instance drops them.
                Parameter(Data.ChangeChannels.Serving, NpgsqlDbType.Text), Parameter(ServingCache.UserNotice(userId), NpgsqlDbType.Text),
            },
        });
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var (storedUser, stored) = (reader.IsDBNull(0) ? (long?)null : reader.GetInt64(0), reader.GetInt32(1));
        await reader.NextResultAsync(cancellationToken); // the lock
        await reader.NextResultAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var refreshed = reader.GetInt32(0) > 0;
        return (storedUser, stored, refreshed);
    }

    private static NpgsqlParameter Parameter(object? value, NpgsqlDbType type) => new() { Value = value ?? DBNull.Value, NpgsqlDbType = type };

    /// <summary>The slow path after a race with a concurrent copy of the same events: the row rebuilt from the history as stored, in one transaction with its notice.</summary>
    private async Task RefreshFromStoredHistoryAsync(NpgsqlConnection connection, LoadedModel model, long user, string userId, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _historiesRead);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Derived data, as in StoreAsync, and the same lock: the history read next sees every refresh before this one.
        await connection.ExecuteAsync(new CommandDefinition("set local synchronous_commit = off; select 1 from customers where id = @user for no key update",
            new { user }, transaction, cancellationToken: cancellationToken));
        var history = await connection.QueryAsync<(long Item, string Type, int Count)>(new CommandDefinition(
            "select item_id, event_type, count(*)::int from interactions where user_id = @user group by 1, 2 order by max(occurred_at), 1, 2", new { user }, transaction, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition("""
            insert into offline_user_recommendations (user_id, recommendations, model_version, updated_at)
            values (@user, @json::jsonb, @version, @now)
            on conflict (user_id) do update set recommendations = excluded.recommendations, model_version = excluded.model_version, updated_at = excluded.updated_at;
            select pg_notify(@channel, @notice);
            """, new
        {
            user, json = RowJson(model, history), version = model.Version.Version, now = time.GetUtcNow().UtcDateTime,
            channel = Data.ChangeChannels.Serving, notice = ServingCache.UserNotice(userId),
        }, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
    }
}
