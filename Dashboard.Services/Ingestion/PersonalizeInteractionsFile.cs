using System.Globalization;
using Recs.Services.Engine;

namespace Recs.Services.Ingestion;

/// <summary>Interactions read from a file, with the external ids behind each dense index.</summary>
public sealed record LoadedInteractions(InteractionSet Set, string[] UserIds, string[] ItemIds, IReadOnlyDictionary<string, long> EventTypes);

/// <summary>
/// Reads an AWS Personalize interactions CSV: header USER_ID, ITEM_ID, TIMESTAMP (Unix seconds) required,
/// EVENT_TYPE and EVENT_VALUE optional, any order, any case, plain or .gz. Each interaction's weight is its
/// event type's weight (default 1); its value is EVENT_VALUE (NaN when the field is empty; no values at all when the
/// column is absent or always empty). Any malformed row stops the read with its line and reason.
/// </summary>
public static class PersonalizeInteractionsFile
{
    public static LoadedInteractions Read(string path, IReadOnlyDictionary<string, float>? eventWeights = null)
    {
        using var csv = CsvRecords.Open(path);
        var header = csv.Next() ?? throw new InputFileException("the file is empty: expected a header with USER_ID, ITEM_ID and TIMESTAMP");
        var columns = header.Select((name, index) => (Name: name.Trim().ToUpperInvariant(), index))
            .GroupBy(c => c.Name).ToDictionary(g => g.Key, g => g.First().index);
        if (header.Count == 1 && (header[0].Contains(';', StringComparison.Ordinal) || header[0].Contains('\t', StringComparison.Ordinal)))
            throw new InputFileException("the header is not comma-separated (found ';' or a tab): Personalize CSV uses commas", 1);
        foreach (var required in new[] { "USER_ID", "ITEM_ID", "TIMESTAMP" })
        {
            if (!columns.ContainsKey(required))
                throw new InputFileException($"missing required column {required} (header has: {string.Join(", ", header)})", 1);
        }
        int user = columns["USER_ID"], item = columns["ITEM_ID"], timestamp = columns["TIMESTAMP"];
        var eventType = columns.GetValueOrDefault("EVENT_TYPE", -1);
        var eventValue = columns.GetValueOrDefault("EVENT_VALUE", -1);

        var userIndex = new Dictionary<string, int>();
        var itemIndex = new Dictionary<string, int>();
        var users = new List<int>();
        var items = new List<int>();
        var weights = new List<float>();
        var times = new List<long>();
        var values = new List<float>();
        var anyValue = false;
        var eventCounts = new Dictionary<string, long>();
        while (csv.Next() is { } row)
        {
            if (row.Count != header.Count)
                throw new InputFileException($"expected {header.Count} fields, found {row.Count} (a missing or extra comma, or a row cut off)", csv.RecordLine);
            var u = row[user].Trim();
            var i = row[item].Trim();
            if (u.Length == 0 || i.Length == 0)
                throw new InputFileException("USER_ID and ITEM_ID must not be empty", csv.RecordLine);
            if (!long.TryParse(row[timestamp].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var t) || t < 0 || t > 32_503_680_000)
                throw new InputFileException($"TIMESTAMP '{row[timestamp]}' is not Unix seconds", csv.RecordLine);
            var type = eventType >= 0 ? row[eventType].Trim() : "";
            eventCounts[type] = eventCounts.GetValueOrDefault(type) + 1;
            var weight = eventWeights is not null && eventWeights.TryGetValue(type, out var w) ? w : 1f;
            if (weight <= 0)
                continue;
            var value = float.NaN;
            if (eventValue >= 0 && row[eventValue].Trim() is { Length: > 0 } rawValue)
            {
                if (!float.TryParse(rawValue, NumberStyles.Float, CultureInfo.InvariantCulture, out value) || !float.IsFinite(value))
                    throw new InputFileException($"EVENT_VALUE '{rawValue}' is not a number", csv.RecordLine);
                anyValue = true;
            }

            if (!userIndex.TryGetValue(u, out var ui))
                userIndex[u] = ui = userIndex.Count;
            if (!itemIndex.TryGetValue(i, out var ii))
                itemIndex[i] = ii = itemIndex.Count;
            users.Add(ui);
            items.Add(ii);
            weights.Add(weight);
            times.Add(t);
            values.Add(value);
        }
        if (users.Count == 0)
            throw new InputFileException("the file has a header but no interactions");
        var set = new InteractionSet(userIndex.Count, itemIndex.Count, users.ToArray(), items.ToArray(), weights.ToArray(), times.ToArray(),
            anyValue ? values.ToArray() : null);
        return new LoadedInteractions(set, Order(userIndex), Order(itemIndex), eventCounts);
    }

    private static string[] Order(Dictionary<string, int> index)
    {
        var ids = new string[index.Count];
        foreach (var (id, i) in index)
            ids[i] = id;
        return ids;
    }
}
