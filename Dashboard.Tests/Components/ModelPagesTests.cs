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
        var history = cut.FindComponents<LineChart>().Single(c => c.Instance.TestId == "metric-history-chart").Instance.Figure;
        Assert.Equal(Plotly.Blazor.LayoutLib.XAxisLib.TypeEnum.Date, history.Layout.XAxis[0].Type);
        var lines = history.Data.Cast<Scatter>().ToList();
        Assert.Equal(["ndcg@10", "ndcg@10 popularity", "recall@10", "recall@10 popularity"], lines.Select(l => l.Name));
        Assert.Equal("dash", lines[1].Line.Dash);
        Assert.Equal(lines[0].Line.Color, lines[1].Line.Color);
        Assert.Equal(4, lines[0].X.Count);
        // The random-split version is hollow and says why; the others are filled.
        var hollow = lines[0].Marker.SymbolArray.Select((symbol, i) => (symbol, i)).Where(p => p.symbol == SymbolEnum.CircleOpen).ToList();
        var (_, index) = Assert.Single(hollow);
        Assert.Contains($"{trained.OtherSplit}", lines[0].TextArray[index], StringComparison.Ordinal);
        Assert.Contains("not comparable", lines[0].TextArray[index], StringComparison.Ordinal);
        Assert.Contains("ndcg@10 popularity", history.Csv, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Clicking_a_metric_history_point_opens_that_version()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);
        var cut = Render<Models>();
        cut.WaitForAssertion(() => Assert.Equal(4, cut.FindAll("[data-testid=versions] tbody tr").Count));
        var chart = cut.FindComponents<LineChart>().Single(c => c.Instance.TestId == "metric-history-chart");
        var frame = chart.FindComponent<PlotlyFrame>();
        var points = chart.Instance.Series[0].Points;
        var index = points.ToList().FindIndex(p => p.Link!.EndsWith(trained.Als, StringComparison.Ordinal));

        await cut.InvokeAsync(() => frame.Instance.OnClick.InvokeAsync(new ChartClick(0, index, null, null)));

        Assert.EndsWith($"/models?version={trained.Als}", Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>().Uri, StringComparison.Ordinal);
        Assert.True(frame.Instance.Clickable);
    }

    [Fact]
    public async Task Models_shows_the_search_behind_a_version_auto_chose()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);
        NavigateTo($"/models?trials={trained.Auto}");

        var cut = Render<Models>();

        cut.WaitForAssertion(() => Assert.Equal(3, cut.FindAll("[data-testid=trials-table] tbody tr").Count));
        Assert.NotNull(cut.Find($"[data-testid='trials-{trained.Auto}']"));
        var trials = cut.FindComponent<ScatterChart>().Instance.Figure.Data.Cast<Scatter>().ToList();
        Assert.Equal(3, trials.Sum(t => t.X.Count));
        Assert.Single(trials.SelectMany(t => t.Marker.SymbolArray), s => s == SymbolEnum.Star);
        Assert.All(trials, t => Assert.Equal(Plotly.Blazor.Traces.ScatterLib.ModeFlag.Markers, t.Mode));
        Assert.NotNull(cut.Find("[data-testid=search-trials] [data-testid=trials-chart]"));
        Assert.Contains("(chosen)", cut.Find("[data-testid=trials-table]").TextContent, StringComparison.Ordinal);
        Assert.Contains("the test period was not used", cut.Find("[data-testid=search-trials]").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Models_reads_the_metrics_to_draw_from_the_url()
    {
        await UseDatabaseAsync(trained.Database.ConnectionString);
        NavigateTo("/models?metrics=coverage@10");

        var cut = Render<Models>();

        cut.WaitForAssertion(() => Assert.Equal(4, cut.FindAll("[data-testid=versions] tbody tr").Count));
        var names = cut.FindComponents<LineChart>().Single(c => c.Instance.TestId == "metric-history-chart").Instance.Figure.Data.Cast<Scatter>().Select(t => t.Name);
        Assert.Equal(["coverage@10", "coverage@10 popularity"], names);
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
