namespace Recs.Services.Engine;

/// <summary>
/// rp3beta: a three-step random walk item → user → item on the binarised interaction graph, re-ranked against
/// popularity (Paudel et al. 2017; as in Dacrema et al. 2019). With n_i the users of item i and n_u the items of
/// user u, the transition probabilities raised to α are P_iu = (1/n_i)^α and P_uj = (1/n_u)^α, and
/// W_ij = Σ_{u has i and j} P_iu · P_uj / n_j^β (W_ii = 0). β &gt; 0 lowers popular destinations. Keeps the top-M
/// entries of each row; a user's score for j is Σ over the user's items i of W_ij. Computed sparsely, one row
/// per item over the users who have it, in parallel.
/// </summary>
public sealed class Rp3BetaRecommender : Recommender, IHistoryScorer
{
    public const string Name = "rp3beta";

    /// <summary>rp3beta in the catalogue.</summary>
    public static readonly RecipeDescriptor Descriptor = new(Name,
        "Random walk item → user → item with a popularity penalty (RP3beta): sparse, fast, favours less obvious neighbours.",
        [
            new("alpha", 1, 0, 10, Help: "exponent on the walk's transition probabilities") { Search = (0.2, 2) },
            new("beta", 0.5, 0, 10, Help: "popularity penalty on the destination item") { Search = (0, 1) },
            new("neighbours", 100, 1, 10_000, Integer: true, Help: "neighbours kept per item") { Search = (20, 500), LogScale = true },
        ],
        v => new Rp3BetaRecommender(v.Float("alpha"), v.Float("beta"), v.Int("neighbours")))
    {
        CanFoldIn = true,
    };

    private readonly float _alpha;
    private readonly float _beta;
    private readonly int _neighbours;
    private ItemNeighbours? _lists;
    private CsrMatrix? _userItems;

    /// <param name="alpha">Exponent on the transition probabilities (1 = the plain random walk, P3).</param>
    /// <param name="beta">Popularity penalty: each destination item is divided by its user count to this power.</param>
    /// <param name="neighbours">Entries kept per row of W.</param>
    public Rp3BetaRecommender(float alpha = 1f, float beta = 0.5f, int neighbours = 100)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(alpha);
        ArgumentOutOfRangeException.ThrowIfNegative(beta);
        ArgumentOutOfRangeException.ThrowIfLessThan(neighbours, 1);
        _alpha = alpha;
        _beta = beta;
        _neighbours = neighbours;
    }

    public override string Recipe => Name;

    public override IReadOnlyDictionary<string, object> Hyperparameters =>
        new Dictionary<string, object> { ["alpha"] = _alpha, ["beta"] = _beta, ["neighbours"] = _neighbours };

    /// <summary>W_ij, or 0 when j is not among i's kept neighbours.</summary>
    public float Weight(int i, int j)
    {
        var k = _lists!.Find(i, j);
        if (k >= 0) return _lists.Weight[k];
        return 0;
    }

    public override void Fit(CsrMatrix userItems, FitOptions options)
    {
        Users = userItems.Rows;
        Items = userItems.Columns;
        _userItems = userItems.WithValues(_ => 1f);
        var itemUsers = _userItems.Transpose();
        var m = Math.Min(_neighbours, Math.Max(0, Items - 1));

        var fromUser = new float[Users];
        for (var u = 0; u < Users; u++)
            fromUser[u] = _userItems.RowLength(u) == 0 ? 0 : (float)Math.Pow(1.0 / _userItems.RowLength(u), _alpha);
        var fromItem = new float[Items];
        var intoItem = new float[Items];
        for (var i = 0; i < Items; i++)
        {
            var n = itemUsers.RowLength(i);
            fromItem[i] = n == 0 ? 0 : (float)Math.Pow(1.0 / n, _alpha);
            intoItem[i] = n == 0 ? 0 : (float)Math.Pow(n, -_beta);
        }

        var neighbour = new int[(long)Items * m];
        var weight = new float[(long)Items * m];
        var counts = new int[Items];
        var done = 0;
        Parallel.For(0, Items, new ParallelOptions { CancellationToken = options.Cancellation },
            () => (Walk: new float[Items], Mark: new int[Items], Touched: new List<int>(), Scores: new float[256], TopItems: new int[m], TopScores: new float[m]),
            (i, _, buffers) =>
            {
                var (walk, mark, touched, scores, topItems, topScores) = buffers;
                foreach (var u in itemUsers.RowColumns(i))
                {
                    var p = fromUser[u];
                    foreach (var j in _userItems.RowColumns(u))
                    {
                        if (mark[j] != i + 1)
                        {
                            mark[j] = i + 1;
                            touched.Add(j);
                        }
                        walk[j] += p;
                    }
                }
                if (scores.Length < touched.Count)
                    scores = new float[touched.Count];
                for (var t = 0; t < touched.Count; t++)
                {
                    var j = touched[t];
                    scores[t] = j == i ? float.NegativeInfinity : fromItem[i] * walk[j] * intoItem[j];
                }
                var found = TopK.Select(scores.AsSpan(0, touched.Count), topItems, topScores);
                for (var k = 0; k < found; k++)
                {
                    neighbour[(long)i * m + k] = touched[topItems[k]];
                    weight[(long)i * m + k] = topScores[k];
                }
                counts[i] = found;
                foreach (var j in touched)
                    walk[j] = 0;
                touched.Clear();
                var d = Interlocked.Increment(ref done);
                if (d % 1000 == 0)
                    options.Progress?.Report(new EpochRecord(0, d / (double)Items, null, null, 0));
                return (walk, mark, touched, scores, topItems, topScores);
            },
            _ => { });

        _lists = ItemNeighbours.Compact(Items, m, neighbour, weight, counts);
    }

    public override void Score(int user, Span<float> scores)
    {
        scores.Clear();
        if (_userItems is null || user >= _userItems.Rows)
            return;
        _lists!.AddRows(_userItems.RowColumns(user), scores);
    }

    /// <summary>Σ over the history's distinct items of their rows of W, as <see cref="Score(int, Span{float})"/> does for a known user.</summary>
    public void ScoreHistory(ReadOnlySpan<int> items, ReadOnlySpan<float> weights, Span<float> scores)
    {
        scores.Clear();
        _lists!.AddRows(items, scores);
    }

    /// <summary>Row i of W: where the walk from i lands most, popularity discounted.</summary>
    public override int SimilarItems(int item, Span<int> items, Span<float> scores) => _lists!.Copy(item, items, scores);

    public override void Save(BinaryWriter writer)
    {
        writer.Write(Users);
        writer.Write(Items);
        _lists!.Write(writer);
        ArrayIo.Write(writer, _userItems!.RowStart);
        ArrayIo.Write(writer, _userItems.ColumnIndex);
    }

    public override void Load(BinaryReader reader)
    {
        Users = reader.ReadInt32();
        Items = reader.ReadInt32();
        _lists = ItemNeighbours.Read(reader, withCounts: false);
        var rowStart = ArrayIo.ReadInts(reader);
        var columns = ArrayIo.ReadInts(reader);
        _userItems = new CsrMatrix(Users, Items, rowStart, columns, Enumerable.Repeat(1f, columns.Length).ToArray());
    }
}
