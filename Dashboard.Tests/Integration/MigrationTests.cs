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

/// <summary>A database made by the version before campaigns, with a champion and a challenger, migrated to campaigns.</summary>
public sealed class CampaignMigrationTests(EmptyDatabaseFixture db) : IClassFixture<EmptyDatabaseFixture>
{
    [Fact]
    public async Task The_champion_of_an_older_database_becomes_the_user_recommendations_campaign()
    {
        var before = await Migrator.ApplyAsync(db.ConnectionString, NullLogger.Instance, upTo: "0007");
        Assert.EndsWith("0007_model_search.sql", before[^1], StringComparison.Ordinal);
        await using var connection = await db.DataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("""
            insert into model_versions (version, recipe, status, seed) values ('1.0.0', 'similar-items', 'archived', 1), ('1.0.1', 'user-personalization', 'champion', 1), ('1.0.2', 'bpr', 'challenger', 1)
            """);

        var after = await Migrator.ApplyAsync(db.ConnectionString, NullLogger.Instance);

        Assert.Contains(after, s => s.EndsWith("0008_campaigns.sql", StringComparison.Ordinal));
        var campaigns = (await connection.QueryAsync<(string Name, string? Version)>("select name, model_version from campaigns order by name")).ToList();
        Assert.Equal([("personalized-ranking", null), ("similar-items", null), ("user-recommendations", "1.0.1")], campaigns);
        Assert.Equal("champion", await connection.ExecuteScalarAsync<string>("select status from model_versions where version = '1.0.1'"));
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
