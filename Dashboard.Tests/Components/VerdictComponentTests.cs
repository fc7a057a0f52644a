using Bunit;
using Dapper;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using Recs.Dashboard.Components.Pages;
using Recs.Dashboard.Components.Shared;
using Recs.Services.Engine;
using Recs.Services.Security;
using Recs.Services.Training;
using Recs.Services.Verdicts;
using Recs.Tests.Integration;

namespace Recs.Tests.Components;

/// <summary>Demo data with one similar-items model promoted, so the Users page shows a cached list from a version.</summary>
public sealed class VerdictDatabaseFixture : IAsyncLifetime
{
    public DemoDatabaseFixture Database { get; } = new();

    public string Version { get; private set; } = "";

    public long Customer { get; private set; }

    public async Task InitializeAsync()
    {
        await Database.InitializeAsync();
        await using var services = TestServices.Create(Database.ConnectionString);
        Version = (await services.GetRequiredService<TrainingService>().RunNowAsync(new TrainingRequest { Recipe = ItemKnnRecommender.Name })).Version.Version;
        Customer = (await CachedLists.UsersAsync(Database.DataSource, 1))[0];
    }

    public Task DisposeAsync() => Database.DisposeAsync();
}

public sealed class VerdictComponentTests(VerdictDatabaseFixture db) : MudBunitContext, IClassFixture<VerdictDatabaseFixture>
{
    private void NavigateTo(string uri) => Services.GetRequiredService<NavigationManager>().NavigateTo(uri);

    [Fact]
    public async Task A_viewer_marks_a_recommendation_on_users_with_a_thumb_and_adds_a_note_both_stored_with_the_version_shown()
    {
        SignInAs(AccountRole.Viewer, "vera");
        await UseDatabaseAsync(db.Database.ConnectionString);
        var list = await CachedLists.UserAsync(db.Database.DataSource, db.Customer);
        NavigateTo($"/users?customer={db.Customer}");
        var dialogs = Render<MudDialogProvider>();

        var cut = Render<Users>();

        cut.WaitForAssertion(() => Assert.Equal(25, cut.FindAll("[data-testid=recommendations] [data-testid=verdict-buttons]").Count));
        Assert.Empty(cut.FindAll("[data-testid=verdict-note]")); // a note needs a verdict first
        cut.FindAll("[data-testid=verdict-down]")[2].Click();
        cut.WaitForAssertion(() => Assert.Equal(VerdictValues.DoesNotMakeSense, cut.FindAll("[data-testid=verdict-buttons]")[2].GetAttribute("data-verdict")));
        Assert.Equal("true", cut.FindAll("[data-testid=verdict-down]")[2].GetAttribute("aria-pressed"));

        cut.Find("[data-testid=verdict-buttons][data-verdict=doesnt-make-sense] [data-testid=verdict-note]").Click();
        dialogs.WaitForAssertion(() => Assert.NotNull(dialogs.Find("textarea")));
        dialogs.Find("textarea").Input("bought the same kettle last month");
        dialogs.Find("[data-testid=verdict-note-save]").Click();

        cut.WaitForAssertion(() => Assert.Equal("yes", cut.FindAll("[data-testid=verdict-buttons]")[2].GetAttribute("data-note")));
        await using var connection = await db.Database.DataSource.OpenConnectionAsync();
        cut.WaitForAssertion(() => Assert.Equal("bought the same kettle last month",
            connection.ExecuteScalar<string>("select note from verdicts where account = 'vera' and item_id = @item", new { item = list[2] })));
        var stored = await connection.QuerySingleAsync<(string Kind, long Subject, string Version, string Verdict)>(
            "select kind, subject_id, model_version, verdict from verdicts where account = 'vera' and item_id = @item", new { item = list[2] });
        Assert.Equal((VerdictKinds.User, db.Customer, db.Version, VerdictValues.DoesNotMakeSense), stored);

        // Shown again, the page marks what this account said.
        var again = Render<Users>();
        again.WaitForAssertion(() => Assert.Equal(VerdictValues.DoesNotMakeSense, again.FindAll("[data-testid=verdict-buttons]")[2].GetAttribute("data-verdict")));
        Assert.Equal("none", again.FindAll("[data-testid=verdict-buttons]")[0].GetAttribute("data-verdict"));
    }

    [Fact]
    public async Task Without_a_sign_in_no_verdict_can_be_given_and_the_service_refuses_a_blank_account()
    {
        Auth.SetNotAuthorized();
        await UseDatabaseAsync(db.Database.ConnectionString);
        NavigateTo($"/users?customer={db.Customer}");

        var cut = Render<Users>();

        cut.WaitForAssertion(() => Assert.Equal(25, cut.FindAll("[data-testid=recommendations] tbody tr").Count));
        Assert.Empty(cut.FindAll("[data-testid=verdict-buttons]"));
        var product = (await CachedLists.UserAsync(db.Database.DataSource, db.Customer))[0];
        await Assert.ThrowsAsync<ArgumentException>(() => Services.GetRequiredService<VerdictService>()
            .RecordAsync("", new VerdictInput(VerdictKinds.User, db.Customer, product, null, VerdictValues.MakesSense)));
    }

    [Fact]
    public async Task The_buttons_are_on_similar_items_for_the_champions_neighbours_and_record_a_product_verdict()
    {
        SignInAs(AccountRole.Viewer, "pia");
        await UseDatabaseAsync(db.Database.ConnectionString);
        var product = await CachedLists.ProductWithNeighboursAsync(db.Database.DataSource);
        var neighbours = await CachedLists.SimilarAsync(db.Database.DataSource, product);
        NavigateTo($"/similar-items?product={product}");

        var cut = Render<SimilarItems>();

        cut.WaitForAssertion(() => Assert.Equal(25, cut.FindAll("[data-testid=neighbours] [data-testid=verdict-buttons]").Count));
        cut.FindAll("[data-testid=verdict-up]")[0].Click();
        await using var connection = await db.Database.DataSource.OpenConnectionAsync();
        cut.WaitForAssertion(() => Assert.Equal(neighbours[0],
            connection.ExecuteScalar<long>("select item_id from verdicts where account = 'pia' and kind = 'product' and subject_id = @product and verdict = 'makes-sense'", new { product })));
    }

    [Fact]
    public async Task The_promote_dialog_shows_the_replay_of_the_verdicts_against_the_version()
    {
        await UseDatabaseAsync(db.Database.ConnectionString);
        var list = await CachedLists.UserAsync(db.Database.DataSource, db.Customer);
        var verdicts = Services.GetRequiredService<VerdictService>();
        await verdicts.RecordAsync("olaf", new VerdictInput(VerdictKinds.User, db.Customer, list[0], db.Version, VerdictValues.DoesNotMakeSense, "not for them"));
        await verdicts.RecordAsync("olaf", new VerdictInput(VerdictKinds.User, db.Customer, list[20], db.Version, VerdictValues.MakesSense));
        // Other tests in this class may have added verdicts: the expected figures are the replay's at this moment.
        var expected = await Services.GetRequiredService<VerdictReplay>().ReplayAsync(db.Version);
        Assert.True(expected.RejectedKept >= 1 && expected.ApprovedDropped >= 1);
        var dialogs = Render<MudDialogProvider>();

        await dialogs.InvokeAsync(() => Services.GetRequiredService<IDialogService>().ShowAsync<PromoteDialog>("Promote model",
            new DialogParameters { [nameof(PromoteDialog.Version)] = db.Version, [nameof(PromoteDialog.Text)] = "Make it the champion?" }));

        dialogs.WaitForAssertion(() => Assert.Contains($"Still recommends {expected.RejectedKept} of {expected.Rejected}", dialogs.Find("[data-testid=replay-rejected]").TextContent, StringComparison.Ordinal));
        Assert.Contains($"Drops {expected.ApprovedDropped} of {expected.Approved}", dialogs.Find("[data-testid=replay-approved]").TextContent, StringComparison.Ordinal);
        var pairs = dialogs.FindAll("[data-testid=replay-pairs] tbody tr").Select(r => r.TextContent).ToList();
        Assert.Equal(expected.Pairs.Count(p => p.Disagrees), pairs.Count);
        Assert.Contains(pairs, r => r.Contains("still #1", StringComparison.Ordinal) && r.Contains("olaf", StringComparison.Ordinal));
        Assert.NotNull(dialogs.Find("[data-testid=confirm-promote]"));
    }
}

public sealed class VerdictsPageTests(DemoDatabaseFixture db) : MudBunitContext, IClassFixture<DemoDatabaseFixture>
{
    private void NavigateTo(string uri) => Services.GetRequiredService<NavigationManager>().NavigateTo(uri);

    [Fact]
    public async Task Lists_verdicts_with_the_filters_from_the_url_says_when_there_are_none_and_names_a_bad_filter()
    {
        SignInAs(AccountRole.Viewer);
        await UseDatabaseAsync(db.ConnectionString);
        var empty = Render<VerdictsPage>();
        empty.WaitForAssertion(() => Assert.Contains("No verdicts yet", empty.Find("[data-testid=verdicts-empty]").TextContent, StringComparison.Ordinal));
        Assert.True(empty.Find("[data-testid=export-csv]").HasAttribute("disabled"));

        await using var connection = await db.DataSource.OpenConnectionAsync();
        var customer = await connection.ExecuteScalarAsync<long>("select min(id) from customers");
        var products = (await connection.QueryAsync<long>("select id from products order by id limit 3")).ToList();
        var verdicts = Services.GetRequiredService<VerdictService>();
        await verdicts.RecordAsync("vera", new VerdictInput(VerdictKinds.User, customer, products[0], null, VerdictValues.DoesNotMakeSense, "a winter coat in July"));
        await verdicts.RecordAsync("olaf", new VerdictInput(VerdictKinds.User, customer, products[1], null, VerdictValues.MakesSense));
        await verdicts.RecordAsync("olaf", new VerdictInput(VerdictKinds.Product, products[0], products[2], null, VerdictValues.DoesNotMakeSense));

        var all = Render<VerdictsPage>();
        all.WaitForAssertion(() => Assert.Equal(3, all.FindAll("[data-testid=verdict-rows] tbody tr").Count));
        Assert.Equal("3 verdicts", all.Find("[data-testid=verdicts-total]").TextContent.Trim());

        NavigateTo("/verdicts?verdict=doesnt-make-sense&who=olaf");
        var filtered = Render<VerdictsPage>();
        filtered.WaitForAssertion(() => Assert.Single(filtered.FindAll("[data-testid=verdict-rows] tbody tr")));
        Assert.Contains("product's neighbours", filtered.Find("[data-testid=verdict-rows] tbody tr").TextContent, StringComparison.Ordinal);
        Assert.EndsWith("verdicts.csv?verdict=doesnt-make-sense&who=olaf", filtered.Find("[data-testid=export-csv]").GetAttribute("href"), StringComparison.Ordinal);

        NavigateTo("/verdicts?q=WINTER");
        var searched = Render<VerdictsPage>();
        searched.WaitForAssertion(() => Assert.Equal("a winter coat in July", searched.Find("[data-testid=note]").TextContent.Trim()));

        NavigateTo("/verdicts?who=nobody");
        var none = Render<VerdictsPage>();
        none.WaitForAssertion(() => Assert.Contains("No verdict matches these filters", none.Find("[data-testid=verdicts-empty]").TextContent, StringComparison.Ordinal));

        NavigateTo("/verdicts?kind=region");
        var bad = Render<VerdictsPage>();
        // The error is said at once; the unfiltered list follows when its query returns: wait for both.
        bad.WaitForAssertion(() =>
        {
            Assert.Contains("There is no kind 'region'", bad.Find("[data-testid=verdicts-error]").TextContent, StringComparison.Ordinal);
            Assert.Equal(3, bad.FindAll("[data-testid=verdict-rows] tbody tr").Count);
        });
    }
}
