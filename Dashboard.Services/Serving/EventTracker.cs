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
/// cached recommendations in the same transaction, so the next read reflects the events.
/// </summary>
public sealed class EventTracker(NpgsqlDataSource dataSource, ModelStore models, IOptions<TrainingOptions> options, TimeProvider time, ServingCache cache)
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

        var now = time.GetUtcNow().UtcDateTime;
        var model = await models.ChampionAsync(cancellationToken);
        string? notRefreshed = model is null ? "there is no champion model yet"
            : model.Model is not IHistoryScorer || !model.Recipe.CanFoldIn ? $"the champion ({model.Recipe.Name}) cannot fold in a new event; the cache refreshes at the next batch"
            : null;

        // One round trip stores the events (creating the user if new) and reads the user's history back; the refreshed
        // cache row then commits with them: a reader never sees the events without the recommendations they lead to.
        // Every hop to the database costs about a millisecond on an idle machine, so the call makes three.
        const string store = """
            with created as (insert into customers (external_id) values (@userId) on conflict (external_id) do nothing returning id),
            u as (select id from created union all select id from customers where external_id = @userId limit 1),
            x as (select * from unnest(@items::text[], @types::text[], @values::real[], @ats::timestamptz[], @attributes::text[]) as x(item_ext, type, value, at, attributes)),
            known as (select x.*, p.id as item_id from x join products p on p.external_id = x.item_ext),
            e as (
                insert into interactions (user_id, item_id, event_type, event_value, occurred_at, attributes)
                select u.id, k.item_id, k.type, k.value, k.at, k.attributes::jsonb from u cross join known k
                where not exists (select 1 from interactions i where i.user_id = u.id and i.occurred_at = k.at and i.item_id = k.item_id and i.event_type = k.type)
                returning 1)
            select (select id from u) as UserId, (select count(*) from e)::int as Stored,
                   array(select distinct item_ext from x where item_ext not in (select item_ext from known)) as Unknown;
            select i.item_id, i.event_type, count(*)::int from interactions i where i.user_id = (select id from customers where external_id = @userId) group by 1, 2;
            select pg_notify(@channel, @notice);
            """;
        var parameters = new
        {
            userId,
            // The user's answers change (a refreshed row, or a user who now exists): every instance drops them at commit.
            channel = Data.ChangeChannels.Serving,
            notice = ServingCache.UserNotice(userId),
            items = events.Select(e => e.ItemId).ToArray(),
            types = events.Select(e => e.EventType).ToArray(),
            values = events.Select(e => e.EventValue).ToArray(),
            ats = events.Select(e => DateTime.SpecifyKind(e.SentAt ?? now, DateTimeKind.Utc)).ToArray(),
            attributes = events.Select(e => Attributes(sessionId, e)).ToArray(),
        };
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        int stored;
        using (var results = await connection.QueryMultipleAsync(new CommandDefinition(store, parameters, transaction, cancellationToken: cancellationToken)))
        {
            var outcome = await results.ReadSingleAsync<(long UserId, int Stored, string[] Unknown)>();
            var history = (await results.ReadAsync<(long Item, string Type, int Count)>()).ToList();
            await results.ReadAsync<dynamic>(); // the pg_notify, read so the connection is free for the refresh
            if (outcome.Unknown.Length > 0)
                throw ServingException.NotFound($"Unknown item{(outcome.Unknown.Length > 1 ? "s" : "")}: {string.Join(", ", outcome.Unknown.Select(u => $"'{u}'"))}. Import the catalogue first; no event was stored.");
            stored = outcome.Stored;
            if (notRefreshed is null)
                await RefreshUserAsync(connection, transaction, model!, outcome.UserId, UserHistory.Weighted(model!, history, options.Value.EventWeights), cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        cache.Invalidate(ServingCache.UserKey(userId));
        return new TrackResult(userId, stored, events.Count - stored, notRefreshed is null, model?.Version.Version, notRefreshed, clock.Elapsed.TotalMilliseconds);
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

    /// <summary>Scores every item from the user's full history and rewrites their cached row.</summary>
    private async Task RefreshUserAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, LoadedModel model, long user, (int[] Items, float[] Weights) history, CancellationToken cancellationToken)
    {
        var (items, weights) = history;
        var topN = options.Value.TopN;
        var top = new int[topN];
        var topScores = new float[topN];
        var n = ServedLists.FromHistory(model, items, weights, top, topScores);
        var json = RecommendationJson.Write(top.AsSpan(0, n), topScores.AsSpan(0, n), model.Artifact.ItemIds);
        await connection.ExecuteAsync(new CommandDefinition("""
            insert into offline_user_recommendations (user_id, recommendations, model_version, updated_at)
            values (@user, @json::jsonb, @version, @now)
            on conflict (user_id) do update set recommendations = excluded.recommendations, model_version = excluded.model_version, updated_at = excluded.updated_at
            """, new { user, json, version = model.Version.Version, now = time.GetUtcNow().UtcDateTime }, transaction, cancellationToken: cancellationToken));
    }
}
