using System.Globalization;
using System.Text.Json;
using Npgsql;
using Recs.Services.Models;

namespace Recs.Tests.E2E;

/// <summary>
/// The demo shows an experiment deciding: popularity serves, ALS is the challenger, and the shopper simulator (the
/// <c>simulate</c> verb, through the public API with a key of its own) sends shoppers of the demo business who click
/// and buy by their true tastes. The page then names ALS the winner, significantly. The run is counted in shoppers,
/// not minutes, so a slow machine takes longer but reaches the same sample.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class ExperimentsE2ETests(BrowserFixture browser)
{
    private const int Shoppers = 800;

    [Fact]
    public async Task Simulated_shoppers_decide_an_experiment_for_the_stronger_version_and_the_page_names_it()
    {
        var dataDirectory = AppProcess.NewDataDirectory();
        string[] database = [$"--Database:DataDirectory={dataDirectory}", "--Database:ServerSettings:fsync=off"];
        await DashboardCli.RunOkAsync(["seed", "--customers", "600", "--products", "150", "--order-lines", "9000", .. database]);
        await DashboardCli.RunOkAsync(["train", "--recipe", "popularity", .. database]);
        var als = JsonDocument.Parse(await DashboardCli.RunOkAsync(["train", "--recipe", "user-personalization", "--factors", "16", "--iterations", "6", "--no-promote", .. database]))
            .RootElement.GetProperty("version").GetString()!;
        await DashboardCli.RunOkAsync(["experiments", "start", "--campaign", "user-recommendations", "--challenger", als, "--share", "50", .. database]);

        await using var app = await AppProcess.StartAsync(new Dictionary<string, string> { ["DemoData:Enabled"] = "false" }, dataDirectory);
        var summary = JsonDocument.Parse(await DashboardCli.RunOkAsync(
            ["simulate", "--shoppers", Shoppers.ToString(CultureInfo.InvariantCulture), "--rate", "200", "--seed", "1", "--url", app.BaseUrl, .. database])).RootElement;
        Assert.Equal(Shoppers, summary.GetProperty("shoppers").GetInt64());
        Assert.Equal(0, summary.GetProperty("errors").GetInt64());
        Assert.True(summary.GetProperty("purchases").GetInt64() > 0, summary.ToString());
        var arms = summary.GetProperty("versions").EnumerateArray().Where(v => v.GetProperty("arm").ValueKind == JsonValueKind.String)
            .ToDictionary(v => v.GetProperty("arm").GetString()!);
        Assert.Equal(als, arms["challenger"].GetProperty("version").GetString());
        // The simulator read the same report through the API at the end.
        Assert.Equal("challenger-wins", summary.GetProperty("experiment").GetProperty("decision").GetString());
        // Its temporary key is revoked.
        await using (var connection = new NpgsqlConnection(app.ConnectionString))
        {
            await connection.OpenAsync();
            await using var live = new NpgsqlCommand("select count(*) from api_keys where name like 'shopper simulator%' and revoked_at is null", connection);
            Assert.Equal(0L, (long)(await live.ExecuteScalarAsync())!);
        }

        var page = await browser.NewPageAsync(1280, 1400);
        await app.SignInAsync(page);
        var experiments = new ExperimentsPage(page, app.BaseUrl);
        await experiments.OpenAsync();
        await experiments.WaitForDecisionAsync(Campaigns.UserRecommendations, "challenger-wins");
        var decision = await experiments.DecisionTextAsync(Campaigns.UserRecommendations);
        Assert.Contains($"The challenger ({als}) converts better", decision, StringComparison.Ordinal);
        Assert.Contains("significant at p", decision, StringComparison.Ordinal);
        await experiments.AssertPromoteEnabledAsync(Campaigns.UserRecommendations);
        // Every shopper the simulator served is an exposed user on the page, in one arm or the other.
        var total = long.Parse((await experiments.UsersAsync(Campaigns.UserRecommendations, "control")).Replace(",", ""), CultureInfo.InvariantCulture)
            + long.Parse((await experiments.UsersAsync(Campaigns.UserRecommendations, "challenger")).Replace(",", ""), CultureInfo.InvariantCulture);
        Assert.Equal(summary.GetProperty("users").GetInt64(), total);
        // The figures on screen when it is taken (one run's screenshot caught the page loading again).
        await experiments.WaitForDecisionAsync(Campaigns.UserRecommendations, "challenger-wins");
        await experiments.ScreenshotAsync("experiments-decided");

        // The same simulator from the Training page, as a job against the app's own API.
        var training = new TrainingPage(page, app.BaseUrl);
        await training.OpenAsync("auto");
        await training.SimulateShoppersAsync("0.1");
        var message = await training.WaitForSimulationAsync();
        Assert.Matches(@"^[1-9][\d,]* shoppers in \d+ s: [\d,]+ clicks, [\d,]+ purchases .*, 0 errors\. Experiment: The challenger \(" + System.Text.RegularExpressions.Regex.Escape(als) + @"\) converts better", message);
        await training.ScreenshotAsync("training-simulation");
    }
}
