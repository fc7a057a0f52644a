using Recs.Services.Engine;

namespace Recs.Tests.Unit;

/// <summary>Each metric against numbers worked out by hand for one small list.</summary>
public sealed class MetricsTests
{
    // Ranked list 10, 20, 30, 40, 50; relevant {20, 50, 99} (99 is never recommended). Hits at positions 2 and 5.
    private static readonly int[] Ranked = [10, 20, 30, 40, 50];
    private static readonly HashSet<int> Relevant = [20, 50, 99];

    [Fact]
    public void Precision_counts_hits_over_k() => Assert.Equal(2.0 / 5, Metrics.Precision(Ranked, Relevant, 5), 12);

    [Fact]
    public void Precision_at_3_sees_one_hit() => Assert.Equal(1.0 / 3, Metrics.Precision(Ranked, Relevant, 3), 12);

    [Fact]
    public void Recall_divides_by_all_relevant_items() => Assert.Equal(2.0 / 3, Metrics.Recall(Ranked, Relevant, 5), 12);

    [Fact]
    public void Ndcg_matches_the_hand_computed_value()
    {
        // DCG = 1/log2(3) + 1/log2(6) = 0.630930 + 0.386853 = 1.017783
        // IDCG (3 relevant, K = 5) = 1 + 1/log2(3) + 1/log2(4) = 1 + 0.630930 + 0.5 = 2.130930
        Assert.Equal(1.017783 / 2.130930, Metrics.Ndcg(Ranked, Relevant, 5), 5);
    }

    [Fact]
    public void Ndcg_is_one_for_a_perfect_list_and_zero_without_hits()
    {
        Assert.Equal(1.0, Metrics.Ndcg([20, 50, 99, 1], Relevant, 4), 12);
        Assert.Equal(0.0, Metrics.Ndcg([1, 2, 3], Relevant, 3), 12);
    }

    [Fact]
    public void Average_precision_matches_the_hand_computed_value()
    {
        // Hits at 2 (P@2 = 1/2) and 5 (P@5 = 2/5); divided by min(K, |relevant|) = 3: (0.5 + 0.4) / 3 = 0.3
        Assert.Equal(0.3, Metrics.AveragePrecision(Ranked, Relevant, 5), 12);
    }

    [Fact]
    public void Reciprocal_rank_uses_the_first_hit_within_k()
    {
        Assert.Equal(0.5, Metrics.ReciprocalRank(Ranked, Relevant, 5), 12);
        Assert.Equal(0.0, Metrics.ReciprocalRank(Ranked, Relevant, 1), 12);
    }

    [Fact]
    public void Hit_is_one_when_anything_relevant_is_in_the_top_k()
    {
        Assert.Equal(1.0, Metrics.Hit(Ranked, Relevant, 2));
        Assert.Equal(0.0, Metrics.Hit(Ranked, Relevant, 1));
    }

    [Fact]
    public void Intra_list_diversity_is_the_share_of_pairs_from_different_categories()
    {
        // Items 0..3 in categories A, A, B, C: pairs (6) with different categories: all but (0,1) = 5
        int[] category = [0, 0, 1, 2];
        Assert.Equal(5.0 / 6, Metrics.IntraListDiversity([0, 1, 2, 3], category, 4), 12);
        Assert.Equal(0.0, Metrics.IntraListDiversity([0, 1], category, 2), 12);
    }

    [Fact]
    public void Novelty_is_the_mean_self_information()
    {
        // Shares 0.5 and 0.125: (1 + 3) / 2 = 2 bits
        double[] share = [0.5, 0.125];
        Assert.Equal(2.0, Metrics.Novelty([0, 1], share, 2), 12);
    }

    [Fact]
    public void Coverage_is_distinct_recommended_over_catalog() => Assert.Equal(0.25, Metrics.Coverage(25, 100), 12);

    [Fact]
    public void Rmse_and_mae_match_a_hand_computed_case()
    {
        // Errors r̂ − r: 0.5, −1, 2, 0. RMSE = √((0.25 + 1 + 4 + 0) / 4) = √1.3125; MAE = (0.5 + 1 + 2 + 0) / 4 = 0.875.
        float[] predicted = [3.5f, 2f, 5f, 4f];
        float[] actual = [3f, 3f, 3f, 4f];

        Assert.Equal(Math.Sqrt(1.3125), Metrics.Rmse(predicted, actual), 12);
        Assert.Equal(0.875, Metrics.Mae(predicted, actual), 12);
        Assert.Equal(0.0, Metrics.Rmse([], []));
    }

    [Fact]
    public void Empty_relevant_sets_give_zero_not_nan()
    {
        HashSet<int> none = [];
        Assert.Equal(0.0, Metrics.Recall(Ranked, none, 5));
        Assert.Equal(0.0, Metrics.Ndcg(Ranked, none, 5));
        Assert.Equal(0.0, Metrics.AveragePrecision(Ranked, none, 5));
    }
}

public sealed class TopKAndMatrixTests
{
    [Fact]
    public void Top_k_returns_the_best_first_skips_excluded_and_breaks_ties_by_index()
    {
        float[] scores = [0.5f, 2f, float.NegativeInfinity, 2f, 1f, -3f];
        var items = new int[4];
        var best = new float[4];

        var n = TopK.Select(scores, items, best);

        Assert.Equal(4, n);
        Assert.Equal([1, 3, 4, 0], items);
        Assert.Equal([2f, 2f, 1f, 0.5f], best);
    }

    [Fact]
    public void Top_k_with_fewer_candidates_than_k_returns_what_there_is()
    {
        var items = new int[5];
        var n = TopK.Select([float.NegativeInfinity, 1f, float.NegativeInfinity], items, new float[5]);
        Assert.Equal(1, n);
        Assert.Equal(1, items[0]);
    }

    [Fact]
    public void Triples_fold_duplicates_sort_columns_and_transpose()
    {
        var m = CsrMatrix.FromTriples(2, 3, [0, 1, 0, 0], [2, 0, 0, 2], [1f, 4f, 2f, 3f]);

        Assert.Equal([0, 2], m.RowColumns(0).ToArray());
        Assert.Equal([2f, 4f], m.RowValues(0).ToArray());
        Assert.Equal([0], m.RowColumns(1).ToArray());
        var t = m.Transpose();
        Assert.Equal([0, 1], t.RowColumns(0).ToArray());
        Assert.Equal([2f, 4f], t.RowValues(0).ToArray());
        Assert.Equal(0, t.RowLength(1));
        Assert.Equal([4f], t.RowValues(2).ToArray());
    }
}

public sealed class SplitTests
{
    private static InteractionSet Sample()
    {
        // 4 users × 10 interactions each, times 0..39 interleaved.
        var n = 40;
        var user = Enumerable.Range(0, n).Select(k => k % 4).ToArray();
        var item = Enumerable.Range(0, n).Select(k => k % 7).ToArray();
        return new InteractionSet(4, 7, user, item, Enumerable.Repeat(1f, n).ToArray(), Enumerable.Range(0, n).Select(k => (long)k).ToArray());
    }

    [Fact]
    public void Temporal_split_puts_everything_before_the_cutoff_in_train()
    {
        var s = Splits.ByTime(Sample(), 0.25);

        Assert.Equal(30, s.Train.Count);
        Assert.Equal(10, s.Test.Count);
        Assert.All(s.Train.Time, t => Assert.True(t < s.CutoffTime));
        Assert.All(s.Test.Time, t => Assert.True(t >= s.CutoffTime));
    }

    [Fact]
    public void Random_per_user_split_holds_out_the_ratio_of_each_user_and_depends_only_on_the_seed()
    {
        var a = Splits.RandomByUser(Sample(), 0.3, 5);
        var b = Splits.RandomByUser(Sample(), 0.3, 5);
        var c = Splits.RandomByUser(Sample(), 0.3, 6);

        Assert.All(Enumerable.Range(0, 4), u => Assert.Equal(3, a.Test.User.Count(x => x == u)));
        Assert.Equal(a.Test.Time, b.Test.Time);
        Assert.NotEqual(a.Test.Time, c.Test.Time);
    }

    [Fact]
    public void Leave_last_out_holds_out_each_users_latest_interaction()
    {
        var s = Splits.LastPerUser(Sample());

        Assert.Equal([36L, 37L, 38L, 39L], s.Test.Time.Order().ToArray());
        Assert.Equal(36, s.Train.Count);
    }

    [Fact]
    public void A_ratio_outside_zero_and_one_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Splits.ByTime(Sample(), 1.0));
}
