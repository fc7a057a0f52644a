using System.Diagnostics;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Services.Engine;
using Recs.Services.Models;

namespace Recs.Services.Serving;

/// <summary>
/// The event tracker: stores events (a retried event is stored once) and, when the champion can score from a history
/// (<see cref="IHistoryScorer"/>: item-based models, or factor models by folding the user in), rewrites that user's
/// cached recommendations in the same transaction, so the next read reflects the events. A call costs two round
/// trips: one read (the items, which events are retries, the history), then one statement that stores the events,
/// upserts the refreshed row and sends the notice.
/// </summary>
public sealed class EventTracker(NpgsqlDataSource dataSource, ModelStore models, IOptions<TrainingOptions> options, IOptions<ApiOptions> api, TimeProvider time, ServingCache cache)
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
        var model = await models.ChampionAsync(cancellationToken);
        string? notRefreshed = model is null ? "there is no champion model yet"
            : model.Model is not IHistoryScorer || !model.Recipe.CanFoldIn ? $"the champion ({model.Recipe.Name}) cannot fold in a new event; the cache refreshes at the next batch"
            : null;
        var ats = new DateTime[events.Count];
        for (var k = 0; k < ats.Length; k++)
            ats[k] = DateTime.SpecifyKind(events[k].SentAt ?? now, DateTimeKind.Utc);

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        // Two round trips, each about a millisecond on an idle machine (the call used to make three, in an explicit
        // transaction). The first reads; the second writes in one statement, which is its own transaction: the events,
        // the refreshed row and the notice commit together or not at all, so a reader never sees the events without
        // the recommendations they lead to, and a failure leaves nothing behind.
        for (var attempt = 1; ; attempt++)
        {
            var read = await ReadAsync(connection, userId, events, ats, notRefreshed is null, cancellationToken);
            string? json = null;
            if (notRefreshed is null)
                json = FoldIn(model!, read, events);
            var written = await WriteAsync(connection, userId, read.UserId, events, read.ProductIds, ats, sessionId, json, model?.Version.Version, cancellationToken);
            if (written.UserId is null && attempt == 1)
                continue; // another request created this user between the two round trips: once more, now that it exists
            if (json is not null && written.Stored != read.NewCount)
            {
                // A concurrent request stored one of these same events between the two round trips (a client retrying
                // before the first answer came): the row was folded from a history that counted it twice, so it is
                // rewritten from the history as stored, as the tracker always did.
                await RefreshFromStoredHistoryAsync(connection, model!, written.UserId!.Value, userId, cancellationToken);
            }
            cache.Invalidate(ServingCache.UserKey(userId));
            return new TrackResult(userId, written.Stored, events.Count - written.Stored, notRefreshed is null, model?.Version.Version, notRefreshed, clock.Elapsed.TotalMilliseconds);
        }
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
    /// The user's refreshed row: their history as the first round trip read it plus the events about to be stored,
    /// exactly the history the database will hold once they are (a retried event is not counted twice), folded in.
    /// </summary>
    private string FoldIn(LoadedModel model, Lookup read, IReadOnlyList<TrackedEvent> events)
    {
        var history = read.History;
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
    /// The second round trip, one statement and so one transaction: creates the user if new, stores the events not
    /// stored yet (same user, item, type and time: a retry is stored once), upserts the refreshed row when there is
    /// one, and announces the user's change (delivered at commit). Returns the user's id (null only when another
    /// request created the user meanwhile) and how many events it stored.
    /// </summary>
    private async Task<(long? UserId, int Stored)> WriteAsync(NpgsqlConnection connection, string userId, long? user, IReadOnlyList<TrackedEvent> events,
        long[] productIds, DateTime[] ats, string? sessionId, string? json, string? version, CancellationToken cancellationToken)
    {
        const string sql = """
            with created as (insert into customers (external_id) select @userId where @user::bigint is null on conflict (external_id) do nothing returning id),
            u as (select id from created union all select @user::bigint where @user::bigint is not null union all
                  select id from customers where @user::bigint is null and external_id = @userId limit 1),
            e as (
                insert into interactions (user_id, item_id, event_type, event_value, occurred_at, attributes)
                select u.id, x.item_id, x.type, x.value, x.at, x.attributes::jsonb
                from u cross join unnest(@productIds::bigint[], @types::text[], @values::real[], @ats::timestamptz[], @attributes::text[]) as x(item_id, type, value, at, attributes)
                where not exists (select 1 from interactions i where i.user_id = u.id and i.occurred_at = x.at and i.item_id = x.item_id and i.event_type = x.type)
                returning 1),
            r as (
                insert into offline_user_recommendations (user_id, recommendations, model_version, updated_at)
                select u.id, @json::jsonb, @version, @now from u where @json::text is not null
                on conflict (user_id) do update set recommendations = excluded.recommendations, model_version = excluded.model_version, updated_at = excluded.updated_at
                returning 1)
            select (select id from u) as UserId, (select count(*) from e)::int as Stored, (select count(*) from r)::int as Refreshed
            from (select pg_notify(@channel, @notice), set_config('synchronous_commit', coalesce(@synchronousCommit, current_setting('synchronous_commit')), true)) as notified;
            """;
        var types = new string[events.Count];
        var values = new float?[events.Count];
        var attributes = new string?[events.Count];
        for (var k = 0; k < events.Count; k++)
            (types[k], values[k], attributes[k]) = (events[k].EventType, events[k].EventValue, Attributes(sessionId, events[k]));
        var row = await connection.QuerySingleAsync<(long? UserId, int Stored, int Refreshed)>(new CommandDefinition(sql, new
        {
            userId, user, productIds, types, values, ats, attributes, json, version, now = time.GetUtcNow().UtcDateTime,
            // The user's answers change (a refreshed row, or a user who now exists): every instance drops them at commit.
            channel = Data.ChangeChannels.Serving,
            notice = ServingCache.UserNotice(userId),
            // For this transaction only; null keeps the server's setting (see ApiOptions.EventsWaitForDisk).
            synchronousCommit = api.Value.EventsWaitForDisk ? null : "off",
        }, cancellationToken: cancellationToken));
        return (row.UserId, row.Stored);
    }

    /// <summary>The slow path after a race with a concurrent copy of the same events: the row rebuilt from the history as stored, in one transaction with its notice.</summary>
    private async Task RefreshFromStoredHistoryAsync(NpgsqlConnection connection, LoadedModel model, long user, string userId, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
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
