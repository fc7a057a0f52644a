using System.Globalization;
using Recs.Services.Engine;

namespace Recs.Tests.Unit;

/// <summary>auto's search on objectives whose best point is known, so what it finds can be checked.</summary>
public sealed class AutoSearchTests
{
    // Two made-up recipes: "flat" scores 0.1 whatever its parameter; "peaked" scores up to 0.5 at lambda = 300 (log scale).
    private static readonly RecipeDescriptor Flat = new("flat", "", [new HyperParameter("k", 10, 1, 100, Integer: true) { Search = (1, 100) }], _ => new PopularityRecommender());

    private static readonly RecipeDescriptor Peaked = new("peaked", "", [new HyperParameter("lambda", 5, 0.1, 10_000) { Search = (0.1, 10_000), LogScale = true }], _ => new PopularityRecommender());

    private static (double, int?) Objective(RecipeDescriptor recipe, IReadOnlyDictionary<string, string> hyper, CancellationToken _)
    {
        if (recipe.Name == "flat")
            return (0.1, null);
        var lambda = double.Parse(hyper["lambda"], CultureInfo.InvariantCulture);
        var distance = Math.Log10(lambda) - Math.Log10(300);
        return (0.5 - 0.1 * distance * distance, null);
    }

    [Fact]
    public void It_tries_each_candidate_at_its_defaults_first_then_improves_on_them()
    {
        var spec = new AutoSearchSpec { Candidates = [Flat, Peaked], Trials = 16, Parallel = 2 };

        var result = AutoSearch.Run(spec, 42, Objective);

        Assert.Equal(16, result.Trials.Count);
        Assert.Equal(["flat", "peaked"], result.Trials.Take(2).Select(t => t.Recipe));
        Assert.Equal("5", result.Trials[1].Hyperparameters["lambda"]);
        Assert.Equal("peaked", result.Winner.Name);
        var defaults = Objective(Peaked, Peaked.Defaults, default).Item1;
        var best = result.Trials.Max(t => t.ValidationNdcg);
        Assert.True(best > defaults + 0.02, $"best {best:F4} is not clearly above the defaults' {defaults:F4}");
        // Most of the search goes to the recipe that scores better.
        Assert.True(result.Trials.Skip(2).Count(t => t.Recipe == "peaked") >= 10);
        Assert.Equal(result.Trials.OrderByDescending(t => t.ValidationNdcg).First().Hyperparameters["lambda"], result.Hyperparameters["lambda"]);
    }

    [Fact]
    public void The_same_seed_gives_the_same_trials_whatever_the_parallelism_finishes_first()
    {
        var spec = new AutoSearchSpec { Candidates = [Flat, Peaked], Trials = 10, Parallel = 2 };

        var first = AutoSearch.Run(spec, 7, Objective);
        var second = AutoSearch.Run(spec, 7, (r, h, c) =>
        {
            // The second trial of every round finishes first here.
            if (r.Name == "flat") Thread.Sleep(5);
            return Objective(r, h, c);
        });

        Assert.Equal(first.Trials.Select(t => (t.Recipe, string.Join(",", t.Hyperparameters.Values))), second.Trials.Select(t => (t.Recipe, string.Join(",", t.Hyperparameters.Values))));
    }

    [Fact]
    public void A_trial_the_data_refuses_is_recorded_and_the_search_goes_on()
    {
        var spec = new AutoSearchSpec { Candidates = [Flat, Peaked], Trials = 6, Parallel = 1 };

        var result = AutoSearch.Run(spec, 1, (r, h, c) => r.Name == "flat" ? throw new ArgumentException("too many items") : Objective(r, h, c));

        var refused = Assert.Single(result.Trials, t => t.Error is not null && t.Recipe == "flat" && t.Number == 1);
        Assert.True(double.IsNaN(refused.ValidationNdcg));
        Assert.Equal("peaked", result.Winner.Name);
    }

    [Fact]
    public void Iterative_winners_keep_the_epoch_their_trial_stopped_at()
    {
        var iterative = new RecipeDescriptor("iter", "", [new HyperParameter("epochs", 50, 1, 500, Integer: true)], _ => new PopularityRecommender()) { EpochParameter = "epochs" };

        var result = AutoSearch.Run(new AutoSearchSpec { Candidates = [iterative], Trials = 1 }, 1, (_, _, _) => (0.3, 12));

        Assert.Equal("12", result.Hyperparameters["epochs"]);
    }

    [Fact]
    public void Cancellation_stops_the_search()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => AutoSearch.Run(new AutoSearchSpec { Candidates = [Flat] }, 1, Objective, cancellation: cts.Token));
    }

    [Fact]
    public void The_neural_recipes_join_auto_when_the_data_and_the_budget_suit_them()
    {
        string[] neural = [Recs.Services.Engine.Neural.NcfHybridRecommender.Name, Recs.Services.Engine.Neural.MultVaeRecommender.Name,
            Recs.Services.Engine.Neural.SasRecRecommender.Name];

        // 75 k interactions: each neural trial is estimated well under a quarter of a 600 s budget.
        var (candidates, leftOut) = Recs.Services.Models.RecipeCatalog.AutoCandidates(new DataShape(3_000, 2_000, 75_000), budgetSeconds: 600);
        Assert.All(neural, n => Assert.Contains(n, candidates.Select(c => c.Name)));
        Assert.All(neural, n => Assert.False(leftOut.ContainsKey(n)));

        // The same data with the first start's 45 s budget: left out, saying why, and the simple recipes stay.
        (candidates, leftOut) = Recs.Services.Models.RecipeCatalog.AutoCandidates(new DataShape(3_000, 2_000, 75_000), budgetSeconds: 45);
        Assert.All(neural, n => Assert.Contains("quarter of the 45 s budget", leftOut[n], StringComparison.Ordinal));
        Assert.Contains(EaseRecommender.Name, candidates.Select(c => c.Name));

        // Too little data, whatever the budget.
        (_, leftOut) = Recs.Services.Models.RecipeCatalog.AutoCandidates(new DataShape(500, 300, 8_000), budgetSeconds: 86_400);
        Assert.All(neural, n => Assert.Contains("fewer than 20,000 interactions", leftOut[n], StringComparison.Ordinal));

        // Online Retail's shape (313 k purchases) at 600 s: the autoencoder's trial fits, the two slower ones do not.
        (candidates, leftOut) = Recs.Services.Models.RecipeCatalog.AutoCandidates(new DataShape(4_334, 3_659, 312_877), budgetSeconds: 600);
        Assert.Contains(Recs.Services.Engine.Neural.MultVaeRecommender.Name, candidates.Select(c => c.Name));
        Assert.True(leftOut.ContainsKey(Recs.Services.Engine.Neural.NcfHybridRecommender.Name));
        Assert.True(leftOut.ContainsKey(Recs.Services.Engine.Neural.SasRecRecommender.Name));
    }
}
