using Recs.Services.Engine;

namespace Recs.Tests.Unit;

public sealed class EaseContractTests : PersonalisedRecommenderContractTests
{
    protected override Recommender Create() => new EaseRecommender(lambda: 10);

    [Fact]
    public void The_weights_match_the_closed_form_on_a_three_item_case()
    {
        // Users: u0 {0,1}, u1 {0,1}, u2 {0,2}, u3 {1,2} (u0 bought item 0 twice: binarised). λ = 1.
        var m = CsrMatrix.FromTriples(4, 3, [0, 0, 1, 1, 2, 2, 3, 3], [0, 1, 0, 1, 0, 2, 1, 2], [2, 1, 1, 1, 1, 1, 1, 1]);
        var model = new EaseRecommender(lambda: 1);
        model.Fit(m, new FitOptions());

        // G + λI = [[4,2,1],[2,4,1],[1,1,3]]; P = adj / det with det = 4(12−1) − 2(6−1) + 1(2−4) = 32.
        double[,] adj = { { 11, -5, -2 }, { -5, 11, -2 }, { -2, -2, 12 } };
        for (var i = 0; i < 3; i++)
        {
            for (var j = 0; j < 3; j++)
            {
                var expected = i == j ? 0 : -(adj[i, j] / 32) / (adj[j, j] / 32);
                Assert.Equal(expected, model.Weights[i * 3 + j], 5);
            }
        }
        // u2 has {0, 2}: its score for 1 is B_01 + B_21 = 5/11 + 2/11.
        var scores = new float[3];
        model.Score(2, scores);
        Assert.Equal(7 / 11.0, scores[1], 5);
    }

    [Fact]
    public void The_blocked_inverse_matches_the_identity_across_block_edges()
    {
        // 150 = two full 64-pivot blocks and a partial one, with rows not a multiple of the kernel's four.
        const int n = 150;
        var rng = new Random(5);
        var x = new double[n * 40];
        for (var k = 0; k < x.Length; k++)
            x[k] = rng.NextDouble() < 0.3 ? 1 : 0;
        var a = new double[n * n];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
            {
                double s = i == j ? 2 : 0;
                for (var r = 0; r < 40; r++)
                    s += x[i * 40 + r] * x[j * 40 + r];
                a[i * n + j] = s;
            }
        var inverse = (double[])a.Clone();

        EaseRecommender.InvertInPlace(inverse, n);

        // The lower triangle holds −A⁻¹: A · (−(−A⁻¹)) = I.
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
            {
                var s = 0.0;
                for (var k = 0; k < n; k++)
                    s -= a[i * n + k] * (k >= j ? inverse[k * n + j] : inverse[j * n + k]);
                Assert.Equal(i == j ? 1 : 0, s, 9);
            }
    }

    [Fact]
    public void A_catalogue_above_max_items_is_refused_with_the_memory_it_would_need()
    {
        var (train, _) = Blocks();
        var model = new EaseRecommender(maxItems: 10);

        var e = Assert.Throws<ArgumentException>(() => model.Fit(train, new FitOptions()));

        Assert.Contains("20 items, above max-items = 10", e.Message, StringComparison.Ordinal);
        Assert.Contains("20² × 8 bytes = 3.2 KB", e.Message, StringComparison.Ordinal);
        Assert.Contains("20² × 4 bytes = 1.6 KB", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Recipes_refuse_a_max_items_out_of_range()
    {
        var e = Assert.Throws<ArgumentException>(() => Recs.Services.Models.RecipeCatalog.Create("ease", new Dictionary<string, string> { ["max-items"] = "0" }));
        Assert.Contains("max-items", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cancelled_fit_stops_with_operation_cancelled()
    {
        var (train, _) = Blocks();
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => new EaseRecommender().Fit(train, new FitOptions { Cancellation = cancelled.Token }));
    }
}

public sealed class TrendPriorTests
{
    [Fact]
    public void Recent_popularity_counts_each_user_once_at_their_latest_interaction_and_is_scaled_to_the_weight()
    {
        const long day = 86_400;
        // Item 0: user 0 three times, 20 days ago and today (counts once, at today's 1); user 1 20 days ago (0.25 with a 10-day half-life).
        // Item 1: user 2, 10 days ago (0.5). Item 2: never. So item 0 = 1.25 → weight, item 1 = 0.5 / 1.25 · weight.
        var set = new InteractionSet(3, 3, [0, 0, 0, 1, 2], [0, 0, 0, 0, 1], [1, 1, 1, 1, 1], [0, 20 * day, 20 * day, 0, 10 * day]);

        var trend = TrendPrior.Compute(set, 10, 0.4f);

        Assert.Equal(0.4f, trend[0], 5);
        Assert.Equal(0.4f * 0.5f / 1.25f, trend[1], 5);
        Assert.Equal(0f, trend[2]);
    }

    [Fact]
    public void With_a_trend_ease_ranks_what_sells_now_higher_and_saves_it()
    {
        const long day = 86_400;
        // Four users buy items 0 and 1 long ago; item 2 is bought by two others just now. User 4 has item 0 only.
        var users = new List<int>();
        var items = new List<int>();
        var times = new List<long>();
        void Buy(int u, int i, long t) { users.Add(u); items.Add(i); times.Add(t); }
        for (var u = 0; u < 4; u++) { Buy(u, 0, 0); Buy(u, 1, 0); }
        Buy(5, 2, 400 * day); Buy(6, 2, 400 * day); Buy(4, 0, 0); Buy(5, 3, 0);
        var set = new InteractionSet(7, 4, users.ToArray(), items.ToArray(), Enumerable.Repeat(1f, users.Count).ToArray(), times.ToArray());

        var plain = new EaseRecommender(lambda: 1);
        plain.Fit(plain.Prepare(set).ToMatrix(), new FitOptions());
        var trending = new EaseRecommender(lambda: 1, trend: 10, trendHalfLifeDays: 7);
        trending.Fit(trending.Prepare(set).ToMatrix(), new FitOptions());
        var top = new int[1];

        plain.Recommend(4, [0], top, new float[1]);
        Assert.Equal(1, top[0]);
        trending.Recommend(4, [0], top, new float[1]);
        Assert.Equal(2, top[0]);

        var loaded = Recs.Services.Models.RecipeCatalog.Load(Recs.Services.Models.RecipeCatalog.Save(trending,
            new Dictionary<string, string> { ["lambda"] = "1", ["trend"] = "10", ["trend-half-life-days"] = "7" }));
        var a = new float[4];
        var b = new float[4];
        trending.Score(4, a);
        loaded.Score(4, b);
        Assert.Equal(a, b);
    }
}
