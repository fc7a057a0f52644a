using Recs.Services.Analytics;

namespace Recs.Tests.Unit;

/// <summary>The comparison's figures on a catalogue small enough to count by hand.</summary>
public sealed class ListComparisonTests
{
    // Ten products 1..10; popularity 10 for product 10 down to 1 for product 1 (product k is bought by k users).
    private static readonly long[] Catalogue = Enumerable.Range(1, 10).Select(i => (long)i).ToArray();
    private static readonly Dictionary<long, int> Popularity = Catalogue.ToDictionary(i => i, i => (int)i);

    [Fact]
    public void Coverage_popularity_and_head_share_match_hand_computed_values()
    {
        // Top 2 for three subjects. A always recommends the bestsellers; B spreads out.
        long[][] a = [[10, 9], [10, 9], [10, 9]];
        long[][] b = [[10, 1], [2, 3], [9, 10]];

        var result = ListComparison.Compute(a, b, 2, Popularity, Catalogue);

        // A: 2 distinct of 10 → 20 %; percentile of 10 = 9/10, of 9 = 8/10 → mean 85; head (top 10 % = 1 item: product 10) → 3 of 6 entries.
        Assert.Equal(2, result.A.DistinctItems);
        Assert.Equal(0.2, result.A.Coverage, 10);
        Assert.Equal(85, result.A.MeanPopularityPercentile, 10);
        Assert.Equal(0.5, result.A.HeadShare, 10);
        // B: {10, 1, 2, 3, 9} = 5 of 10 → 50 %; percentiles 90, 0, 10, 20, 80, 90 → mean 290 / 6; product 10 twice → 2 of 6.
        Assert.Equal(5, result.B.DistinctItems);
        Assert.Equal(0.5, result.B.Coverage, 10);
        Assert.Equal(290.0 / 6, result.B.MeanPopularityPercentile, 10);
        Assert.Equal(2.0 / 6, result.B.HeadShare, 10);
    }

    [Fact]
    public void Overlap_histogram_and_changes_count_each_subject_once()
    {
        long[][] a = [[10, 9], [10, 9], [10, 9]];
        long[][] b = [[10, 1], [2, 3], [9, 10]];

        var result = ListComparison.Compute(a, b, 2, Popularity, Catalogue);

        Assert.Equal([0.5, 0.0, 1.0], result.Overlaps);
        Assert.Equal([1, 1, 1], result.OverlapHistogram);
        Assert.Equal(0.5, result.MeanOverlap, 10);
        Assert.Equal(new Dictionary<long, int> { [1] = 1, [2] = 1, [3] = 1 }, result.Entered);
        Assert.Equal(new Dictionary<long, int> { [9] = 2, [10] = 1 }, result.Left);
    }

    [Fact]
    public void Equal_lists_overlap_fully_and_short_lists_count_against_their_length()
    {
        long[][] a = [[1, 2, 3], [4], []];
        long[][] b = [[3, 2, 1], [4], []];

        var result = ListComparison.Compute(a, b, 3, Popularity, Catalogue);

        Assert.All(result.Overlaps, o => Assert.Equal(1.0, o));
        Assert.Empty(result.Entered);
        Assert.Empty(result.Left);
        Assert.Equal(result.A, result.B);
        // Items never bought still belong to the catalogue: coverage counts against all ten.
        Assert.Equal(0.4, result.A.Coverage, 10);
    }
}
