namespace Recs.Services.Engine;

/// <summary>
/// user-knn: user-based collaborative filtering. Users are compared by cosine over their binarised histories
/// with shrinkage, sim(u, v) = co(u, v) / (√(n_u · n_v) + shrink), where co(u, v) counts the items both have and
/// n_u the items u has; each user keeps the top-K others. A user's score for i is Σ_{v ∈ N(u)} sim(u, v)·[v has i].
/// Neighbours are found sparsely: for each user, co-counts are accumulated over the users of each of their items
/// (the item → user transpose), in parallel.
/// </summary>
public sealed class UserKnnRecommender : Recommender
{
    public const string Name = "user-knn";

    /// <summary>user-knn in the catalogue.</summary>
    public static readonly RecipeDescriptor Descriptor = new(Name,
        "Customers like this one (user-based cosine neighbours with shrinkage): what similar customers bought.",
        [
            new("neighbours", 50, 1, 10_000, Integer: true, Help: "similar users kept per user") { Search = (10, 400), LogScale = true },
            new("shrink", 10, 0, 1e6, Help: "added to the cosine's denominator: damps users with little overlap") { Search = (0, 200) },
        ],
        v => new UserKnnRecommender(v.Int("neighbours"), v.Float("shrink")))
    {
        Serves = [ModelUses.UserRecommendations, ModelUses.PersonalizedRanking],
    };

    private readonly int _neighbours;
    private readonly float _shrink;
    private int[] _neighbourStart = [];
    private int[] _neighbour = [];
    private float[] _similarity = [];
    private CsrMatrix? _userItems;
    private CsrMatrix? _itemUsers;

    /// <param name="neighbours">Most similar users kept per user.</param>
    /// <param name="shrink">Added to the cosine's denominator: pulls similarities built on few shared items towards 0.</param>
    public UserKnnRecommender(int neighbours = 50, float shrink = 10f)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(neighbours, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(shrink);
        _neighbours = neighbours;
        _shrink = shrink;
    }

    public override string Recipe => Name;

    public override IReadOnlyDictionary<string, object> Hyperparameters =>
        new Dictionary<string, object> { ["neighbours"] = _neighbours, ["shrink"] = _shrink };

    /// <summary>A user's kept neighbours and their similarities, most similar first.</summary>
    public (int[] Users, float[] Similarities) Neighbours(int user)
    {
        var start = _neighbourStart[user];
        var count = _neighbourStart[user + 1] - start;
        return (_neighbour.AsSpan(start, count).ToArray(), _similarity.AsSpan(start, count).ToArray());
    }

    public override void Fit(CsrMatrix userItems, FitOptions options)
    {
        Users = userItems.Rows;
        Items = userItems.Columns;
        _userItems = userItems.WithValues(_ => 1f);
        _itemUsers = _userItems.Transpose();
        var itemUsers = _itemUsers;
        var m = Math.Min(_neighbours, Math.Max(0, Users - 1));

        var neighbour = new int[(long)Users * m];
        var similarity = new float[(long)Users * m];
        var counts = new int[Users];
        var done = 0;
        Parallel.For(0, Users, new ParallelOptions { CancellationToken = options.Cancellation },
            () => (Co: new int[Users], Touched: new List<int>(), Scores: new float[256], TopUsers: new int[m], TopScores: new float[m]),
            (u, _, buffers) =>
            {
                var (co, touched, scores, topUsers, topScores) = buffers;
                foreach (var i in _userItems.RowColumns(u))
                {
                    foreach (var v in itemUsers.RowColumns(i))
                    {
                        if (co[v]++ == 0)
                            touched.Add(v);
                    }
                }
                if (scores.Length < touched.Count)
                    scores = new float[touched.Count];
                var nu = _userItems.RowLength(u);
                for (var t = 0; t < touched.Count; t++)
                {
                    var v = touched[t];
                    scores[t] = v == u ? float.NegativeInfinity : co[v] / (MathF.Sqrt((float)nu * _userItems.RowLength(v)) + _shrink);
                }
                var found = TopK.Select(scores.AsSpan(0, touched.Count), topUsers, topScores);
                for (var k = 0; k < found; k++)
                {
                    neighbour[(long)u * m + k] = touched[topUsers[k]];
                    similarity[(long)u * m + k] = topScores[k];
                }
                counts[u] = found;
                foreach (var v in touched)
                    co[v] = 0;
                touched.Clear();
                var d = Interlocked.Increment(ref done);
                if (d % 1000 == 0)
                    options.Progress?.Report(new EpochRecord(0, d / (double)Users, null, null, 0));
                return (co, touched, scores, topUsers, topScores);
            },
            _ => { });

        _neighbourStart = new int[Users + 1];
        for (var u = 0; u < Users; u++)
            _neighbourStart[u + 1] = _neighbourStart[u] + counts[u];
        _neighbour = new int[_neighbourStart[Users]];
        _similarity = new float[_neighbour.Length];
        for (var u = 0; u < Users; u++)
        {
            Array.Copy(neighbour, (long)u * m, _neighbour, _neighbourStart[u], counts[u]);
            Array.Copy(similarity, (long)u * m, _similarity, _neighbourStart[u], counts[u]);
        }
    }

    public override void Score(int user, Span<float> scores)
    {
        scores.Clear();
        if (_userItems is null || user >= _userItems.Rows)
            return;
        for (var k = _neighbourStart[user]; k < _neighbourStart[user + 1]; k++)
        {
            var s = _similarity[k];
            foreach (var i in _userItems.RowColumns(_neighbour[k]))
                scores[i] += s;
        }
    }

    /// <summary>
    /// This recipe learns user neighbourhoods, not item ones, so similar items are answered from the same stored
    /// histories by item co-occurrence cosine with the same shrinkage, co(i, j) / (√(n_i · n_j) + shrink).
    /// </summary>
    public override int SimilarItems(int item, Span<int> items, Span<float> scores)
    {
        var userItems = _userItems!;
        var itemUsers = _itemUsers ??= userItems.Transpose();
        var co = new float[Items];
        foreach (var u in itemUsers.RowColumns(item))
        {
            foreach (var j in userItems.RowColumns(u))
                co[j]++;
        }
        var ni = itemUsers.RowLength(item);
        for (var j = 0; j < Items; j++)
            co[j] = j == item || co[j] == 0 ? float.NegativeInfinity : co[j] / (MathF.Sqrt((float)ni * itemUsers.RowLength(j)) + _shrink);
        return TopK.Select(co, items, scores);
    }

    public override void Save(BinaryWriter writer)
    {
        writer.Write(Users);
        writer.Write(Items);
        ArrayIo.Write(writer, _neighbourStart);
        ArrayIo.Write(writer, _neighbour);
        ArrayIo.Write(writer, _similarity);
        ArrayIo.Write(writer, _userItems!.RowStart);
        ArrayIo.Write(writer, _userItems.ColumnIndex);
    }

    public override void Load(BinaryReader reader)
    {
        Users = reader.ReadInt32();
        Items = reader.ReadInt32();
        _neighbourStart = ArrayIo.ReadInts(reader);
        _neighbour = ArrayIo.ReadInts(reader);
        _similarity = ArrayIo.ReadFloats(reader);
        var rowStart = ArrayIo.ReadInts(reader);
        var columns = ArrayIo.ReadInts(reader);
        _userItems = new CsrMatrix(Users, Items, rowStart, columns, Enumerable.Repeat(1f, columns.Length).ToArray());
        _itemUsers = null;
    }
}
