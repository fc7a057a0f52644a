namespace Recs.Services.Engine;

/// <summary>One iteration (epoch) of an iterative recipe: what a learning curve plots.</summary>
public sealed record EpochRecord(int Epoch, double TrainLoss, double? ValidationLoss, double? ValidationNdcg, double Seconds);

/// <summary>How to fit: seed, iteration budget, early stopping, progress and cancellation.</summary>
public sealed record FitOptions
{
    public ulong Seed { get; init; } = 42;

    /// <summary>Called after every epoch with the model in its current state; returns validation NDCG@10 (or null).</summary>
    public Func<Recommender, double?>? ValidationNdcg { get; init; }

    /// <summary>Stop when validation NDCG@10 has not improved for this many epochs (0 = never), keeping the best epoch.</summary>
    public int Patience { get; init; } = 3;

    public IProgress<EpochRecord>? Progress { get; init; }

    /// <summary>User and item attributes over the same indices as the matrix, for recipes that use them (others ignore them).</summary>
    public SideFeatures? Features { get; init; }

    public CancellationToken Cancellation { get; init; }
}

/// <summary>
/// The contract every recipe implements: fit on a user × item matrix (with progress and cancellation),
/// score items for a user, find similar items, and save/load what it needs to serve.
/// </summary>
public abstract class Recommender
{
    /// <summary>The recipe's name, e.g. <c>user-personalization</c>.</summary>
    public abstract string Recipe { get; }

    public int Users { get; protected set; }

    public int Items { get; protected set; }

    /// <summary>Leave items the user already has out of their recommendations (retail repeat purchase may want them).</summary>
    public bool ExcludeSeen { get; set; } = true;

    /// <summary>
    /// Held-out pairs (user × item, not in the training matrix), set before <see cref="Fit"/> when there is a validation
    /// slice: recipes that can report a validation loss per epoch (BPR's, a rating model's MSE) read it.
    /// </summary>
    public CsrMatrix? Validation { get; set; }

    /// <summary>Per-epoch records of the last fit (empty for one-pass recipes).</summary>
    public List<EpochRecord> History { get; } = [];

    /// <summary>The epoch whose state the model kept (early stopping), or null for one-pass recipes.</summary>
    public int? BestEpoch { get; protected set; }

    private double _bestScore = double.NegativeInfinity;

    /// <summary>Starts a fresh curve.</summary>
    protected void BeginFit()
    {
        History.Clear();
        BestEpoch = null;
        _bestScore = double.NegativeInfinity;
    }

    /// <summary>
    /// Records and reports an epoch and applies early stopping on validation NDCG@10: calls
    /// <paramref name="snapshot"/> when the epoch is the best so far, and returns false once
    /// <see cref="FitOptions.Patience"/> epochs have passed without improvement.
    /// </summary>
    protected bool EndEpoch(EpochRecord record, FitOptions options, Action snapshot) =>
        EndEpoch(record, options, snapshot, record.ValidationNdcg);

    /// <summary>
    /// As <see cref="EndEpoch(EpochRecord, FitOptions, Action)"/>, judging epochs by <paramref name="score"/>
    /// (higher = better, e.g. minus the validation loss of a recipe that predicts values rather than rankings).
    /// </summary>
    protected bool EndEpoch(EpochRecord record, FitOptions options, Action snapshot, double? score)
    {
        History.Add(record);
        options.Progress?.Report(record);
        if (score is not { } value)
            return true;
        if (value > _bestScore)
        {
            _bestScore = value;
            BestEpoch = record.Epoch;
            snapshot();
            return true;
        }
        return options.Patience <= 0 || record.Epoch - BestEpoch < options.Patience;
    }

    /// <summary>The hyperparameters, for the registry (name → value).</summary>
    public abstract IReadOnlyDictionary<string, object> Hyperparameters { get; }

    /// <summary>Adjusts the interactions before the matrix is built (e.g. time decay); by default, none.</summary>
    public virtual InteractionSet Prepare(InteractionSet interactions) => interactions;

    /// <summary>Fits on a user × item matrix of interaction weights (duplicates already folded).</summary>
    public abstract void Fit(CsrMatrix userItems, FitOptions options);

    /// <summary>Writes a score for every item (higher = better) for a known user.</summary>
    public abstract void Score(int user, Span<float> scores);

    /// <summary>Top items similar to one item, best first; returns how many were written.</summary>
    public abstract int SimilarItems(int item, Span<int> items, Span<float> scores);

    /// <summary>Serialises what serving needs (factors, neighbours, counts).</summary>
    public abstract void Save(BinaryWriter writer);

    /// <summary>Reads what <see cref="Save"/> wrote, into a recommender that has not been fitted.</summary>
    public abstract void Load(BinaryReader reader);

    /// <summary>
    /// The user's top items, best first, leaving out the items in <paramref name="seen"/> when <see cref="ExcludeSeen"/>;
    /// returns how many were written (fewer than requested only when the catalogue runs out).
    /// </summary>
    public int Recommend(int user, ReadOnlySpan<int> seen, Span<int> items, Span<float> scores)
    {
        var all = new float[Items];
        Score(user, all);
        if (ExcludeSeen)
        {
            foreach (var i in seen)
                all[i] = float.NegativeInfinity;
        }
        return TopK.Select(all, items, scores);
    }

    /// <summary>Personalized ranking: the candidates re-ordered by this user's scores, best first (unknown items last).</summary>
    public (int Item, float Score)[] Rank(int user, ReadOnlySpan<int> candidates)
    {
        var all = new float[Items];
        Score(user, all);
        var ranked = new (int Item, float Score)[candidates.Length];
        for (var k = 0; k < candidates.Length; k++)
        {
            var item = candidates[k];
            ranked[k] = (item, (uint)item < (uint)Items ? all[item] : float.NegativeInfinity);
        }
        // Stable: equal scores keep the order the caller gave.
        return ranked.Select((r, k) => (r, k)).OrderByDescending(x => x.r.Score).ThenBy(x => x.k).Select(x => x.r).ToArray();
    }
}

/// <summary>Top-K selection over a dense score array.</summary>
public static class TopK
{
    /// <summary>
    /// Writes the indices of the largest finite scores into <paramref name="items"/> (best first, ties by lower index)
    /// and their scores into <paramref name="scores"/>; returns the count (≤ items.Length).
    /// </summary>
    public static int Select(ReadOnlySpan<float> all, Span<int> items, Span<float> scores)
    {
        var k = Math.Min(items.Length, all.Length);
        if (k == 0)
            return 0;
        // A min-heap of the best k seen so far; the root is the weakest.
        var heapItems = items[..k];
        var heapScores = scores[..k];
        var size = 0;
        for (var i = 0; i < all.Length; i++)
        {
            var s = all[i];
            if (float.IsNegativeInfinity(s) || float.IsNaN(s))
                continue;
            if (size < k)
            {
                heapItems[size] = i;
                heapScores[size] = s;
                SiftUp(heapItems, heapScores, size++);
            }
            else if (s > heapScores[0])
            {
                heapItems[0] = i;
                heapScores[0] = s;
                SiftDown(heapItems, heapScores, 0, size);
            }
        }
        // Pop weakest to the back: the result is best first.
        for (var end = size - 1; end > 0; end--)
        {
            (heapItems[0], heapItems[end]) = (heapItems[end], heapItems[0]);
            (heapScores[0], heapScores[end]) = (heapScores[end], heapScores[0]);
            SiftDown(heapItems, heapScores, 0, end);
        }
        return size;
    }

    // Weaker = lower score, or equal score and higher index (so ties favour lower indices).
    private static bool Weaker(Span<int> items, Span<float> scores, int a, int b) =>
        scores[a] < scores[b] || (scores[a] == scores[b] && items[a] > items[b]);

    private static void SiftUp(Span<int> items, Span<float> scores, int i)
    {
        while (i > 0)
        {
            var parent = (i - 1) / 2;
            if (!Weaker(items, scores, i, parent))
                break;
            (items[i], items[parent]) = (items[parent], items[i]);
            (scores[i], scores[parent]) = (scores[parent], scores[i]);
            i = parent;
        }
    }

    private static void SiftDown(Span<int> items, Span<float> scores, int i, int size)
    {
        while (true)
        {
            var left = 2 * i + 1;
            if (left >= size)
                return;
            var weakest = left;
            if (left + 1 < size && Weaker(items, scores, left + 1, left))
                weakest = left + 1;
            if (!Weaker(items, scores, weakest, i))
                return;
            (items[i], items[weakest]) = (items[weakest], items[i]);
            (scores[i], scores[weakest]) = (scores[weakest], scores[i]);
            i = weakest;
        }
    }
}
