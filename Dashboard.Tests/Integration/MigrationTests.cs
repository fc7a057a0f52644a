using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Recs.Services.Data;

namespace Recs.Tests.Integration;

public sealed class MigrationTests(EmptyDatabaseFixture db) : IClassFixture<EmptyDatabaseFixture>
{
    private const string SchemaSnapshotSql = """
        select string_agg(table_name || '.' || column_name || ':' || data_type || ':' || is_nullable, E'\n' order by table_name, ordinal_position)
        from information_schema.columns where table_schema = 'public'
        """;

    [Fact]
    public async Task Migrations_apply_to_an_empty_database_and_a_second_run_changes_nothing()
    {
        var first = await Migrator.ApplyAsync(db.ConnectionString, NullLogger.Instance);
        Assert.Contains(first, s => s.EndsWith("0001_core_schema.sql", StringComparison.Ordinal));

        await using var connection = await db.DataSource.OpenConnectionAsync();
        var tables = (await connection.QueryAsync<string>("select table_name from information_schema.tables where table_schema = 'public'")).ToHashSet();
        foreach (var table in new[] { "customers", "products", "orders", "order_items", "interactions", "offline_user_recommendations", "offline_similar_items", "model_versions", "jobs" })
            Assert.Contains(table, tables);
        var before = await connection.QuerySingleAsync<string>(SchemaSnapshotSql);

        var second = await Migrator.ApplyAsync(db.ConnectionString, NullLogger.Instance);

        Assert.Empty(second);
        Assert.Equal(before, await connection.QuerySingleAsync<string>(SchemaSnapshotSql));
    }
}

public sealed class SchemaTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task The_schema_has_indexes_for_the_dashboard_reads()
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var indexes = (await connection.QueryAsync<string>("select indexdef from pg_indexes where schemaname = 'public'")).ToList();

        Assert.Contains(indexes, d => d.Contains("ON public.interactions USING btree (user_id, occurred_at)", StringComparison.Ordinal));
        Assert.Contains(indexes, d => d.Contains("ON public.interactions USING btree (item_id)", StringComparison.Ordinal));
        Assert.Contains(indexes, d => d.Contains("ON public.customers USING btree (region)", StringComparison.Ordinal));
    }
}
