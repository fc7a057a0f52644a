using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Services.Engine;
using Recs.Services.Models;

namespace Recs.Services.Serving;

/// <summary>
/// Answers the REST and AWS-compatible APIs' reads from the cache tables (through the in-memory answer cache), with
/// popularity as the fallback for users the cache does not know; ranks a given list with the champion's scores.
/// </summary>
public sealed class RecommendationService(NpgsqlDataSource dataSource, ModelStore models, IOptions<TrainingOptions> options, ServingCache cache,
    ExperimentRegistry experiments, RecommendationLog log, RemoteRanking remote)
{
    public const int MaxCount = 500;
    public const int MaxEvents = 10;
    public const int MaxRankItems = 500;
    public const int MaxIdLength = 256;
    private static readonly TimeSpan PopularityFor = TimeSpan.FromMinutes(5);

    private Task<PopularItem[]>? _popular;
    private long _popularAt;

    /// <summary>A popular product, for users the model does not know.</summary>
    public sealed record PopularItem(long Id, string ExternalId, string Name, string? Category, long Count);

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

    /// <summary>
    /// A user's recommendations with a recommendation id. While an experiment runs on user-recommendations, users in
    /// its challenger arm get the challenger's list, scored live from its artifact (the cache holds the champion's), or,
    /// when the challenger is the campaign's remote AWS Personalize campaign, the list its last fetch kept.
    /// </summary>
    public async Task<UserRecommendations> ForUserAsync(string userId, int count = 10, string? category = null, CancellationToken cancellationToken = default)
    {
        CheckId(userId, "userId");
        CheckCount(count);
        var experiment = await experiments.RunningAsync(Campaigns.UserRecommendations, cancellationToken);
        var arm = experiment?.ArmOf(userId);
        var answer = arm == ExperimentArms.Challenger
            ? await cache.GetOrComputeAsync(ServingCache.UserKey(userId), $"x{experiment!.Id}|{count}|{category}",
                () => CampaignEngines.IsRemote(experiment.ChallengerVersion)
                    ? ForUserFromDatabaseAsync(userId, count, category, cancellationToken, experiment.ChallengerVersion)
                    : ChallengerForUserAsync(experiment, userId, count, category, cancellationToken))
            : await AnswerAsync(userId, await cache.GetOrComputeAsync(ServingCache.UserKey(userId), ListVariant, () => ReadListAsync(userId, null, cancellationToken), UserList.Unknown),
                count, category, null, cancellationToken);
        return answer with { RecommendationId = log.Record(userId, Campaigns.UserRecommendations, answer.ModelVersion, experiment, arm, ProductIds(answer.Items)) };
    }

    /// <summary>The answer cache's variant that holds a user's <see cref="UserList"/> (every count and category is answered from it).</summary>
    private const string ListVariant = "list";

    /// <summary>
    /// What the reads need of one user, one database row: whether they are a customer, their region (for the
    /// popularity fallback) and their cached list (database product ids and scores, in order).
    /// </summary>
    private sealed record UserList(bool Known, string? Region, string? Version, DateTime? UpdatedAt, long[] ProductIds, double?[] Scores)
    {
        public static readonly UserList Unknown = new(false, null, null, null, [], []);

        public static UserList Of(string? region, string? version, DateTime? updatedAt, string? json)
        {
            var entries = json is null ? [] : RecommendationJson.Read(json);
            return new UserList(true, region, version, updatedAt is { } at ? DateTime.SpecifyKind(at, DateTimeKind.Utc) : null,
                entries.Select(e => e.ProductId).ToArray(), entries.Select(e => e.Score).ToArray());
        }
    }

    /// <summary>
    /// Fills the answer cache with every customer's list (at most half its capacity, the most recently refreshed lists
    /// and newest customers first) and the catalogue's names, in two bulk reads, so that first reads after a start, a
    /// batch or an import are answered from memory like repeated ones. Values that an event or a notice changes while
    /// it reads are not kept. When it read every customer, an id it did not keep is answered as unknown from memory
    /// too (see <see cref="ServingCache"/>'s roster). Returns how many users it kept (0 when the cache is off or not listening).
    /// </summary>
    public async Task<int> WarmAsync(CancellationToken cancellationToken)
    {
        using var warming = cache.BeginWarming();
        if (warming is null)
            return 0;
        var limit = Math.Max(1, cache.Capacity / 2);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        warming.PutProducts(await connection.QueryAsync<ServedProduct>(new CommandDefinition(
            "select id as Id, external_id as ExternalId, name as Name, category as Category from products order by id limit @limit", new { limit }, cancellationToken: cancellationToken)));
        const string sql = """
            select c.external_id, c.region, r.model_version, r.updated_at, r.recommendations::text
            from customers c left join offline_user_recommendations r on r.user_id = c.id
            order by r.updated_at desc nulls last, c.id desc
            limit @limit
            """;
        await using var reader = await connection.ExecuteReaderAsync(new CommandDefinition(sql, new { limit }, cancellationToken: cancellationToken));
        var (kept, read) = (0, 0);
        while (await reader.ReadAsync(cancellationToken) && warming.Current)
        {
            read++;
            var list = UserList.Of(reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetDateTime(3), reader.IsDBNull(4) ? null : reader.GetString(4));
            if (warming.Put(ServingCache.UserKey(reader.GetString(0)), ListVariant, list))
                kept++;
        }
        warming.Complete(everyone: read < limit);
        await reader.CloseAsync();
        // The popularity fallbacks (everyone's, and each region's for customers without a list) are loaded now, not by
        // the first read that needs them.
        await PopularAsync(cancellationToken);
        foreach (var region in await connection.QueryAsync<string>(new CommandDefinition(
            "select distinct region from customers where region is not null limit 200", cancellationToken: cancellationToken)))
            await RegionPopularAsync(region, cancellationToken);
        return kept;
    }

    private static long[] ProductIds(IReadOnlyList<RecommendedItem> items)
    {
        var ids = new long[items.Count];
        for (var k = 0; k < ids.Length; k++)
            ids[k] = items[k].ProductId;
        return ids;
    }

    /// <summary>A user's list read from the database (<paramref name="remoteArn"/>: the list the last fetch from that remote campaign kept), then answered.</summary>
    private async Task<UserRecommendations> ForUserFromDatabaseAsync(string userId, int count, string? category, CancellationToken cancellationToken, string? remoteArn = null) =>
        await AnswerAsync(userId, await ReadListAsync(userId, remoteArn, cancellationToken), count, category, remoteArn, cancellationToken);

    /// <summary>One round trip whatever the user: their region (no row: unknown) and cached list, or the one the last fetch from <paramref name="remoteArn"/> kept.</summary>
    private async Task<UserList> ReadListAsync(string userId, string? remoteArn, CancellationToken cancellationToken)
    {
        var sql = $"""
            select c.region as Region, r.model_version as Version, r.updated_at as UpdatedAt, r.recommendations as Recommendations
            from customers c left join {(remoteArn is null ? "offline_user_recommendations" : RemoteLists.UserLists)} r on r.user_id = c.id
            where c.external_id = @userId
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<CachedListRow>(new CommandDefinition(sql,
            new { userId, campaign = Campaigns.UserRecommendations, arn = remoteArn }, cancellationToken: cancellationToken));
        return row is null ? UserList.Unknown : UserList.Of(row.Region, row.Version, row.UpdatedAt, row.Recommendations);
    }

    /// <summary>
    /// The answer from a user's list: its first <paramref name="count"/> products (of <paramref name="category"/>), whose
    /// names come from the answer cache's product table (a round trip only for products not read since the last import),
    /// topped up with popularity when the list falls short.
    /// </summary>
    private async Task<UserRecommendations> AnswerAsync(string userId, UserList list, int count, string? category, string? remoteArn, CancellationToken cancellationToken)
    {
        var items = new List<RecommendedItem>(count);
        if (list.ProductIds.Length > 0)
        {
            var products = await ProductsAsync(null, list.ProductIds, cancellationToken);
            for (var k = 0; k < list.ProductIds.Length && items.Count < count; k++)
            {
                if (products.TryGetValue(list.ProductIds[k], out var p) && (category is null || p.Category == category))
                    items.Add(new RecommendedItem(p.ExternalId, list.Scores[k], p.Name, p.Category, "model", p.Id));
            }
        }
        if (items.Count >= count)
            return new UserRecommendations(userId, list.Version, false, null, list.UpdatedAt, items);
        var reason = await TopUpAsync(list.Known ? new Customer(list.Region) : null, count, category, items, cancellationToken);
        var fromModel = items.Any(i => i.Source == "model");
        return new UserRecommendations(userId, fromModel ? list.Version : remoteArn, reason is not null, reason, fromModel ? list.UpdatedAt : null, items);
    }

    private sealed record CachedListRow(string? Region, string? Version, DateTime? UpdatedAt, string? Recommendations);

    /// <summary>A known customer as the popularity fallback needs them.</summary>
    private sealed record Customer(string? Region);

    private sealed record CustomerRow(long Id, string? Region);

    /// <summary>Products by database id, through the answer cache's product table (read on <paramref name="connection"/>, or on one opened if needed).</summary>
    private Task<IReadOnlyDictionary<long, ServedProduct>> ProductsAsync(NpgsqlConnection? connection, long[] ids, CancellationToken cancellationToken) =>
        cache.ProductsAsync(ids, async missing =>
        {
            const string sql = "select id as Id, external_id as ExternalId, name as Name, category as Category from products where id = any(@missing)";
            if (connection is not null)
                return await connection.QueryAsync<ServedProduct>(new CommandDefinition(sql, new { missing }, cancellationToken: cancellationToken));
            await using var own = await dataSource.OpenConnectionAsync(cancellationToken);
            return (await own.QueryAsync<ServedProduct>(new CommandDefinition(sql, new { missing }, cancellationToken: cancellationToken))).ToList();
        });

    /// <summary>
    /// Unknown user, no model list, or a category the list barely covers: tops <paramref name="items"/> up with
    /// popularity — the region's first for a known customer without history (what people around them buy), then
    /// everyone's. Returns the reason to show when the list is all popularity, else null.
    /// </summary>
    private async Task<string?> TopUpAsync(Customer? customer, int count, string? category, List<RecommendedItem> items, CancellationToken cancellationToken)
    {
        string? reason = null;
        IEnumerable<(PopularItem Item, string Source)> popular = [];
        if (items.Count == 0)
        {
            reason = customer is null ? "unknown user: popular items"
                : category is not null ? "no cached recommendations in this category: popular items"
                : customer.Region is { } region ? $"no history yet: popular in their region ({region}), then everywhere"
                : "no cached recommendations for this user yet: popular items";
            if (customer?.Region is { } r && category is null)
                popular = (await RegionPopularAsync(r, cancellationToken)).Select(p => (p, "popularity-region"));
        }
        popular = popular.Concat((await PopularAsync(cancellationToken)).Select(p => (p, "popularity")));
        var present = items.Select(i => i.ItemId).ToHashSet();
        foreach (var (p, source) in popular)
        {
            if (items.Count >= count)
                break;
            if ((category is null || p.Category == category) && present.Add(p.ExternalId))
                items.Add(new RecommendedItem(p.ExternalId, p.Count, p.Name, p.Category, source, p.Id));
        }
        return reason;
    }

    /// <summary>
    /// The challenger's list for a user in its arm: scored from their current history (or trained row) by the
    /// challenger's artifact, what they have already interacted with left out as the cache does, topped up with
    /// popularity as the control's list is. A user it cannot score gets the same popularity the control arm would.
    /// </summary>
    private async Task<UserRecommendations> ChallengerForUserAsync(OnlineExperiment experiment, string userId, int count, string? category, CancellationToken cancellationToken)
    {
        var model = await models.GetAsync(experiment.ChallengerVersion, cancellationToken)
            ?? throw new ServingException(503, $"The challenger {experiment.ChallengerVersion} has no artifact to serve from.");
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var customer = await connection.QuerySingleOrDefaultAsync<CustomerRow>(new CommandDefinition(
            "select id, region from customers where external_id = @userId", new { userId }, cancellationToken: cancellationToken));
        float[]? scores = null;
        int[] seen = [];
        if (customer?.Id is { } uid)
        {
            var (historyItems, weights) = await UserHistory.ReadAsync(connection, model, uid, options.Value.EventWeights, cancellationToken);
            seen = historyItems;
            scores = UserHistory.Score(model, uid, historyItems, weights);
        }
        var items = new List<RecommendedItem>();
        if (scores is not null)
        {
            var (top, topScores) = UserHistory.TopUnseen(model, scores, seen, category is null ? count : Math.Min(model.Model.Items, Math.Max(count * 20, 200)));
            var ids = top.Select(i => model.Artifact.ItemIds[i]).ToArray();
            var products = await ProductsAsync(connection, ids, cancellationToken);
            for (var k = 0; k < ids.Length && items.Count < count; k++)
            {
                if (products.TryGetValue(ids[k], out var p) && (category is null || p.Category == category))
                    items.Add(new RecommendedItem(p.ExternalId, Math.Round(topScores[k], 6), p.Name, p.Category, "model", p.Id));
            }
        }
        var reason = items.Count >= count ? null : await TopUpAsync(customer is null ? null : new Customer(customer.Region), count, category, items, cancellationToken);
        return new UserRecommendations(userId, model.Version.Version, reason is not null, reason, null, items);
    }

    /// <summary>An item's neighbours with a recommendation id (<paramref name="userId"/>, when the caller names one, is logged with it).</summary>
    public async Task<SimilarItems> SimilarAsync(string itemId, int count = 10, CancellationToken cancellationToken = default, string? userId = null)
    {
        CheckId(itemId, "itemId");
        CheckCount(count);
        if (userId is not null)
            CheckId(userId, "userId");
        var answer = await cache.GetOrComputeAsync(ServingCache.ItemKey(itemId), count.ToString(System.Globalization.CultureInfo.InvariantCulture),
            () => SimilarFromDatabaseAsync(itemId, count, cancellationToken));
        return answer with { RecommendationId = log.Record(userId, Campaigns.SimilarItems, answer.ModelVersion, null, null, ProductIds(answer.Items)) };
    }

    private async Task<SimilarItems> SimilarFromDatabaseAsync(string itemId, int count, CancellationToken cancellationToken)
    {
        const string sql = """
            select s.model_version as Version, s.updated_at as UpdatedAt, n.external_id as ItemId, (x.e->>'score')::float8 as Score, n.name as Name, n.category as Category, n.id as ProductId
            from products p
            left join offline_similar_items s on s.product_id = p.id
            left join lateral jsonb_array_elements(s.similar_products) with ordinality as x(e, ord) on true
            left join lateral (select id, external_id, name, category from products where id = (x.e->>'product_id')::bigint offset 0) n on true
            where p.external_id = @itemId
            order by x.ord
            limit @count
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = (await connection.QueryAsync<(string? Version, DateTime? UpdatedAt, string? ItemId, double? Score, string? Name, string? Category, long? ProductId)>(
            new CommandDefinition(sql, new { itemId, count }, cancellationToken: cancellationToken))).ToList();
        if (rows.Count == 0)
            throw ServingException.NotFound($"Unknown item '{itemId}': no product has that id.");
        var items = rows.Where(r => r.ItemId is not null).Select(r => new RecommendedItem(r.ItemId!, r.Score, r.Name, r.Category, "model", r.ProductId ?? 0)).ToList();
        return new SimilarItems(itemId, rows[0].Version, rows[0].UpdatedAt is { } at ? DateTime.SpecifyKind(at, DateTimeKind.Utc) : null, items);
    }

    /// <summary>
    /// The given items ordered for the user by the personalized-ranking campaign's version or remote campaign (or, for a
    /// user in the challenger arm of an experiment on it, the challenger), with a recommendation id.
    /// </summary>
    public async Task<RankedItems> RankAsync(string userId, IReadOnlyList<string> itemIds, CancellationToken cancellationToken = default)
    {
        CheckId(userId, "userId");
        var experiment = await experiments.RunningAsync(Campaigns.PersonalizedRanking, cancellationToken);
        var arm = experiment?.ArmOf(userId);
        var answer = await RankWithAsync(userId, itemIds, arm == ExperimentArms.Challenger ? experiment!.ChallengerVersion : null, cancellationToken);
        return answer with { RecommendationId = log.Record(userId, Campaigns.PersonalizedRanking, answer.ModelVersion, experiment, arm, ProductIds(answer.Items)) };
    }

    private async Task<RankedItems> RankWithAsync(string userId, IReadOnlyList<string> itemIds, string? challenger, CancellationToken cancellationToken)
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

        var candidates = itemIds.Distinct().Select(id => products[id]).ToList();
        if (challenger is null && remote.Remote is not null || CampaignEngines.IsRemote(challenger))
        {
            // The connection goes back to the pool while the remote campaign answers.
            await connection.CloseAsync();
            return await remote.RankAsync(userId, candidates, cancellationToken);
        }
        var model = challenger is null
            ? await models.ServingAsync(Campaigns.PersonalizedRanking, cancellationToken)
            : await models.GetAsync(challenger, cancellationToken) ?? throw new ServingException(503, $"The challenger {challenger} has no artifact to serve from.");
        var userDbId = await connection.ExecuteScalarAsync<long?>(new CommandDefinition("select id from customers where external_id = @userId", new { userId }, cancellationToken: cancellationToken));
        float[]? scores = null;
        if (model is not null && userDbId is { } uid)
            scores = await UserScoresAsync(connection, model, uid, cancellationToken);
        if (scores is null)
        {
            var popular = (await PopularAsync(cancellationToken)).ToDictionary(p => p.Id, p => p.Count);
            var ranked = candidates.Select((p, k) => (p, k, count: popular.GetValueOrDefault(p.Id)))
                .OrderByDescending(x => x.count).ThenBy(x => x.k)
                .Select(x => new RecommendedItem(x.p.ExternalId, x.count, x.p.Name, x.p.Category, "popularity", x.p.Id)).ToList();
            var reason = model is null ? "no champion model: ranked by popularity" : userDbId is null ? "unknown user: ranked by popularity" : $"{(challenger is null ? "the champion" : "the challenger")} cannot score this user: ranked by popularity";
            return new RankedItems(userId, model?.Version.Version, true, reason, ranked);
        }
        var result = candidates.Select((p, k) => (p, k, score: model!.ItemIndex.TryGetValue(p.Id, out var i) ? scores[i] : (float?)null))
            .OrderByDescending(x => x.score ?? float.NegativeInfinity).ThenBy(x => x.k)
            .Select(x => new RecommendedItem(x.p.ExternalId, x.score is { } s ? Math.Round(s, 6) : null, x.p.Name, x.p.Category, "model", x.p.Id)).ToList();
        return new RankedItems(userId, model!.Version.Version, false, null, result);
    }

    /// <summary>
    /// Scores of every model item for a user: from their current history where the model can (so a user who arrived
    /// after training is ranked too), else their trained row; null when neither applies.
    /// </summary>
    private async Task<float[]?> UserScoresAsync(NpgsqlConnection connection, LoadedModel model, long user, CancellationToken cancellationToken)
    {
        if (!model.Recipe.Personal)
            return null;
        var scores = new float[model.Model.Items];
        if (model.Model is IHistoryScorer scorer)
        {
            var (items, weights) = await UserHistory.ReadAsync(connection, model, user, options.Value.EventWeights, cancellationToken);
            if (items.Length == 0)
                return null;
            scorer.ScoreHistory(items, weights, scores);
            return scores;
        }
        if (!model.UserIndex.TryGetValue(user, out var u))
            return null;
        model.Model.Score(u, scores);
        return scores;
    }

    /// <summary>The most popular products (see <see cref="LoadPopularAsync"/>), shared by the tracker's and the reads' fallbacks.</summary>
    public Task<PopularItem[]> PopularProductsAsync(CancellationToken cancellationToken) => PopularAsync(cancellationToken);

    /// <summary>The 200 most-bought products of the last 90 days of data (positive-weight events), cached for five minutes (then reloaded in the background).</summary>
    private Task<PopularItem[]> PopularAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return SharedPopularAsync();
    }

    /// <summary>
    /// The shared list; once it is older than <see cref="PopularityFor"/> it is reloaded in the background while the
    /// old one is still served (the load scans recent interactions: tens of milliseconds that no read should wait for).
    /// </summary>
    private Task<PopularItem[]> SharedPopularAsync()
    {
        var cached = _popular;
        var fresh = Environment.TickCount64 - Interlocked.Read(ref _popularAt) < PopularityFor.TotalMilliseconds;
        if (cached is not null && !cached.IsCompleted)
            return cached;
        if (cached is not null && cached.IsCompletedSuccessfully && fresh)
            return cached;
        Interlocked.Exchange(ref _popularAt, Environment.TickCount64);
        var task = LoadPopularAsync(CancellationToken.None);
        if (cached is { IsCompletedSuccessfully: true })
        {
            // Stale: the reload replaces it when done; until then (or if it fails) the old list serves.
            _ = task.ContinueWith(t => { if (t.IsCompletedSuccessfully) _popular = t; }, TaskScheduler.Default);
            return cached;
        }
        _popular = task;
        return task;
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (Task<PopularItem[]> Items, long At)> _regionPopular = new();

    /// <summary>The region's 100 most-bought products of the last 90 days of data, cached for five minutes (then reloaded in the background).</summary>
    private Task<PopularItem[]> RegionPopularAsync(string region, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var known = _regionPopular.TryGetValue(region, out var cached);
        if (known && !cached.Items.IsFaulted && (!cached.Items.IsCompleted || Environment.TickCount64 - cached.At < PopularityFor.TotalMilliseconds))
            return cached.Items;
        var task = LoadRegionPopularAsync(region);
        if (known && cached.Items.IsCompletedSuccessfully)
        {
            // Stale: reloaded in the background (as the shared list is), the old list serving meanwhile.
            _regionPopular[region] = (cached.Items, Environment.TickCount64);
            _ = task.ContinueWith(t => { if (t.IsCompletedSuccessfully) _regionPopular[region] = (t, Environment.TickCount64); }, TaskScheduler.Default);
            return cached.Items;
        }
        _regionPopular[region] = (task, Environment.TickCount64);
        return task;
    }

    private async Task<PopularItem[]> LoadRegionPopularAsync(string region)
    {
        var types = options.Value.EventWeights.Where(w => w.Value > 0).Select(w => w.Key).ToArray();
        const string sql = """
            with recent as (
                select i.item_id, count(*) as n from interactions i join customers c on c.id = i.user_id
                where c.region = @region and i.event_type = any(@types) and i.occurred_at > (select max(occurred_at) from interactions) - interval '90 days'
                group by i.item_id order by n desc limit 100)
            select p.id as Id, p.external_id as ExternalId, p.name as Name, p.category as Category, r.n as Count from recent r join products p on p.id = r.item_id order by r.n desc, p.id
            """;
        await using var connection = await dataSource.OpenConnectionAsync();
        return (await connection.QueryAsync<PopularItem>(new CommandDefinition(sql, new { region, types }, commandTimeout: 0))).ToArray();
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
