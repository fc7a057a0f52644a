using Dapper;
using Npgsql;
using Recs.Services.Data;

namespace Recs.Services.Analytics;

public sealed record MonthlyInteractions(DateTime Month, string EventType, long Count);

public sealed record CategorySales(string Category, long Purchases, decimal Revenue, long Products);

/// <summary>What the overview page shows about the data.</summary>
public sealed record OverviewStats(
    long Customers, long Products, long Orders, long OrderLines, long Interactions, long Regions,
    DateTime? FirstInteraction, DateTime? LastInteraction,
    IReadOnlyList<MonthlyInteractions> PerMonth, IReadOnlyList<CategorySales> TopCategories, DatabaseInfo Database)
{
    public bool IsEmpty => Customers == 0 && Products == 0 && Interactions == 0;
}

/// <summary>How fresh the serving cache is: when it was written, by which model, and how much of the catalogue it covers.</summary>
public sealed record CacheFreshness(DateTime? UsersUpdatedAt, string? UsersModelVersion, long UsersCached, long UsersWithHistory,
    DateTime? ProductsUpdatedAt, long ProductsCached, long Products)
{
    public double UserShare => UsersWithHistory == 0 ? 0 : (double)UsersCached / UsersWithHistory;

    public double ProductShare => Products == 0 ? 0 : (double)ProductsCached / Products;
}

/// <summary>Counts and summaries for the overview page.</summary>
public sealed class OverviewService(NpgsqlDataSource dataSource, RecsDatabase database)
{
    public async Task<OverviewStats> GetAsync(int topCategories = 10, CancellationToken cancellationToken = default)
    {
        const string countsSql = """
            select (select count(*) from customers) as customers,
                   (select count(*) from products) as products,
                   (select count(*) from orders) as orders,
                   (select count(*) from order_items) as order_lines,
                   (select count(*) from interactions) as interactions,
                   (select count(distinct region) from customers where region is not null) as regions,
                   (select min(occurred_at) from interactions) as first_interaction,
                   (select max(occurred_at) from interactions) as last_interaction
            """;
        const string perMonthSql = """
            select date_trunc('month', occurred_at at time zone 'UTC') as month, event_type as eventtype, count(*) as count
            from interactions
            group by 1, 2
            order by 1, 2
            """;
        const string categoriesSql = """
            select coalesce(p.category, '(none)') as category, sum(oi.quantity)::bigint as purchases,
                   sum(oi.quantity * oi.unit_price) as revenue, count(distinct p.id) as products
            from order_items oi
            join products p on p.id = oi.product_id
            group by 1
            order by purchases desc
            limit @top
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var counts = await connection.QuerySingleAsync<CountsRow>(new CommandDefinition(countsSql, cancellationToken: cancellationToken));
        var perMonth = (await connection.QueryAsync<MonthlyInteractions>(new CommandDefinition(perMonthSql, cancellationToken: cancellationToken))).ToList();
        var categories = (await connection.QueryAsync<CategorySales>(new CommandDefinition(categoriesSql, new { top = topCategories }, cancellationToken: cancellationToken))).ToList();
        return new OverviewStats(counts.customers, counts.products, counts.orders, counts.order_lines, counts.interactions, counts.regions,
            counts.first_interaction, counts.last_interaction, perMonth, categories, database.Describe());
    }

    public async Task<CacheFreshness> CacheAsync(CancellationToken cancellationToken = default)
    {
        const string sql = """
            select (select max(updated_at) from offline_user_recommendations) as UsersUpdatedAt,
                   (select model_version from offline_user_recommendations limit 1) as UsersModelVersion,
                   (select count(*) from offline_user_recommendations) as UsersCached,
                   (select count(distinct user_id) from interactions) as UsersWithHistory,
                   (select max(updated_at) from offline_similar_items) as ProductsUpdatedAt,
                   (select count(*) from offline_similar_items) as ProductsCached,
                   (select count(*) from products) as Products
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleAsync<CacheFreshness>(new CommandDefinition(sql, cancellationToken: cancellationToken));
    }

#pragma warning disable IDE1006, CA1812 // column names as PostgreSQL returns them; built by Dapper
    private sealed record CountsRow(long customers, long products, long orders, long order_lines, long interactions, long regions,
        DateTime? first_interaction, DateTime? last_interaction);
#pragma warning restore IDE1006, CA1812
}
