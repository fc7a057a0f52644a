using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Recs.Services.Engine;
using Recs.Services.Ingestion;
using Recs.Services.Monitoring;
using Recs.Services.Training;
using Xunit.Abstractions;

namespace Recs.Tests.Integration;

/// <summary>
/// A demo business of 1,500 customers (events up to 2026-11-01, a few hundred shoppers a week) with an ALS champion trained on the events before 2026-10-01, so the
/// events of October are "since training": drawn from the same shoppers as the training data. Each test class gets
/// its own database.
/// </summary>
public sealed class DriftDatabaseFixture : IAsyncLifetime
{
    public static readonly DateTime TrainedUntil = new(2026, 10, 1, 0, 0, 0, DateTimeKind.Utc);

    public static readonly DemoDataSpec Spec = new() { Customers = 1_500, Products = 150, OrderLines = 20_000, Seed = 7 };

    public DatabaseFixture Database { get; } = new();

    public string Champion { get; private set; } = "";

    public async Task InitializeAsync()
    {
        await Database.InitializeAsync();
        await DemoDataLoader.LoadAsync(Database.DataSource, DemoDataGenerator.Generate(Spec));
        await using var services = TestServices.Create(Database.ConnectionString);
        Champion = (await services.GetRequiredService<TrainingService>().RunNowAsync(new TrainingRequest
        {
            Recipe = AlsRecommender.Name, To = TrainedUntil, Hyperparameters = new Dictionary<string, string> { ["factors"] = "8", ["iterations"] = "6" },
        })).Version.Version;
    }

    public Task DisposeAsync() => Database.DisposeAsync();

    /// <summary>Appends <see cref="AppendDriftAsync(Npgsql.NpgsqlConnection, DateTime, DateTime)"/>'s drift in the last week of October.</summary>
    public async Task AppendDriftAsync()
    {
        await using var connection = await Database.DataSource.OpenConnectionAsync();
        await AppendDriftAsync(connection, TrainedUntil, new DateTime(2026, 10, 28, 10, 0, 0, DateTimeKind.Utc));
    }

    /// <summary>
    /// Appends drifted events from <paramref name="at"/> on (within the hour): 600 customers nobody had seen buy 3 each
    /// of 20 products nobody had seen, all in a new category, and 400 known customers each buy 2 of the products
    /// shoppers bought least before <paramref name="trainedUntil"/> (but did buy: they are not new).
    /// </summary>
    public static Task AppendDriftAsync(Npgsql.NpgsqlConnection connection, DateTime trainedUntil, DateTime at) => connection.ExecuteAsync("""
        insert into customers (external_id, region) select 'drift-user-' || g, 'North' from generate_series(1, 600) g;
        insert into products (external_id, name, category, price) select 'drift-item-' || g, 'Drift gadget ' || g, 'Gadgets', 19.99 from generate_series(1, 20) g;
        insert into interactions (user_id, item_id, event_type, occurred_at)
        select c.id, p.id, 'purchase', @at + (g * interval '1 second')
        from generate_series(1, 1800) g
        join customers c on c.external_id = 'drift-user-' || (1 + (g - 1) / 3)
        join products p on p.external_id = 'drift-item-' || (1 + (g * 7) % 20);
        with rare as (
            select p.id, row_number() over (order by count(i.id), p.id) as r
            from products p join interactions i on i.item_id = p.id and i.occurred_at < @trainedUntil
            where p.external_id not like 'drift-%'
            group by p.id
        ), known as (
            select user_id, row_number() over (order by user_id) as r
            from (select distinct user_id from interactions where occurred_at < @trainedUntil) u
        )
        insert into interactions (user_id, item_id, event_type, occurred_at)
        select k.user_id, rare.id, 'purchase', @at + (k.r * interval '2 seconds')
        from known k join rare on rare.r in (1 + k.r % 10, 11 + k.r % 10)
        where k.r <= 400;
        """, new { trainedUntil, at });
}

public sealed class DriftTests(DriftDatabaseFixture fixture, ITestOutputHelper output) : IClassFixture<DriftDatabaseFixture>
{
    [Fact]
    public async Task A_window_from_the_same_shoppers_stays_healthy_and_the_check_is_stored()
    {
        await using var services = TestServices.Create(fixture.Database.ConnectionString);
        var drift = services.GetRequiredService<DriftService>();

        var report = await drift.CheckAsync();

        Assert.NotNull(report);
        foreach (var s in report.Signals)
            output.WriteLine($"{s.Key} {s.State}: {s.Message}");
        output.WriteLine($"{report.Figures.Events} events, checked in {report.Seconds:F2} s");
        Assert.Equal(fixture.Champion, report.Version);
        Assert.True(report.Figures.TrainedThrough < DriftDatabaseFixture.TrainedUntil && report.Figures.TrainedThrough > DriftDatabaseFixture.TrainedUntil.AddDays(-1),
            $"trained through {report.Figures.TrainedThrough:O}");
        Assert.True(report.Figures.Events >= new DriftOptions().MinEvents, $"only {report.Figures.Events} events in October");
        Assert.True(report.Figures.ReplayUsers >= new DriftOptions().MinReplayUsers, $"only {report.Figures.ReplayUsers} users replayed");
        Assert.Equal(HealthStatus.Healthy, report.Status);
        Assert.All(report.Signals, s => Assert.Equal(SignalState.Ok, s.State));

        // Only the interactions after the training data count: October's, read here independently.
        await using var connection = await fixture.Database.DataSource.OpenConnectionAsync();
        var october = await connection.ExecuteScalarAsync<long>("select count(*) from interactions where occurred_at >= @from", new { from = DriftDatabaseFixture.TrainedUntil });
        Assert.Equal(october, report.Figures.Events);

        var stored = await drift.LatestAsync();
        Assert.NotNull(stored);
        Assert.Equal(report.Status, stored.Status);
        Assert.Equal(report.Figures.Events, stored.Figures.Events);
        Assert.Equal(report.Signals.Select(s => s.Message), stored.Signals.Select(s => s.Message));
    }
}

/// <summary>The daily check as a hosted service: its first run comes Drift:FirstCheckSeconds after start, the next when a champion is promoted.</summary>
public sealed class DriftCheckServiceTests(DriftDatabaseFixture fixture) : IClassFixture<DriftDatabaseFixture>
{
    [Fact]
    public async Task The_first_check_runs_after_start_and_a_promotion_checks_again_before_the_next_day()
    {
        await using var services = TestServices.Create(fixture.Database.ConnectionString, new Dictionary<string, string?> { ["Drift:FirstCheckSeconds"] = "0" });
        var drift = services.GetRequiredService<DriftService>();
        Assert.Null(await drift.LatestAsync());
        var check = services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<DriftCheckService>().Single();

        await check.StartAsync(CancellationToken.None);
        try
        {
            await WaitForChecksAsync(drift, 1);
            var stored = await drift.LatestAsync();
            Assert.Equal(fixture.Champion, stored!.Version);
            Assert.Equal(HealthStatus.Healthy, stored.Status);

            // The next scheduled check is a day away (Drift:CheckHours 24): only the promotion can bring a second one.
            await services.GetRequiredService<Recs.Services.Models.ModelRegistry>().PromoteAsync(fixture.Champion);
            await WaitForChecksAsync(drift, 2);
        }
        finally
        {
            await check.StopAsync(CancellationToken.None);
        }
    }

    // Waits for the outcome, however long the machine takes (up to a minute).
    private static async Task WaitForChecksAsync(DriftService drift, int count)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while ((await drift.HistoryAsync(10)).Count < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"fewer than {count} checks were stored within a minute");
            await Task.Delay(100);
        }
    }
}

public sealed class DriftedWindowTests(DriftDatabaseFixture fixture, ITestOutputHelper output) : IClassFixture<DriftDatabaseFixture>
{
    [Fact]
    public async Task New_users_new_products_a_new_category_and_missed_purchases_cross_every_threshold()
    {
        await using var services = TestServices.Create(fixture.Database.ConnectionString);
        var drift = services.GetRequiredService<DriftService>();
        var before = (await drift.ComputeAsync())!;

        await fixture.AppendDriftAsync();
        var after = (await drift.CheckAsync())!;

        foreach (var s in after.Signals)
            output.WriteLine($"{s.Key} {s.State}: {s.Message}");
        // Exactly what was appended: 600 new users with 1,800 events, all on 20 new products, plus 800 purchases of known customers.
        Assert.Equal(before.Figures.Events + 2600, after.Figures.Events);
        Assert.Equal(before.Figures.NewUsers + 600, after.Figures.NewUsers);
        Assert.Equal(before.Figures.NewUserEvents + 1800, after.Figures.NewUserEvents);
        Assert.Equal(before.Figures.NewItems + 20, after.Figures.NewItems);
        Assert.Equal(before.Figures.NewItemEvents + 1800, after.Figures.NewItemEvents);
        var gadgets = after.Figures.Categories.Single(c => c.Category == "Gadgets");
        Assert.Equal(0, gadgets.Trained);
        Assert.Equal(1800.0 / after.Figures.Events, gadgets.Recent, 1e-9);
        Assert.Equal("Gadgets", after.Figures.Categories[0].Category); // the most moved comes first

        Assert.Equal(HealthStatus.Drifting, after.Status);
        Assert.Equal([HealthSignals.NewUsers, HealthSignals.NewItems, HealthSignals.CategoryMix, HealthSignals.Ndcg], after.Crossed.Select(s => s.Key));
        Assert.True(after.Figures.ReplayedNdcg < before.Figures.ReplayedNdcg, $"replayed NDCG@10 {after.Figures.ReplayedNdcg} not below {before.Figures.ReplayedNdcg}");
        Assert.Equal(after.Version, (await drift.LatestAsync())!.Version);
        Assert.Equal(HealthStatus.Drifting, (await drift.LatestAsync())!.Status);
    }
}
