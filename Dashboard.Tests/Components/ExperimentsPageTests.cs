using Recs.Dashboard.Components.Charts;
using Bunit;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Recs.Dashboard.Components.Pages;
using Recs.Services.Models;
using Recs.Services.Security;
using Recs.Services.Training;
using Recs.Tests.Integration;

namespace Recs.Tests.Components;

/// <summary>The Experiments page in its three states: nothing running, running with too few data, and a decided winner.</summary>
public sealed class ExperimentsPageTests(VersionsDatabaseFixture fixture) : MudBunitContext, IClassFixture<VersionsDatabaseFixture>
{
    [Fact]
    public async Task Shows_no_experiment_then_too_few_data_then_the_winner_with_its_promote_button()
    {
        await UseDatabaseAsync(fixture.Database.ConnectionString);

        // Nothing running: the engineer gets the start form with the ALS version offered as challenger.
        var none = Render<Experiments>();
        none.WaitForAssertion(() => Assert.Contains("No experiment is running on user-recommendations", none.Find("[data-testid='none-user-recommendations']").TextContent, StringComparison.Ordinal));
        Assert.False(none.Find("[data-testid='start-user-recommendations']").HasAttribute("disabled"));
        Assert.Empty(none.FindAll("[data-testid=needs-engineer]"));

        var experiment = await Services.GetRequiredService<ExperimentService>().StartAsync(Campaigns.UserRecommendations, fixture.Als, 50, "tester");
        try
        {
            // Running, no traffic yet: the page says plainly that it cannot decide.
            var small = Render<Experiments>();
            small.WaitForAssertion(() => Assert.Equal("too-small", small.Find("[data-testid='decision-user-recommendations']").GetAttribute("data-decision")));
            Assert.Contains("Too few data to decide yet", small.Find("[data-testid='decision-user-recommendations']").TextContent, StringComparison.Ordinal);
            Assert.True(small.Find("[data-testid='promote-winner-user-recommendations']").HasAttribute("disabled"));
            Assert.NotNull(small.Find("[data-testid='stop-user-recommendations']"));

            // 300 users an arm over two days; 15 control users and 60 challenger users buy within the window: 5 % against 20 %.
            await using (var connection = await fixture.Database.DataSource.OpenConnectionAsync())
            {
                await connection.ExecuteAsync("""
                    insert into customers (external_id) select 'bunit-' || g from generate_series(1, 600) g;
                    insert into recommendation_log (id, created_at, user_id, campaign, model_version, experiment_id, arm, items)
                    select gen_random_uuid(), date_trunc('day', now()) - (1 + g % 2) * interval '1 day' + interval '12 hours', 'bunit-' || g, 'user-recommendations',
                           case when g <= 300 then @control else @challenger end, @id, case when g <= 300 then 0 else 1 end, array[(select min(id) from products)]
                    from generate_series(1, 600) g;
                    insert into interactions (user_id, item_id, event_type, event_value, occurred_at)
                    select c.id, (select min(id) from products), 'purchase', 10, l.created_at + interval '10 minutes'
                    from customers c join recommendation_log l on l.user_id = c.external_id and l.experiment_id = @id
                    where c.external_id in (select 'bunit-' || g from generate_series(1, 15) g union all select 'bunit-' || g from generate_series(301, 360) g);
                    """, new { id = experiment.Id, control = experiment.ControlVersion, challenger = experiment.ChallengerVersion });
            }
            var decided = Render<Experiments>();
            decided.WaitForAssertion(() => Assert.Equal("challenger-wins", decided.Find("[data-testid='decision-user-recommendations']").GetAttribute("data-decision")));
            Assert.Contains($"The challenger ({fixture.Als}) converts better: 20.0 % against 5.0 %", decided.Find("[data-testid='decision-user-recommendations']").TextContent, StringComparison.Ordinal);
            Assert.Equal("300", decided.Find("[data-testid='arm-user-recommendations-control'] [data-testid=users]").TextContent.Trim());
            Assert.StartsWith("20.0 %", decided.Find("[data-testid='arm-user-recommendations-challenger'] [data-testid=conversion-rate]").TextContent.Trim(), StringComparison.Ordinal);
            var promote = decided.Find("[data-testid='promote-winner-user-recommendations']");
            Assert.False(promote.HasAttribute("disabled"));
            Assert.Contains(fixture.Als, promote.TextContent, StringComparison.Ordinal);
            var daily = decided.FindComponents<LineChart>().Single(c => c.Instance.TestId == "daily-user-recommendations").Instance;
            Assert.Equal(["control", "challenger"], daily.Series.Select(x => x.Name));
            Assert.All(daily.Series, x => Assert.True(x.Points.Count >= 2 && x.Points.All(p => p.X is DateTime && p.Y is >= 0 and <= 100)));
        }
        finally
        {
            await Services.GetRequiredService<ExperimentService>().StopAsync(Campaigns.UserRecommendations, "tester");
        }
    }

    [Fact]
    public async Task A_remote_arm_is_labelled_with_its_engine_and_arn()
    {
        const string arn = "arn:aws:personalize:eu-west-1:123456789012:campaign/shop-users";
        await UseDatabaseAsync(fixture.Database.ConnectionString, new Dictionary<string, string?>
        {
            ["Engine:Remote:user-recommendations:Region"] = "eu-west-1",
            ["Engine:Remote:user-recommendations:CampaignArn"] = arn,
        });
        await using (var connection = await fixture.Database.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("""
                insert into experiments (campaign, control_version, challenger_version, challenger_share, status, started_at, started_by)
                values ('user-recommendations', @control, @arn, 10, 'running', now(), 'tester')
                """, new { control = fixture.Popularity, arn });
        }
        try
        {
            var cut = Render<Experiments>();
            cut.WaitForAssertion(() => Assert.Equal($"AWS Personalize {arn}", cut.Find("[data-testid='challenger-engine-user-recommendations']").TextContent.Trim()));
            Assert.Equal($"model {fixture.Popularity}", cut.Find("[data-testid='control-user-recommendations']").TextContent.Trim());
            Assert.Equal("AWS Personalize", cut.Find("[data-testid='arm-user-recommendations-challenger'] [data-testid=engine]").TextContent.Trim());
            Assert.Equal("Recs", cut.Find("[data-testid='arm-user-recommendations-control'] [data-testid=engine]").TextContent.Trim());
            Assert.Contains(arn, cut.Find("[data-testid='arm-user-recommendations-challenger']").TextContent, StringComparison.Ordinal);
        }
        finally
        {
            await Services.GetRequiredService<ExperimentService>().StopAsync(Campaigns.UserRecommendations, "tester");
        }
    }

    [Fact]
    public async Task A_viewer_reads_experiments_but_gets_no_buttons_to_start_or_stop()
    {
        SignInAs(AccountRole.Viewer);
        await UseDatabaseAsync(fixture.Database.ConnectionString);

        var cut = Render<Experiments>();

        cut.WaitForAssertion(() => Assert.NotNull(cut.Find("[data-testid=needs-engineer]")));
        Assert.NotNull(cut.Find("[data-testid='none-personalized-ranking']"));
        Assert.Empty(cut.FindAll("[data-testid='start-personalized-ranking']"));
        Assert.Empty(cut.FindAll("[data-testid^='stop-']"));
    }
}
