using Dapper;
using Npgsql;
using Recs.Services.Data;
using Recs.Services.Models;

namespace Recs.Services.Analytics;

public sealed record ProductRow(long Id, string ExternalId, string Name, string? Category, string? Brand, decimal? Price);

/// <summary>A neighbour of a product: similarity, and how many customers bought both.</summary>
public sealed record NeighbourRow(long Id, string ExternalId, string Name, string? Category, decimal? Price, double Score, long BoughtBoth);

public sealed record CustomerRow(long Id, string ExternalId, string? Region, string? City, short? Age, string? Gender, string? Segment);

public sealed record PurchaseRow(DateTime At, long ProductId, string Name, string? Category, float Quantity);

public sealed record CategoryShare(string Category, long Count);

/// <summary>A cached recommendation with why it is plausible.</summary>
public sealed record RecommendationRow(int Rank, long ProductId, string Name, string? Category, decimal? Price, double Score, string Reason);

/// <summary>What the similar-item and user explorers read: searches, the cache, and the registry's models.</summary>
public sealed class ExplorerService(NpgsqlDataSource dataSource, ModelStore models)
{
    // Customers who bought both @productId and the neighbour p.
    private const string BoughtBoth = """
        (select count(distinct a.user_id) from interactions a
         where a.item_id = @productId and a.event_type = 'purchase'
           and exists (select 1 from interactions b where b.user_id = a.user_id and b.item_id = p.id and b.event_type = 'purchase')) as BoughtBoth
        """;

    public async Task<IReadOnlyList<ProductRow>> SearchProductsAsync(string text, int limit = 12, CancellationToken cancellationToken = default)
    {
        const string sql = """
            select id as Id, external_id as ExternalId, name as Name, category as Category, brand as Brand, price as Price
            from products
            where name ilike '%' || @pattern || '%' or external_id ilike @pattern || '%' or id::text = @text
            order by (external_id = @text or id::text = @text) desc, (external_id ilike @pattern || '%') desc, name
            limit @limit
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<ProductRow>(sql, new { text = SqlText.Clean(text), pattern = SqlText.LikePattern(text), limit })).ToList();
    }

    public async Task<ProductRow?> ProductAsync(long id, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<ProductRow>(
            "select id as Id, external_id as ExternalId, name as Name, category as Category, brand as Brand, price as Price from products where id = @id", new { id });
    }

    /// <summary>The product's cached neighbours (the champion's), best first, and the version that wrote them.</summary>
    public async Task<(IReadOnlyList<NeighbourRow> Rows, string? Version)> CachedNeighboursAsync(long productId, CancellationToken cancellationToken = default)
    {
        const string sql = $"""
            with sims as (
                select (x.e->>'product_id')::bigint as product_id, (x.e->>'score')::float8 as score, x.ord
                from offline_similar_items s, jsonb_array_elements(s.similar_products) with ordinality as x(e, ord)
                where s.product_id = @productId
            )
            select p.id as Id, p.external_id as ExternalId, p.name as Name, p.category as Category, p.price as Price, sims.score as Score,
                   {BoughtBoth}
            from sims join products p on p.id = sims.product_id
            order by sims.ord
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = (await connection.QueryAsync<NeighbourRow>(sql, new { productId })).ToList();
        var version = await connection.ExecuteScalarAsync<string?>("select model_version from offline_similar_items where product_id = @productId", new { productId });
        return (rows, version);
    }

    /// <summary>Neighbours computed by any registered version's model (to compare versions side by side).</summary>
    public async Task<IReadOnlyList<NeighbourRow>> VersionNeighboursAsync(string version, long productId, int count = 25, CancellationToken cancellationToken = default)
    {
        var loaded = await models.GetAsync(version, cancellationToken);
        if (loaded is null)
            return [];
        var artifact = loaded.Artifact;
        var index = Array.IndexOf(artifact.ItemIds, productId);
        if (index < 0)
            return [];
        var items = new int[count];
        var scores = new float[count];
        var n = artifact.Model.SimilarItems(index, items, scores);
        var ids = items.Take(n).Select(i => artifact.ItemIds[i]).ToArray();
        const string sql = $"""
            select p.id as Id, p.external_id as ExternalId, p.name as Name, p.category as Category, p.price as Price, 0::float8 as Score,
                   {BoughtBoth}
            from products p where p.id = any(@ids)
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var byId = (await connection.QueryAsync<NeighbourRow>(sql, new { productId, ids })).ToDictionary(r => r.Id);
        return ids.Select((id, k) => byId[id] with { Score = scores[k] }).ToList();
    }

    public async Task<IReadOnlyList<CustomerRow>> SearchCustomersAsync(string text, int limit = 12, CancellationToken cancellationToken = default)
    {
        const string sql = """
            select id as Id, external_id as ExternalId, region as Region, city as City, age as Age, gender as Gender, segment as Segment
            from customers
            where external_id ilike @pattern || '%' or id::text = @text or city ilike @pattern || '%'
            order by external_id
            limit @limit
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<CustomerRow>(sql, new { text = SqlText.Clean(text), pattern = SqlText.LikePattern(text), limit })).ToList();
    }

    public async Task<CustomerRow?> CustomerAsync(long id, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<CustomerRow>(
            "select id as Id, external_id as ExternalId, region as Region, city as City, age as Age, gender as Gender, segment as Segment from customers where id = @id", new { id });
    }

    /// <summary>The customer's purchases, newest first, and their category mix.</summary>
    public async Task<(IReadOnlyList<PurchaseRow> Purchases, IReadOnlyList<CategoryShare> Mix)> HistoryAsync(long customerId, int limit = 200, CancellationToken cancellationToken = default)
    {
        const string sql = """
            select i.occurred_at as At, p.id as ProductId, p.name as Name, p.category as Category, coalesce(i.event_value, 1) as Quantity
            from interactions i join products p on p.id = i.item_id
            where i.user_id = @customerId and i.event_type = 'purchase'
            order by i.occurred_at desc
            limit @limit
            """;
        const string mixSql = """
            select coalesce(p.category, '(none)') as Category, count(*) as Count
            from interactions i join products p on p.id = i.item_id
            where i.user_id = @customerId and i.event_type = 'purchase'
            group by 1 order by 2 desc
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var purchases = (await connection.QueryAsync<PurchaseRow>(sql, new { customerId, limit })).ToList();
        var mix = (await connection.QueryAsync<CategoryShare>(mixSql, new { customerId })).ToList();
        return (purchases, mix);
    }

    /// <summary>
    /// The customer's cached recommendations with a reason each, the strongest real evidence first: bought together with
    /// something they bought by at least three customers and at least twice as often as chance would have it (lift =
    /// co-buyers × all buyers ÷ (buyers of one × buyers of the other): a bestseller bought "together" with everything
    /// is not evidence); similar to something they bought where the
    /// similar-items campaign links the two; among the 20 most bought items in their region (with its place); in a
    /// category that makes up at least a fifth of their purchases (with the share); otherwise the model's pick. No reason
    /// names a pair the data does not connect.
    /// </summary>
    public async Task<(IReadOnlyList<RecommendationRow> Rows, string? Version, DateTime? UpdatedAt)> RecommendationsAsync(long customerId, CancellationToken cancellationToken = default)
    {
        const string sql = """
            with recs as (
                select (x.e->>'product_id')::bigint as product_id, (x.e->>'score')::float8 as score, x.ord::int as rank
                from offline_user_recommendations r, jsonb_array_elements(r.recommendations) with ordinality as x(e, ord)
                where r.user_id = @customerId
            ),
            mine as (select distinct item_id from interactions where user_id = @customerId and event_type = 'purchase'),
            buyers as (select count(distinct user_id)::float8 as n from interactions where event_type = 'purchase'),
            item_buyers as (
                select item_id, count(distinct user_id)::float8 as n from interactions
                where event_type = 'purchase' and (item_id in (select product_id from recs) or item_id in (select item_id from mine))
                group by item_id
            ),
            region_top as (
                select i.item_id, row_number() over (order by count(*) desc, i.item_id) as place
                from interactions i join customers c on c.id = i.user_id
                where c.region = (select region from customers where id = @customerId) and i.event_type = 'purchase'
                group by i.item_id order by count(*) desc, i.item_id limit 20
            ),
            mix as (
                select q.category, count(*)::float8 / sum(count(*)) over () as share
                from interactions i join products q on q.id = i.item_id
                where i.user_id = @customerId and i.event_type = 'purchase'
                group by q.category
            )
            select recs.rank as Rank, p.id as ProductId, p.name as Name, p.category as Category, p.price as Price, recs.score as Score,
                coalesce(
                    (select 'bought together with ' || mp.name || ' by ' || t.n || ' customers (' || to_char(t.lift, 'FM990.0') || '× chance)'
                     from (select b.item_id, count(distinct a.user_id) as n,
                                  count(distinct a.user_id) * (select n from buyers)
                                    / ((select n from item_buyers where item_id = recs.product_id) * (select n from item_buyers where item_id = b.item_id)) as lift
                           from interactions a join interactions b on b.user_id = a.user_id and b.event_type = 'purchase'
                           where a.item_id = recs.product_id and a.event_type = 'purchase' and b.item_id in (select item_id from mine)
                           group by b.item_id) t
                     join products mp on mp.id = t.item_id
                     where t.n >= 3 and t.lift >= 2
                     order by t.lift desc, t.item_id limit 1),
                    (select 'similar to ' || mp.name || ', which they bought'
                     from offline_similar_items s join products mp on mp.id = s.product_id
                     where s.product_id in (select item_id from mine)
                       and s.similar_products @> jsonb_build_array(jsonb_build_object('product_id', recs.product_id))
                     order by s.product_id limit 1),
                    (select 'popular in their region (#' || rt.place || ')' from region_top rt where rt.item_id = recs.product_id),
                    (select 'matches their interest in ' || p.category || ' (' || round(100 * mix.share)::int || ' % of their purchases)'
                     from mix where mix.category = p.category and mix.share >= 0.2),
                    'the model''s pick from their overall taste') as Reason
            from recs join products p on p.id = recs.product_id
            order by recs.rank
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = (await connection.QueryAsync<RecommendationRow>(sql, new { customerId })).ToList();
        var meta = await connection.QuerySingleOrDefaultAsync<(string Version, DateTime UpdatedAt)?>(
            "select model_version, updated_at from offline_user_recommendations where user_id = @customerId", new { customerId });
        if (rows.Count == 0)
            rows = await PopularFallbackAsync(connection, customerId, cancellationToken);
        return (rows, meta?.Version, meta?.UpdatedAt);
    }

    /// <summary>
    /// What a customer with no cached list is shown (as the API answers them): their region's most bought products of
    /// the last 90 days of data, or everyone's when they have no region, each saying why; nothing they already have.
    /// </summary>
    private static async Task<List<RecommendationRow>> PopularFallbackAsync(NpgsqlConnection connection, long customerId, CancellationToken cancellationToken)
    {
        const string sql = """
            with me as (select region from customers where id = @customerId),
            ranked as (
                select i.item_id, row_number() over (order by count(*) desc, i.item_id) as place
                from interactions i join customers c on c.id = i.user_id
                where i.event_type = 'purchase' and i.occurred_at > (select max(occurred_at) from interactions) - interval '90 days'
                  and ((select region from me) is null or c.region = (select region from me))
                  and i.item_id not in (select item_id from interactions where user_id = @customerId)
                group by i.item_id order by count(*) desc, i.item_id limit 25
            )
            select r.place::int as Rank, p.id as ProductId, p.name as Name, p.category as Category, p.price as Price, 0::float8 as Score,
                   case when (select region from me) is null then 'popular everywhere (#' || r.place || '): no history yet, so no model pick'
                        else 'popular in their region (#' || r.place || '): no history yet, so no model pick' end as Reason
            from ranked r join products p on p.id = r.item_id
            order by r.place
            """;
        return (await connection.QueryAsync<RecommendationRow>(new CommandDefinition(sql, new { customerId }, cancellationToken: cancellationToken))).ToList();
    }

    /// <summary>How many interactions a product has (0: nothing can link it to other products yet).</summary>
    public async Task<long> InteractionCountAsync(long productId, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition("select count(*) from interactions where item_id = @productId", new { productId }, cancellationToken: cancellationToken));
    }
}
