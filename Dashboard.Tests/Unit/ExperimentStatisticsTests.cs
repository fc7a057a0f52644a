using Recs.Services.Analytics;
using Recs.Services.Models;

namespace Recs.Tests.Unit;

/// <summary>The experiment's statistics against values worked out by hand (formulas in the doc comments), and the arm assignment.</summary>
public sealed class ExperimentStatisticsTests
{
    [Fact]
    public void Wilson_interval_matches_the_hand_computed_bounds()
    {
        // 10 of 100: p̂ = 0.1, z² = 3.841459; centre (0.1 + 0.019207) / 1.038415 = 0.114797,
        // half-width 1.959964 / 1.038415 · √(0.0009 + 0.000096) = 0.059568.
        var i = ExperimentStatistics.Wilson(10, 100);
        Assert.Equal(0.055229, i.Low, 1e-5);
        Assert.Equal(0.174366, i.High, 1e-5);

        // 0 of 20 still has an upper bound above zero (z² / (n + z²) = 0.161125), unlike p̂ ± z·SE.
        var none = ExperimentStatistics.Wilson(0, 20);
        Assert.Equal(0, none.Low, 1e-9);
        Assert.Equal(0.161125, none.High, 1e-6);

        Assert.Equal(new Interval(0, 1), ExperimentStatistics.Wilson(0, 0));
    }

    [Fact]
    public void Two_proportion_z_test_matches_the_hand_computed_p_value()
    {
        // 50/500 against 75/500: pooled 0.125, SE = √(0.125 · 0.875 · 2/500) = 0.0209165, z = 0.05 / SE = 2.390457,
        // two-sided p = erfc(z/√2) = 0.016827.
        var (z, p) = ExperimentStatistics.TwoProportionTest(50, 500, 75, 500);
        Assert.Equal(2.390457, z, 1e-5);
        Assert.Equal(0.016827, p, 1e-5);

        // The sign follows the challenger (second) minus the control; the p-value is symmetric.
        var (zBack, pBack) = ExperimentStatistics.TwoProportionTest(75, 500, 50, 500);
        Assert.Equal(-z, zBack, 1e-9);
        Assert.Equal(p, pBack, 1e-9);

        // Equal rates: z = 0, p = 1; no variation at all: no evidence either.
        Assert.Equal(1, ExperimentStatistics.TwoProportionTest(10, 100, 10, 100).PValue, 1e-6);
        Assert.Equal((0, 1), ExperimentStatistics.TwoProportionTest(0, 100, 0, 100));
    }

    [Fact]
    public void Difference_interval_uses_the_unpooled_standard_error()
    {
        // √(0.1·0.9/500 + 0.15·0.85/500) = 0.020857; 0.05 ± 1.959964 · 0.020857 = 0.040878.
        var i = ExperimentStatistics.DifferenceInterval(50, 500, 75, 500);
        Assert.Equal(0.05 - 0.040878, i.Low, 1e-5);
        Assert.Equal(0.05 + 0.040878, i.High, 1e-5);
    }

    [Fact]
    public void Revenue_per_user_interval_is_the_t_interval_of_the_mean_with_non_buyers_as_zeros()
    {
        // Ten users, four bought 10, 20, 30 and 40: Σx = 100, Σx² = 3000, mean 10, s = √((3000 − 10·100)/9) = 14.907120,
        // t(0.975, 9) = 2.2622, half-width 2.2622 · 14.907120 / √10 = 10.664113.
        var (mean, interval) = ExperimentStatistics.MeanInterval(10, 100, 3000);
        Assert.Equal(10, mean, 1e-9);
        Assert.NotNull(interval);
        Assert.Equal(-0.664113, interval.Value.Low, 1e-5);
        Assert.Equal(20.664113, interval.Value.High, 1e-5);

        Assert.Null(ExperimentStatistics.MeanInterval(1, 5, 25).Interval);
        Assert.Equal((0, null), ExperimentStatistics.MeanInterval(0, 0, 0));
    }

    [Theory]
    [InlineData(1, 12.7062)]
    [InlineData(9, 2.2622)]
    [InlineData(30, 2.0423)]
    [InlineData(31, 2.0395)]
    [InlineData(60, 2.0003)]
    [InlineData(120, 1.9799)]
    public void T_quantile_matches_the_published_table(long df, double expected) =>
        Assert.Equal(expected, ExperimentStatistics.TQuantile975(df), 5e-4);

    [Fact]
    public void Normal_cdf_matches_known_values()
    {
        Assert.Equal(0.5, ExperimentStatistics.NormalCdf(0), 1e-7);
        Assert.Equal(0.975, ExperimentStatistics.NormalCdf(ExperimentStatistics.Z95), 1e-6);
        Assert.Equal(0.841345, ExperimentStatistics.NormalCdf(1), 1e-6);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(50)]
    [InlineData(1)]
    [InlineData(99)]
    public void Assignment_splits_10000_users_within_three_points_of_the_share_and_is_stable(int share)
    {
        var users = Enumerable.Range(0, 10_000).Select(k => $"C{k:D6}").ToList();
        var arms = users.Select(u => ExperimentArms.Assign(42, u, share)).ToList();

        var challengerShare = 100.0 * arms.Count(a => a == ExperimentArms.Challenger) / users.Count;
        Assert.InRange(challengerShare, share - 3, share + 3);
        // Stable: the same user and experiment give the same arm, every time.
        Assert.Equal(arms, users.Select(u => ExperimentArms.Assign(42, u, share)));
    }

    [Fact]
    public void A_new_experiment_reshuffles_users_and_a_larger_share_only_adds_challenger_users()
    {
        var users = Enumerable.Range(0, 10_000).Select(k => $"user-{k}").ToList();
        var first = users.Select(u => ExperimentArms.Assign(1, u, 50)).ToList();
        var second = users.Select(u => ExperimentArms.Assign(2, u, 50)).ToList();
        // Independent experiments agree on about half the users, not all of them.
        var agree = 100.0 * first.Zip(second).Count(p => p.First == p.Second) / users.Count;
        Assert.InRange(agree, 47, 53);

        // Within an experiment the hash bucket is fixed: everyone in the 10 % challenger arm is in the 50 % one too.
        var ten = users.Where(u => ExperimentArms.Assign(1, u, 10) == ExperimentArms.Challenger).ToList();
        Assert.All(ten, u => Assert.Equal(ExperimentArms.Challenger, ExperimentArms.Assign(1, u, 50)));
    }

    [Fact]
    public void Recommendation_ids_round_trip_and_foreign_ids_are_not_ours()
    {
        var id = Guid.NewGuid();
        var text = Recs.Services.Serving.RecommendationLog.Format(id);
        Assert.StartsWith("RID-", text, StringComparison.Ordinal);
        Assert.Equal(id, Recs.Services.Serving.RecommendationLog.Parse(text));
        Assert.Null(Recs.Services.Serving.RecommendationLog.Parse("RID-not-a-guid"));
        Assert.Null(Recs.Services.Serving.RecommendationLog.Parse("arn:aws:personalize:rid"));
        Assert.Null(Recs.Services.Serving.RecommendationLog.Parse(null));
    }
}
