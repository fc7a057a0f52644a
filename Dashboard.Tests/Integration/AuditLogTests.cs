using Microsoft.Extensions.DependencyInjection;
using Recs.Services.Audit;
using Recs.Services.Engine;
using Recs.Services.Ingestion;
using Recs.Services.Training;

namespace Recs.Tests.Integration;

public sealed class AuditLogTests(DemoDatabaseFixture db) : IClassFixture<DemoDatabaseFixture>
{
    [Fact]
    public async Task Imports_training_promotion_cancellation_and_refreshes_are_recorded_with_actor_parameters_and_outcome()
    {
        await using var services = TestServices.Create(db.ConnectionString);
        var audit = services.GetRequiredService<AuditLog>();
        using var files = new TempFolder();

        var good = files.Write("items.csv", "ITEM_ID,PRODUCT_NAME\nAUDIT-1,Audited\n");
        await services.GetRequiredService<ImportService>().ImportAsync(new ImportRequest(new PersonalizeFiles(Items: good)), "cli");
        var bad = files.Write("broken.csv", "ITEM_ID,PRICE\nAUDIT-2,free\n");
        await Assert.ThrowsAsync<InputFileException>(() => services.GetRequiredService<ImportService>().ImportAsync(new ImportRequest(new PersonalizeFiles(Items: bad)), "dashboard"));
        var training = services.GetRequiredService<TrainingService>();
        var outcome = await training.RunNowAsync(new TrainingRequest { Recipe = PopularityRecommender.Name, AutoPromote = false, RequestedBy = "cli" });
        await training.PromoteAsync(outcome.Version.Version, "dashboard");
        Assert.False(await training.CancelAsync(999_999, "dashboard"));

        var (rows, total) = await audit.ListAsync();
        Assert.Equal(6, total);
        var newestFirst = rows.Select(r => (r.Actor, r.Action)).ToList();
        Assert.Equal(
            [("dashboard", "cancel"), ("dashboard", "batch"), ("dashboard", "promote"), ("cli", "train"), ("dashboard", "import"), ("cli", "import")],
            newestFirst);
        Assert.StartsWith("succeeded: 1 rows imported", rows[5].Outcome, StringComparison.Ordinal);
        Assert.Contains("\"items\": \"items.csv\"", rows[5].Parameters, StringComparison.Ordinal);
        Assert.Equal("failed: broken.csv, line 2: PRICE 'free' is not a number", rows[4].Outcome);
        Assert.StartsWith($"succeeded: version {outcome.Version.Version}", rows[3].Outcome, StringComparison.Ordinal);
        Assert.Contains("\"recipe\": \"popularity\"", rows[3].Parameters, StringComparison.Ordinal);
        Assert.Equal(outcome.Version.Version, rows[2].Target);
        Assert.StartsWith("succeeded: serves user-recommendations; cache refreshed (", rows[2].Outcome, StringComparison.Ordinal);
        Assert.Equal("failed: the job is not running in this process", rows[0].Outcome);
        Assert.All(rows, r => Assert.NotNull(r.FinishedAt));

        var (imports, importCount) = await audit.ListAsync(action: AuditActions.Import, actor: "dash");
        Assert.Equal(1, importCount);
        Assert.Equal("dashboard", imports.Single().Actor);
    }
}
