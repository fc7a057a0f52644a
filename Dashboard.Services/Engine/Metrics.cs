namespace Recs.Services.Engine;

/// <summary>
/// Ranking metrics for one user's top-K list against the set of items that user actually went on to
/// interact with (the relevant set), and rating errors for recipes that predict values. Each is a pure function;
/// evaluation averages the ranking metrics over users.
/// Positions are 1-based in the formulas; <c>rel_i</c> is 1 when the item at position i is relevant.
/// </summary>
public static class Metrics
{
    /// <summary>precision@K = (Σ_{i≤K} rel_i) / K. A list shorter than K still divides by K.</summary>
    public static double Precision(ReadOnlySpan<int> ranked, IReadOnlySet<int> relevant, int k) =>
        k <= 0 ? 0 : (double)Hits(ranked, relevant, k) / k;

    /// <summary>recall@K = (Σ_{i≤K} rel_i) / |relevant|; 0 when nothing is relevant.</summary>
    public static double Recall(ReadOnlySpan<int> ranked, IReadOnlySet<int> relevant, int k) =>
        relevant.Count == 0 ? 0 : (double)Hits(ranked, relevant, k) / relevant.Count;

    /// <summary>
    /// NDCG@K = DCG / IDCG with binary gains: DCG = Σ_{i≤K} rel_i / log2(i + 1),
    /// IDCG = Σ_{i≤min(K, |relevant|)} 1 / log2(i + 1).
    /// </summary>
    public static double Ndcg(ReadOnlySpan<int> ranked, IReadOnlySet<int> relevant, int k)
    {
        if (relevant.Count == 0 || k <= 0)
            return 0;
        double dcg = 0, idcg = 0;
        var n = Math.Min(k, ranked.Length);
        for (var i = 0; i < n; i++)
            if (relevant.Contains(ranked[i])) dcg += 1.0 / Math.Log2(i + 2);
        for (var i = 0; i < Math.Min(k, relevant.Count); i++)
            idcg += 1.0 / Math.Log2(i + 2);
        return dcg / idcg;
    }

    /// <summary>
    /// AP@K = (1 / min(K, |relevant|)) Σ_{i≤K} precision@i · rel_i; MAP@K is its mean over users.
    /// </summary>
    public static double AveragePrecision(ReadOnlySpan<int> ranked, IReadOnlySet<int> relevant, int k)
    {
        if (relevant.Count == 0 || k <= 0)
            return 0;
        double sum = 0;
        var hits = 0;
        var n = Math.Min(k, ranked.Length);
        for (var i = 0; i < n; i++)
        {
            if (!relevant.Contains(ranked[i]))
                continue;
            hits++;
            sum += (double)hits / (i + 1);
        }
        return sum / Math.Min(k, relevant.Count);
    }

    /// <summary>RR@K = 1 / (position of the first relevant item) if it is within K, else 0; MRR@K is its mean.</summary>
    public static double ReciprocalRank(ReadOnlySpan<int> ranked, IReadOnlySet<int> relevant, int k)
    {
        var n = Math.Min(k, ranked.Length);
        for (var i = 0; i < n; i++)
            if (relevant.Contains(ranked[i])) return 1.0 / (i + 1);
        return 0;
    }

    /// <summary>hit@K = 1 if any of the first K items is relevant, else 0; hit rate is its mean.</summary>
    public static double Hit(ReadOnlySpan<int> ranked, IReadOnlySet<int> relevant, int k) => Hits(ranked, relevant, k) > 0 ? 1 : 0;

    /// <summary>
    /// Intra-list diversity by category: the share of pairs in the list whose categories differ,
    /// (Σ_{i&lt;j} [cat_i ≠ cat_j]) / (n(n − 1)/2) over the first n = min(K, length) items; 0 for fewer than two.
    /// </summary>
    public static double IntraListDiversity(ReadOnlySpan<int> ranked, ReadOnlySpan<int> categoryOfItem, int k)
    {
        var n = Math.Min(k, ranked.Length);
        if (n < 2)
            return 0;
        var different = 0;
        for (var i = 0; i < n; i++)
        for (var j = i + 1; j < n; j++)
            if (categoryOfItem[ranked[i]] != categoryOfItem[ranked[j]]) different++;
        return different / (n * (n - 1) / 2.0);
    }

    /// <summary>
    /// Novelty: the mean self-information of the first K items, (1/n) Σ −log2 p_i, where p_i is the share of
    /// training users who interacted with item i (items nobody had are counted as 1 / (users + 1)).
    /// </summary>
    public static double Novelty(ReadOnlySpan<int> ranked, ReadOnlySpan<double> itemUserShare, int k)
    {
        var n = Math.Min(k, ranked.Length);
        if (n == 0)
            return 0;
        double sum = 0;
        for (var i = 0; i < n; i++)
            sum += -Math.Log2(itemUserShare[ranked[i]]);
        return sum / n;
    }

    /// <summary>
    /// Root mean squared error of predicted ratings: RMSE = √((1/n) Σ_k (r̂_k − r_k)²) over the n pairs of
    /// <paramref name="predicted"/> r̂ and <paramref name="actual"/> r; 0 when there are none.
    /// </summary>
    public static double Rmse(ReadOnlySpan<float> predicted, ReadOnlySpan<float> actual)
    {
        CheckPairs(predicted, actual);
        double sum = 0;
        for (var k = 0; k < predicted.Length; k++)
        {
            var e = (double)predicted[k] - actual[k];
            sum += e * e;
        }
        return predicted.Length == 0 ? 0 : Math.Sqrt(sum / predicted.Length);
    }

    /// <summary>Mean absolute error of predicted ratings: MAE = (1/n) Σ_k |r̂_k − r_k|; 0 when there are none.</summary>
    public static double Mae(ReadOnlySpan<float> predicted, ReadOnlySpan<float> actual)
    {
        CheckPairs(predicted, actual);
        double sum = 0;
        for (var k = 0; k < predicted.Length; k++)
            sum += Math.Abs((double)predicted[k] - actual[k]);
        return predicted.Length == 0 ? 0 : sum / predicted.Length;
    }

    private static void CheckPairs(ReadOnlySpan<float> predicted, ReadOnlySpan<float> actual)
    {
        if (predicted.Length != actual.Length)
            throw new ArgumentException("Predicted and actual ratings must have equal lengths.");
    }

    /// <summary>Catalog coverage: |∪ top-K lists| / catalog size.</summary>
    public static double Coverage(int distinctRecommended, int catalogSize) =>
        catalogSize == 0 ? 0 : (double)distinctRecommended / catalogSize;

    private static int Hits(ReadOnlySpan<int> ranked, IReadOnlySet<int> relevant, int k)
    {
        var hits = 0;
        var n = Math.Min(k, ranked.Length);
        for (var i = 0; i < n; i++)
            if (relevant.Contains(ranked[i])) hits++;
        return hits;
    }
}
