using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using Recs.Dashboard.Components.Pages;
using Recs.Services.Audit;
using Recs.Tests.Integration;

namespace Recs.Tests.Components;

public sealed class AuditLogPageTests(DatabaseFixture db) : MudBunitContext, IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task Lists_entries_newest_first_and_filters_by_the_action_in_the_URL()
    {
        await UseDatabaseAsync(db.ConnectionString);
        var audit = Services.GetRequiredService<AuditLog>();
        var empty = Render<AuditLogPage>();
        empty.WaitForAssertion(() => Assert.Contains("Nothing recorded yet", empty.Find("[data-testid=audit-empty]").TextContent, StringComparison.Ordinal));

        await audit.RecordAsync("cli", AuditActions.Import, "online retail export", new { online_retail = "online_retail.csv.gz" }, "succeeded: 399,656 rows imported");
        var running = await audit.RecordAsync("dashboard", AuditActions.Train, "user-personalization", new { recipe = "user-personalization" });
        await audit.RecordAsync("dashboard", AuditActions.Promote, "1.0.3", new { version = "1.0.3" }, "failed: no such version");

        var cut = Render<AuditLogPage>();
        cut.WaitForAssertion(() => Assert.Equal(3, cut.FindAll("[data-testid=audit-rows] tbody tr").Count));
        var rows = cut.FindAll("[data-testid=audit-rows] tbody tr");
        Assert.Contains("promote", rows[0].TextContent, StringComparison.Ordinal);
        Assert.Contains("failed: no such version", rows[0].TextContent, StringComparison.Ordinal);
        Assert.Contains("running (or its process stopped)", rows[1].TextContent, StringComparison.Ordinal);
        Assert.Contains("online_retail.csv.gz", rows[2].TextContent, StringComparison.Ordinal);

        await audit.FinishAsync(running, "cancelled");
        Services.GetRequiredService<NavigationManager>().NavigateTo("/audit?action=train");
        var filtered = Render<AuditLogPage>();
        filtered.WaitForAssertion(() => Assert.Single(filtered.FindAll("[data-testid=audit-rows] tbody tr")));
        Assert.Contains("cancelled", filtered.Find("[data-testid=audit-rows] tbody tr").TextContent, StringComparison.Ordinal);
        Assert.Contains("1 entry", filtered.Find("[data-testid=audit-total]").TextContent, StringComparison.Ordinal);
    }
}
