using System.Text.Json;
using Dapper;
using Microsoft.Playwright;
using Npgsql;

namespace Recs.Tests.E2E;

[Collection(BrowserCollection.Name)]
public sealed class VerdictsE2ETests(BrowserFixture browser)
{
    private const string Password = "a-password-42!";

    [Fact]
    public async Task An_analyst_records_a_verdict_on_users_sees_it_on_verdicts_and_the_promote_dialog_replays_it_against_a_candidate()
    {
        await using var app = await AppProcess.StartAsync();
        await app.WaitForDemoDataAsync(TimeSpan.FromSeconds(120));
        var data = $"--Database:DataDirectory={app.DataDirectory}";
        // The served version fills the cache the Users page shows; the candidate is trained the same way, so its top 10 is the same.
        var first = JsonDocument.Parse(await DashboardCli.RunOkAsync("train", "--recipe", "similar-items", data)).RootElement;
        Assert.True(first.GetProperty("promoted").GetBoolean());
        var served = first.GetProperty("version").GetString()!;
        var candidate = JsonDocument.Parse(await DashboardCli.RunOkAsync("train", "--recipe", "similar-items", "--no-promote", data)).RootElement.GetProperty("version").GetString()!;
        await app.CreateAccountAsync("vera", "viewer", Password);
        long customer;
        await using (var connection = new NpgsqlConnection(app.ConnectionString))
            customer = await connection.ExecuteScalarAsync<long>("select user_id from offline_user_recommendations where jsonb_array_length(recommendations) = 25 order by user_id limit 1");

        // An analyst (a viewer) says the first recommendation does not make sense, with a note, and the 16th does.
        var page = await browser.NewPageAsync();
        await app.SignInAsync(page, "vera", Password);
        await new UsersPage(page, app.BaseUrl).OpenAsync(customer);
        var verdicts = new VerdictButtonsOnPage(page, "recommendations");
        await verdicts.WaitUntilInteractiveAsync();
        var rejected = await verdicts.ItemNameAsync(0);
        var approved = await verdicts.ItemNameAsync(15);
        await verdicts.MarkDoesNotMakeSenseAsync(0);
        await verdicts.MarkMakesSenseAsync(15);
        await verdicts.WriteNoteAsync(0, "They bought the same thing last week");
        await verdicts.ScreenshotDialogAsync("verdicts-note-dialog");
        await verdicts.SaveNoteAsync(0);
        await verdicts.ScreenshotFromTopAsync("verdicts-users");

        // ...and finds both on the Verdicts page, filtered through the URL, and in the CSV export.
        var list = new VerdictsListPage(page, app.BaseUrl);
        await list.OpenAsync();
        await list.AssertTotalAsync("2 verdicts");
        await list.AssertRowAsync("vera", rejected, "doesn't make sense", "They bought the same thing last week");
        await list.ScreenshotAsync("verdicts");
        await list.FilterByVerdictAsync("makes sense");
        await list.AssertTotalAsync("1 verdict");
        Assert.Contains("verdict=makes-sense", page.Url, StringComparison.Ordinal);
        await list.OpenAsync("?who=nobody");
        await list.AssertEmptyAsync("No verdict matches these filters");
        var csv = await page.APIRequest.GetAsync($"{app.BaseUrl}/verdicts.csv?who=vera&verdict=doesnt-make-sense");
        Assert.StartsWith("text/csv", csv.Headers["content-type"], StringComparison.Ordinal);
        var lines = (await csv.TextAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.EndsWith($",{served},doesnt-make-sense,They bought the same thing last week", lines[1], StringComparison.Ordinal);
        Assert.Equal(400, (await page.APIRequest.GetAsync($"{app.BaseUrl}/verdicts.csv?kind=region")).Status);

        // An engineer opens the promote dialog for the candidate: it still recommends the rejected pair and drops the approved one.
        var admin = await browser.NewPageAsync();
        await app.SignInAsync(admin);
        var promote = new PromoteDialogOnModels(admin, app.BaseUrl);
        await promote.OpenAsync(candidate);
        await promote.AssertRejectedKeptAsync("Still recommends 1 of 1 pair analysts said don't make sense");
        await promote.AssertApprovedDroppedAsync("Drops 1 of 1 pair they said make sense");
        await promote.AssertPairListedAsync(rejected, "still #1");
        await promote.AssertPairListedAsync(approved, "dropped");
        await promote.ScreenshotDialogAsync("verdicts-promote-dialog");
        await promote.ConfirmAsync();
        await Assertions.Expect(admin.Locator($"[data-testid='version-{candidate}'] [data-testid=status]")).ToHaveTextAsync("champion", new() { Timeout = 120_000 });

        // The same pages at a phone's width.
        var narrow = await browser.NewPageAsync(420, 900);
        await app.SignInAsync(narrow, "vera", Password);
        await new UsersPage(narrow, app.BaseUrl).OpenAsync(customer);
        var narrowButtons = new VerdictButtonsOnPage(narrow, "recommendations");
        await narrowButtons.WaitUntilInteractiveAsync();
        await narrowButtons.AssertVerdictAsync(0, "doesnt-make-sense");
        await narrowButtons.ScreenshotFromTopAsync("verdicts-users-narrow");
        var narrowList = new VerdictsListPage(narrow, app.BaseUrl);
        await narrowList.OpenAsync();
        await narrowList.AssertTotalAsync("2 verdicts");
        await narrowList.ScreenshotAsync("verdicts-narrow");
        var narrowAdmin = await browser.NewPageAsync(420, 900);
        await app.SignInAsync(narrowAdmin);
        var narrowPromote = new PromoteDialogOnModels(narrowAdmin, app.BaseUrl);
        await narrowPromote.OpenAsync(served);
        await narrowPromote.AssertRejectedKeptAsync("Still recommends 1 of 1");
        await narrowPromote.ScreenshotDialogAsync("verdicts-promote-dialog-narrow");

        // The command line's promote prints the same replay with its result.
        var cli = JsonDocument.Parse(await DashboardCli.RunOkAsync("promote", "--version", served, data)).RootElement;
        var replay = cli.GetProperty("verdicts");
        Assert.Equal((1, 1, 1, 1), (replay.GetProperty("rejected").GetInt32(), replay.GetProperty("rejected_still_recommended").GetInt32(),
            replay.GetProperty("approved").GetInt32(), replay.GetProperty("approved_dropped").GetInt32()));
        Assert.Equal(2, replay.GetProperty("disagreements").GetArrayLength());
        Assert.StartsWith("still recommends 1 of 1 pairs", replay.GetProperty("summary").GetString(), StringComparison.Ordinal);

        // A product owner judges a product's neighbour on Similar items; it joins the list as a product verdict.
        long product;
        await using (var connection = new NpgsqlConnection(app.ConnectionString))
            product = await connection.ExecuteScalarAsync<long>("select product_id from offline_similar_items where jsonb_array_length(similar_products) = 25 order by product_id limit 1");
        foreach (var (similarPage, name) in new[] { (page, "verdicts-similar-items"), (narrow, "verdicts-similar-items-narrow") })
        {
            await similarPage.GotoAsync($"{app.BaseUrl}/similar-items?product={product}");
            var neighbours = new VerdictButtonsOnPage(similarPage, "neighbours");
            await neighbours.WaitUntilInteractiveAsync();
            await neighbours.MarkMakesSenseAsync(0);
            await neighbours.ScreenshotFromTopAsync(name);
        }
        await list.OpenAsync("?kind=product");
        await list.AssertTotalAsync("1 verdict");
    }
}
