using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Recs.Dashboard.Api;
using Recs.Services.Analytics;
using Recs.Services.Engine;
using Recs.Services.Models;
using Recs.Services.Serving;
using Recs.Services.Training;
using Recs.Tests.Integration;

namespace Recs.Tests.Remote;

/// <summary>
/// Experiments with one arm served by a remote AWS Personalize campaign (a scripted one over real HTTP) and the other by
/// a local version, on a real PostgreSQL: who gets which lists, how answers are attributed per arm, and the refusals.
/// </summary>
public sealed class RemoteExperimentTests(DemoDatabaseFixture db) : IClassFixture<DemoDatabaseFixture>, IAsyncLifetime
{
    private const string Arn = "arn:aws:personalize:eu-west-1:123456789012:campaign/retail-users";
    private RemotePersonalizeServer _server = null!;
    private string[] _products = [];
    private string _popularity = "";

    public async Task InitializeAsync()
    {
        _server = await RemotePersonalizeServer.StartAsync();
        await using var connection = await db.DataSource.OpenConnectionAsync();
        _products = (await connection.QueryAsync<string>("select external_id from products order by id")).ToArray();
        _server.Answer = (context, body) => RemotePersonalizeServer.Ok(context, RemoteList(body.GetProperty("userId").GetString()!));
        if (await connection.QuerySingleOrDefaultAsync<string>("select version from model_versions where status = 'champion'") is { } champion)
        {
            _popularity = champion;
            return;
        }
        await using var services = TestServices.Create(db.ConnectionString);
        _popularity = (await services.GetRequiredService<TrainingService>().RunNowAsync(new TrainingRequest { Recipe = PopularityRecommender.Name })).Version.Version;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    /// <summary>What the scripted remote campaign recommends to a user: five products from a place given by the id's hash.</summary>
    private string[] RemoteList(string user)
    {
        var start = (int)(System.IO.Hashing.Crc32.HashToUInt32(System.Text.Encoding.UTF8.GetBytes(user)) % (uint)_products.Length);
        return [.. Enumerable.Range(0, 5).Select(k => _products[(start + k) % _products.Length])];
    }

    private ServiceProvider Services(bool remote = true, string arn = Arn) => TestServices.Create(db.ConnectionString, remote
        ? _server.Settings(Campaigns.UserRecommendations, arn, new Dictionary<string, string?> { ["RequestsPerSecond"] = "500", ["MaxRetries"] = "0" })
        : null);

    /// <summary>Users with purchases, in id order.</summary>
    private async Task<List<string>> BuyersAsync()
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        return (await connection.QueryAsync<string>(
            "select c.external_id from customers c where exists (select 1 from interactions i where i.user_id = c.id and i.event_type = 'purchase') order by c.id")).ToList();
    }

    private async Task<string> CachedListAsync(string user, int count)
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<string>("""
            select string_agg(p.external_id, ',' order by x.ord) from customers c join offline_user_recommendations r on r.user_id = c.id
            cross join lateral jsonb_array_elements(r.recommendations) with ordinality x(e, ord) join products p on p.id = (x.e->>'product_id')::bigint
            where c.external_id = @user and x.ord <= @count
            """, new { user, count }) ?? "";
    }

    [Fact]
    public async Task A_remote_challenger_serves_its_arm_the_fetched_lists_while_the_local_control_serves_the_cache_and_clicks_count_per_arm()
    {
        await using var services = Services();
        // The remote lists are fetched (and kept), then the local champion rewrites the cache (as a promotion by training
        // does): the control is local.
        await services.GetRequiredService<RemoteBatch>().RunAsync(Campaigns.UserRecommendations, "tests");
        await using (var local = Services(remote: false))
            await local.GetRequiredService<BatchInference>().RunAsync(Campaigns.UserRecommendations, "tests");
        var actions = services.GetRequiredService<ExperimentService>();
        var recommendations = services.GetRequiredService<RecommendationService>();
        var tracker = services.GetRequiredService<EventTracker>();
        var experiment = await actions.StartAsync(Campaigns.UserRecommendations, ExperimentArms.Remote, 50, "test");
        try
        {
            Assert.Equal((_popularity, Arn), (experiment.ControlVersion, experiment.ChallengerVersion));
            var users = (await BuyersAsync()).Take(120).ToList();
            var clicked = new Dictionary<short, int> { [ExperimentArms.Control] = 0, [ExperimentArms.Challenger] = 0 };
            var shown = new Dictionary<short, int> { [ExperimentArms.Control] = 0, [ExperimentArms.Challenger] = 0 };
            var now = DateTime.UtcNow;
            foreach (var (user, k) in users.Select((u, k) => (u, k)))
            {
                var arm = experiment.ArmOf(user);
                var answer = await recommendations.ForUserAsync(user, 5);
                shown[arm]++;
                if (arm == ExperimentArms.Challenger)
                {
                    Assert.Equal((Arn, false), (answer.ModelVersion, answer.Fallback));
                    Assert.Equal(RemoteList(user), answer.Items.Select(i => i.ItemId));
                }
                else
                {
                    Assert.Equal(_popularity, answer.ModelVersion);
                    Assert.Equal(await CachedListAsync(user, 5), string.Join(',', answer.Items.Select(i => i.ItemId)));
                }
                // Every third user clicks the first item shown.
                if (k % 3 == 0)
                {
                    await tracker.TrackAsync(user, [new TrackedEvent(answer.Items[0].ItemId, "click", SentAt: now.AddMinutes(1), RecommendationId: answer.RecommendationId)]);
                    clicked[arm]++;
                }
            }
            Assert.All(shown.Values, n => Assert.InRange(n, 30, 90));

            await services.GetRequiredService<RecommendationLog>().FlushAsync();
            var report = await services.GetRequiredService<ExperimentReportService>().ReportAsync(experiment);
            Assert.Equal((Arn, (long)shown[ExperimentArms.Challenger], (long)clicked[ExperimentArms.Challenger]), (report.Challenger.Version, report.Challenger.Impressions, report.Challenger.Clicks));
            Assert.Equal((_popularity, (long)shown[ExperimentArms.Control], (long)clicked[ExperimentArms.Control]), (report.Control.Version, report.Control.Impressions, report.Control.Clicks));
            await using (var connection = await db.DataSource.OpenConnectionAsync())
            {
                Assert.Equal(shown[ExperimentArms.Challenger], await connection.QuerySingleAsync<int>(
                    "select count(*) from recommendation_log where experiment_id = @Id and arm = 1 and model_version = @Arn", new { experiment.Id, Arn }));
            }
            var json = System.Text.Json.JsonSerializer.SerializeToElement(ExperimentJson.Show(Campaigns.UserRecommendations, report));
            Assert.Equal(["recs", "aws-personalize"], json.GetProperty("arms").EnumerateArray().Select(a => a.GetProperty("engine").GetString()));

            // A fetch while the remote campaign is the challenger refreshes its arm's lists and leaves the control's cache alone.
            await services.GetRequiredService<RemoteBatch>().RunAsync(Campaigns.UserRecommendations, "tests");
            await using (var connection = await db.DataSource.OpenConnectionAsync())
                Assert.Equal([_popularity], await connection.QueryAsync<string>("select distinct model_version from offline_user_recommendations"));

            // Promoting the remote challenger fetches its lists into the cache and ends the experiment.
            var ended = await actions.PromoteAsync(Campaigns.UserRecommendations, ExperimentArms.Remote, "test");
            Assert.Contains($"challenger {Arn} promoted", ended.Outcome, StringComparison.Ordinal);
            await using (var connection = await db.DataSource.OpenConnectionAsync())
                Assert.Equal([Arn], await connection.QueryAsync<string>("select distinct model_version from offline_user_recommendations"));
        }
        finally
        {
            if (await services.GetRequiredService<ExperimentRegistry>().RunningAsync(Campaigns.UserRecommendations) is not null)
                await actions.StopAsync(Campaigns.UserRecommendations, "test");
        }
    }

    [Fact]
    public async Task A_remote_control_is_the_cache_its_fetch_wrote_and_a_local_challenger_is_scored_live()
    {
        await using var services = Services();
        await services.GetRequiredService<RemoteBatch>().RunAsync(Campaigns.UserRecommendations, "tests");
        var actions = services.GetRequiredService<ExperimentService>();
        var recommendations = services.GetRequiredService<RecommendationService>();
        // An event does not fold the champion's list over the remote one.
        var tracked = await services.GetRequiredService<EventTracker>().TrackAsync((await BuyersAsync())[0], [new TrackedEvent(_products[0], "view")]);
        Assert.False(tracked.Refreshed);
        Assert.Contains($"served by AWS Personalize {Arn}", tracked.NotRefreshedReason, StringComparison.Ordinal);
        Assert.Contains("already serves", (await Assert.ThrowsAsync<InvalidOperationException>(
            () => actions.StartAsync(Campaigns.UserRecommendations, ExperimentArms.Remote, 20, "test"))).Message, StringComparison.Ordinal);
        var experiment = await actions.StartAsync(Campaigns.UserRecommendations, _popularity, 50, "test");
        try
        {
            Assert.Equal((Arn, _popularity), (experiment.ControlVersion, experiment.ChallengerVersion));
            foreach (var user in (await BuyersAsync()).Take(40))
            {
                var answer = await recommendations.ForUserAsync(user, 5);
                if (experiment.ArmOf(user) == ExperimentArms.Control)
                    Assert.Equal((Arn, string.Join(',', RemoteList(user))), (answer.ModelVersion, string.Join(',', answer.Items.Select(i => i.ItemId))));
                else
                    Assert.Equal(_popularity, answer.ModelVersion);
            }
            // A local challenger cannot take over a campaign whose cache is fetched from its remote campaign.
            Assert.Contains("remove that setting", (await Assert.ThrowsAsync<InvalidOperationException>(
                () => actions.PromoteAsync(Campaigns.UserRecommendations, _popularity, "test"))).Message, StringComparison.Ordinal);
            // "remote" names the remote arm when ending the experiment: the control keeps serving.
            var ended = await actions.PromoteAsync(Campaigns.UserRecommendations, ExperimentArms.Remote, "test");
            Assert.Contains($"control {Arn} kept", ended.Outcome, StringComparison.Ordinal);
        }
        finally
        {
            if (await services.GetRequiredService<ExperimentRegistry>().RunningAsync(Campaigns.UserRecommendations) is not null)
                await actions.StopAsync(Campaigns.UserRecommendations, "test");
        }
    }

    [Fact]
    public async Task A_remote_arm_is_refused_without_a_remote_engine_without_fetched_lists_or_with_another_arn()
    {
        await using (var local = Services(remote: false))
        {
            var e = await Assert.ThrowsAsync<ArgumentException>(() => local.GetRequiredService<ExperimentService>().StartAsync(Campaigns.UserRecommendations, ExperimentArms.Remote, 10, "test"));
            Assert.Contains("no remote engine (Engine:Remote:user-recommendations)", e.Message, StringComparison.Ordinal);
        }
        const string other = "arn:aws:personalize:eu-west-1:123456789012:campaign/never-fetched";
        await using var services = Services(arn: other);
        var actions = services.GetRequiredService<ExperimentService>();
        var none = await Assert.ThrowsAsync<InvalidOperationException>(() => actions.StartAsync(Campaigns.UserRecommendations, ExperimentArms.Remote, 10, "test"));
        Assert.Contains($"No lists have been fetched from {other}", none.Message, StringComparison.Ordinal);
        Assert.Contains("batch --campaign user-recommendations", none.Message, StringComparison.Ordinal);
        var wrong = await Assert.ThrowsAsync<ArgumentException>(() => actions.StartAsync(Campaigns.UserRecommendations, Arn, 10, "test"));
        Assert.Contains("is not the remote campaign of user-recommendations", wrong.Message, StringComparison.Ordinal);
        Assert.Null(await services.GetRequiredService<ExperimentRegistry>().RunningAsync(Campaigns.UserRecommendations));

        // The database holds the rule too: an arm is a model version or an ARN.
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var e2 = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => connection.ExecuteAsync("""
            insert into experiments (campaign, control_version, challenger_version, challenger_share, status, started_at, started_by)
            values ('user-recommendations', @control, 'remote', 20, 'stopped', now(), 'sql')
            """, new { control = _popularity }));
        Assert.Equal(Npgsql.PostgresErrorCodes.ForeignKeyViolation, e2.SqlState);
    }
}
