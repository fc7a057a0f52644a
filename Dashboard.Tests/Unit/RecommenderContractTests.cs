using Recs.Services.Engine;
using Recs.Services.Models;

namespace Recs.Tests.Unit;

/// <summary>
/// The contract every recipe passes (after benfred/implicit's recommender_base_test): on block-structured data,
/// where users of a block buy only that block's items, the held-out item of a user's own block outranks every
/// item of the other block; similar items stay in the block; save/load keeps the scores; the seed fixes the model.
/// </summary>
public abstract class RecommenderContractTests
{
    protected abstract Recommender Create();

    // 40 users, 20 items: users 0–19 buy items 0–9, users 20–39 buy 10–19; each user misses one item of its block.
    // Block A's items are a little more popular (more repeat weight), so a non-personal model would fail block B.
    protected static (CsrMatrix Train, int[] HeldOut) Blocks()
    {
        var users = new List<int>();
        var items = new List<int>();
        var weights = new List<float>();
        var heldOut = new int[40];
        for (var u = 0; u < 40; u++)
        {
            var block = u < 20 ? 0 : 10;
            heldOut[u] = block + u % 10;
            for (var i = block; i < block + 10; i++)
            {
                if (i == heldOut[u])
                    continue;
                users.Add(u);
                items.Add(i);
                weights.Add(block == 0 ? 2f : 1f);
            }
        }
        return (CsrMatrix.FromTriples(40, 20, users.ToArray(), items.ToArray(), weights.ToArray()), heldOut);
    }

    [Fact]
    public void Already_bought_items_are_left_out_unless_repeats_are_allowed()
    {
        var (train, _) = Blocks();
        var model = Create();
        model.Fit(train, new FitOptions { Seed = 3 });
        var items = new int[20];

        var n = model.Recommend(0, train.RowColumns(0), items, new float[20]);

        Assert.DoesNotContain(items[..n], i => train.RowColumns(0).Contains(i));
    }

    [Fact]
    public void Save_then_load_gives_the_same_scores()
    {
        var (train, _) = Blocks();
        var model = Create();
        model.Fit(train, new FitOptions { Seed = 3 });
        var artifact = RecipeCatalog.Save(model, new Dictionary<string, string>(model.Hyperparameters.ToDictionary(h => h.Key.Replace('_', '-'), h => Convert.ToString(h.Value, System.Globalization.CultureInfo.InvariantCulture)!)));

        var loaded = RecipeCatalog.Load(artifact);

        Assert.Equal(model.Recipe, loaded.Recipe);
        var a = new float[20];
        var b = new float[20];
        for (var u = 0; u < 40; u += 7)
        {
            model.Score(u, a);
            loaded.Score(u, b);
            Assert.Equal(a, b);
        }
    }

    [Fact]
    public void A_cancelled_fit_stops_with_OperationCanceledException()
    {
        var (train, _) = Blocks();
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => Create().Fit(train, new FitOptions { Seed = 3, Cancellation = cancelled.Token }));
    }

    [Fact]
    public void The_recipe_is_in_the_catalogue_and_its_descriptor_makes_it()
    {
        var model = Create();
        var descriptor = RecipeCatalog.Get(model.Recipe);

        var made = descriptor.Create();

        Assert.Equal(model.Recipe, made.Recipe);
        Assert.Equal(model.GetType(), made.GetType());
    }

    [Fact]
    public void The_same_seed_gives_the_same_model()
    {
        var (train, _) = Blocks();
        var first = Create();
        var second = Create();
        first.Fit(train, new FitOptions { Seed = 9 });
        second.Fit(train, new FitOptions { Seed = 9 });

        var a = new float[20];
        var b = new float[20];
        for (var u = 0; u < 40; u++)
        {
            first.Score(u, a);
            second.Score(u, b);
            Assert.Equal(a, b);
        }
    }
}

/// <summary>What every personalised recipe must also do on the block data.</summary>
public abstract class PersonalisedRecommenderContractTests : RecommenderContractTests
{
    [Fact]
    public void The_held_out_item_of_the_users_own_block_comes_first()
    {
        var (train, heldOut) = Blocks();
        var model = Create();
        model.Fit(train, new FitOptions { Seed = 3 });

        var items = new int[5];
        for (var u = 0; u < 40; u++)
        {
            var n = model.Recommend(u, train.RowColumns(u), items, new float[5]);
            Assert.True(n >= 1, $"user {u} got no recommendations");
            Assert.Equal(heldOut[u], items[0]);
        }
    }

    [Fact]
    public void A_model_that_folds_in_scores_a_history_as_it_scores_the_user()
    {
        var (train, heldOut) = Blocks();
        var model = Create();
        model.Fit(train, new FitOptions { Seed = 3 });
        if (model is not IHistoryScorer scorer)
        {
            Assert.False(RecipeCatalog.Get(model.Recipe).CanFoldIn, $"{model.Recipe} says it can fold in but cannot score a history");
            return;
        }
        var scores = new float[20];
        var top = new int[1];
        for (var u = 0; u < 40; u += 3)
        {
            scorer.ScoreHistory(train.RowColumns(u), train.RowValues(u), scores);
            foreach (var i in train.RowColumns(u))
                scores[i] = float.NegativeInfinity;
            TopK.Select(scores, top, new float[1]);
            Assert.Equal(heldOut[u], top[0]);
        }
    }

    [Fact]
    public void Similar_items_of_a_personalised_model_stay_in_the_block()
    {
        var (train, _) = Blocks();
        var model = Create();
        model.Fit(train, new FitOptions { Seed = 3 });
        var items = new int[3];

        var n = model.SimilarItems(12, items, new float[3]);

        Assert.True(n > 0);
        Assert.All(items[..n], i => Assert.InRange(i, 10, 19));
        Assert.DoesNotContain(12, items[..n]);
    }
}

public sealed class PopularityContractTests : RecommenderContractTests
{
    protected override Recommender Create() => new PopularityRecommender();

    [Fact]
    public void Without_personal_signal_block_b_users_get_block_a_items_first()
    {
        var (train, _) = Blocks();
        var model = Create();
        model.Fit(train, new FitOptions());
        var items = new int[1];

        model.Recommend(30, train.RowColumns(30), items, new float[1]);

        Assert.InRange(items[0], 0, 9);
    }

    [Fact]
    public void Everyone_gets_the_items_most_users_have()
    {
        // Items 0 (3 users), 1 (2 users, one with a heavy weight), 2 (1 user).
        var m = CsrMatrix.FromTriples(3, 3, [0, 1, 2, 0, 1, 2], [0, 0, 0, 1, 1, 2], [1, 1, 1, 1, 50, 1]);
        var model = new PopularityRecommender { ExcludeSeen = false };
        model.Fit(m, new FitOptions());
        var items = new int[3];

        model.Recommend(0, [], items, new float[3]);

        Assert.Equal([0, 1, 2], items);
    }
}

public sealed class ItemKnnContractTests : PersonalisedRecommenderContractTests
{
    protected override Recommender Create() => new ItemKnnRecommender(neighbours: 10, shrink: 1);

    [Fact]
    public void Cosine_with_shrinkage_and_co_counts_match_a_hand_computed_case()
    {
        // Users: u0 {0,1}, u1 {0,1}, u2 {0,2}. n0 = 3, n1 = 2, n2 = 1; co(0,1) = 2, co(0,2) = 1.
        var m = CsrMatrix.FromTriples(3, 3, [0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 2], [1, 1, 1, 1, 1, 1]);
        var model = new ItemKnnRecommender(neighbours: 2, shrink: 1);
        model.Fit(m, new FitOptions());
        var items = new int[2];
        var scores = new float[2];

        var n = model.SimilarItems(0, items, scores);

        Assert.Equal(2, n);
        Assert.Equal([1, 2], items);
        Assert.Equal(2 / (MathF.Sqrt(3 * 2) + 1), scores[0], 5);
        Assert.Equal(1 / (MathF.Sqrt(3 * 1) + 1), scores[1], 5);
        Assert.Equal(2, model.BoughtTogether(0, 1));
        Assert.Equal(1, model.BoughtTogether(0, 2));
    }
}

public sealed class AlsContractTests : PersonalisedRecommenderContractTests
{
    protected override Recommender Create() => new AlsRecommender(factors: 8, iterations: 15, regularization: 0.01f, alpha: 5);

    [Fact]
    public void The_training_loss_does_not_increase_across_iterations()
    {
        var data = Recs.Services.Ingestion.DemoDataGenerator.Generate(new() { Customers = 600, Products = 150, OrderLines = 8_000, Seed = 4 });
        var m = CsrMatrix.FromTriples(data.Customers.Length, data.Products.Length,
            data.Lines.Select(l => data.Orders[l.Order].Customer).ToArray(), data.Lines.Select(l => l.Product).ToArray(),
            data.Lines.Select(l => (float)l.Quantity).ToArray());
        var model = new AlsRecommender(factors: 16, iterations: 10);

        model.Fit(m, new FitOptions { Seed = 1 });

        Assert.Equal(10, model.History.Count);
        for (var k = 1; k < model.History.Count; k++)
            Assert.True(model.History[k].TrainLoss <= model.History[k - 1].TrainLoss * (1 + 1e-6),
                $"loss went up at iteration {k + 1}: {model.History[k - 1].TrainLoss} → {model.History[k].TrainLoss}");
        Assert.True(model.History[^1].TrainLoss < model.History[0].TrainLoss);
    }

    [Fact]
    public void The_64_factor_kernel_solves_the_same_problem_as_the_general_one()
    {
        // Where AVX-512 is missing both fits take the general path and agree trivially.
        var data = Recs.Services.Ingestion.DemoDataGenerator.Generate(new() { Customers = 300, Products = 120, OrderLines = 5_000, Seed = 9 });
        var m = CsrMatrix.FromTriples(data.Customers.Length, data.Products.Length,
            data.Lines.Select(l => data.Orders[l.Order].Customer).ToArray(), data.Lines.Select(l => l.Product).ToArray(),
            data.Lines.Select(l => (float)l.Quantity).ToArray());
        var fast = new AlsRecommender(factors: 64, iterations: 4);
        var general = new AlsRecommender(factors: 64, iterations: 4) { GeneralKernel = true };
        var again = new AlsRecommender(factors: 64, iterations: 4);

        fast.Fit(m, new FitOptions { Seed = 3 });
        general.Fit(m, new FitOptions { Seed = 3 });
        again.Fit(m, new FitOptions { Seed = 3 });

        Assert.True(fast.UserFactors.SequenceEqual(again.UserFactors) && fast.ItemFactors.SequenceEqual(again.ItemFactors));
        for (var k = 0; k < 4; k++)
            Assert.Equal(general.History[k].TrainLoss, fast.History[k].TrainLoss, 1e-4 * general.History[k].TrainLoss);
        var scale = Math.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(general.ItemFactors));
        var items = general.ItemFactors;
        var fastItems = fast.ItemFactors;
        for (var k = 0; k < items.Length; k++)
            Assert.True(Math.Abs(items[k] - fastItems[k]) <= 1e-3 * scale, $"item factor {k}: {items[k]} vs {fastItems[k]}");
    }

    [Fact]
    public void A_matrix_whose_columns_point_outside_it_is_refused_before_any_factor_is_read()
    {
        var m = new CsrMatrix(2, 3, [0, 1, 2], [0, 7], [1f, 1f]);

        Assert.Throws<ArgumentException>(() => new AlsRecommender(factors: 64, iterations: 1).Fit(m, new FitOptions()));
    }

    [Fact]
    public void Personalized_ranking_orders_a_given_list_by_the_users_scores()
    {
        var m = CsrMatrix.FromTriples(40, 20,
            Enumerable.Range(0, 40).SelectMany(u => Enumerable.Range(u < 20 ? 0 : 10, 9).Select(_ => u)).ToArray(),
            Enumerable.Range(0, 40).SelectMany(u => Enumerable.Range(u < 20 ? 0 : 10, 9)).ToArray(),
            Enumerable.Repeat(1f, 360).ToArray());
        var model = new AlsRecommender(factors: 8, iterations: 10, recipe: AlsRecommender.RankingName);
        model.Fit(m, new FitOptions { Seed = 2 });

        var ranked = model.Rank(25, [3, 15, 5, 999]);

        Assert.Equal(15, ranked[0].Item);
        Assert.Equal(999, ranked[^1].Item);
        Assert.Equal(float.NegativeInfinity, ranked[^1].Score);
    }
}

public sealed class AlsRankingContractTests : PersonalisedRecommenderContractTests
{
    protected override Recommender Create() => new AlsRecommender(factors: 8, iterations: 15, regularization: 0.01f, alpha: 5, recipe: AlsRecommender.RankingName);
}

public sealed class BprContractTests : PersonalisedRecommenderContractTests
{
    protected override Recommender Create() => new BprRecommender(factors: 8, epochs: 60, learningRate: 0.1f, regularization: 0.001f);

    [Fact]
    public void Early_stopping_keeps_the_best_epoch_and_records_the_curve()
    {
        var train = CsrMatrix.FromTriples(4, 4, [0, 1, 2, 3], [0, 1, 2, 3], [1, 1, 1, 1]);
        var scores = new Queue<double>([0.1, 0.3, 0.2, 0.25, 0.2, 0.1, 0.05]);
        var model = new BprRecommender(factors: 4, epochs: 7);

        model.Fit(train, new FitOptions { Seed = 1, Patience = 3, ValidationNdcg = _ => scores.Dequeue() });

        Assert.Equal(2, model.BestEpoch);
        Assert.Equal(5, model.History.Count); // stopped three epochs after the best
        Assert.Equal([0.1, 0.3, 0.2, 0.25, 0.2], model.History.Select(h => h.ValidationNdcg!.Value));
    }
}

public sealed class PopularityDecayTests
{
    [Fact]
    public void With_a_half_life_recent_interest_outweighs_old_interest()
    {
        // Item 0: three users, 100 days ago. Item 1: two users, today. Without decay item 0 leads; with a 10-day half-life item 1.
        const long day = 86_400;
        var set = new InteractionSet(5, 2, [0, 1, 2, 3, 4], [0, 0, 0, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 100 * day, 100 * day]);
        var items = new int[2];

        var plain = new PopularityRecommender { ExcludeSeen = false };
        plain.Fit(plain.Prepare(set).ToMatrix(), new FitOptions());
        plain.Recommend(0, [], items, new float[2]);
        Assert.Equal([0, 1], items);

        var decayed = new PopularityRecommender(halfLifeDays: 10) { ExcludeSeen = false };
        decayed.Fit(decayed.Prepare(set).ToMatrix(), new FitOptions());
        decayed.Recommend(0, [], items, new float[2]);
        Assert.Equal([1, 0], items);
        Assert.Equal(3 * Math.Pow(0.5, 10), decayed.Popularity[0], 5);
    }
}

public sealed class CatalogueCoverageTests
{
    [Fact]
    public void Every_recipe_in_the_catalogue_has_a_contract_test()
    {
        var tested = typeof(RecommenderContractTests).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && typeof(RecommenderContractTests).IsAssignableFrom(t))
            .Select(t => ((Recommender)t.GetMethod("Create", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!
                .Invoke(Activator.CreateInstance(t), null)!).Recipe)
            .ToHashSet();

        Assert.All(RecipeCatalog.All, r => Assert.Contains(r.Name, tested));
    }

    [Fact]
    public void Bad_hyperparameters_are_refused_by_name_and_range()
    {
        var unknown = Assert.Throws<ArgumentException>(() => RecipeCatalog.Create(AlsRecommender.Name, new Dictionary<string, string> { ["colour"] = "red" }));
        Assert.Contains("colour", unknown.Message, StringComparison.Ordinal);
        var range = Assert.Throws<ArgumentException>(() => RecipeCatalog.Create(AlsRecommender.Name, new Dictionary<string, string> { ["factors"] = "0" }));
        Assert.Contains("factors must be a whole number from 1 to 1024", range.Message, StringComparison.Ordinal);
        var recipe = Assert.Throws<ArgumentException>(() => RecipeCatalog.Get("magic"));
        Assert.Contains("auto", recipe.Message, StringComparison.Ordinal);
    }
}
