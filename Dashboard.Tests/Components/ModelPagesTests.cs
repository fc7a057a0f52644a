using Bunit;
using Microsoft.Extensions.DependencyInjection;
using Plotly.Blazor.Traces;
using Plotly.Blazor.Traces.ScatterLib.MarkerLib;
using Recs.Dashboard.Components.Charts;
using Recs.Dashboard.Components.Pages;
using Recs.Services.Engine;
using Recs.Services.Training;
using Recs.Tests.Integration;

namespace Recs.Tests.Components;

/// <summary>A database with demo data and three trained versions, shared by the page tests.</summary>
public sealed class TrainedDatabaseFixture : IAsyncLifetime
{
    public DemoDatabaseFixture Database { get; } = new();

    public string Als { get; private set; } = "";
    public string Popularity { get; private set; } = "";
    public string OtherSplit { get; private set; } = "";
    public string Auto { get; private set; } = "";

    public async Task InitializeAsync()
    {
        await Database.InitializeAsync();
        await using var services = TestServices.Create(Database.ConnectionString);
        var training = services.GetRequiredService<TrainingService>();
        Popularity = (await training.RunNowAsync(new TrainingRequest { Recipe = PopularityRecommender.Name })).Version.Version;
        Als = (await training.RunNowAsync(new TrainingRequest
        {
            Recipe = AlsRecommender.Name, AutoPromote = false, Hyperparameters = new Dictionary<string, string> { ["factors"] = "8", ["iterations"] = "6" },
        })).Version.Version;
        OtherSplit = (await training.RunNowAsync(new TrainingRequest { Recipe = ItemKnnRecommender.Name, Split = Splits.RandomPerUser, AutoPromote = false })).Version.Version;
        Auto = (await training.RunNowAsync(new TrainingRequest
        {
            Recipe = Recs.Services.Models.RecipeCatalog.Auto, AutoPromote = false, Hyperparameters = new Dictionary<string, string> { ["trials"] = "3" },
        })).Version.Version;
    }

    public Task DisposeAsync() => Database.DisposeAsync();
}

public sealed class ModelPagesTests(TrainedDatabaseFixture trained) : MudBunitContext, IClassFixture<TrainedDatabaseFixture>
{
    private void NavigateTo(string uri) => Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>().NavigateTo(uri);

    [Fact]
    public async Task Models_lists_every_version_marks_the_champion_and_flags_other_splits()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);

        var cut = Render<Models>();

        cut.WaitForAssertion(() => Assert.Equal(4, cut.FindAll("[data-testid=versions] tbody tr").Count));
        Assert.Equal("champion", cut.Find($"[data-testid='version-{trained.Popularity}'] [data-testid=status]").TextContent.Trim());
        Assert.Equal("challenger", cut.Find($"[data-testid='version-{trained.Als}'] [data-testid=status]").TextContent.Trim());
        Assert.NotNull(cut.Find($"[data-testid='version-{trained.OtherSplit}'] [data-testid=not-comparable]"));
        Assert.Empty(cut.FindAll($"[data-testid='version-{trained.Als}'] [data-testid=not-comparable]"));
        Assert.NotNull(cut.Find($"[data-testid='promote-{trained.Als}']"));
        Assert.NotNull(cut.Find("[data-testid=metric-history-chart] svg"));
        Assert.Contains("ndcg@10 popularity", cut.Markup, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Models_shows_the_search_behind_a_version_auto_chose()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);
        NavigateTo($"/models?trials={trained.Auto}");

        var cut = Render<Models>();

        cut.WaitForAssertion(() => Assert.Equal(3, cut.FindAll("[data-testid=trials-table] tbody tr").Count));
        Assert.NotNull(cut.Find($"[data-testid='trials-{trained.Auto}']"));
        Assert.Equal(3, cut.FindAll("[data-testid=search-trials] svg circle").Count(c => c.GetAttribute("r") is "6" or "8"));
        Assert.Single(cut.FindAll("[data-testid=search-trials] svg circle"), c => c.GetAttribute("r") == "8");
        Assert.Contains("(chosen)", cut.Find("[data-testid=trials-table]").TextContent, StringComparison.Ordinal);
        Assert.Contains("the test period was not used", cut.Find("[data-testid=search-trials]").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Models_reads_the_metrics_to_draw_from_the_url()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);
        NavigateTo("/models?metrics=coverage@10");

        var cut = Render<Models>();

        cut.WaitForAssertion(() => Assert.Contains("coverage@10 popularity", cut.Markup, StringComparison.Ordinal));
        Assert.DoesNotContain("ndcg@10 popularity", cut.Markup, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Learning_curves_draw_the_chosen_version_and_mark_its_best_epoch()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);

        NavigateTo($"/learning-curves?versions={trained.Als}");

        var cut = Render<LearningCurves>();

        cut.WaitForAssertion(() => Assert.Contains("best epoch", cut.Find("[data-testid=best-epochs]").TextContent, StringComparison.Ordinal));
        var ndcg = Chart(cut, "curve-ndcg");
        var loss = Chart(cut, "curve-loss");
        Assert.NotNull(cut.Find("[data-testid=curve-ndcg][data-chart-kind=line]"));
        var ndcgLine = Assert.IsType<Scatter>(Assert.Single(ndcg.Data));
        Assert.Equal($"{trained.Als} validation NDCG@10", ndcgLine.Name);
        Assert.Contains(SymbolEnum.Star, ndcgLine.Marker.SymbolArray);
        Assert.Equal(6, ndcgLine.Y.Count);
        Assert.Equal($"{trained.Als} train loss", Assert.IsType<Scatter>(Assert.Single(loss.Data)).Name);
        Assert.Equal(Plotly.Blazor.LayoutLib.YAxisLib.TypeEnum.Linear, loss.Layout.YAxis[0].Type);
        Assert.Contains("★", cut.Markup, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Learning_curves_read_smoothing_and_a_log_axis_from_the_url()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);

        NavigateTo($"/learning-curves?versions={trained.Als}&smoothing=0.6&log=true");

        var cut = Render<LearningCurves>();

        cut.WaitForAssertion(() => Assert.NotNull(cut.Find("[data-testid=best-epochs]")));
        var ndcg = Chart(cut, "curve-ndcg");
        Assert.Equal(Plotly.Blazor.LayoutLib.YAxisLib.TypeEnum.Log, ndcg.Layout.YAxis[0].Type);
        Assert.Equal(2, ndcg.Data.Count); // the raw curve, pale, behind the smoothed one
        Assert.Equal(Plotly.Blazor.Traces.ScatterLib.HoverInfoFlag.Skip, Assert.IsType<Scatter>(ndcg.Data[0]).HoverInfo);
        Assert.Contains("Smoothing 0.60", cut.Markup, StringComparison.Ordinal);
    }

    private static PlotlyFigure Chart(IRenderedComponent<LearningCurves> cut, string testId) =>
        cut.FindComponents<LineChart>().Single(c => c.Instance.TestId == testId).Instance.Figure;

    [Fact]
    public async Task Training_shows_the_recipes_hyperparameters_with_defaults_and_refuses_a_bad_value()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);

        NavigateTo($"/training?recipe={BprRecommender.Name}");

        var cut = Render<Training>();

        // MudTextField puts extra attributes on its input element.
        cut.WaitForAssertion(() => Assert.NotNull(cut.Find("input[data-testid=hyper-learning-rate]")));
        Assert.Equal("30", cut.Find("input[data-testid=hyper-epochs]").GetAttribute("value"));
        cut.Find("input[data-testid=hyper-epochs]").Change("-4");
        cut.Find("[data-testid=start-training]").Click();
        cut.WaitForAssertion(() => Assert.Contains("epochs must be a whole number", cut.Find("[data-testid=form-error]").TextContent, StringComparison.Ordinal));
        cut.WaitForAssertion(() => Assert.NotEmpty(cut.FindAll("[data-testid=job-history] tbody tr")));
    }
}

public sealed class ModelPagesEmptyTests(DatabaseFixture db) : MudBunitContext, IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task Without_versions_the_pages_say_how_to_get_one()
    {
        await UseDatabaseAsync(db.ConnectionString);

        var models = Render<Models>();
        var curves = Render<LearningCurves>();

        models.WaitForAssertion(() => Assert.Contains("No model versions yet", models.Find("[data-testid=models-empty]").TextContent, StringComparison.Ordinal));
        curves.WaitForAssertion(() => Assert.Contains("No curves yet", curves.Find("[data-testid=curves-empty]").TextContent, StringComparison.Ordinal));
    }
}
