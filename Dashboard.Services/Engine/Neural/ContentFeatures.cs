namespace Recs.Services.Engine.Neural;

/// <summary>
/// Dense user and item feature rows for the neural recipes' content branch: the attribute columns of
/// <see cref="SideFeatures"/> first (one-hot, in their order, so a new user's or item's attributes map onto the same
/// columns), then what the training history says, each scaled to [0, 1]. Users: distinct items bought
/// (log-scaled), total weight (frequency, log-scaled), recency of the last interaction, average price band of what
/// they bought (from <c>price_band=qN</c> item attributes), and their favourite category one-hot (from
/// <c>category=…</c>). Items: popularity (log-scaled) and recency. Without timestamps recency is 0.
/// </summary>
public static class ContentFeatures
{
    /// <summary>A dense row-major matrix.</summary>
    public sealed record Matrix(int Rows, int Columns, float[] Values);

    public static (Matrix Users, Matrix Items) Build(CsrMatrix userItems, SideFeatures features, long[]? userLast, long[]? itemLast)
    {
        var (users, items) = (userItems.Rows, userItems.Columns);
        var categories = Columns(features.ItemFeatureNames, "category=");
        var bands = Columns(features.ItemFeatureNames, "price_band=q");
        var itemCategory = new int[items];
        var itemBand = new float[items];
        Array.Fill(itemCategory, -1);
        for (var i = 0; i < items; i++)
        {
            foreach (var f in features.ItemFeatures.RowColumns(i))
            {
                if (categories.TryGetValue(f, out var c))
                    itemCategory[i] = c;
                if (bands.TryGetValue(f, out var b))
                    itemBand[i] = (b + 1) / 5f;
            }
        }
        var (tMin, tMax) = Range(userLast);

        var userAttributes = features.UserFeatures.Columns;
        var userColumns = userAttributes + 4 + categories.Count;
        var u = new float[users * userColumns];
        var maxItems = Math.Log(1 + Enumerable.Range(0, users).Select(userItems.RowLength).DefaultIfEmpty(0).Max());
        var totals = Enumerable.Range(0, users).Select(r => userItems.RowValues(r).ToArray().Sum()).ToArray();
        var maxTotal = Math.Log(1 + totals.DefaultIfEmpty(0).Max());
        var counts = new int[categories.Count];
        for (var r = 0; r < users; r++)
        {
            var row = u.AsSpan(r * userColumns, userColumns);
            foreach (var f in features.UserFeatures.RowColumns(r))
                row[f] = 1;
            var bought = userItems.RowColumns(r);
            row[userAttributes] = maxItems > 0 ? (float)(Math.Log(1 + bought.Length) / maxItems) : 0;
            row[userAttributes + 1] = maxTotal > 0 ? (float)(Math.Log(1 + totals[r]) / maxTotal) : 0;
            row[userAttributes + 2] = Recency(userLast, r, tMin, tMax);
            float bandSum = 0;
            var banded = 0;
            Array.Clear(counts);
            foreach (var i in bought)
            {
                if (itemBand[i] > 0)
                    (bandSum, banded) = (bandSum + itemBand[i], banded + 1);
                if (itemCategory[i] >= 0)
                    counts[itemCategory[i]]++;
            }
            row[userAttributes + 3] = banded > 0 ? bandSum / banded : 0;
            if (counts.Length > 0 && counts.Max() > 0)
                row[userAttributes + 4 + Array.IndexOf(counts, counts.Max())] = 1;
        }

        var itemAttributes = features.ItemFeatures.Columns;
        var itemColumns = itemAttributes + 2;
        var v = new float[items * itemColumns];
        var popularity = new int[items];
        foreach (var i in userItems.ColumnIndex)
            popularity[i]++;
        var maxPopularity = Math.Log(1 + popularity.DefaultIfEmpty(0).Max());
        var (iMin, iMax) = Range(itemLast);
        for (var i = 0; i < items; i++)
        {
            var row = v.AsSpan(i * itemColumns, itemColumns);
            foreach (var f in features.ItemFeatures.RowColumns(i))
                row[f] = 1;
            row[itemAttributes] = maxPopularity > 0 ? (float)(Math.Log(1 + popularity[i]) / maxPopularity) : 0;
            row[itemAttributes + 1] = Recency(itemLast, i, iMin, iMax);
        }
        return (new Matrix(users, userColumns, u), new Matrix(items, itemColumns, v));
    }

    /// <summary>Feature column → its index among the columns whose name starts with the prefix (ordered by the rest of the name).</summary>
    private static Dictionary<int, int> Columns(string[] names, string prefix)
    {
        var matching = names.Select((n, k) => (n, k)).Where(x => x.n.StartsWith(prefix, StringComparison.Ordinal)).OrderBy(x => x.n, StringComparer.Ordinal).ToList();
        if (prefix == "price_band=q")
            return matching.Where(x => int.TryParse(x.n[prefix.Length..], out _)).ToDictionary(x => x.k, x => int.Parse(x.n[prefix.Length..], System.Globalization.CultureInfo.InvariantCulture) - 1);
        return matching.Select((x, c) => (x.k, c)).ToDictionary(x => x.k, x => x.c);
    }

    private static (long Min, long Max) Range(long[]? last)
    {
        if (last is null)
            return (0, 0);
        var known = last.Where(t => t != long.MinValue).ToArray();
        return known.Length == 0 ? (0, 0) : (known.Min(), known.Max());
    }

    private static float Recency(long[]? last, int k, long min, long max) =>
        last is null || last[k] == long.MinValue || max <= min ? 0 : (float)((double)(last[k] - min) / (max - min));
}
