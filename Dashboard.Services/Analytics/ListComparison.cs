namespace Recs.Services.Analytics;

/// <summary>How two versions' lists differ, computed from the lists alone (no database): the pure core of a comparison.</summary>
public sealed record ListComparison(
    int TopN, double[] Overlaps, int[] OverlapHistogram, double MeanOverlap,
    IReadOnlyDictionary<long, int> Entered, IReadOnlyDictionary<long, int> Left,
    ListFigures A, ListFigures B)
{
    /// <summary>
    /// Compares version A's and B's top-<paramref name="topN"/> lists of the same subjects (users or products; lists
    /// best first, in database product ids). Per subject, overlap@N = |A ∩ B| / N over the first N of each list (a
    /// list shorter than N counts against the larger length; two empty lists overlap 1); the histogram counts subjects
    /// by |A ∩ B| (0..N). Entered = per item, the subjects whose B list holds it and A's does not; left = the reverse.
    /// <paramref name="popularity"/> holds each catalogue item's popularity (how many subjects' histories hold it;
    /// items missing from it count 0); <paramref name="catalogue"/> is every product id.
    /// </summary>
    public static ListComparison Compute(IReadOnlyList<long[]> listsA, IReadOnlyList<long[]> listsB, int topN,
        IReadOnlyDictionary<long, int> popularity, IReadOnlyCollection<long> catalogue)
    {
        if (listsA.Count != listsB.Count)
            throw new ArgumentException("Both versions need a list for every subject.");
        var overlaps = new double[listsA.Count];
        var histogram = new int[topN + 1];
        var entered = new Dictionary<long, int>();
        var left = new Dictionary<long, int>();
        for (var s = 0; s < listsA.Count; s++)
        {
            var a = listsA[s].Take(topN).ToHashSet();
            var b = listsB[s].Take(topN).ToHashSet();
            var shared = a.Count(b.Contains);
            histogram[shared]++;
            var length = Math.Max(a.Count, b.Count);
            overlaps[s] = length == 0 ? 1 : (double)shared / length;
            foreach (var item in b.Where(i => !a.Contains(i)))
                entered[item] = entered.GetValueOrDefault(item) + 1;
            foreach (var item in a.Where(i => !b.Contains(i)))
                left[item] = left.GetValueOrDefault(item) + 1;
        }
        var ranking = PopularityRanking.Of(popularity, catalogue);
        return new ListComparison(topN, overlaps, histogram, overlaps.Length == 0 ? 0 : overlaps.Average(), entered, left,
            ListFigures.Of(listsA, topN, ranking), ListFigures.Of(listsB, topN, ranking));
    }
}

/// <summary>
/// One version's lists at a glance. Coverage = distinct items in any list / catalogue size. Mean popularity percentile =
/// over every list entry, the share of the catalogue strictly less popular than the entry (0 = the least popular
/// items, near 100 = the bestsellers). Head share = share of list entries among the 10 % most popular items.
/// </summary>
public sealed record ListFigures(int DistinctItems, int CatalogueSize, double Coverage, double MeanPopularityPercentile, double HeadShare, int Entries)
{
    internal static ListFigures Of(IReadOnlyList<long[]> lists, int topN, PopularityRanking ranking)
    {
        var distinct = new HashSet<long>();
        double percentile = 0;
        var head = 0;
        var entries = 0;
        foreach (var list in lists)
        {
            foreach (var item in list.Take(topN))
            {
                distinct.Add(item);
                percentile += ranking.Percentile(item);
                if (ranking.InHead(item))
                    head++;
                entries++;
            }
        }
        var size = ranking.CatalogueSize;
        return new ListFigures(distinct.Count, size, size == 0 ? 0 : (double)distinct.Count / size,
            entries == 0 ? 0 : 100 * percentile / entries, entries == 0 ? 0 : (double)head / entries, entries);
    }
}

/// <summary>The catalogue ordered by popularity: each item's percentile and whether it is among the top 10 %.</summary>
internal sealed class PopularityRanking
{
    private readonly Dictionary<long, double> _percentile = [];
    private readonly HashSet<long> _head = [];

    public int CatalogueSize { get; private init; }

    public static PopularityRanking Of(IReadOnlyDictionary<long, int> popularity, IReadOnlyCollection<long> catalogue)
    {
        var ids = catalogue.Union(popularity.Keys).ToArray();
        var counts = ids.Select(i => popularity.GetValueOrDefault(i)).ToArray();
        var sorted = counts.Order().ToArray();
        var ranking = new PopularityRanking { CatalogueSize = ids.Length };
        for (var k = 0; k < ids.Length; k++)
        {
            // Items strictly less popular than this one: the first index of its count in the sorted counts.
            var below = LowerBound(sorted, counts[k]);
            ranking._percentile[ids[k]] = ids.Length == 0 ? 0 : (double)below / ids.Length;
        }
        // The head: the ceil(10 %) most popular items, ties broken by the lower id.
        var headSize = (int)Math.Ceiling(ids.Length * 0.1);
        foreach (var id in ids.Select((id, k) => (id, count: counts[k])).OrderByDescending(x => x.count).ThenBy(x => x.id).Take(headSize))
            ranking._head.Add(id.id);
        return ranking;
    }

    public double Percentile(long item) => _percentile.GetValueOrDefault(item);

    public bool InHead(long item) => _head.Contains(item);

    private static int LowerBound(int[] sorted, int value)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (sorted[mid] < value) lo = mid + 1; else hi = mid;
        }
        return lo;
    }
}
