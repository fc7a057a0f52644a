using Bunit;
using Microsoft.Extensions.DependencyInjection;
using Recs.Dashboard.Components.Pages;
using Recs.Services.Ingestion;
using Recs.Services.Security;
using Recs.Services.Simulation;
using Recs.Tests.Integration;

namespace Recs.Tests.Components;

/// <summary>The Training page's "Simulate shoppers": who may run it, and what it says when it cannot.</summary>
public sealed class SimulationPanelTests(DatabaseFixture db) : MudBunitContext, IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task It_says_why_it_cannot_run_no_demo_data_then_no_champion_and_viewers_see_no_button()
    {
        await UseDatabaseAsync(db.ConnectionString);
        var cut = Render<Training>();
        cut.WaitForAssertion(() => Assert.Equal(SimulationService.NotDemoData, cut.Find("[data-testid=simulation-blocked]").TextContent.Trim()));
        Assert.Empty(cut.FindAll("[data-testid=start-simulation]"));
        Assert.Equal("experiments", cut.Find("[data-testid=simulation-experiments-link]").GetAttribute("href"));

        // Demo data through its job (so its seed is recorded), but nothing trained yet.
        await Services.GetRequiredService<DemoDataService>().GenerateAsync(new DemoDataSpec { Customers = 60, Products = 30, OrderLines = 400, Seed = 3 }, CancellationToken.None);
        var noChampion = Render<Training>();
        noChampion.WaitForAssertion(() => Assert.Contains("no champion model yet", noChampion.Find("[data-testid=simulation-blocked]").TextContent, StringComparison.Ordinal));
        Assert.Empty(noChampion.FindAll("[data-testid=start-simulation]"));

        SignInAs(AccountRole.Viewer, "vera");
        var viewer = Render<Training>();
        viewer.WaitForAssertion(() => Assert.NotNull(viewer.Find("[data-testid=simulation-needs-engineer]")));
        Assert.Empty(viewer.FindAll("[data-testid=start-simulation]"));
    }
}
