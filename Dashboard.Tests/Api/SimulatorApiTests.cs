using System.Diagnostics;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Recs.Services.Ingestion;
using Recs.Services.Simulation;
using Recs.Tests.E2E;
using Recs.Tests.Integration;

namespace Recs.Tests.Api;

/// <summary>
/// The shopper simulator against the real app (seeded with the <c>seed</c> verb, so its demo seed is recorded), for a
/// fixed number of shoppers: what it reports matches what the app stored and attributed, and it refuses what it must.
/// </summary>
[Collection(ApiServerCollection.Name)]
public sealed class SimulatorApiTests(ApiServerFixture server) : IAsyncLifetime
{
    private ServiceProvider _services = null!;

    public Task InitializeAsync()
    {
        _services = TestServices.Create(server.App.ConnectionString);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _services.DisposeAsync();

    private SimulationService Simulation => _services.GetRequiredService<SimulationService>();

    private static bool Visited(string? jobMessage) => jobMessage is not null && System.Text.RegularExpressions.Regex.IsMatch(jobMessage, @"^[1-9][\d,]* shoppers");

    private static SimulationSettings Count(int shoppers) => new() { Shoppers = shoppers, ShoppersPerSecond = 500, Seed = 17 };

    [Fact]
    public async Task Every_click_and_purchase_the_shoppers_made_is_stored_naming_the_answer_that_showed_the_item()
    {
        var since = await server.QueryAsync<DateTime>("select now()");
        var summary = await Simulation.RunAsync(new SimulationRequest(server.App.BaseUrl, Count(60), "simulator-tests"));

        Assert.Equal(60, summary.Shoppers);
        Assert.Equal(0, summary.Errors);
        Assert.Empty(summary.ErrorSamples);
        Assert.Equal(600, summary.Impressions); // ten items shown to each
        Assert.True(summary.Clicks > 0 && summary.Purchases > 0, $"{summary.Clicks} clicks, {summary.Purchases} purchases");
        Assert.True(summary.Users is > 0 and <= 60);
        Assert.Equal(60, summary.Versions.Sum(v => v.Shoppers));

        // Clicks on an item the named answer showed (and the event's impression lists); purchases naming an answer, at
        // the product's price. The answer log is written in batches, so wait for it.
        const string attributed = """
            select
              (select count(*) from interactions i
                 join recommendation_log l on l.id = substr(i.attributes->>'recommendation_id', 5)::uuid
                 join products p on p.id = i.item_id
               where i.event_type = 'click' and i.occurred_at >= @since and i.item_id = any(l.items) and (i.attributes->'impression') ? p.external_id) as Clicks,
              (select count(*) from interactions i
                 join recommendation_log l on l.id = substr(i.attributes->>'recommendation_id', 5)::uuid
               where i.event_type = 'purchase' and i.occurred_at >= @since and i.item_id = any(l.items)) as Purchases,
              (select coalesce(sum(i.event_value), 0)::float8 from interactions i where i.event_type = 'purchase' and i.occurred_at >= @since) as Revenue,
              (select count(distinct user_id) from recommendation_log where created_at >= @since and campaign = 'user-recommendations') as Users
            """;
        (long Clicks, long Purchases, double Revenue, long Users) stored = default;
        var clock = Stopwatch.StartNew();
        do
        {
            await using var connection = new NpgsqlConnection(server.App.ConnectionString);
            stored = await connection.QuerySingleAsync<(long, long, double, long)>(attributed, new { since });
            if (stored.Clicks == summary.Clicks && stored.Purchases == summary.Purchases && stored.Users == summary.Users)
                break;
            await Task.Delay(250);
        }
        while (clock.Elapsed < TimeSpan.FromSeconds(60));
        Assert.Equal((summary.Clicks, summary.Purchases, summary.Users), (stored.Clicks, stored.Purchases, stored.Users));
        Assert.Equal(summary.Revenue, stored.Revenue, 0.01 * Math.Max(1, summary.Purchases));

        // The temporary key it made is revoked, and both are in the audit log.
        Assert.Equal(0L, await server.QueryAsync<long>("select count(*) from api_keys where name like 'shopper simulator%' and revoked_at is null"));
        Assert.True(await server.QueryAsync<long>("select count(*) from api_keys where name like 'shopper simulator%' and revoked_at is not null") >= 1);
        Assert.True(await server.QueryAsync<long>("select count(*) from audit_log where actor = 'simulator-tests' and action in ('api-key-create', 'api-key-revoke')") >= 2);
    }

    [Fact]
    public async Task As_a_job_it_reports_progress_stops_when_cancelled_and_revokes_its_key()
    {
        var jobs = _services.GetRequiredService<Recs.Services.Jobs.JobService>();
        var job = await Simulation.StartAsync(new SimulationRequest(server.App.BaseUrl,
            new SimulationSettings { Duration = TimeSpan.FromMinutes(30), ShoppersPerSecond = 2 }, "simulator-tests"));
        Assert.Equal(Recs.Services.Jobs.JobKinds.Simulation, job.Kind);
        await Assert.ThrowsAsync<Recs.Services.Jobs.JobAlreadyRunningException>(() => Simulation.StartAsync(new SimulationRequest(server.App.BaseUrl,
            new SimulationSettings { Shoppers = 1 }, "simulator-tests")));

        // Wait (on what the job says, not on time) until shoppers have visited, then stop it.
        var clock = Stopwatch.StartNew();
        Recs.Services.Jobs.JobRecord? latest;
        do
        {
            await Task.Delay(250);
            latest = await jobs.LatestAsync(Recs.Services.Jobs.JobKinds.Simulation);
        }
        while (!Visited(latest?.Message) && clock.Elapsed < TimeSpan.FromSeconds(90));
        Assert.True(Visited(latest?.Message), latest?.Message);
        Assert.True(await Simulation.CancelAsync(job.Id, "simulator-tests"));

        clock.Restart();
        do
        {
            await Task.Delay(250);
            latest = await jobs.LatestAsync(Recs.Services.Jobs.JobKinds.Simulation);
        }
        while (latest!.IsActive && clock.Elapsed < TimeSpan.FromSeconds(90));
        Assert.Equal(Recs.Services.Jobs.JobStatus.Cancelled, latest.Status);
        Assert.Equal(0L, await server.QueryAsync<long>("select count(*) from api_keys where name like 'shopper simulator%' and revoked_at is null"));
        Assert.True(await server.QueryAsync<long>("select count(*) from audit_log where action = 'simulate' and actor = 'simulator-tests'") >= 1);
    }

    [Fact]
    public async Task A_wrong_key_a_read_only_key_an_address_where_nothing_listens_and_bad_settings_are_refused_with_a_message()
    {
        var wrong = await Assert.ThrowsAsync<SimulationException>(() =>
            Simulation.RunAsync(new SimulationRequest(server.App.BaseUrl, Count(5), "simulator-tests", "recs_0123456789ab_notarealsecretnotarealsecret")));
        Assert.Contains("refused the key (401)", wrong.Message, StringComparison.Ordinal);

        var readOnly = await Assert.ThrowsAsync<SimulationException>(() =>
            Simulation.RunAsync(new SimulationRequest(server.App.BaseUrl, Count(40), "simulator-tests", server.ReadKey)));
        Assert.Contains("(403)", readOnly.Message, StringComparison.Ordinal);

        var nobody = await Assert.ThrowsAsync<SimulationException>(() =>
            Simulation.RunAsync(new SimulationRequest("http://127.0.0.1:1", Count(5), "simulator-tests", server.WriteKey)));
        Assert.StartsWith("Cannot reach Recs at http://127.0.0.1:1", nobody.Message, StringComparison.Ordinal);

        var url = await Assert.ThrowsAsync<ArgumentException>(() => Simulation.RunAsync(new SimulationRequest("localhost:5000", Count(5), "simulator-tests")));
        Assert.Contains("absolute http:// or https:// address", url.Message, StringComparison.Ordinal);
        var none = await Assert.ThrowsAsync<ArgumentException>(() => Simulation.RunAsync(new SimulationRequest(server.App.BaseUrl, new SimulationSettings(), "simulator-tests")));
        Assert.Contains("how long to simulate", none.Message, StringComparison.Ordinal);
        var rate = await Assert.ThrowsAsync<ArgumentException>(() => Simulation.RunAsync(new SimulationRequest(server.App.BaseUrl, Count(5) with { ShoppersPerSecond = 0 }, "simulator-tests")));
        Assert.Contains("rate must be more than 0", rate.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_cli_verb_says_what_is_wrong_and_exits_non_zero()
    {
        var database = $"--ConnectionStrings:Recs={server.App.ConnectionString}";
        var missing = await DashboardCli.RunAsync("simulate", "--url", server.App.BaseUrl, database);
        Assert.Equal(2, missing.Exit);
        Assert.Contains("simulate needs --minutes N", missing.Stderr, StringComparison.Ordinal);

        var badMinutes = await DashboardCli.RunAsync("simulate", "--minutes", "soon", database);
        Assert.Equal(2, badMinutes.Exit);
        Assert.Contains("--minutes must be a positive number (like 0.5), not 'soon'", badMinutes.Stderr, StringComparison.Ordinal);

        var unreachable = await DashboardCli.RunAsync("simulate", "--minutes", "0.5", "--url", "http://127.0.0.1:1", database);
        Assert.Equal(2, unreachable.Exit);
        Assert.Contains("Cannot reach Recs at http://127.0.0.1:1", unreachable.Stderr, StringComparison.Ordinal);
        Assert.Equal("", unreachable.Stdout.Trim());
    }
}

/// <summary>Data loaded without the demo-data job (as an import would leave it) has no recorded seed: the simulator refuses.</summary>
public sealed class SimulatorRefusalTests(DemoDatabaseFixture database) : IClassFixture<DemoDatabaseFixture>
{
    [Fact]
    public async Task Without_a_recorded_demo_seed_the_simulator_refuses_to_guess_the_ground_truth()
    {
        await using var services = TestServices.Create(database.ConnectionString);
        Assert.Null(await services.GetRequiredService<DemoDataService>().RecordedSpecAsync());
        var simulation = services.GetRequiredService<SimulationService>();
        var refused = await Assert.ThrowsAsync<SimulationException>(() => simulation.GroundTruthAsync());
        Assert.Equal(SimulationService.NotDemoData, refused.Message);
        await Assert.ThrowsAsync<SimulationException>(() => simulation.CheckReadyAsync());
        await Assert.ThrowsAsync<SimulationException>(() =>
            simulation.RunAsync(new SimulationRequest("http://127.0.0.1:1", new SimulationSettings { Shoppers = 1 }, "tests")));
    }
}
