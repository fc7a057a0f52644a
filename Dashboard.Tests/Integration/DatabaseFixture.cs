using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Recs.Services.Data;

namespace Recs.Tests.Integration;

/// <summary>A fresh, migrated database on the shared test cluster for one test class; dropped afterwards.</summary>
public class DatabaseFixture : IAsyncLifetime
{
    public string Name { get; } = $"t_{Guid.NewGuid():N}";

    public string ConnectionString { get; private set; } = "";

    public NpgsqlDataSource DataSource { get; private set; } = null!;

    protected virtual bool Migrate => true;

    public virtual async Task InitializeAsync()
    {
        var cluster = await TestCluster.GetAsync();
        await cluster.EnsureDatabaseAsync(Name);
        ConnectionString = cluster.ConnectionString(Name);
        DataSource = NpgsqlDataSource.Create(ConnectionString);
        if (Migrate)
            await Migrator.ApplyAsync(ConnectionString, NullLogger.Instance);
    }

    public async Task DisposeAsync()
    {
        await DataSource.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        var cluster = await TestCluster.GetAsync();
        await using var connection = new NpgsqlConnection(cluster.ConnectionString("postgres"));
        await connection.ExecuteAsync($"drop database if exists \"{Name}\" with (force)");
    }
}

/// <summary>A database with no schema at all, for migration tests.</summary>
public sealed class EmptyDatabaseFixture : DatabaseFixture
{
    protected override bool Migrate => false;
}

/// <summary>A migrated database loaded with a small generated business.</summary>
public sealed class DemoDatabaseFixture : DatabaseFixture
{
    public static readonly Recs.Services.Ingestion.DemoDataSpec Spec = new() { Customers = 400, Products = 120, OrderLines = 6_000, Seed = 7 };

    public Recs.Services.Ingestion.DemoDataSet Data { get; private set; } = null!;

    public Recs.Services.Ingestion.DemoLoadResult Result { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Data = Recs.Services.Ingestion.DemoDataGenerator.Generate(Spec);
        Result = await Recs.Services.Ingestion.DemoDataLoader.LoadAsync(DataSource, Data);
    }
}
