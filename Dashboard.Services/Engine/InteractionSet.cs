namespace Recs.Services.Engine;

/// <summary>
/// Interactions as parallel arrays over dense indices: user <c>User[k]</c> met item <c>Item[k]</c> at
/// <c>Time[k]</c> (Unix seconds) with weight <c>Weight[k]</c> (already weighted by event type) and, when the
/// source has one, value <c>Value[k]</c> (a rating, a quantity; NaN where that interaction has none).
/// </summary>
public sealed class InteractionSet
{
    public InteractionSet(int users, int items, int[] user, int[] item, float[] weight, long[] time, float[]? value = null)
    {
        if (user.Length != item.Length || user.Length != weight.Length || user.Length != time.Length || (value is not null && value.Length != user.Length))
            throw new ArgumentException("Interaction arrays must have equal lengths.");
        Users = users;
        Items = items;
        User = user;
        Item = item;
        Weight = weight;
        Time = time;
        Value = value;
    }

    public int Users { get; }

    public int Items { get; }

    public int[] User { get; }

    public int[] Item { get; }

    public float[] Weight { get; }

    public long[] Time { get; }

    /// <summary>The interaction's own value (Personalize EVENT_VALUE), NaN where missing; null when the source has no values at all.</summary>
    public float[]? Value { get; }

    public int Count => User.Length;

    /// <summary>The user × item matrix with duplicate (user, item) pairs folded by summing weights.</summary>
    public CsrMatrix ToMatrix() => CsrMatrix.FromTriples(Users, Items, User, Item, Weight);

    /// <summary>
    /// One interaction per (user, item) pair whose weight (and value) is the pair's rating: the mean of its values,
    /// or of its weights when the set has no values. Interactions without a value (NaN) are left out; each pair keeps
    /// its latest time. Pairs come in the order of their first interaction.
    /// </summary>
    public InteractionSet Ratings()
    {
        var pairs = new Dictionary<long, int>();
        var u = new List<int>();
        var i = new List<int>();
        var sum = new List<double>();
        var count = new List<int>();
        var t = new List<long>();
        for (var k = 0; k < Count; k++)
        {
            var rating = Value is null ? Weight[k] : Value[k];
            if (float.IsNaN(rating))
                continue;
            var key = (long)User[k] * Items + Item[k];
            if (pairs.TryGetValue(key, out var at))
            {
                sum[at] += rating;
                count[at]++;
                t[at] = Math.Max(t[at], Time[k]);
                continue;
            }
            pairs[key] = u.Count;
            u.Add(User[k]);
            i.Add(Item[k]);
            sum.Add(rating);
            count.Add(1);
            t.Add(Time[k]);
        }
        var mean = new float[u.Count];
        for (var p = 0; p < mean.Length; p++)
            mean[p] = (float)(sum[p] / count[p]);
        return new InteractionSet(Users, Items, u.ToArray(), i.ToArray(), mean, t.ToArray(), (float[])mean.Clone());
    }

    /// <summary>The user × item matrix of ratings (see <see cref="Ratings"/>): repeats averaged, not summed.</summary>
    public CsrMatrix ToRatingMatrix() => Ratings().ToMatrix();

    /// <summary>
    /// The same interactions with each weight multiplied by 0.5^(age / half-life), age counted back from the latest
    /// interaction: recent interest counts more. A half-life of 0 or less returns this set unchanged.
    /// </summary>
    public InteractionSet Decayed(double halfLifeDays)
    {
        if (halfLifeDays <= 0 || Count == 0)
            return this;
        var latest = Time.Max();
        var weights = new float[Count];
        for (var k = 0; k < weights.Length; k++)
            weights[k] = Weight[k] * (float)Math.Pow(0.5, (latest - Time[k]) / 86400.0 / halfLifeDays);
        return new InteractionSet(Users, Items, User, Item, weights, Time, Value);
    }

    /// <summary>The interactions whose positions are marked, over the same user and item index spaces.</summary>
    public InteractionSet Where(ReadOnlySpan<bool> keep)
    {
        var n = 0;
        foreach (var k in keep)
            if (k) n++;
        var u = new int[n];
        var i = new int[n];
        var w = new float[n];
        var t = new long[n];
        var v = Value is null ? null : new float[n];
        var at = 0;
        for (var k = 0; k < keep.Length; k++)
        {
            if (!keep[k])
                continue;
            u[at] = User[k];
            i[at] = Item[k];
            w[at] = Weight[k];
            t[at] = Time[k];
            if (v is not null)
                v[at] = Value![k];
            at++;
        }
        return new InteractionSet(Users, Items, u, i, w, t, v);
    }

    /// <summary>Positions of each user's interactions, grouped by user (users with none get an empty array).</summary>
    public int[][] PositionsByUser()
    {
        var counts = new int[Users];
        foreach (var u in User)
            counts[u]++;
        var result = new int[Users][];
        for (var u = 0; u < Users; u++)
            result[u] = new int[counts[u]];
        Array.Clear(counts);
        for (var k = 0; k < Count; k++)
            result[User[k]][counts[User[k]]++] = k;
        return result;
    }
}
