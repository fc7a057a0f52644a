namespace Recs.Services.Engine;

/// <summary>
/// The seed's group baselines, popularity within a group:
/// <c>popularity-region</c> scores an item by how many users of the user's own region have it (the region read from
/// the side feature <c>region=…</c>), and <c>popularity-category</c> by the share of the user's own history in the
/// item's category (<c>category=…</c>) times the item's popularity within that category. Both add a small multiple
/// of global popularity, so ties and users or items without the attribute fall back to plain popularity. Each user
/// counts once per item, as in <see cref="PopularityRecommender"/>.
/// </summary>
public sealed class GroupPopularityRecommender : Recommender
{
    public const string RegionName = "popularity-region";
    public const string CategoryName = "popularity-category";

    private const float GlobalShare = 1e-3f;

    /// <summary>popularity-region in the catalogue.</summary>
    public static readonly RecipeDescriptor RegionDescriptor = new(RegionName,
        "Baseline: what the most users of the customer's own region have (falls back to overall popularity).",
        [], _ => new GroupPopularityRecommender(RegionName))
    {
        Personal = true, AutoCandidate = false, Serves = [ModelUses.UserRecommendations, ModelUses.PersonalizedRanking],
    };

    /// <summary>popularity-category in the catalogue.</summary>
    public static readonly RecipeDescriptor CategoryDescriptor = new(CategoryName,
        "Baseline: the most popular items of the categories the customer buys, weighted by their share of the customer's history.",
        [], _ => new GroupPopularityRecommender(CategoryName))
    {
        Personal = true, AutoCandidate = false, Serves = [ModelUses.UserRecommendations, ModelUses.PersonalizedRanking],
    };

    private readonly string _recipe;
    private float[] _global = [];
    private int[] _groupOfUser = [];
    private int[] _groupOfItem = [];
    private float[] _groupPopularity = []; // region: groups × items; category: per item, popularity within its category
    private CsrMatrix? _userItems;
    private int _groups;

    public GroupPopularityRecommender(string recipe)
    {
        if (recipe is not (RegionName or CategoryName))
            throw new ArgumentException($"A group popularity is {RegionName} or {CategoryName}, not '{recipe}'.");
        _recipe = recipe;
    }

    public override string Recipe => _recipe;

    public override IReadOnlyDictionary<string, object> Hyperparameters => new Dictionary<string, object>();

    public override void Fit(CsrMatrix userItems, FitOptions options)
    {
        options.Cancellation.ThrowIfCancellationRequested();
        Users = userItems.Rows;
        Items = userItems.Columns;
        _userItems = userItems.WithValues(_ => 1f);
        _global = new float[Items];
        foreach (var i in userItems.ColumnIndex)
            _global[i]++;
        Scale(_global);
        var features = options.Features;
        if (_recipe == RegionName)
        {
            (_groupOfUser, _groups) = Groups(features?.UserFeatures, features?.UserFeatureNames, "region=", Users);
            _groupPopularity = new float[_groups * Items];
            for (var u = 0; u < Users; u++)
            {
                if (_groupOfUser[u] < 0)
                    continue;
                foreach (var i in userItems.RowColumns(u))
                    _groupPopularity[_groupOfUser[u] * Items + i]++;
            }
            for (var g = 0; g < _groups; g++)
                Scale(_groupPopularity.AsSpan(g * Items, Items));
        }
        else
        {
            (_groupOfItem, _groups) = Groups(features?.ItemFeatures, features?.ItemFeatureNames, "category=", Items);
            // An item's popularity relative to the best seller of its category.
            var best = new float[Math.Max(1, _groups)];
            var raw = new float[Items];
            foreach (var i in userItems.ColumnIndex)
                raw[i]++;
            for (var i = 0; i < Items; i++)
                if (_groupOfItem[i] >= 0) best[_groupOfItem[i]] = Math.Max(best[_groupOfItem[i]], raw[i]);
            _groupPopularity = new float[Items];
            for (var i = 0; i < Items; i++)
                _groupPopularity[i] = _groupOfItem[i] >= 0 && best[_groupOfItem[i]] > 0 ? raw[i] / best[_groupOfItem[i]] : 0;
        }
    }

    public override void Score(int user, Span<float> scores)
    {
        for (var i = 0; i < Items; i++)
            scores[i] = GlobalShare * _global[i];
        if (_recipe == RegionName)
        {
            var g = user < _groupOfUser.Length ? _groupOfUser[user] : -1;
            if (g >= 0)
            {
                var row = _groupPopularity.AsSpan(g * Items, Items);
                for (var i = 0; i < Items; i++)
                    scores[i] += row[i];
            }
            return;
        }
        if (_userItems is null || user >= _userItems.Rows)
            return;
        var history = _userItems.RowColumns(user);
        if (history.Length == 0)
            return;
        var share = new float[Math.Max(1, _groups)];
        foreach (var i in history)
            if (_groupOfItem[i] >= 0) share[_groupOfItem[i]] += 1f / history.Length;
        for (var i = 0; i < Items; i++)
            if (_groupOfItem[i] >= 0) scores[i] += share[_groupOfItem[i]] * _groupPopularity[i];
    }

    /// <summary>The most popular other items: of the same category for popularity-category, of all for popularity-region.</summary>
    public override int SimilarItems(int item, Span<int> items, Span<float> scores)
    {
        var all = new float[Items];
        for (var i = 0; i < Items; i++)
            all[i] = _recipe == CategoryName && _groupOfItem[i] != _groupOfItem[item] ? float.NegativeInfinity : _global[i];
        all[item] = float.NegativeInfinity;
        return TopK.Select(all, items, scores);
    }

    public override void Save(BinaryWriter writer)
    {
        writer.Write(Users);
        writer.Write(Items);
        writer.Write(_groups);
        ArrayIo.Write(writer, _global);
        ArrayIo.Write(writer, _groupOfUser);
        ArrayIo.Write(writer, _groupOfItem);
        ArrayIo.Write(writer, _groupPopularity);
        ArrayIo.Write(writer, _userItems!.RowStart);
        ArrayIo.Write(writer, _userItems.ColumnIndex);
    }

    public override void Load(BinaryReader reader)
    {
        Users = reader.ReadInt32();
        Items = reader.ReadInt32();
        _groups = reader.ReadInt32();
        _global = ArrayIo.ReadFloats(reader);
        _groupOfUser = ArrayIo.ReadInts(reader);
        _groupOfItem = ArrayIo.ReadInts(reader);
        _groupPopularity = ArrayIo.ReadFloats(reader);
        var rowStart = ArrayIo.ReadInts(reader);
        var columns = ArrayIo.ReadInts(reader);
        _userItems = new CsrMatrix(Users, Items, rowStart, columns, Enumerable.Repeat(1f, columns.Length).ToArray());
    }

    /// <summary>Each row's group (the first feature whose name starts with <paramref name="prefix"/>; −1 without one) and the group count.</summary>
    private static (int[] Group, int Count) Groups(CsrMatrix? features, string[]? names, string prefix, int rows)
    {
        var group = new int[rows];
        Array.Fill(group, -1);
        if (features is null || names is null)
            return (group, 0);
        var map = new Dictionary<int, int>();
        for (var f = 0; f < names.Length; f++)
            if (names[f].StartsWith(prefix, StringComparison.Ordinal)) map[f] = map.Count;
        for (var r = 0; r < Math.Min(rows, features.Rows); r++)
        {
            foreach (var f in features.RowColumns(r))
            {
                if (map.TryGetValue(f, out var g))
                {
                    group[r] = g;
                    break;
                }
            }
        }
        return (group, map.Count);
    }

    private static void Scale(Span<float> values)
    {
        var max = 0f;
        foreach (var v in values) max = Math.Max(max, v);
        if (max <= 0)
            return;
        for (var i = 0; i < values.Length; i++)
            values[i] /= max;
    }
}
