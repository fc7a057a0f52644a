namespace Recs.Services.Engine;

/// <summary>
/// similar-items: item-to-item cosine over binarised co-occurrence with shrinkage,
/// sim(i, j) = co(i, j) / (√(n_i · n_j) + shrink), where co(i, j) counts users who have both items and
/// n_i users who have i. Keeps the top-M neighbours per item, with co(i, j) for display.
/// A user's score for j is Σ over the user's items i of sim(i, j).
/// </summary>
public sealed class ItemKnnRecommender(int neighbours = 50, float shrink = 10f) : Recommender, IHistoryScorer
{
    public const string Name = "similar-items";

    /// <summary>similar-items in the catalogue.</summary>
    public static readonly RecipeDescriptor Descriptor = new(Name,
        "Items bought by the same customers (co-purchase cosine with shrinkage); the usual choice for similar items.",
        [
            new("neighbours", 50, 1, 1000, Integer: true, Help: "neighbours kept per item") { Search = (10, 400), LogScale = true },
            new("shrink", 10, 0, 1e6, Help: "added to the cosine's denominator: damps pairs seen together rarely") { Search = (0, 200) },
        ],
        v => new ItemKnnRecommender(v.Int("neighbours"), v.Float("shrink")))
    {
        CanFoldIn = true,
    };

    private ItemNeighbours? _lists;
    private CsrMatrix? _userItems;

    public override string Recipe => Name;

    public override IReadOnlyDictionary<string, object> Hyperparameters =>
        new Dictionary<string, object> { ["neighbours"] = neighbours, ["shrink"] = shrink };

    /// <summary>How many users have both items (0 when j is not among i's kept neighbours).</summary>
    public int BoughtTogether(int i, int j)
    {
        var k = _lists!.Find(i, j);
        return k < 0 ? 0 : _lists.Count![k];
    }

    public override void Fit(CsrMatrix userItems, FitOptions options)
    {
        Users = userItems.Rows;
        Items = userItems.Columns;
        _userItems = userItems;
        var itemUsers = userItems.Transpose();
        var m = Math.Min(neighbours, Math.Max(0, Items - 1));
        var n = new int[Items];
        for (var i = 0; i < Items; i++)
            n[i] = itemUsers.RowLength(i);

        var neighbour = new int[Items * m];
        var similarity = new float[Items * m];
        var together = new int[Items * m];
        var counts = new int[Items];
        var done = 0;
        Parallel.For(0, Items, new ParallelOptions { CancellationToken = options.Cancellation },
            () => (Co: new int[Items], Touched: new List<int>(), Scores: new float[256], TopItems: new int[m], TopScores: new float[m]),
            (i, _, buffers) =>
            {
                var (co, touched, scores, topItems, topScores) = buffers;
                foreach (var u in itemUsers.RowColumns(i))
                {
                    foreach (var j in userItems.RowColumns(u))
                    {
                        if (co[j]++ == 0)
                            touched.Add(j);
                    }
                }
                // Score only the items that co-occur (compactly, in first-touched order) instead of the whole catalogue.
                if (scores.Length < touched.Count)
                    scores = new float[touched.Count];
                for (var t = 0; t < touched.Count; t++)
                {
                    var j = touched[t];
                    scores[t] = j == i ? float.NegativeInfinity : co[j] / (MathF.Sqrt((float)n[i] * n[j]) + shrink);
                }
                var found = TopK.Select(scores.AsSpan(0, touched.Count), topItems, topScores);
                for (var k = 0; k < found; k++)
                {
                    var j = touched[topItems[k]];
                    neighbour[i * m + k] = j;
                    similarity[i * m + k] = topScores[k];
                    together[i * m + k] = co[j];
                }
                counts[i] = found;
                foreach (var j in touched)
                    co[j] = 0;
                touched.Clear();
                var d = Interlocked.Increment(ref done);
                if (d % 1000 == 0)
                    options.Progress?.Report(new EpochRecord(0, d / (double)Items, null, null, 0));
                return (co, touched, scores, topItems, topScores);
            },
            _ => { });

        _lists = ItemNeighbours.Compact(Items, m, neighbour, similarity, counts, together);
    }

    public override void Score(int user, Span<float> scores)
    {
        scores.Clear();
        if (_userItems is null || user >= _userItems.Rows)
            return;
        _lists!.AddRows(_userItems.RowColumns(user), scores);
    }

    /// <summary>Σ over the history's items of their similarity to each item (each item counted once, as in training's binarised matrix).</summary>
    public void ScoreHistory(ReadOnlySpan<int> items, ReadOnlySpan<float> weights, Span<float> scores)
    {
        scores.Clear();
        _lists!.AddRows(items, scores);
    }

    public override int SimilarItems(int item, Span<int> items, Span<float> scores) => _lists!.Copy(item, items, scores);

    public override void Save(BinaryWriter writer)
    {
        writer.Write(Users);
        writer.Write(Items);
        _lists!.Write(writer);
        // Users' histories are needed to score: kept with the model.
        ArrayIo.Write(writer, _userItems!.RowStart);
        ArrayIo.Write(writer, _userItems.ColumnIndex);
        ArrayIo.Write(writer, _userItems.Values);
    }

    public override void Load(BinaryReader reader)
    {
        Users = reader.ReadInt32();
        Items = reader.ReadInt32();
        _lists = ItemNeighbours.Read(reader, withCounts: true);
        _userItems = new CsrMatrix(Users, Items, ArrayIo.ReadInts(reader), ArrayIo.ReadInts(reader), ArrayIo.ReadFloats(reader));
    }
}
