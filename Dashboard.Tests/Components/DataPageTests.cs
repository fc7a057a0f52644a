using System.Globalization;
using Bunit;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Recs.Dashboard.Components.Pages;
using Recs.Services.Ingestion;
using Recs.Tests.Integration;

namespace Recs.Tests.Components;

public sealed class DataPageTests(DemoDatabaseFixture db) : MudBunitContext, IClassFixture<DemoDatabaseFixture>
{
    [Fact]
    public async Task Shows_the_data_quality_figures_of_the_database_and_the_latest_import_report()
    {
        await UseDatabaseAsync(db.ConnectionString);
        // An import made elsewhere (the command line) is what the page shows as the latest.
        using var files = new TempFolder();
        var items = files.Write("catalogue.csv", "ITEM_ID,PRODUCT_NAME,PRICE\nNEW-1,Brand new,3\nNEW-2,Broken,-1\n");
        await Services.GetRequiredService<ImportService>().ImportAsync(new ImportRequest(new PersonalizeFiles(Items: items)), "test");
        var quality = await new DataQualityService(db.DataSource, TimeProvider.System).ComputeAsync();

        var cut = Render<Data>();

        cut.WaitForAssertion(() => Assert.NotEmpty(cut.FindAll("[data-testid=quality-items-without]")));
        Assert.Contains(quality.ItemsWithoutInteractionsShare.ToString("P1", CultureInfo.InvariantCulture), cut.Find("[data-testid=quality-items-without]").TextContent, StringComparison.Ordinal);
        Assert.Contains(quality.UsersWithSingleInteractionShare.ToString("P1", CultureInfo.InvariantCulture), cut.Find("[data-testid=quality-single]").TextContent, StringComparison.Ordinal);
        Assert.Equal(quality.Missing.Count, cut.FindAll("[data-testid=quality-missing] tbody tr").Count);
        Assert.NotNull(cut.Find("[data-testid=chart-quality-months][data-chart-kind=bar]"));
        var months = (Plotly.Blazor.Traces.Bar)Assert.Single(cut.FindComponent<Recs.Dashboard.Components.Charts.BarChart>().Instance.Figure.Data);
        Assert.Equal(quality.PerMonth.Select(m => m.Interactions), months.Y.Select(Convert.ToInt64));
        var types = (Plotly.Blazor.Traces.Pie)Assert.Single(cut.FindComponent<Recs.Dashboard.Components.Charts.DonutChart>().Instance.Figure.Data);
        Assert.Equal(quality.EventTypes.Select(t => t.EventType), types.Labels.Cast<string>());
        var report = cut.Find("[data-testid=report-items]").TextContent;
        Assert.Contains("2 rows read", report, StringComparison.Ordinal);
        Assert.Contains("1 imported", report, StringComparison.Ordinal);
        Assert.Contains("negative PRICE", cut.Find("[data-testid=import-report]").TextContent, StringComparison.Ordinal);
        // The import button waits for a file.
        Assert.True(cut.Find("[data-testid=start-import]").HasAttribute("disabled"));
        await using var connection = await db.DataSource.OpenConnectionAsync();
        Assert.Equal(1, await connection.ExecuteScalarAsync<long>("select count(*) from products where external_id like 'NEW-%'"));
    }
}
