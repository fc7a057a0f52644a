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
