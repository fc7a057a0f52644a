namespace Recs.Services.Engine;

/// <summary>
/// The baseline: every user gets the items the most users interacted with. Each user counts once per
/// item, with weight min(1, w): with time-decayed weights (w &lt; 1 for old events) it becomes recency-weighted.
/// </summary>
public sealed class PopularityRecommender : Recommender
{
    public const string Name = "popularity";

    private float[] _popularity = [];

    public override string Recipe => Name;

    public override IReadOnlyDictionary<string, object> Hyperparameters => new Dictionary<string, object>();

    /// <summary>Popularity of each item, as fitted.</summary>
    public ReadOnlySpan<float> Popularity => _popularity;

    public override void Fit(CsrMatrix userItems, FitOptions options)
    {
        Users = userItems.Rows;
        Items = userItems.Columns;
        _popularity = new float[Items];
        for (var k = 0; k < userItems.NonZeros; k++)
            _popularity[userItems.ColumnIndex[k]] += Math.Min(1f, userItems.Values[k]);
    }

    public override void Score(int user, Span<float> scores) => _popularity.CopyTo(scores);

    public override int SimilarItems(int item, Span<int> items, Span<float> scores)
    {
        var all = (float[])_popularity.Clone();
        all[item] = float.NegativeInfinity;
        return TopK.Select(all, items, scores);
    }

    public override void Save(BinaryWriter writer)
    {
        writer.Write(Users);
        writer.Write(Items);
        ArrayIo.Write(writer, _popularity);
    }

    public override void Load(BinaryReader reader)
    {
        Users = reader.ReadInt32();
        Items = reader.ReadInt32();
        _popularity = ArrayIo.ReadFloats(reader);
    }
}
