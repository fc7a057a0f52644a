using System.Diagnostics;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Services.Engine;
using Recs.Services.Models;

namespace Recs.Services.Analytics;

/// <summary>What the comparison page asks for: two versions of one campaign. Users beyond <paramref name="MaxUsers"/> are sampled (seeded).</summary>
public sealed record ComparisonQuery(string Campaign, string A, string B, int TopN = 10, int MaxUsers = VersionComparisonService.DefaultMaxUsers,
    int Seed = VersionComparisonService.DefaultSeed, int SideBySide = 8, int RegionProducts = 20);

/// <summary>An item with how many users (or products) it entered or left the lists of.</summary>
public sealed record ItemChange(long ProductId, string Name, string? Category, int Count, double Share)
{
    /// <summary>What tells products of the same name apart: the colour attribute when there is one, else the external id.</summary>
    public string? Variant { get; init; }
}

/// <summary>One entry of a shown list: the product and whether the other version's list holds it too.</summary>
public sealed record ListEntry(long ProductId, string Name, bool InBoth)
{
    /// <summary>The colour (or external id) that tells products of the same name apart.</summary>
    public string? Variant { get; init; }
}

/// <summary>A subject (user or product) side by side: what they bought (or are), A's and B's lists, and the overlap.</summary>
public sealed record SideBySideRow(long Id, string Label, string? Detail, IReadOnlyList<string> History, IReadOnlyList<ListEntry> A, IReadOnlyList<ListEntry> B, double Overlap);

/// <summary>Per region × product: users, A's and B's match rates (share of the region's users whose top N holds it) and B − A.</summary>
public sealed record RegionDifference(IReadOnlyList<string> Regions, IReadOnlyList<int> Users, IReadOnlyList<ProductRow> Products,
    double[,] RateA, double[,] RateB)
{
    public double Difference(int region, int product) => RateB[region, product] - RateA[region, product];

    /// <summary>The largest |B − A| in the grid (the colour scale's half-width), at least one point.</summary>
    public double MaxAbsolute()
    {
        var max = 0.01;
        for (var r = 0; r < Regions.Count; r++)
        for (var p = 0; p < Products.Count; p++)
            max = Math.Max(max, Math.Abs(Difference(r, p)));
        return max;
    }
}

/// <summary>Everything the comparison page shows.</summary>
public sealed record VersionComparison(
    string Campaign, ModelVersion A, ModelVersion B, bool ByProduct, int Compared, int Eligible, bool Sampled, int Seed,
    ListComparison Lists, IReadOnlyList<ItemChange> Entered, IReadOnlyList<ItemChange> Left,
    RegionDifference? Regions, IReadOnlyList<SideBySideRow> SideBySide, TimeSpan Elapsed)
{
    /// <summary>Where the time went (phase → milliseconds), for the bench and for anyone wondering why it was slow.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> Phases { get; init; } = [];

    /// <summary>"users" or "products": what a list belongs to.</summary>
    public string Subjects => ByProduct ? "products" : "users";
}

/// <summary>
/// Compares two versions of one campaign from their artifacts, scoring lists exactly as batch inference does (the
/// shared <see cref="TopNLists"/>, seen items left out). User campaigns compare users' top-N; similar-items compares
/// each product's top-N neighbours. Beyond <see cref="DefaultMaxUsers"/> users a seeded sample is compared (the page says so).
/// Refusals (unknown versions, another campaign, no artifact) are <see cref="ArgumentException"/>s with a message for people.
/// </summary>
public sealed class VersionComparisonService(NpgsqlDataSource dataSource, ModelRegistry registry, ModelStore store, IOptions<TrainingOptions> options,
    TimeProvider time)
{
    /// <summary>How long a page may reuse a comparison (a page is rendered twice, prerendered then live; several people may look at once).</summary>
    public static readonly TimeSpan Reuse = TimeSpan.FromMinutes(2);

    private const int KeptComparisons = 4;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ComparisonQuery, (DateTimeOffset At, Lazy<Task<VersionComparison>> Result)> _recent = new();

    public const int DefaultMaxUsers = 20_000;
    public const int DefaultSeed = 1;
    private const int ShownChanges = 15;

    /// <summary>The versions that can be compared for a campaign: trained, with a recipe that can serve it; newest first.</summary>
    public async Task<IReadOnlyList<ModelVersion>> VersionsAsync(string campaign, CancellationToken cancellationToken = default)
    {
        Campaigns.Check(campaign);
        var local = (await registry.ListAsync(cancellationToken)).Where(v => CanServe(v, campaign)).ToList();
        return await RemoteAsync(campaign, null, cancellationToken) is { } remote ? [remote, .. local] : local;
    }

    /// <summary>
    /// The lists a remote AWS Personalize campaign left in the campaign's cache, as a comparable "version" (the ARN, recipe
    /// "AWS Personalize", created at the fetch time); null when the cache holds no remote lists (or not those of <paramref name="arn"/>).
    /// </summary>
    private async Task<ModelVersion?> RemoteAsync(string campaign, string? arn, CancellationToken cancellationToken)
    {
        if (campaign == Campaigns.PersonalizedRanking)
            return null;
        var table = campaign == Campaigns.SimilarItems ? "offline_similar_items" : "offline_user_recommendations";
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var stamp = await connection.QuerySingleOrDefaultAsync<(string Version, DateTime UpdatedAt)?>(new CommandDefinition(
            $"select model_version, updated_at from {table} limit 1", cancellationToken: cancellationToken));
        if (stamp is not { } s || !CampaignEngines.IsRemote(s.Version) || (arn is not null && arn != s.Version))
            return null;
        return new ModelVersion(0, s.Version, RemoteRecipe, "remote", "{}", 0, "{}", null, null, null, null, null, s.UpdatedAt, s.UpdatedAt, null);
    }

    /// <summary>The recipe a remote campaign's lists show under.</summary>
    public const string RemoteRecipe = "AWS Personalize";

    private static bool CanServe(ModelVersion v, string campaign) =>
        v.Status is not (ModelStatus.Training or ModelStatus.Failed) && RecipeCatalog.Exists(v.Recipe) && RecipeCatalog.Get(v.Recipe).Serves.Contains(campaign);

    /// <summary>
    /// The comparison, shared with whoever asked the same within <see cref="Reuse"/> (or is computing it now): the
    /// versions' models never change, only the histories behind "already bought" do, slowly. Refusals are not kept.
    /// </summary>
    /// <remarks>
    /// The work runs on the thread pool, not on the caller's context: a page's circuit stays responsive while both
    /// models score every user, and nothing of the comparison waits for that circuit's dispatcher.
    /// </remarks>
    public async Task<VersionComparison> CompareRecentAsync(ComparisonQuery query, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        foreach (var (key, entry) in _recent)
        {
            if (now - entry.At > Reuse || (entry.Result.IsValueCreated && entry.Result.Value.IsFaulted))
                _recent.TryRemove(key, out _);
        }
        var kept = _recent.GetOrAdd(query, q => (now, new Lazy<Task<VersionComparison>>(() => Task.Run(() => CompareAsync(q, CancellationToken.None)))));
        if (_recent.Count > KeptComparisons)
        {
            foreach (var old in _recent.OrderBy(e => e.Value.At).Take(_recent.Count - KeptComparisons).Select(e => e.Key).Where(k => k != query))
                _recent.TryRemove(old, out _);
        }
        try
        {
            return await kept.Result.Value.WaitAsync(cancellationToken);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            _recent.TryRemove(query, out _);
            throw;
        }
    }

    /// <summary>Computes the comparison now (the bench measures this).</summary>
    public async Task<VersionComparison> CompareAsync(ComparisonQuery query, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        Campaigns.Check(query.Campaign);
        if (query.TopN is < 1 or > 100)
            throw new ArgumentException("Top-N must be between 1 and 100.");
        async Task<ModelVersion> Resolve(string version) => CampaignEngines.IsRemote(version)
            ? await RemoteAsync(query.Campaign, version, cancellationToken) ?? throw new ArgumentException($"The {query.Campaign} cache holds no lists fetched from {version}.")
            : await registry.GetAsync(version, cancellationToken) ?? throw new ArgumentException($"There is no model version {version}.");
        var a = await Resolve(query.A);
        var b = await Resolve(query.B);
        foreach (var v in new[] { a, b }.Where(v => v.Recipe != RemoteRecipe))
        {
            if (v.Status is ModelStatus.Training or ModelStatus.Failed)
                throw new ArgumentException($"Version {v.Version} is {v.Status}: it has no model to compare.");
            if (!CanServe(v, query.Campaign))
                throw new ArgumentException($"Version {v.Version} is a {v.Recipe} model, which cannot serve the {query.Campaign} campaign: " +
                    $"compare it within {string.Join(" or ", RecipeCatalog.Exists(v.Recipe) ? RecipeCatalog.Get(v.Recipe).Serves : [])}.");
        }
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var modelA = await SideAsync(connection, query.Campaign, a, cancellationToken);
        var modelB = await SideAsync(connection, query.Campaign, b, cancellationToken);
        var catalogue = (await connection.QueryAsync<long>("select id from products")).ToList();
        var phases = new Phases(clock);
        phases.Lap("models");

        return query.Campaign == Campaigns.SimilarItems
            ? await CompareProductsAsync(connection, query, a, b, modelA, modelB, catalogue, phases, cancellationToken)
            : await CompareUsersAsync(connection, query, a, b, modelA, modelB, catalogue, phases, cancellationToken);
    }

    private async Task<VersionComparison> CompareUsersAsync(NpgsqlConnection connection, ComparisonQuery query, ModelVersion a, ModelVersion b,
        Side modelA, Side modelB, List<long> catalogue, Phases phases, CancellationToken cancellationToken)
    {
        // Users both models know; beyond the limit, the ones first in a seeded hash order (the same sample every time).
        var known = modelA.Users().Where(modelB.KnowsUser).ToArray();
        var sampled = known.Length > query.MaxUsers;
        var candidates = sampled ? Sample(known, query.MaxUsers, query.Seed) : known;
        var types = options.Value.EventWeights.Where(w => w.Value > 0).Select(w => w.Key).ToArray();
        var pairs = await TopNLists.ReadSeenAsync(dataSource, types, sampled ? candidates : null, cancellationToken);
        phases.Lap("reading histories");
        modelA.Index(pairs, null);
        // Versions trained on the same data share their index maps, and then one matrix serves both.
        modelB.Index(pairs, modelA);
        phases.Lap("indexing histories");

        // As batch inference: users with history. Kept in the seeded order so the side-by-side sample is stable.
        var users = candidates.Where(id => modelA.HasHistory(id) || modelB.HasHistory(id))
            .OrderBy(id => Mix(id, query.Seed)).ToArray();
        var listsA = modelA.UserLists(users, query.TopN, cancellationToken);
        var listsB = modelB.UserLists(users, query.TopN, cancellationToken);
        phases.Lap("scoring");

        // Popularity: how many of the compared users' histories hold each item.
        var inUsers = users.ToHashSet();
        var popularity = new Dictionary<long, int>();
        foreach (var (user, item) in pairs.Users.Zip(pairs.Items).Where(p => inUsers.Contains(p.First)).Distinct())
            popularity[item] = popularity.GetValueOrDefault(item) + 1;
        var lists = ListComparison.Compute(listsA, listsB, query.TopN, popularity, catalogue);
        phases.Lap("figures");
        var regions = await RegionsAsync(connection, users, listsA, listsB, query.RegionProducts, cancellationToken);
        phases.Lap("regions");
        var shown = users.Take(query.SideBySide).Select((id, k) => (id, k)).ToArray();
        var histories = (await connection.QueryAsync<(long User, string Name)>("""
            select user_id, name from (
                select i.user_id, p.name || coalesce(' · ' || (p.attributes->>'colour'), '') as name, row_number() over (partition by i.user_id order by i.occurred_at desc, i.id desc) as n
                from interactions i join products p on p.id = i.item_id
                where i.user_id = any(@ids) and i.event_type = 'purchase') recent
            where n <= 5 order by user_id, n
            """, new { ids = shown.Select(s => s.id).ToArray() })).ToLookup(r => r.User, r => r.Name);
        var customers = (await connection.QueryAsync<(long Id, string ExternalId, string? Region, string? Segment)>(
            "select id, external_id, region, segment from customers where id = any(@ids)", new { ids = shown.Select(s => s.id).ToArray() })).ToDictionary(c => c.Id);
        var names = await NamesAsync(connection, shown.SelectMany(s => listsA[s.k].Concat(listsB[s.k])).Concat(lists.Entered.Keys).Concat(lists.Left.Keys));
        var side = shown.Select(s =>
        {
            var c = customers.GetValueOrDefault(s.id);
            return Row(s.id, c.ExternalId ?? s.id.ToString(System.Globalization.CultureInfo.InvariantCulture),
                string.Join(" · ", new[] { c.Region, c.Segment }.Where(x => x is not null)), histories[s.id].ToList(), listsA[s.k], listsB[s.k], lists.Overlaps[s.k], names);
        }).ToList();
        return new VersionComparison(query.Campaign, a, b, false, users.Length, known.Length, sampled, query.Seed, lists,
            Changes(lists.Entered, names, users.Length), Changes(lists.Left, names, users.Length), regions, side, phases.Total) { Phases = phases.Done("side by side") };
    }

    private async Task<VersionComparison> CompareProductsAsync(NpgsqlConnection connection, ComparisonQuery query, ModelVersion a, ModelVersion b,
        Side modelA, Side modelB, List<long> catalogue, Phases phases, CancellationToken cancellationToken)
    {
        var products = modelA.Items().Where(modelB.KnowsItem).OrderBy(id => Mix(id, query.Seed)).ToArray();
        var listsA = modelA.ItemLists(products, query.TopN, cancellationToken);
        var listsB = modelB.ItemLists(products, query.TopN, cancellationToken);
        phases.Lap("scoring");
        var popularity = (await connection.QueryAsync<(long Item, int Users)>(new CommandDefinition(
            "select item_id, count(distinct user_id)::int from interactions where event_type = any(@types) group by item_id",
            new { types = options.Value.EventWeights.Where(w => w.Value > 0).Select(w => w.Key).ToArray() }, commandTimeout: 0, cancellationToken: cancellationToken)))
            .ToDictionary(r => r.Item, r => r.Users);
        var lists = ListComparison.Compute(listsA, listsB, query.TopN, popularity, catalogue);
        phases.Lap("figures");
        var shown = products.Take(query.SideBySide).Select((id, k) => (id, k)).ToArray();
        var names = await NamesAsync(connection, shown.SelectMany(s => listsA[s.k].Concat(listsB[s.k]).Append(s.id)).Concat(lists.Entered.Keys).Concat(lists.Left.Keys));
        var categories = (await connection.QueryAsync<(long Id, string ExternalId, string? Category)>(
            "select id, external_id, category from products where id = any(@ids)", new { ids = shown.Select(s => s.id).ToArray() })).ToDictionary(p => p.Id);
        var side = shown.Select(s =>
        {
            var p = categories.GetValueOrDefault(s.id);
            return Row(s.id, names.TryGetValue(s.id, out var n) ? n.Name : p.ExternalId ?? "", p.Category, [], listsA[s.k], listsB[s.k], lists.Overlaps[s.k], names);
        }).ToList();
        return new VersionComparison(query.Campaign, a, b, true, products.Length, products.Length, false, query.Seed, lists,
            Changes(lists.Entered, names, products.Length), Changes(lists.Left, names, products.Length), null, side, phases.Total) { Phases = phases.Done("side by side") };
    }

    private static long[][] Lists(LoadedModel model, int[] users, CsrMatrix seen, int topN, CancellationToken cancellationToken)
    {
        var ids = model.Artifact.ItemIds;
        var lists = new long[users.Length][];
        new TopNLists(model.Model).Compute(users, seen, topN, (k, items, _) =>
        {
            var list = new long[items.Length];
            for (var j = 0; j < items.Length; j++) list[j] = ids[items[j]];
            lists[k] = list;
        }, cancellationToken);
        return lists;
    }

    private static long[][] Neighbours(LoadedModel model, long[] products, int topN, CancellationToken cancellationToken)
    {
        var ids = model.Artifact.ItemIds;
        var lists = new long[products.Length][];
        Parallel.For(0, products.Length, new ParallelOptions { CancellationToken = cancellationToken }, () => (Items: new int[topN], Scores: new float[topN]), (k, _, buffer) =>
        {
            var n = model.Model.SimilarItems(model.ItemIndex[products[k]], buffer.Items, buffer.Scores);
            lists[k] = buffer.Items.Take(n).Select(i => ids[i]).ToArray();
            return buffer;
        }, _ => { });
        return lists;
    }

    /// <summary>A side of a comparison: a local model's artifact (lists scored as batch inference does), or a remote campaign's cached lists.</summary>
    private async Task<Side> SideAsync(NpgsqlConnection connection, string campaign, ModelVersion version, CancellationToken cancellationToken)
    {
        if (version.Recipe != RemoteRecipe)
            return new Side(await store.GetAsync(version.Version, cancellationToken) ?? throw new ArgumentException($"Version {version.Version} has no stored model."), null);
        var sql = campaign == Campaigns.SimilarItems
            ? "select product_id, array(select (e->>'product_id')::bigint from jsonb_array_elements(similar_products) e) from offline_similar_items where model_version = @version"
            : "select user_id, array(select (e->>'product_id')::bigint from jsonb_array_elements(recommendations) e) from offline_user_recommendations where model_version = @version";
        var cached = (await connection.QueryAsync<(long Key, long[] List)>(new CommandDefinition(sql, new { version = version.Version }, commandTimeout: 0, cancellationToken: cancellationToken)))
            .ToDictionary(r => r.Key, r => r.List);
        return new Side(null, cached);
    }

    private sealed class Side(LoadedModel? model, Dictionary<long, long[]>? cached)
    {
        private CsrMatrix? _seen;

        public LoadedModel? Model => model;

        public IEnumerable<long> Users() => model is { } m ? m.Artifact.UserIds.Where(id => m.UserIndex[id] < m.Model.Users) : cached!.Keys;

        public bool KnowsUser(long id) => model is { } m ? m.UserIndex.TryGetValue(id, out var u) && u < m.Model.Users : cached!.ContainsKey(id);

        public IEnumerable<long> Items() => model is { } m ? m.Artifact.ItemIds.Where(id => m.ItemIndex[id] < m.Model.Items) : cached!.Keys;

        public bool KnowsItem(long id) => model is { } m ? m.ItemIndex.TryGetValue(id, out var i) && i < m.Model.Items : cached!.ContainsKey(id);

        /// <summary>Indexes the histories over the model's indices (shared with <paramref name="other"/> when both index alike); cached lists need none.</summary>
        public void Index((long[] Users, long[] Items) pairs, Side? other)
        {
            if (model is not { } m)
                return;
            _seen = other?.Model is { } o && other._seen is { } shared && o.Artifact.UserIds.AsSpan().SequenceEqual(m.Artifact.UserIds) && o.Artifact.ItemIds.AsSpan().SequenceEqual(m.Artifact.ItemIds)
                ? shared
                : TopNLists.Seen(m.Artifact, pairs);
        }

        /// <summary>A remote campaign was asked only for users with history.</summary>
        public bool HasHistory(long id) => model is not { } m || _seen!.RowLength(m.UserIndex[id]) > 0;

        public long[][] UserLists(long[] users, int topN, CancellationToken cancellationToken) => model is { } m
            ? Lists(m, users.Select(id => m.UserIndex[id]).ToArray(), _seen!, topN, cancellationToken)
            : users.Select(id => cached![id].Take(topN).ToArray()).ToArray();

        public long[][] ItemLists(long[] products, int topN, CancellationToken cancellationToken) => model is { } m
            ? Neighbours(m, products, topN, cancellationToken)
            : products.Select(id => cached![id].Take(topN).ToArray()).ToArray();
    }

    /// <summary>Match rates by region from the compared lists (not the cache: either version may not be served), for the products whose rates moved most.</summary>
    private static async Task<RegionDifference?> RegionsAsync(NpgsqlConnection connection, long[] users, long[][] listsA, long[][] listsB, int productCount,
        CancellationToken cancellationToken)
    {
        var regionOf = new Dictionary<long, string>(users.Length);
        foreach (var (id, region) in await connection.QueryAsync<(long, string)>(new CommandDefinition(
            "select id, region from customers where id = any(@users) and region is not null", new { users }, cancellationToken: cancellationToken)))
            regionOf[id] = region;
        if (regionOf.Count == 0)
            return null;
        var regions = regionOf.Values.Distinct().Order(StringComparer.Ordinal).ToList();
        var regionIndex = regions.Select((r, k) => (r, k)).ToDictionary(x => x.r, x => x.k);
        var userCounts = new int[regions.Count];
        var countA = new Dictionary<(int, long), int>();
        var countB = new Dictionary<(int, long), int>();
        for (var u = 0; u < users.Length; u++)
        {
            if (!regionOf.TryGetValue(users[u], out var region))
                continue;
            var r = regionIndex[region];
            userCounts[r]++;
            foreach (var item in listsA[u]) countA[(r, item)] = countA.GetValueOrDefault((r, item)) + 1;
            foreach (var item in listsB[u]) countB[(r, item)] = countB.GetValueOrDefault((r, item)) + 1;
        }
        double Rate(Dictionary<(int, long), int> counts, int r, long item) => userCounts[r] == 0 ? 0 : (double)counts.GetValueOrDefault((r, item)) / userCounts[r];
        // The products whose regional rates moved most (sum of |B − A| over regions), ties by id.
        var chosen = countA.Keys.Concat(countB.Keys).Select(k => k.Item2).Distinct()
            .Select(item => (item, moved: Enumerable.Range(0, regions.Count).Sum(r => Math.Abs(Rate(countB, r, item) - Rate(countA, r, item)))))
            .Where(x => x.moved > 0).OrderByDescending(x => x.moved).ThenBy(x => x.item).Take(productCount).Select(x => x.item).ToArray();
        var rows = (await connection.QueryAsync<ProductRow>(
            "select id as Id, external_id as ExternalId, name as Name, category as Category, brand as Brand, price as Price from products where id = any(@chosen)",
            new { chosen })).ToDictionary(p => p.Id);
        var products = chosen.Where(rows.ContainsKey).Select(id => rows[id]).ToList();
        var rateA = new double[regions.Count, products.Count];
        var rateB = new double[regions.Count, products.Count];
        for (var r = 0; r < regions.Count; r++)
        for (var p = 0; p < products.Count; p++)
        {
            rateA[r, p] = Rate(countA, r, products[p].Id);
            rateB[r, p] = Rate(countB, r, products[p].Id);
        }
        return new RegionDifference(regions, userCounts, products, rateA, rateB);
    }

    private static SideBySideRow Row(long id, string label, string? detail, IReadOnlyList<string> history, long[] a, long[] b, double overlap,
        Dictionary<long, ProductName> names)
    {
        var inA = a.ToHashSet();
        var inB = b.ToHashSet();
        string Name(long item) => names.TryGetValue(item, out var n) ? n.Name : $"product {item}";
        string? Variant(long item) => names.TryGetValue(item, out var n) ? n.Variant : null;
        return new SideBySideRow(id, label, string.IsNullOrEmpty(detail) ? null : detail, history,
            a.Select(i => new ListEntry(i, Name(i), inB.Contains(i)) { Variant = Variant(i) }).ToList(),
            b.Select(i => new ListEntry(i, Name(i), inA.Contains(i)) { Variant = Variant(i) }).ToList(), overlap);
    }

    private static List<ItemChange> Changes(IReadOnlyDictionary<long, int> counts, Dictionary<long, ProductName> names, int subjects) =>
        counts.OrderByDescending(c => c.Value).ThenBy(c => c.Key).Take(ShownChanges)
            .Select(c =>
            {
                var name = names.GetValueOrDefault(c.Key);
                return new ItemChange(c.Key, name?.Name ?? $"product {c.Key}", name?.Category, c.Value, subjects == 0 ? 0 : (double)c.Value / subjects) { Variant = name?.Variant };
            })
            .ToList();

    private sealed record ProductName(string Name, string? Category, string ExternalId, string? Colour)
    {
        public string Variant => Colour ?? ExternalId;
    }

    private static async Task<Dictionary<long, ProductName>> NamesAsync(NpgsqlConnection connection, IEnumerable<long> ids) =>
        (await connection.QueryAsync<(long Id, string Name, string? Category, string ExternalId, string? Colour)>(
            "select id, name, category, external_id, attributes->>'colour' from products where id = any(@ids)", new { ids = ids.Distinct().ToArray() }))
            .ToDictionary(p => p.Id, p => new ProductName(p.Name, p.Category, p.ExternalId, p.Colour));

    /// <summary>The <paramref name="size"/> ids first in the seeded hash order (one sort of keys: a million ids in a fraction of a second).</summary>
    internal static long[] Sample(long[] ids, int size, int seed)
    {
        var keys = new ulong[ids.Length];
        for (var k = 0; k < ids.Length; k++) keys[k] = Mix(ids[k], seed);
        var order = (long[])ids.Clone();
        Array.Sort(keys, order);
        return order[..Math.Min(size, order.Length)];
    }

    /// <summary>A stable 64-bit mix of an id and a seed (SplitMix64's finaliser): the sample order, the same in every process.</summary>
    internal static ulong Mix(long id, int seed)
    {
        var z = unchecked((ulong)id + (ulong)seed * 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Laps of one stopwatch, named.</summary>
    internal sealed class Phases(Stopwatch clock)
    {
        private readonly List<KeyValuePair<string, double>> _laps = [];
        private double _last;

        public TimeSpan Total => clock.Elapsed;

        public void Lap(string name)
        {
            var now = clock.Elapsed.TotalMilliseconds;
            _laps.Add(new(name, Math.Round(now - _last, 1)));
            _last = now;
        }

        public IReadOnlyList<KeyValuePair<string, double>> Done(string last)
        {
            Lap(last);
            return _laps;
        }
    }
}
