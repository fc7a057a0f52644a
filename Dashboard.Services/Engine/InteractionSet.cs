namespace Recs.Services.Engine;

/// <summary>
/// Interactions as parallel arrays over dense indices: user <c>User[k]</c> met item <c>Item[k]</c> at
/// <c>Time[k]</c> (Unix seconds) with weight <c>Weight[k]</c> (already weighted by event type).
/// </summary>
public sealed class InteractionSet
{
    public InteractionSet(int users, int items, int[] user, int[] item, float[] weight, long[] time)
    {
        if (user.Length != item.Length || user.Length != weight.Length || user.Length != time.Length)
            throw new ArgumentException("Interaction arrays must have equal lengths.");
        Users = users;
        Items = items;
        User = user;
        Item = item;
        Weight = weight;
        Time = time;
    }

    public int Users { get; }

    public int Items { get; }

    public int[] User { get; }

    public int[] Item { get; }

    public float[] Weight { get; }

    public long[] Time { get; }

    public int Count => User.Length;

    /// <summary>The user × item matrix with duplicate (user, item) pairs folded by summing weights.</summary>
    public CsrMatrix ToMatrix() => CsrMatrix.FromTriples(Users, Items, User, Item, Weight);

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
        var at = 0;
        for (var k = 0; k < keep.Length; k++)
        {
            if (!keep[k])
                continue;
            u[at] = User[k];
            i[at] = Item[k];
            w[at] = Weight[k];
            t[at] = Time[k];
            at++;
        }
        return new InteractionSet(Users, Items, u, i, w, t);
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
