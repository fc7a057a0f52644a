using Npgsql;
using Recs.Services.Engine;

namespace Recs.Services.Training;

/// <summary>
/// Interactions from the database over dense indices, with the database ids behind them, the side data evaluation uses
/// and the users' and items' attributes as features (for recipes that learn from them).
/// </summary>
public sealed record TrainingDataSet(
    InteractionSet Interactions, long[] UserIds, long[] ItemIds, int[] ItemCategory, string[] Categories,
    IReadOnlyDictionary<string, UserGroups> Groups, DateTime? From, DateTime? To, SideFeatures? Features = null)
{
    /// <summary>What the registry records about the data a model saw.</summary>
    public object Fingerprint(DataSplit? split) => new
    {
        from = From, to = To, users = Interactions.Users, items = Interactions.Items, interactions = Interactions.Count,
        first = Interactions.Count == 0 ? (DateTime?)null : DateTime.UnixEpoch.AddSeconds(Interactions.Time.Min()),
        last = Interactions.Count == 0 ? (DateTime?)null : DateTime.UnixEpoch.AddSeconds(Interactions.Time.Max()),
        split = split?.Kind, test_ratio = split?.TestRatio, cutoff = split?.CutoffTime is { } c ? DateTime.UnixEpoch.AddSeconds(c) : (DateTime?)null,
        train_interactions = split?.Train.Count, test_interactions = split?.Test.Count,
    };
}

/// <summary>
/// Reads interactions (weighted by event type, with their values) and users' regions and age bands for training and
/// evaluation; user features region, age band and segment, item features category, brand and price band.
/// </summary>
public static class TrainingDataLoader
{
    public static readonly string[] AgeBands = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"];

    public static int AgeBand(int age) => age switch { < 25 => 0, < 35 => 1, < 45 => 2, < 55 => 3, < 65 => 4, _ => 5 };

    /// <summary>
    /// Price quintiles q1 (cheapest) to q5: the cut points are the prices at 20, 40, 60 and 80 % of the sorted known
    /// prices, and a price's band counts the cut points at or below it. Unknown prices have no band.
    /// </summary>
    public static string?[] PriceBands(decimal?[] prices)
    {
        var known = prices.Where(p => p is not null).Select(p => p!.Value).Order().ToArray();
        var cuts = known.Length == 0 ? [] : Enumerable.Range(1, 4).Select(k => known[k * known.Length / 5]).ToArray();
        return prices.Select(p => p is { } v ? $"q{1 + cuts.Count(c => c <= v)}" : null).ToArray();
    }

    public static async Task<TrainingDataSet> LoadAsync(NpgsqlDataSource dataSource, IReadOnlyDictionary<string, float> eventWeights,
        DateTime? from = null, DateTime? to = null, CancellationToken cancellationToken = default)
    {
        var types = eventWeights.Where(w => w.Value > 0).Select(w => w.Key).ToArray();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);

        // Dense indices follow the database ids in order, so the same data always gives the same matrix.
        var userIds = await ReadIdsAsync(connection, "select id from customers order by id", cancellationToken);
        var itemIds = await ReadIdsAsync(connection, "select id from products order by id", cancellationToken);
        var userIndex = Index(userIds);
        var itemIndex = Index(itemIds);

        var users = new List<int>();
        var items = new List<int>();
        var weights = new List<float>();
        var times = new List<long>();
        var values = new List<float>();
        var anyValue = false;
        const string sql = """
            select user_id, item_id, event_type, extract(epoch from occurred_at)::bigint, event_value
            from interactions
            where event_type = any(@types) and (@from::timestamptz is null or occurred_at >= @from) and (@to::timestamptz is null or occurred_at < @to)
            order by id
            """;
        await using (var command = new NpgsqlCommand(sql, connection))
        {
            command.CommandTimeout = 0;
            command.Parameters.AddWithValue("types", types);
            command.Parameters.AddWithValue("from", NpgsqlTypes.NpgsqlDbType.TimestampTz, (object?)from ?? DBNull.Value);
            command.Parameters.AddWithValue("to", NpgsqlTypes.NpgsqlDbType.TimestampTz, (object?)to ?? DBNull.Value);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                users.Add(userIndex[reader.GetInt64(0)]);
                items.Add(itemIndex[reader.GetInt64(1)]);
                weights.Add(eventWeights[reader.GetString(2)]);
                times.Add(reader.GetInt64(3));
                var valueIsNull = reader.IsDBNull(4);
                values.Add(valueIsNull ? float.NaN : reader.GetFloat(4));
                anyValue |= !valueIsNull;
            }
        }

        var categories = new List<string>();
        var categoryIndex = new Dictionary<string, int>();
        var itemCategory = new int[itemIds.Length];
        var brand = new string?[itemIds.Length];
        var price = new decimal?[itemIds.Length];
        await using (var command = new NpgsqlCommand("select id, coalesce(category, ''), brand, price from products order by id", connection))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var name = reader.GetString(1);
                if (!categoryIndex.TryGetValue(name, out var c))
                {
                    categoryIndex[name] = c = categories.Count;
                    categories.Add(name);
                }
                var i = itemIndex[reader.GetInt64(0)];
                itemCategory[i] = c;
                brand[i] = reader.IsDBNull(2) ? null : reader.GetString(2);
                price[i] = reader.IsDBNull(3) ? null : reader.GetDecimal(3);
            }
        }

        var region = new int[userIds.Length];
        var ageBand = new int[userIds.Length];
        var regions = new List<string>();
        var regionIndex = new Dictionary<string, int>();
        var segment = new string?[userIds.Length];
        await using (var command = new NpgsqlCommand("select id, region, age, segment from customers order by id", connection))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var u = userIndex[reader.GetInt64(0)];
                if (reader.IsDBNull(1))
                {
                    region[u] = -1;
                }
                else
                {
                    var name = reader.GetString(1);
                    if (!regionIndex.TryGetValue(name, out var r))
                    {
                        regionIndex[name] = r = regions.Count;
                        regions.Add(name);
                    }
                    region[u] = r;
                }
                ageBand[u] = reader.IsDBNull(2) ? -1 : AgeBand(reader.GetInt16(2));
                segment[u] = reader.IsDBNull(3) ? null : reader.GetString(3);
            }
        }

        var set = new InteractionSet(userIds.Length, itemIds.Length, users.ToArray(), items.ToArray(), weights.ToArray(), times.ToArray(),
            anyValue ? values.ToArray() : null);
        var groups = new Dictionary<string, UserGroups>
        {
            ["region"] = new(region, regions.ToArray()),
            ["age_band"] = new(ageBand, AgeBands),
        };
        var (userFeatures, userFeatureNames) = SideFeatures.OneHot(userIds.Length,
            ("region", region.Select(r => r < 0 ? null : regions[r]).ToArray()),
            ("age_band", ageBand.Select(a => a < 0 ? null : AgeBands[a]).ToArray()),
            ("segment", segment));
        var (itemFeatures, itemFeatureNames) = SideFeatures.OneHot(itemIds.Length,
            ("category", itemCategory.Select(c => categories[c]).ToArray()),
            ("brand", brand),
            ("price_band", PriceBands(price)));
        var features = new SideFeatures(userFeatures, itemFeatures, userFeatureNames, itemFeatureNames);
        return new TrainingDataSet(set, userIds, itemIds, itemCategory, categories.ToArray(), groups, from, to, features);
    }

    private static async Task<long[]> ReadIdsAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        var ids = new List<long>();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            ids.Add(reader.GetInt64(0));
        return ids.ToArray();
    }

    private static Dictionary<long, int> Index(long[] ids)
    {
        var index = new Dictionary<long, int>(ids.Length);
        for (var i = 0; i < ids.Length; i++)
            index[ids[i]] = i;
        return index;
    }
}
