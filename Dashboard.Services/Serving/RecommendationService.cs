using System.Diagnostics;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Services.Engine;
using Recs.Services.Training;

namespace Recs.Services.Serving;

/// <summary>A request the API cannot answer as asked: 400 (bad input) or 404 (an unknown item), with a message.</summary>
public sealed class ServingException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;

    public static ServingException BadRequest(string message) => new(400, message);

    public static ServingException NotFound(string message) => new(404, message);
}

/// <summary>One recommended or ranked item. Source says where it came from: the model's cache, fold-in, or popularity.</summary>
public sealed record RecommendedItem(string ItemId, double? Score, string? Name, string? Category, string Source);

/// <summary>Recommendations for a user; Fallback is true when they are popularity picks, not the model's.</summary>
public sealed record UserRecommendations(string UserId, string? ModelVersion, bool Fallback, string? FallbackReason, DateTime? UpdatedAt, IReadOnlyList<RecommendedItem> Items);

public sealed record SimilarItems(string ItemId, string? ModelVersion, DateTime? UpdatedAt, IReadOnlyList<RecommendedItem> Items);

public sealed record RankedItems(string UserId, string? ModelVersion, bool Fallback, string? FallbackReason, IReadOnlyList<RecommendedItem> Items);

/// <summary>One tracked event. SentAt defaults to now.</summary>
public sealed record TrackedEvent(string ItemId, string EventType, float? EventValue = null, DateTime? SentAt = null, string? Properties = null);

/// <summary>What tracking did: events stored, and whether the user's cached recommendations were refreshed by fold-in.</summary>
public sealed record TrackResult(string UserId, int Stored, int AlreadyStored, bool Refreshed, string? ModelVersion, string? NotRefreshedReason, double Milliseconds);

/// <summary>
/// Answers the REST and AWS-compatible APIs from the cache tables, with popularity as the fallback for users the cache
/// does not know, and records events: each tracked event is stored and, when the champion is an ALS model, the user's
/// vector is folded in against the champion's item factors and their cached row rewritten at once.
/// </summary>
public sealed class RecommendationService(NpgsqlDataSource dataSource, ModelRegistry registry, IOptions<TrainingOptions> options,
    TimeProvider time, ILogger<RecommendationService> logger, ServingCache cache)
{
    public const int MaxCount = 500;
    public const int MaxEvents = 10;
    public const int MaxRankItems = 500;
    public const int MaxIdLength = 256;
    private static readonly TimeSpan ChampionCheckEvery = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan PopularityFor = TimeSpan.FromMinutes(5);

    private readonly SemaphoreSlim _loading = new(1, 1);
    private volatile ServingModel? _model;
    private long _championCheckedAt;
    private Task<PopularItem[]>? _popular;
    private long _popularAt;

    private sealed record ServingModel(string Version, ModelArtifact Artifact, Dictionary<long, int> UserIndex, Dictionary<long, int> ItemIndex);

    private sealed record PopularItem(long Id, string ExternalId, string Name, string? Category, long Count);

    public static void CheckId(string? id, string what)
    {
        if (string.IsNullOrWhiteSpace(id))
            throw ServingException.BadRequest($"{what} is required.");
        if (id.Length > MaxIdLength)
            throw ServingException.BadRequest($"{what} is longer than {MaxIdLength} characters.");
        if (id.Contains('\0', StringComparison.Ordinal))
            throw ServingException.BadRequest($"{what} contains a NUL character.");
    }

    private static void CheckCount(int count)
    {
        if (count is < 1 or > MaxCount)
            throw ServingException.BadRequest($"count must be between 1 and {MaxCount}, not {count}.");
    }

    public async Task<UserRecommendations> ForUserAsync(string userId, int count = 10, string? category = null, CancellationToken cancellationToken = default)
    {
        CheckId(userId, "userId");
        CheckCount(count);
        return await cache.GetOrComputeAsync(ServingCache.UserKey(userId), $"{count}|{category}",
            () => ForUserFromDatabaseAsync(userId, count, category, cancellationToken));
    }

    private async Task<UserRecommendations> ForUserFromDatabaseAsync(string userId, int count, string? category, CancellationToken cancellationToken)
    {
        // The lateral product lookup ("offset 0" keeps it a per-row index probe) touches only the listed products;
        // a join lets the planner hash the whole catalogue, for 25 rows.
        const string sql = """
            select r.model_version as Version, r.updated_at as UpdatedAt, p.external_id as ItemId, (x.e->>'score')::float8 as Score, p.name as Name, p.category as Category
            from customers c
            join offline_user_recommendations r on r.user_id = c.id
            cross join lateral jsonb_array_elements(r.recommendations) with ordinality as x(e, ord)
            cross join lateral (select external_id, name, category from products where id = (x.e->>'product_id')::bigint offset 0) p
            where c.external_id = @userId and (@category::text is null or p.category = @category)
            order by x.ord
            limit @count
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = (await connection.QueryAsync<(string Version, DateTime UpdatedAt, string ItemId, double Score, string Name, string? Category)>(
            new CommandDefinition(sql, new { userId, category, count }, cancellationToken: cancellationToken))).ToList();
        var items = rows.Select(r => new RecommendedItem(r.ItemId, r.Score, r.Name, r.Category, "model")).ToList();
        if (items.Count >= count)
            return new UserRecommendations(userId, rows[0].Version, false, null, DateTime.SpecifyKind(rows[0].UpdatedAt, DateTimeKind.Utc), items);

        // Unknown user, no cached row, or a category the cached list barely covers: top up with popularity.
        string? reason = null;
        if (items.Count == 0)
        {
            var known = await connection.ExecuteScalarAsync<bool>(new CommandDefinition("select exists (select 1 from customers where external_id = @userId)", new { userId }, cancellationToken: cancellationToken));
            reason = !known ? "unknown user: popular items" : category is null ? "no cached recommendations for this user yet: popular items" : "no cached recommendations in this category: popular items";
        }
        var popular = await PopularAsync(cancellationToken);
        var present = items.Select(i => i.ItemId).ToHashSet();
        items.AddRange(popular.Where(p => (category is null || p.Category == category) && !present.Contains(p.ExternalId))
            .Take(count - items.Count).Select(p => new RecommendedItem(p.ExternalId, p.Count, p.Name, p.Category, "popularity")));
        return new UserRecommendations(userId, rows.FirstOrDefault().Version, reason is not null, reason,
            rows.Count > 0 ? DateTime.SpecifyKind(rows[0].UpdatedAt, DateTimeKind.Utc) : null, items);
    }

    public async Task<SimilarItems> SimilarAsync(string itemId, int count = 10, CancellationToken cancellationToken = default)
    {
        CheckId(itemId, "itemId");
        CheckCount(count);
        return await cache.GetOrComputeAsync(ServingCache.ItemKey(itemId), count.ToString(System.Globalization.CultureInfo.InvariantCulture),
            () => SimilarFromDatabaseAsync(itemId, count, cancellationToken));
    }

    private async Task<SimilarItems> SimilarFromDatabaseAsync(string itemId, int count, CancellationToken cancellationToken)
    {
        const string sql = """
            select s.model_version as Version, s.updated_at as UpdatedAt, n.external_id as ItemId, (x.e->>'score')::float8 as Score, n.name as Name, n.category as Category
            from products p
            left join offline_similar_items s on s.product_id = p.id
            left join lateral jsonb_array_elements(s.similar_products) with ordinality as x(e, ord) on true
            left join lateral (select external_id, name, category from products where id = (x.e->>'product_id')::bigint offset 0) n on true
            where p.external_id = @itemId
            order by x.ord
            limit @count
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = (await connection.QueryAsync<(string? Version, DateTime? UpdatedAt, string? ItemId, double? Score, string? Name, string? Category)>(
            new CommandDefinition(sql, new { itemId, count }, cancellationToken: cancellationToken))).ToList();
        if (rows.Count == 0)
            throw ServingException.NotFound($"Unknown item '{itemId}': no product has that id.");
        var items = rows.Where(r => r.ItemId is not null).Select(r => new RecommendedItem(r.ItemId!, r.Score, r.Name, r.Category, "model")).ToList();
        return new SimilarItems(itemId, rows[0].Version, rows[0].UpdatedAt is { } at ? DateTime.SpecifyKind(at, DateTimeKind.Utc) : null, items);
    }

    public async Task<RankedItems> RankAsync(string userId, IReadOnlyList<string> itemIds, CancellationToken cancellationToken = default)
    {
        CheckId(userId, "userId");
        if (itemIds.Count is 0 or > MaxRankItems)
            throw ServingException.BadRequest($"Give between 1 and {MaxRankItems} item ids to rank, not {itemIds.Count}.");
        foreach (var id in itemIds)
            CheckId(id, "each item id");
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var products = (await connection.QueryAsync<(long Id, string ExternalId, string Name, string? Category)>(new CommandDefinition(
            "select id, external_id, name, category from products where external_id = any(@ids)", new { ids = itemIds.Distinct().ToArray() }, cancellationToken: cancellationToken)))
            .ToDictionary(p => p.ExternalId);
        var unknown = itemIds.Where(id => !products.ContainsKey(id)).Distinct().ToList();
        if (unknown.Count > 0)
            throw ServingException.NotFound($"Unknown item{(unknown.Count > 1 ? "s" : "")}: {string.Join(", ", unknown.Take(10).Select(u => $"'{u}'"))}{(unknown.Count > 10 ? $" and {unknown.Count - 10} more" : "")}.");

        var model = await ChampionAsync(cancellationToken);
        var candidates = itemIds.Distinct().Select(id => products[id]).ToList();
        var userDbId = await connection.ExecuteScalarAsync<long?>(new CommandDefinition("select id from customers where external_id = @userId", new { userId }, cancellationToken: cancellationToken));
        float[]? scores = null;
        if (model is not null && userDbId is { } uid)
            scores = await UserScoresAsync(connection, model, uid, cancellationToken);
        if (scores is null)
        {
            var popular = (await PopularAsync(cancellationToken)).ToDictionary(p => p.Id, p => p.Count);
            var ranked = candidates.Select((p, k) => (p, k, count: popular.GetValueOrDefault(p.Id)))
                .OrderByDescending(x => x.count).ThenBy(x => x.k)
                .Select(x => new RecommendedItem(x.p.ExternalId, x.count, x.p.Name, x.p.Category, "popularity")).ToList();
            var reason = model is null ? "no champion model: ranked by popularity" : userDbId is null ? "unknown user: ranked by popularity" : "the champion cannot score this user: ranked by popularity";
            return new RankedItems(userId, model?.Version, true, reason, ranked);
        }
        var result = candidates.Select((p, k) => (p, k, score: model!.ItemIndex.TryGetValue(p.Id, out var i) ? scores[i] : (float?)null))
            .OrderByDescending(x => x.score ?? float.NegativeInfinity).ThenBy(x => x.k)
            .Select(x => new RecommendedItem(x.p.ExternalId, x.score is { } s ? Math.Round(s, 6) : null, x.p.Name, x.p.Category, "model")).ToList();
        return new RankedItems(userId, model!.Version, false, null, result);
    }

    /// <summary>
    /// Stores events (an event already stored, same user, item, type and time, is not stored twice: clients retry) and
    /// refreshes the user's cached recommendations by fold-in when the champion is an ALS model.
    /// </summary>
    public async Task<TrackResult> TrackAsync(string userId, IReadOnlyList<TrackedEvent> events, string? sessionId = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        CheckId(userId, "userId");
        if (events.Count is 0 or > MaxEvents)
            throw ServingException.BadRequest($"Send between 1 and {MaxEvents} events at a time, not {events.Count}.");
        foreach (var e in events)
        {
            CheckId(e.ItemId, "each event's itemId");
            CheckId(e.EventType, "each event's eventType");
            if (e.EventValue is { } v && !float.IsFinite(v))
                throw ServingException.BadRequest("eventValue must be a finite number.");
            if (e.SentAt is { } at && (at.Year < 1970 || at > time.GetUtcNow().UtcDateTime.AddDays(1)))
                throw ServingException.BadRequest($"sentAt {at:u} is not a plausible event time.");
        }
        if (sessionId is not null && sessionId.Length > MaxIdLength)
            throw ServingException.BadRequest($"sessionId is longer than {MaxIdLength} characters.");

        var now = time.GetUtcNow().UtcDateTime;
        var model = await ChampionAsync(cancellationToken);
        string? notRefreshed = model is null ? "there is no champion model yet"
            : model.Artifact.Model is not AlsRecommender ? $"the champion ({model.Artifact.Model.Recipe}) is not an ALS model; the cache refreshes at the next batch"
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
            channel = ServingCache.Channel,
            notice = ServingCache.UserNotice(userId),
            items = events.Select(e => e.ItemId).ToArray(),
            types = events.Select(e => e.EventType).ToArray(),
            values = events.Select(e => e.EventValue).ToArray(),
            ats = events.Select(e => DateTime.SpecifyKind(e.SentAt ?? now, DateTimeKind.Utc)).ToArray(),
            attributes = events.Select(e => sessionId is null && e.Properties is null ? null
                : JsonSerializer.Serialize(new Dictionary<string, string?> { ["session_id"] = sessionId, ["properties"] = e.Properties }.Where(kv => kv.Value is not null).ToDictionary())).ToArray(),
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
                await RefreshUserAsync(connection, transaction, model!, outcome.UserId, Weighted(model!, history), cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        cache.Invalidate(ServingCache.UserKey(userId));
        return new TrackResult(userId, stored, events.Count - stored, notRefreshed is null, model?.Version, notRefreshed, clock.Elapsed.TotalMilliseconds);
    }

    /// <summary>Folds the user in from their full history and rewrites their cached row.</summary>
    private async Task RefreshUserAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, ServingModel model, long user, (int[] Items, float[] Weights) history, CancellationToken cancellationToken)
    {
        var (items, weights) = history;
        var als = (AlsRecommender)model.Artifact.Model;
        var vector = als.FoldIn(items, weights);
        var scores = new float[als.Items];
        als.Score(vector, scores);
        if (als.ExcludeSeen)
        {
            foreach (var i in items)
                scores[i] = float.NegativeInfinity;
        }
        var topN = options.Value.TopN;
        var top = new int[topN];
        var topScores = new float[topN];
        var n = TopK.Select(scores, top, topScores);
        var json = BatchInference.ToJson(top.AsSpan(0, n), topScores.AsSpan(0, n), model.Artifact.ItemIds);
        await connection.ExecuteAsync(new CommandDefinition("""
            insert into offline_user_recommendations (user_id, recommendations, model_version, updated_at)
            values (@user, @json::jsonb, @version, @now)
            on conflict (user_id) do update set recommendations = excluded.recommendations, model_version = excluded.model_version, updated_at = excluded.updated_at
            """, new { user, json, version = model.Version, now = time.GetUtcNow().UtcDateTime }, transaction, cancellationToken: cancellationToken));
    }

    /// <summary>The user's items (model indices) with their event weights; items the model does not know are left out.</summary>
    private async Task<(int[] Items, float[] Weights)> HistoryAsync(NpgsqlConnection connection, ServingModel model, long user, CancellationToken cancellationToken) =>
        Weighted(model, await connection.QueryAsync<(long Item, string Type, int Count)>(new CommandDefinition(
            "select item_id, event_type, count(*)::int from interactions where user_id = @user group by 1, 2", new { user }, cancellationToken: cancellationToken)));

    /// <summary>Each (item, event type) of the history weighs its type's weight times how often it happened (as training sums repeats).</summary>
    private (int[] Items, float[] Weights) Weighted(ServingModel model, IEnumerable<(long Item, string Type, int Count)> rows)
    {
        var eventWeights = options.Value.EventWeights;
        var items = new List<int>();
        var weights = new List<float>();
        foreach (var (item, type, count) in rows)
        {
            if (model.ItemIndex.TryGetValue(item, out var i) && eventWeights.TryGetValue(type, out var w) && w > 0)
            {
                items.Add(i);
                weights.Add(w * count);
            }
        }
        return (items.ToArray(), weights.ToArray());
    }

    /// <summary>Scores of every model item for a user: their trained row, or a fold-in of their history for ALS; null when neither applies.</summary>
    private async Task<float[]?> UserScoresAsync(NpgsqlConnection connection, ServingModel model, long user, CancellationToken cancellationToken)
    {
        var recommender = model.Artifact.Model;
        var scores = new float[recommender.Items];
        if (recommender is AlsRecommender als)
        {
            var (items, weights) = await HistoryAsync(connection, model, user, cancellationToken);
            if (items.Length == 0)
                return null;
            als.Score(als.FoldIn(items, weights), scores);
            return scores;
        }
        if (!model.UserIndex.TryGetValue(user, out var u) || recommender.Recipe == PopularityRecommender.Name)
            return null;
        recommender.Score(u, scores);
        return scores;
    }

    /// <summary>The champion's artifact, reloaded when another version becomes champion (checked every two seconds at most).</summary>
    private async Task<ServingModel?> ChampionAsync(CancellationToken cancellationToken)
    {
        var current = _model;
        var now = Environment.TickCount64;
        if (current is not null && now - Interlocked.Read(ref _championCheckedAt) < ChampionCheckEvery.TotalMilliseconds)
            return current;
        await _loading.WaitAsync(cancellationToken);
        try
        {
            current = _model;
            if (current is not null && Environment.TickCount64 - Interlocked.Read(ref _championCheckedAt) < ChampionCheckEvery.TotalMilliseconds)
                return current;
            var champion = await registry.ChampionAsync(cancellationToken);
            Interlocked.Exchange(ref _championCheckedAt, Environment.TickCount64);
            if (champion is null)
                return _model = null;
            if (current?.Version == champion.Version)
                return current;
            var artifact = await registry.LoadArtifactAsync(champion.Version, cancellationToken);
            if (artifact is null)
                return _model = null;
            var users = new Dictionary<long, int>(artifact.UserIds.Length);
            for (var u = 0; u < artifact.UserIds.Length; u++) users[artifact.UserIds[u]] = u;
            var items = new Dictionary<long, int>(artifact.ItemIds.Length);
            for (var i = 0; i < artifact.ItemIds.Length; i++) items[artifact.ItemIds[i]] = i;
            logger.LogInformation("Serving model {Version} ({Recipe}) loaded for the API", champion.Version, champion.Recipe);
            return _model = new ServingModel(champion.Version, artifact, users, items);
        }
        finally
        {
            _loading.Release();
        }
    }

    /// <summary>The 200 most-bought products of the last 90 days of data (positive-weight events), cached for five minutes.</summary>
    private Task<PopularItem[]> PopularAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return SharedPopularAsync();
    }

    private Task<PopularItem[]> SharedPopularAsync()
    {
        var cached = _popular;
        if (cached is not null && (cached.IsCompletedSuccessfully || !cached.IsCompleted) && Environment.TickCount64 - Interlocked.Read(ref _popularAt) < PopularityFor.TotalMilliseconds)
            return cached;
        Interlocked.Exchange(ref _popularAt, Environment.TickCount64);
        var task = LoadPopularAsync(CancellationToken.None);
        _popular = task;
        return task;
    }

    private async Task<PopularItem[]> LoadPopularAsync(CancellationToken cancellationToken)
    {
        var types = options.Value.EventWeights.Where(w => w.Value > 0).Select(w => w.Key).ToArray();
        const string sql = """
            with recent as (
                select item_id, count(*) as n from interactions
                where event_type = any(@types) and occurred_at > (select max(occurred_at) from interactions) - interval '90 days'
                group by item_id order by n desc limit 200)
            select p.id as Id, p.external_id as ExternalId, p.name as Name, p.category as Category, r.n as Count from recent r join products p on p.id = r.item_id order by r.n desc, p.id
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<PopularItem>(new CommandDefinition(sql, new { types }, commandTimeout: 0, cancellationToken: cancellationToken))).ToArray();
    }
}
