using System.Globalization;
using Bunit;
using Dapper;
using Recs.Dashboard.Components.Pages;
using Recs.Services.Ingestion;
using Recs.Services.Jobs;
using Recs.Tests.Integration;

namespace Recs.Tests.Components;

public sealed class OverviewPageWithDataTests(DemoDatabaseFixture db) : MudBunitContext, IClassFixture<DemoDatabaseFixture>
{
    [Fact]
    public async Task Shows_the_counts_that_are_in_the_database()
    {
        await UseDatabaseAsync(db.ConnectionString);
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var expected = new Dictionary<string, long>
        {
            ["count-customers"] = await connection.ExecuteScalarAsync<long>("select count(*) from customers"),
            ["count-products"] = await connection.ExecuteScalarAsync<long>("select count(*) from products"),
            ["count-orders"] = await connection.ExecuteScalarAsync<long>("select count(*) from orders"),
            ["count-interactions"] = await connection.ExecuteScalarAsync<long>("select count(*) from interactions"),
            ["count-regions"] = await connection.ExecuteScalarAsync<long>("select count(distinct region) from customers"),
        };

        var cut = Render<Overview>();

        cut.WaitForAssertion(() =>
        {
            foreach (var (testId, count) in expected)
                Assert.Equal(count.ToString("N0", CultureInfo.InvariantCulture), cut.Find($"[data-testid={testId}]").TextContent.Trim());
        });
        Assert.Equal(db.Data.Categories.Length > 10 ? 10 : db.Data.Categories.Length, cut.FindAll("[data-testid=top-categories] tbody tr").Count);
        Assert.NotNull(cut.Find("[data-testid=chart-interactions-per-month][data-chart-kind=bar]"));
        var months = cut.FindComponent<Recs.Dashboard.Components.Charts.BarChart>().Instance.Figure.Data.Cast<Plotly.Blazor.Traces.Bar>();
        Assert.Equal(expected["count-interactions"], months.Sum(b => b.Y.Sum(Convert.ToInt64)));
        Assert.Equal("external", cut.Find("[data-testid=database-mode]").TextContent.Trim());
    }
}

public sealed class OverviewPageEmptyTests(DatabaseFixture db) : MudBunitContext, IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task An_empty_database_shows_the_empty_state_then_live_progress_then_the_figures()
    {
        await UseDatabaseAsync(db.ConnectionString);
        var cut = Render<Overview>();
        cut.WaitForAssertion(() => Assert.Contains("No data yet", cut.Find("[data-testid=overview-empty]").TextContent, StringComparison.Ordinal));
        Assert.Empty(cut.FindAll("[data-testid=count-customers]"));

        // A demo-data job starts and reports progress: the page shows it without a reload.
        var jobs = Services.GetService(typeof(JobService)) as JobService;
        var job = await jobs!.TryStartAsync(JobKinds.DemoData, new { test = true });
        Assert.NotNull(job);
        await jobs.ReportAsync(job, 0.42, "loading interactions");
        cut.WaitForAssertion(() => Assert.Contains("42%", cut.Find("[data-testid=job-progress]").TextContent, StringComparison.Ordinal));

        // The data lands and the job finishes: the figures replace the empty state.
        await DemoDataLoader.LoadAsync(db.DataSource, DemoDataGenerator.Generate(new DemoDataSpec { Customers = 50, Products = 30, OrderLines = 300 }));
        await jobs.FinishAsync(job, JobStatus.Succeeded, "done");
        cut.WaitForAssertion(() => Assert.Equal("50", cut.Find("[data-testid=count-customers]").TextContent.Trim()));
        Assert.Empty(cut.FindAll("[data-testid=job-progress]"));
        Assert.Empty(cut.FindAll("[data-testid=overview-empty]"));
    }
}
