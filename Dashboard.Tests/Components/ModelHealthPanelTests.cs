using Bunit;
using Microsoft.Extensions.DependencyInjection;
using Recs.Dashboard.Components.Pages;
using Recs.Dashboard.Components.Shared;
using Recs.Services.Jobs;
using Recs.Services.Monitoring;
using Recs.Services.Security;
using Recs.Services.Training;
using Recs.Tests.Integration;

namespace Recs.Tests.Components;

/// <summary>The drift warning on the Overview and Models pages: what it says, and who gets the Retrain button.</summary>
public sealed class ModelHealthWarningTests(DriftDatabaseFixture fixture) : MudBunitContext, IClassFixture<DriftDatabaseFixture>, IAsyncLifetime
{
    private static readonly SemaphoreSlim Once = new(1, 1);
    private static readonly HashSet<string> Drifted = [];

    private async Task DriftOnceAsync()
    {
        await Once.WaitAsync();
        try
        {
            if (Drifted.Add(fixture.Database.Name))
            {
                await fixture.AppendDriftAsync();
                await using var services = TestServices.Create(fixture.Database.ConnectionString);
                Assert.Equal(HealthStatus.Drifting, (await services.GetRequiredService<DriftService>().CheckAsync())!.Status);
            }
        }
        finally
        {
            Once.Release();
        }
    }

    [Fact]
    public async Task An_engineer_sees_each_crossed_signal_with_its_figures_and_retrain_starts_the_training_job()
    {
        await DriftOnceAsync();
        await UseDatabaseAsync(fixture.Database.ConnectionString);

        var cut = Render<Overview>();

        cut.WaitForAssertion(() => Assert.NotNull(cut.Find("[data-testid=health-warning]")));
        Assert.Equal("drifting", cut.Find("[data-testid=model-health]").GetAttribute("data-status"));
        Assert.Contains($"Champion {fixture.Champion} ({Recs.Services.Engine.AlsRecommender.Name}) has drifted since it was trained", cut.Find("[data-testid=health-warning]").TextContent, StringComparison.Ordinal);
        Assert.Matches(@"^\d+ % of events since training come from users the model has never seen \([\d,]+ users; threshold 25 %\)$",
            cut.Find("[data-testid=health-signal-new-users]").TextContent.Trim());
        Assert.Contains("(total variation distance; threshold 20 %); most moved: Gadgets 0 % →", cut.Find("[data-testid=health-signal-category-mix]").TextContent, StringComparison.Ordinal);
        Assert.NotNull(cut.Find("[data-testid=health-signal-new-items]"));
        Assert.NotNull(cut.Find("[data-testid=health-signal-ndcg]"));
        Assert.Empty(cut.FindAll("[data-testid=health-needs-engineer]"));

        cut.Find("[data-testid=health-retrain]").Click();

        cut.WaitForAssertion(() => Assert.Contains("Training page", cut.Find("[data-testid=health-retrain-started]").TextContent, StringComparison.Ordinal));
        var job = await Services.GetRequiredService<JobService>().LatestAsync(JobKinds.Training);
        Assert.NotNull(job);
        try
        {
            Assert.Contains($"Training job {job.Id} started", cut.Find("[data-testid=health-retrain-started]").TextContent, StringComparison.Ordinal);
            Assert.Equal("training", cut.Find("[data-testid=health-retrain-started] a[href=training]").GetAttribute("href"));
        }
        finally
        {
            await Services.GetRequiredService<TrainingService>().CancelAsync(job.Id, "tester");
        }
    }

    [Fact]
    public async Task A_viewer_sees_the_warning_on_both_pages_without_the_buttons()
    {
        await DriftOnceAsync();
        SignInAs(AccountRole.Viewer);
        await UseDatabaseAsync(fixture.Database.ConnectionString);

        foreach (var cut in new IRenderedComponent<Microsoft.AspNetCore.Components.IComponent>[] { Render<Overview>(), Render<Models>() })
        {
            cut.WaitForAssertion(() => Assert.NotNull(cut.Find("[data-testid=health-warning]")));
            Assert.NotNull(cut.Find("[data-testid=health-signal-new-users]"));
            Assert.NotNull(cut.Find("[data-testid=health-needs-engineer]"));
            Assert.Empty(cut.FindAll("[data-testid=health-retrain]"));
            Assert.Empty(cut.FindAll("[data-testid=health-check]"));
        }
    }
}

/// <summary>The compact card when nothing crossed, and the empty states.</summary>
public sealed class ModelHealthCardTests(DriftDatabaseFixture fixture) : MudBunitContext, IClassFixture<DriftDatabaseFixture>
{
    [Fact]
    public async Task Unchecked_then_checked_now_shows_the_four_figures_and_no_warning()
    {
        await UseDatabaseAsync(fixture.Database.ConnectionString);

        var cut = Render<ModelHealthPanel>();

        cut.WaitForAssertion(() => Assert.Equal("unchecked", cut.Find("[data-testid=model-health]").GetAttribute("data-status")));
        cut.Find("[data-testid=health-check]").Click();

        cut.WaitForAssertion(() => Assert.Equal("healthy", cut.Find("[data-testid=model-health]").GetAttribute("data-status")));
        Assert.Empty(cut.FindAll("[data-testid=health-warning]"));
        Assert.Empty(cut.FindAll("[data-testid=health-retrain]"));
        Assert.Contains($"Champion {fixture.Champion} is healthy", cut.Find("[data-testid=health-summary]").TextContent, StringComparison.Ordinal);
        foreach (var key in new[] { HealthSignals.NewUsers, HealthSignals.NewItems, HealthSignals.CategoryMix, HealthSignals.Ndcg })
            Assert.Equal(SignalState.Ok, cut.Find($"[data-testid=health-figure-{key}]").GetAttribute("data-state"));
        Assert.Matches(@"^0\.\d{4} vs 0\.\d{4}$", cut.Find("[data-testid=health-figure-ndcg] .stat-value").TextContent.Trim());
        // One check so far: one day in the history, healthy.
        Assert.Equal(["healthy"], cut.FindAll("[data-testid=health-history] .mud-chip").Select(c => c.GetAttribute("data-status")));
    }
}

public sealed class ModelHealthEmptyTests(DatabaseFixture db) : MudBunitContext, IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task Without_a_champion_it_says_so_and_offers_nothing_to_click()
    {
        await UseDatabaseAsync(db.ConnectionString);

        var cut = Render<ModelHealthPanel>();

        cut.WaitForAssertion(() => Assert.Contains("no champion yet", cut.Find("[data-testid=health-no-champion]").TextContent, StringComparison.Ordinal));
        Assert.Empty(cut.FindAll("button"));
    }
}
