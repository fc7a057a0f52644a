using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Recs.Services.Analytics;
using Recs.Services.Engine;
using Recs.Services.Models;
using Recs.Services.Serving;
using Recs.Services.Training;

namespace Recs.Tests.Integration;

/// <summary>Experiments end to end on a real database: the lifecycle, what each arm is served, the answer log and attribution.</summary>
public sealed class ExperimentTests(VersionsDatabaseFixture fixture) : IClassFixture<VersionsDatabaseFixture>
{
    private static readonly Dictionary<string, string?> OneHourWindow = new() { ["Experiments:ConversionWindowHours"] = "1" };

    private ServiceProvider Services() => TestServices.Create(fixture.Database.ConnectionString, OneHourWindow);

    /// <summary>Demo customers with history, split by the experiment's arm.</summary>
    private async Task<(List<string> Control, List<string> Challenger)> UsersByArmAsync(OnlineExperiment experiment, int each)
    {
        await using var connection = await fixture.Database.DataSource.OpenConnectionAsync();
        var users = (await connection.QueryAsync<string>(
            "select c.external_id from customers c where exists (select 1 from interactions i where i.user_id = c.id and i.event_type = 'purchase') order by c.id")).ToList();
        return (users.Where(u => experiment.ArmOf(u) == ExperimentArms.Control).Take(each).ToList(),
                users.Where(u => experiment.ArmOf(u) == ExperimentArms.Challenger).Take(each).ToList());
    }

    [Fact]
    public async Task Start_stop_and_only_one_running_experiment_per_campaign_with_clear_errors_for_bad_input()
    {
        await using var services = Services();
        var registry = services.GetRequiredService<ExperimentRegistry>();
        var actions = services.GetRequiredService<ExperimentService>();

        Assert.Contains("no campaign 'nope'", (await Assert.ThrowsAsync<ArgumentException>(() => actions.StartAsync("nope", fixture.Als, 10, "test"))).Message, StringComparison.Ordinal);
        Assert.Contains("between 1 and 99", (await Assert.ThrowsAsync<ArgumentException>(() => actions.StartAsync(Campaigns.UserRecommendations, fixture.Als, 0, "test"))).Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => actions.StartAsync(Campaigns.UserRecommendations, fixture.Als, 100, "test"));
        Assert.Contains("no model version 9.9.9", (await Assert.ThrowsAsync<KeyNotFoundException>(() => actions.StartAsync(Campaigns.UserRecommendations, "9.9.9", 10, "test"))).Message, StringComparison.Ordinal);
        Assert.Contains("already serves", (await Assert.ThrowsAsync<InvalidOperationException>(() => actions.StartAsync(Campaigns.UserRecommendations, fixture.Popularity, 10, "test"))).Message, StringComparison.Ordinal);
        Assert.Contains("per item", (await Assert.ThrowsAsync<ArgumentException>(() => actions.StartAsync(Campaigns.SimilarItems, fixture.Als, 10, "test"))).Message, StringComparison.Ordinal);

        var started = await actions.StartAsync(Campaigns.UserRecommendations, fixture.Als, 10, "test");
        try
        {
            Assert.Equal((fixture.Popularity, fixture.Als, 10, OnlineExperiment.Running), (started.ControlVersion, started.ChallengerVersion, started.ChallengerShare, started.Status));
            Assert.Equal(started.Id, (await registry.RunningAsync(Campaigns.UserRecommendations))?.Id);

            var second = await Assert.ThrowsAsync<InvalidOperationException>(() => actions.StartAsync(Campaigns.UserRecommendations, fixture.Als, 50, "test"));
            Assert.Contains("already running on user-recommendations", second.Message, StringComparison.Ordinal);
            // The database holds the rule too, whoever writes.
            await using var connection = await fixture.Database.DataSource.OpenConnectionAsync();
            var e = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => connection.ExecuteAsync("""
                insert into experiments (campaign, control_version, challenger_version, challenger_share, status, started_at, started_by)
                values ('user-recommendations', @control, @challenger, 20, 'running', now(), 'sql')
                """, new { control = fixture.Popularity, challenger = fixture.Als }));
            Assert.Equal(Npgsql.PostgresErrorCodes.UniqueViolation, e.SqlState);

            // Another campaign may run its own at the same time.
            var ranking = await actions.StartAsync(Campaigns.PersonalizedRanking, fixture.Als, 50, "test");
            await actions.StopAsync(Campaigns.PersonalizedRanking, "test");
            Assert.Equal(OnlineExperiment.Stopped, (await registry.GetAsync(ranking.Id))!.Status);
        }
        finally
        {
            var stopped = await actions.StopAsync(Campaigns.UserRecommendations, "test");
            Assert.Equal(OnlineExperiment.Stopped, stopped.Status);
        }
        Assert.Null(await registry.RunningAsync(Campaigns.UserRecommendations));
        await Assert.ThrowsAsync<InvalidOperationException>(() => actions.StopAsync(Campaigns.UserRecommendations, "test"));
        Assert.Contains(await registry.ListAsync(), x => x.Id == started.Id && x.Outcome!.Contains("stopped by test", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Challenger_arm_users_get_the_challengers_lists_and_every_answer_is_logged_with_its_arm_and_items()
    {
        await using var services = Services();
        var actions = services.GetRequiredService<ExperimentService>();
        var recommendations = services.GetRequiredService<RecommendationService>();
        var log = services.GetRequiredService<RecommendationLog>();
        var store = services.GetRequiredService<ModelStore>();
        var experiment = await actions.StartAsync(Campaigns.UserRecommendations, fixture.Als, 50, "test");
        try
        {
            var (control, challenger) = await UsersByArmAsync(experiment, 5);
            var als = (await store.GetAsync(fixture.Als))!;
            await using var connection = await fixture.Database.DataSource.OpenConnectionAsync();
            var answers = new List<(string User, short Arm, UserRecommendations Answer)>();
            foreach (var user in challenger)
            {
                var answer = await recommendations.ForUserAsync(user, 10);
                answers.Add((user, ExperimentArms.Challenger, answer));
                Assert.Equal(fixture.Als, answer.ModelVersion);
                Assert.False(answer.Fallback);

                // What the challenger's artifact says for this user's history, their own items left out.
                var id = await connection.ExecuteScalarAsync<long>("select id from customers where external_id = @user", new { user });
                var (items, weights) = await UserHistory.ReadAsync(connection, als, id, new Dictionary<string, float> { ["purchase"] = 1f, ["add-to-cart"] = 0.5f, ["view"] = 0.1f }, default);
                var scores = new float[als.Model.Items];
                ((IHistoryScorer)als.Model).ScoreHistory(items, weights, scores);
                foreach (var i in items)
                    scores[i] = float.NegativeInfinity;
                var top = new int[10];
                var n = TopK.Select(scores, top, new float[10]);
                var expected = new List<string>();
                foreach (var i in top[..n])
                    expected.Add(await connection.ExecuteScalarAsync<string>("select external_id from products where id = @id", new { id = als.Artifact.ItemIds[i] }) ?? "");
                Assert.Equal(expected, answer.Items.Select(i => i.ItemId));
            }
            foreach (var user in control)
            {
                var answer = await recommendations.ForUserAsync(user, 10);
                answers.Add((user, ExperimentArms.Control, answer));
                Assert.Equal(fixture.Popularity, answer.ModelVersion);
                // The control arm is served from the cache, as without an experiment.
                var cached = await connection.ExecuteScalarAsync<string>("""
                    select string_agg(p.external_id, ',' order by x.ord) from customers c join offline_user_recommendations r on r.user_id = c.id
                    cross join lateral jsonb_array_elements(r.recommendations) with ordinality x(e, ord) join products p on p.id = (x.e->>'product_id')::bigint
                    where c.external_id = @user and x.ord <= 10
                    """, new { user });
                Assert.Equal(cached, string.Join(',', answer.Items.Select(i => i.ItemId)));
            }

            await log.FlushAsync();
            Assert.All(answers, a => Assert.NotNull(RecommendationLog.Parse(a.Answer.RecommendationId)));
            Assert.Equal(answers.Count, answers.Select(a => a.Answer.RecommendationId).Distinct().Count());
            foreach (var (user, arm, answer) in answers)
            {
                var row = await connection.QuerySingleAsync<(string UserId, string Campaign, string ModelVersion, long ExperimentId, short Arm, string Items)>("""
                    select l.user_id, l.campaign, l.model_version, l.experiment_id, l.arm,
                           (select string_agg(p.external_id, ',' order by s.ord) from unnest(l.items) with ordinality s(item, ord) join products p on p.id = s.item)
                    from recommendation_log l where l.id = @id
                    """, new { id = RecommendationLog.Parse(answer.RecommendationId)!.Value });
                Assert.Equal((user, Campaigns.UserRecommendations, answer.ModelVersion!, experiment.Id, arm), (row.UserId, row.Campaign, row.ModelVersion, row.ExperimentId, row.Arm));
                Assert.Equal(string.Join(',', answer.Items.Select(i => i.ItemId)), row.Items);
            }

            // Ranking answers carry ids too; without an experiment on personalized-ranking they are logged without an arm.
            var ranked = await recommendations.RankAsync(control[0], ["P000001", "P000002"]);
            await log.FlushAsync();
            Assert.Equal((short?)null, await connection.ExecuteScalarAsync<short?>("select arm from recommendation_log where id = @id", new { id = RecommendationLog.Parse(ranked.RecommendationId)!.Value }));
        }
        finally
        {
            await actions.StopAsync(Campaigns.UserRecommendations, "test");
        }

        // Stopped: the former challenger-arm users get the champion again.
        var (_, formerChallenger) = await UsersByArmAsync(experiment, 1);
        Assert.Equal(fixture.Popularity, (await recommendations.ForUserAsync(formerChallenger[0], 10)).ModelVersion);
    }

    [Fact]
    public async Task Challenger_arm_users_are_ranked_by_the_challenger_on_personalized_ranking()
    {
        await using var services = Services();
        var actions = services.GetRequiredService<ExperimentService>();
        var recommendations = services.GetRequiredService<RecommendationService>();
        var experiment = await actions.StartAsync(Campaigns.PersonalizedRanking, fixture.Als, 50, "test");
        try
        {
            var (control, challenger) = await UsersByArmAsync(experiment, 1);
            string[] items = ["P000001", "P000002", "P000003", "P000004", "P000005"];
            var challenged = await recommendations.RankAsync(challenger[0], items);
            Assert.Equal(fixture.Als, challenged.ModelVersion);
            Assert.False(challenged.Fallback);
            Assert.Equal(items, challenged.Items.Select(i => i.ItemId).Order());
            var scores = challenged.Items.Select(i => i.Score!.Value).ToArray();
            Assert.Equal(scores.OrderDescending(), scores);
            // The control arm keeps the campaign's version (popularity: it ranks by counts, as a fallback).
            Assert.Equal(fixture.Popularity, (await recommendations.RankAsync(control[0], items)).ModelVersion);
        }
        finally
        {
            await actions.StopAsync(Campaigns.PersonalizedRanking, "test");
        }
    }

    [Fact]
    public async Task Attribution_counts_clicks_on_shown_items_only_and_purchases_inside_the_window_only()
    {
        await using var services = Services();
        var actions = services.GetRequiredService<ExperimentService>();
        var recommendations = services.GetRequiredService<RecommendationService>();
        var tracker = services.GetRequiredService<EventTracker>();
        var log = services.GetRequiredService<RecommendationLog>();
        var reports = services.GetRequiredService<ExperimentReportService>();
        var experiment = await actions.StartAsync(Campaigns.UserRecommendations, fixture.Als, 50, "test");
        try
        {
            var (control, challenger) = await UsersByArmAsync(experiment, 2);
            var now = DateTime.UtcNow;
            List<string> allItems;
            await using (var connection = await fixture.Database.DataSource.OpenConnectionAsync())
                allItems = (await connection.QueryAsync<string>("select external_id from products order by id")).ToList();

            // Control user A: a click on a shown item (counts), a click on an item not shown (does not), a purchase 10 minutes later (25).
            var a = await recommendations.ForUserAsync(control[0], 10);
            var notShown = allItems.First(i => a.Items.All(x => x.ItemId != i));
            await tracker.TrackAsync(control[0], [
                new TrackedEvent(a.Items[0].ItemId, "view", SentAt: now.AddMinutes(1), RecommendationId: a.RecommendationId),
                new TrackedEvent(notShown, "view", SentAt: now.AddMinutes(2), RecommendationId: a.RecommendationId),
                new TrackedEvent(a.Items[3].ItemId, "purchase", 25, now.AddMinutes(10)),
            ]);
            // Control user D: shown a list, does nothing.
            await recommendations.ForUserAsync(control[1], 10);

            // Challenger user B: two lists. A click inside the impression (counts); a click on a listed item the shop did not
            // show (outside the impression: does not); a purchase two hours later, outside the one-hour window (does not).
            var b = await recommendations.ForUserAsync(challenger[0], 10);
            var b2 = await recommendations.ForUserAsync(challenger[0], 8);
            await tracker.TrackAsync(challenger[0], [
                new TrackedEvent(b.Items[1].ItemId, "click", SentAt: now.AddMinutes(1), RecommendationId: b.RecommendationId, Impression: [b.Items[0].ItemId, b.Items[1].ItemId]),
                new TrackedEvent(b2.Items[5].ItemId, "click", SentAt: now.AddMinutes(2), RecommendationId: b2.RecommendationId, Impression: [b2.Items[0].ItemId]),
                new TrackedEvent(b.Items[2].ItemId, "purchase", 99, now.AddHours(2)),
            ]);
            // Challenger user C: no click, a purchase 30 minutes later (40) that names no recommendation: still a conversion.
            await recommendations.ForUserAsync(challenger[1], 10);
            await tracker.TrackAsync(challenger[1], [new TrackedEvent("P000007", "purchase", 40, now.AddMinutes(30))]);

            await log.FlushAsync();
            var report = await reports.ReportAsync(experiment);
            Assert.Equal((2L, 2L, 1L, 1L, 25.0), (report.Control.Users, report.Control.Impressions, report.Control.Clicks, report.Control.Conversions, report.Control.Revenue));
            Assert.Equal((2L, 3L, 1L, 1L, 40.0), (report.Challenger.Users, report.Challenger.Impressions, report.Challenger.Clicks, report.Challenger.Conversions, report.Challenger.Revenue));
            Assert.Equal(0.5, report.Control.Ctr, 1e-9);
            Assert.Equal(1.0 / 3, report.Challenger.Ctr, 1e-9);
            Assert.Equal(12.5, report.Control.RevenuePerUser, 1e-9);
            Assert.Equal(20, report.Challenger.RevenuePerUser, 1e-9);
            Assert.Equal(ExperimentDecisions.TooSmall, report.Decision);
            Assert.True(report.SampleTooSmall);
            Assert.Null(report.Winner);
            Assert.Contains("Too few data to decide", report.Summary, StringComparison.Ordinal);
            Assert.Equal([("control", 2L, 1L), ("challenger", 3L, 1L)], report.Daily.GroupBy(d => d.Arm).Select(g => (g.Key, g.Sum(d => d.Impressions), g.Sum(d => d.Clicks))).OrderByDescending(x => x.Key == "control"));

            // One answer's own attribution, as GET /api/v1/recommendations/{id} shows it.
            var attribution = await log.AttributionAsync(a.RecommendationId!);
            Assert.NotNull(attribution);
            Assert.Equal([a.Items[0].ItemId], attribution.Clicked);
            Assert.Equal((1, 25.0, "control"), (attribution.Conversions, attribution.Revenue, attribution.Arm));
            Assert.Equal(a.Items.Select(i => i.ItemId), attribution.Items);
            Assert.Null(await log.AttributionAsync("RID-00000000000000000000000000000000"));
        }
        finally
        {
            await actions.StopAsync(Campaigns.UserRecommendations, "test");
        }
    }

    [Fact]
    public async Task Pruning_deletes_old_answers_but_keeps_a_running_experiments()
    {
        await using var services = Services();
        var log = services.GetRequiredService<RecommendationLog>();
        var actions = services.GetRequiredService<ExperimentService>();
        await using var connection = await fixture.Database.DataSource.OpenConnectionAsync();
        var experiment = await actions.StartAsync(Campaigns.PersonalizedRanking, fixture.Als, 50, "test");
        try
        {
            Guid old = Guid.NewGuid(), oldRunning = Guid.NewGuid(), recent = Guid.NewGuid();
            await connection.ExecuteAsync("""
                insert into recommendation_log (id, created_at, user_id, campaign, model_version, experiment_id, arm, items) values
                (@old, now() - interval '40 days', 'u', 'user-recommendations', '1.0.0', null, null, '{1}'),
                (@oldRunning, now() - interval '40 days', 'u', 'personalized-ranking', '1.0.0', @experiment, 0, '{1}'),
                (@recent, now() - interval '1 day', 'u', 'user-recommendations', '1.0.0', null, null, '{1}')
                """, new { old, oldRunning, recent, experiment = experiment.Id });

            Assert.True(await log.PruneAsync() >= 1);

            var left = (await connection.QueryAsync<Guid>("select id from recommendation_log where id = any(@ids)", new { ids = new[] { old, oldRunning, recent } })).ToHashSet();
            Assert.Equal(new HashSet<Guid> { oldRunning, recent }, left);
        }
        finally
        {
            await actions.StopAsync(Campaigns.PersonalizedRanking, "test");
        }
    }
}

/// <summary>Ending an experiment by promoting a version (its own database: it changes what the campaign serves).</summary>
public sealed class ExperimentPromotionTests(VersionsDatabaseFixture fixture) : IClassFixture<VersionsDatabaseFixture>
{
    [Fact]
    public async Task Promoting_the_challenger_makes_it_serve_the_campaign_and_ends_the_experiment()
    {
        await using var services = TestServices.Create(fixture.Database.ConnectionString);
        var actions = services.GetRequiredService<ExperimentService>();
        var registry = services.GetRequiredService<ModelRegistry>();
        var experiment = await actions.StartAsync(Campaigns.PersonalizedRanking, fixture.Als, 20, "test");

        Assert.Contains("neither arm", (await Assert.ThrowsAsync<ArgumentException>(() => actions.PromoteAsync(Campaigns.PersonalizedRanking, "9.9.9", "test"))).Message, StringComparison.Ordinal);
        var ended = await actions.PromoteAsync(Campaigns.PersonalizedRanking, fixture.Als, "test");

        Assert.Equal(OnlineExperiment.Stopped, ended.Status);
        Assert.Equal(experiment.Id, ended.Id);
        Assert.Equal($"challenger {fixture.Als} promoted by test", ended.Outcome);
        Assert.Equal(fixture.Als, (await registry.ServingAsync(Campaigns.PersonalizedRanking))!.Version);
        Assert.Equal(fixture.Popularity, (await registry.ServingAsync(Campaigns.UserRecommendations))!.Version);
        await Assert.ThrowsAsync<InvalidOperationException>(() => actions.PromoteAsync(Campaigns.PersonalizedRanking, fixture.Als, "test"));

        // Audited as an experiment's end, by whom.
        var audit = services.GetRequiredService<Recs.Services.Audit.AuditLog>();
        var (rows, _) = await audit.ListAsync(Recs.Services.Audit.AuditActions.ExperimentStop);
        Assert.Contains(rows, r => r.Actor == "test" && r.Outcome!.StartsWith("succeeded", StringComparison.Ordinal) && r.Parameters.Contains(fixture.Als, StringComparison.Ordinal));
    }
}
