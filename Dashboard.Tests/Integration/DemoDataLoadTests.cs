using Dapper;
using Recs.Services.Ingestion;

namespace Recs.Tests.Integration;

public sealed class DemoDataLoadTests(DemoDatabaseFixture db) : IClassFixture<DemoDatabaseFixture>
{
    [Fact]
    public async Task Generated_data_loads_completely_and_satisfies_every_foreign_key()
    {
        var data = db.Data;
        Assert.True(db.Result.Loaded);
        await using var connection = await db.DataSource.OpenConnectionAsync();
        Assert.Equal(data.Customers.Length, await connection.ExecuteScalarAsync<long>("select count(*) from customers"));
        Assert.Equal(data.Products.Length, await connection.ExecuteScalarAsync<long>("select count(*) from products"));
        Assert.Equal(data.Orders.Count, await connection.ExecuteScalarAsync<long>("select count(*) from orders"));
        Assert.Equal(data.Lines.Count, await connection.ExecuteScalarAsync<long>("select count(*) from order_items"));
        Assert.Equal(data.Lines.Count + data.Views.Count, await connection.ExecuteScalarAsync<long>("select count(*) from interactions"));

        // Every foreign key the schema declares is there and validated, and no row points nowhere.
        var foreignKeys = (await connection.QueryAsync<(string Table, string Column, string Target, string TargetColumn, bool Validated)>("""
            select c.conrelid::regclass::text, a.attname::text, c.confrelid::regclass::text, t.attname::text, c.convalidated
            from pg_constraint c join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
            join pg_attribute t on t.attrelid = c.confrelid and t.attnum = c.confkey[1]
            where c.contype = 'f'
            """)).ToList();
        Assert.Equal(
            ["campaigns.model_version", "experiments.campaign", "interactions.item_id", "interactions.order_id", "interactions.user_id", "model_health_checks.model_version", "offline_similar_items.product_id",
             "offline_user_recommendations.user_id", "order_items.order_id", "order_items.product_id", "orders.customer_id",
             "region_match_counts.product_id", "region_sample_users.user_id", "remote_fetch_pages.fetch_id", "verdicts.item_id"],
            foreignKeys.Select(fk => $"{fk.Table}.{fk.Column}").Order(StringComparer.Ordinal));
        foreach (var fk in foreignKeys)
        {
            Assert.True(fk.Validated, $"{fk.Table}.{fk.Column} is not validated");
            var orphans = await connection.ExecuteScalarAsync<long>(
                $"select count(*) from {fk.Table} t where t.{fk.Column} is not null and not exists (select 1 from {fk.Target} r where r.{fk.TargetColumn} = t.{fk.Column})");
            Assert.Equal(0, orphans);
        }
    }

    [Fact]
    public async Task Purchases_in_interactions_match_the_order_lines()
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var mismatches = await connection.ExecuteScalarAsync<long>("""
            select count(*) from order_items oi
            join orders o on o.id = oi.order_id
            where not exists (
                select 1 from interactions i
                where i.order_id = oi.order_id and i.item_id = oi.product_id and i.user_id = o.customer_id
                  and i.event_type = 'purchase' and i.event_value = oi.quantity and i.occurred_at = o.ordered_at)
            """);
        Assert.Equal(0, mismatches);
    }

    [Fact]
    public async Task A_database_that_already_has_data_is_left_as_it_is()
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var before = await connection.ExecuteScalarAsync<long>("select count(*) from interactions");

        var again = await DemoDataLoader.LoadAsync(db.DataSource, DemoDataGenerator.Generate(DemoDatabaseFixture.Spec with { Seed = 8 }));

        Assert.False(again.Loaded);
        Assert.Equal(before, await connection.ExecuteScalarAsync<long>("select count(*) from interactions"));
    }
}

/// <summary>The bulk path drops foreign keys and secondary indexes during COPY; they must all come back.</summary>
public sealed class DemoDataBulkLoadTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private const string SchemaObjectsSql = """
        select string_agg(x, E'\n' order by x) from (
            select indexdef as x from pg_indexes where schemaname = 'public'
            union all
            select conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) || ' ' || convalidated from pg_constraint where connamespace = 'public'::regnamespace
        ) s
        """;

    [Fact]
    public async Task Bulk_mode_restores_every_index_and_foreign_key()
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var before = await connection.QuerySingleAsync<string>(SchemaObjectsSql);

        var result = await DemoDataLoader.LoadAsync(db.DataSource, DemoDataGenerator.Generate(new DemoDataSpec { Customers = 300, Products = 60, OrderLines = 3_000 }), bulkModeRows: 0);

        Assert.True(result.Loaded);
        Assert.Equal(before, await connection.QuerySingleAsync<string>(SchemaObjectsSql));
    }
}
