using System.Net.Http.Json;
using System.Text.Json;
using Recs.Services.Models;

namespace Recs.Tests.E2E;

/// <summary>
/// A short scripted run through the public API, as a shop would: users ask for recommendations, click what they were
/// shown naming the recommendation id, and challenger-arm users buy more often. The page then names the challenger.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class ExperimentsE2ETests(BrowserFixture browser)
{
    [Fact]
    public async Task Traffic_through_the_api_decides_an_experiment_and_the_page_names_the_winner()
    {
        var dataDirectory = AppProcess.NewDataDirectory();
        string[] database = [$"--Database:DataDirectory={dataDirectory}", "--Database:ServerSettings:fsync=off"];
        await DashboardCli.RunOkAsync(["seed", "--customers", "600", "--products", "150", "--order-lines", "9000", .. database]);
        await DashboardCli.RunOkAsync(["train", "--recipe", "popularity", .. database]);
        var als = JsonDocument.Parse(await DashboardCli.RunOkAsync(["train", "--recipe", "user-personalization", "--factors", "16", "--iterations", "6", "--no-promote", .. database]))
            .RootElement.GetProperty("version").GetString()!;
        var started = JsonDocument.Parse(await DashboardCli.RunOkAsync(["experiments", "start", "--campaign", "user-recommendations", "--challenger", als, "--share", "50", .. database])).RootElement;
        var experimentId = started.GetProperty("experiment_id").GetInt64();

        await using var app = await AppProcess.StartAsync(new Dictionary<string, string> { ["DemoData:Enabled"] = "false" }, dataDirectory);
        using var api = await app.ApiClientAsync("write");
        var users = Enumerable.Range(1, 600).Select(k => $"C{k:D6}").ToList();
        var bought = 0;
        foreach (var (user, k) in users.Select((u, k) => (u, k)))
        {
            var answer = await api.GetFromJsonAsync<JsonElement>($"/api/v1/users/{user}/recommendations?count=5");
            var id = answer.GetProperty("recommendation_id").GetString();
            var first = answer.GetProperty("items")[0].GetProperty("item_id").GetString();
            var challenger = ExperimentArms.Assign(experimentId, user, 50) == ExperimentArms.Challenger;
            // Everyone clicks the first item; challenger-arm users buy it one time in three, control-arm users one in twenty.
            var buys = challenger ? k % 3 == 0 : k % 20 == 0;
            var events = new List<object> { new { item_id = first, event_type = "click", recommendation_id = id } };
            if (buys)
            {
                events.Add(new { item_id = first, event_type = "purchase", event_value = 20f, recommendation_id = id });
                bought++;
            }
            var response = await api.PostAsJsonAsync("/api/v1/events", new { user_id = user, events });
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        }
        Assert.True(bought > 20);

        var page = await browser.NewPageAsync(1280, 1000);
        await app.SignInAsync(page);
        var experiments = new ExperimentsPage(page, app.BaseUrl);
        await experiments.OpenAsync();
        await experiments.WaitForDecisionAsync(Campaigns.UserRecommendations, "challenger-wins");
        Assert.Contains($"The challenger ({als}) converts better", await experiments.DecisionTextAsync(Campaigns.UserRecommendations), StringComparison.Ordinal);
        await experiments.AssertPromoteEnabledAsync(Campaigns.UserRecommendations);
        var total = long.Parse((await experiments.UsersAsync(Campaigns.UserRecommendations, "control")).Replace(",", ""), System.Globalization.CultureInfo.InvariantCulture)
            + long.Parse((await experiments.UsersAsync(Campaigns.UserRecommendations, "challenger")).Replace(",", ""), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(600, total);
        await experiments.ScreenshotAsync("experiments-decided");
    }
}
