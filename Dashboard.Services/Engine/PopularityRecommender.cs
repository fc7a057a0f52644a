namespace Recs.Services.Engine;

/// <summary>
/// The baseline: every user gets the items the most users interacted with. Each user counts once per
/// item, with weight min(1, w): with time-decayed weights (w &lt; 1 for old events) it becomes recency-weighted.
/// </summary>
public sealed class PopularityRecommender(double halfLifeDays = 0) : Recommender
{
    public const string Name = "popularity";

    /// <summary>popularity in the catalogue.</summary>
    public static readonly RecipeDescriptor Descriptor = new(Name,
        "The baseline: the items most customers have, optionally weighted to recent interest.",
        [new("half-life-days", 0, 0, 36500, Help: "0 = all time alike; otherwise an interaction's weight halves every this many days") { Search = null }],
        v => new PopularityRecommender(v.Double("half-life-days")))
    {
        Personal = false, AutoCandidate = false, Serves = [ModelUses.UserRecommendations, ModelUses.PersonalizedRanking],
    };

    private float[] _popularity = [];

    public override string Recipe => Name;

    public override IReadOnlyDictionary<string, object> Hyperparameters => new Dictionary<string, object> { ["half_life_days"] = halfLifeDays };

    /// <summary>
    /// With a half-life, each interaction weighs 0.5^(age / half-life), age measured back from the latest
    /// interaction, so recent popularity counts more.
    /// </summary>
    public override InteractionSet Prepare(InteractionSet interactions) => interactions.Decayed(halfLifeDays);

    /// <summary>Popularity of each item, as fitted.</summary>
    public ReadOnlySpan<float> Popularity => _popularity;

    public override void Fit(CsrMatrix userItems, FitOptions options)
    {
        options.Cancellation.ThrowIfCancellationRequested();
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
