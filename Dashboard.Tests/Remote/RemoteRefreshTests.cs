using System.Diagnostics;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Recs.Services.Jobs;
using Recs.Services.Models;
using Recs.Services.Training;
using Recs.Tests.E2E;
using Recs.Tests.Integration;

namespace Recs.Tests.Remote;

/// <summary>
/// The two other ways a remote campaign's cache is refreshed, against a scripted Personalize over real HTTP and a real
/// PostgreSQL: the <c>batch</c> verb (the real binary) and the scheduled refresh (Training:BatchRefreshHours), which
/// fetches remote campaigns as it refreshes local ones and leaves the live personalized-ranking campaign alone.
/// </summary>
public sealed class RemoteRefreshTests(DemoDatabaseFixture db) : IClassFixture<DemoDatabaseFixture>, IAsyncLifetime
{
    private const string Arn = "arn:aws:personalize:eu-west-1:123456789012:campaign/retail-users";
    private const string RankingArn = "arn:aws:personalize:eu-west-1:123456789012:campaign/retail-ranking";
    private RemotePersonalizeServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await RemotePersonalizeServer.StartAsync();
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var products = (await connection.QueryAsync<string>("select external_id from products order by id limit 3")).ToArray();
        _server.Answer = (context, _) => RemotePersonalizeServer.Ok(context, products);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Dictionary<string, string?> Settings()
    {
        var fast = new Dictionary<string, string?> { ["RequestsPerSecond"] = "500" };
        var settings = _server.Settings(Campaigns.UserRecommendations, Arn, fast);
        foreach (var (key, value) in _server.Settings(Campaigns.PersonalizedRanking, RankingArn, fast))
            settings[key] = value;
        return settings;
    }

    private async Task<int> ActiveUsersAsync()
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        return await connection.QuerySingleAsync<int>("select count(distinct user_id) from interactions where event_type = any(@types)",
            new { types = new TrainingOptions().EventWeights.Where(w => w.Value > 0).Select(w => w.Key).ToArray() });
    }

    private async Task ClearAsync()
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("delete from offline_user_recommendations; delete from remote_fetches; delete from jobs where kind = @Batch;", new { JobKinds.Batch });
    }

    [Fact]
    public async Task The_batch_verb_fetches_a_remote_campaign_into_its_cache_and_refuses_the_live_ranking_campaign()
    {
        await ClearAsync();
        string[] config = [$"--ConnectionStrings:Recs={db.ConnectionString}", .. Settings().Select(s => $"--{s.Key}={s.Value}")];

        var stdout = await DashboardCli.RunOkAsync(["batch", "--campaign", Campaigns.UserRecommendations, .. config]);
        var printed = JsonDocument.Parse(stdout).RootElement;
        var active = await ActiveUsersAsync();
        Assert.Equal((Arn, active), (printed.GetProperty("version").GetString(), printed.GetProperty("users").GetInt32()));
        await using var connection = await db.DataSource.OpenConnectionAsync();
        Assert.Equal(active, await connection.QuerySingleAsync<int>("select count(*) from offline_user_recommendations where model_version = @Arn", new { Arn }));
        Assert.Equal(("succeeded", "cli"), await connection.QuerySingleAsync<(string, string)>(
            "select status, requested_by from jobs where kind = @Batch order by id desc limit 1", new { JobKinds.Batch }));

        var (exit, _, stderr) = await DashboardCli.RunAsync(["batch", "--campaign", Campaigns.PersonalizedRanking, .. config]);
        Assert.NotEqual(0, exit);
        Assert.Contains("answered live", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_scheduled_refresh_fetches_remote_campaigns_without_a_local_champion()
    {
        await ClearAsync();
        var settings = Settings();
        // 0.001 h = 3.6 s between runs.
        settings["Training:BatchRefreshHours"] = "0.001";
        await using var services = TestServices.Create(db.ConnectionString, settings);
        var schedule = services.GetRequiredService<BatchRefreshService>();
        await using var connection = await db.DataSource.OpenConnectionAsync();
        Assert.Null(await connection.QuerySingleOrDefaultAsync<string>("select version from model_versions where status = 'champion'"));
        await schedule.StartAsync(CancellationToken.None);
        try
        {
            var clock = Stopwatch.StartNew();
            while (await connection.QuerySingleAsync<int>("select count(*) from remote_fetches where status = 'succeeded'") == 0)
            {
                Assert.True(clock.Elapsed < TimeSpan.FromMinutes(2), "no scheduled remote fetch within two minutes");
                await Task.Delay(200);
            }
            Assert.NotNull(schedule.NextRun);
        }
        finally
        {
            await schedule.StopAsync(CancellationToken.None);
        }
        Assert.Equal(await ActiveUsersAsync(), await connection.QuerySingleAsync<int>("select count(*) from offline_user_recommendations where model_version = @Arn", new { Arn }));
        // The first scheduled run (a later one may have been stopped with the schedule).
        var (status, by, arn) = await connection.QuerySingleAsync<(string, string, string)>(
            "select status, requested_by, parameters->>'arn' from jobs where kind = @Batch order by id limit 1", new { JobKinds.Batch });
        Assert.Equal(("succeeded", "schedule", Arn), (status, by, arn));
        // Only user-recommendations was fetched: the personalized-ranking campaign, also remote, is asked live.
        Assert.Equal([Campaigns.UserRecommendations], await connection.QueryAsync<string>("select distinct campaign from remote_fetches"));
        Assert.DoesNotContain(_server.Requests, r => r.Path == "/personalize-ranking");
    }
}
