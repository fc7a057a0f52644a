namespace Recs.Services.Engine;

/// <summary>Metrics of one model on one split, at one K; group figures by dimension (region, age band...).</summary>
public sealed record EvaluationResult(
    int K, int TestUsers, IReadOnlyDictionary<string, double> Metrics,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> GroupNdcg);

/// <summary>A grouping of users for fairness figures: each user's group index (−1 = unknown) and the groups' names.</summary>
public sealed record UserGroups(int[] GroupOfUser, string[] Names);

/// <summary>
/// Evaluates recommenders on a held-out test matrix. A test user is one with training history and at least
/// one relevant test item; relevant = the user's test items, minus those already in training when the model
/// leaves seen items out (it could never recommend them). Metrics are averaged over test users. Cold-start is
/// reported apart: <c>ndcg@K_cold_users</c> averages NDCG@K over users with a relevant test item and at most one
/// training item, including users with none (who are otherwise not test users).
/// </summary>
public sealed class Evaluator
{
    /// <summary>Groups with fewer test users than this are left out of the gap (too noisy to compare).</summary>
    public const int MinGroupUsers = 20;

    private readonly CsrMatrix _train;
    private readonly CsrMatrix _test;
    private readonly int _k;
    private readonly int[]? _itemCategory;
    private readonly IReadOnlyDictionary<string, UserGroups> _groups;
    private readonly int[]? _sampledUsers;
    private readonly double[] _itemUserShare;

    public Evaluator(CsrMatrix train, CsrMatrix test, int k, int[]? itemCategory = null,
        IReadOnlyDictionary<string, UserGroups>? groups = null, int? maxUsers = null, ulong seed = 42)
    {
        if (train.Rows != test.Rows || train.Columns != test.Columns)
            throw new ArgumentException("Train and test must share the user and item index spaces.");
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        _train = train;
        _test = test;
        _k = k;
        _itemCategory = itemCategory;
        _groups = groups ?? new Dictionary<string, UserGroups>();

        var activeUsers = 0;
        var itemUsers = new int[train.Columns];
        for (var u = 0; u < train.Rows; u++)
        {
            if (train.RowLength(u) > 0) activeUsers++;
            foreach (var i in train.RowColumns(u)) itemUsers[i]++;
        }
        _itemUserShare = itemUsers.Select(n => n > 0 ? (double)n / activeUsers : 1.0 / (activeUsers + 1)).ToArray();

        if (maxUsers is { } max)
        {
            var candidates = Enumerable.Range(0, train.Rows).Where(u => train.RowLength(u) > 0 && test.RowLength(u) > 0).ToArray();
            new SeededRandom(seed).Shuffle(candidates.AsSpan());
            _sampledUsers = candidates.Take(max).Order().ToArray();
        }
    }

    public int K => _k;

    /// <summary>NDCG@K alone, for per-epoch validation.</summary>
    public double Ndcg(Recommender model) => Evaluate(model).Metrics[$"ndcg@{_k}"];

    /// <summary>RMSE and MAE (<see cref="Metrics.Rmse"/>, <see cref="Metrics.Mae"/>) of a model's predicted ratings over rated pairs.</summary>
    public static (double Rmse, double Mae) RatingErrors(IRatingPredictor model, InteractionSet ratings)
    {
        var predicted = new float[ratings.Count];
        for (var k = 0; k < predicted.Length; k++)
            predicted[k] = model.Predict(ratings.User[k], ratings.Item[k]);
        return (Metrics.Rmse(predicted, ratings.Weight), Metrics.Mae(predicted, ratings.Weight));
    }

    public EvaluationResult Evaluate(Recommender model)
    {
        var users = _sampledUsers ?? Enumerable.Range(0, _train.Rows).ToArray();
        var per = new double[users.Length, 6];
        var diversity = new double[users.Length];
        var novelty = new double[users.Length];
        var evaluated = new bool[users.Length];
        var cold = new bool[users.Length];
        var recommended = new bool[_train.Columns];

        Parallel.For(0, users.Length, () => (Items: new int[_k], Scores: new float[_k], Relevant: new HashSet<int>()), (n, _, buffers) =>
        {
            var u = users[n];
            var history = _train.RowLength(u);
            if (u >= model.Users || (history == 0 && _sampledUsers is not null))
                return buffers;
            var relevant = buffers.Relevant;
            relevant.Clear();
            var seen = _train.RowColumns(u);
            foreach (var i in _test.RowColumns(u))
            {
                if (!model.ExcludeSeen || seen.BinarySearch(i) < 0)
                    relevant.Add(i);
            }
            if (relevant.Count == 0)
                return buffers;

            var count = model.Recommend(u, seen, buffers.Items, buffers.Scores);
            var ranked = buffers.Items.AsSpan(0, count);
            per[n, 0] = Metrics.Precision(ranked, relevant, _k);
            per[n, 1] = Metrics.Recall(ranked, relevant, _k);
            per[n, 2] = Metrics.Ndcg(ranked, relevant, _k);
            per[n, 3] = Metrics.AveragePrecision(ranked, relevant, _k);
            per[n, 4] = Metrics.ReciprocalRank(ranked, relevant, _k);
            per[n, 5] = Metrics.Hit(ranked, relevant, _k);
            if (_itemCategory is not null)
                diversity[n] = Metrics.IntraListDiversity(ranked, _itemCategory, _k);
            novelty[n] = Metrics.Novelty(ranked, _itemUserShare, _k);
            cold[n] = history <= 1;
            if (history == 0)
                return buffers;
            foreach (var i in ranked)
                recommended[i] = true; // every writer writes true: no race on the outcome
            evaluated[n] = true;
            return buffers;
        }, _ => { });

        // Sums in user order, so the figures do not depend on thread scheduling.
        var sums = new double[6];
        double diversitySum = 0, noveltySum = 0;
        var testUsers = 0;
        for (var n = 0; n < users.Length; n++)
        {
            if (!evaluated[n])
                continue;
            testUsers++;
            for (var m = 0; m < 6; m++)
                sums[m] += per[n, m];
            diversitySum += diversity[n];
            noveltySum += novelty[n];
        }
        double Mean(double sum) => testUsers == 0 ? 0 : sum / testUsers;
        var metrics = new Dictionary<string, double>
        {
            [$"precision@{_k}"] = Mean(sums[0]),
            [$"recall@{_k}"] = Mean(sums[1]),
            [$"ndcg@{_k}"] = Mean(sums[2]),
            [$"map@{_k}"] = Mean(sums[3]),
            [$"mrr@{_k}"] = Mean(sums[4]),
            [$"hit_rate@{_k}"] = Mean(sums[5]),
            [$"coverage@{_k}"] = Metrics.Coverage(recommended.Count(r => r), _train.Columns),
            [$"novelty@{_k}"] = Mean(noveltySum),
        };
        if (_itemCategory is not null)
            metrics[$"diversity@{_k}"] = Mean(diversitySum);
        var coldUsers = cold.Count(c => c);
        if (coldUsers > 0)
            metrics[$"ndcg@{_k}_cold_users"] = Enumerable.Range(0, users.Length).Where(n => cold[n]).Sum(n => per[n, 2]) / coldUsers;

        var groupNdcg = new Dictionary<string, IReadOnlyDictionary<string, double>>();
        foreach (var (dimension, groups) in _groups)
        {
            var sum = new double[groups.Names.Length];
            var count = new int[groups.Names.Length];
            for (var n = 0; n < users.Length; n++)
            {
                var g = users[n] < groups.GroupOfUser.Length ? groups.GroupOfUser[users[n]] : -1;
                if (!evaluated[n] || g < 0)
                    continue;
                sum[g] += per[n, 2];
                count[g]++;
            }
            var byGroup = new Dictionary<string, double>();
            for (var g = 0; g < groups.Names.Length; g++)
                if (count[g] >= MinGroupUsers) byGroup[groups.Names[g]] = sum[g] / count[g];
            groupNdcg[dimension] = byGroup;
            if (byGroup.Count >= 2)
                metrics[$"ndcg@{_k}_gap_{dimension}"] = byGroup.Values.Max() - byGroup.Values.Min();
        }
        return new EvaluationResult(_k, testUsers, metrics, groupNdcg);
    }
}
