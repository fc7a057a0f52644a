using Dapper;
using Npgsql;
using Recs.Services.Models;

namespace Recs.Services.Serving;

/// <summary>A user's history as a model sees it: items (model indices) with their event weights.</summary>
public static class UserHistory
{
    /// <summary>Reads the user's interactions grouped by item and event type.</summary>
    public static async Task<(int[] Items, float[] Weights)> ReadAsync(NpgsqlConnection connection, LoadedModel model, long user,
        IReadOnlyDictionary<string, float> eventWeights, CancellationToken cancellationToken) =>
        Weighted(model, await connection.QueryAsync<(long Item, string Type, int Count)>(new CommandDefinition(
            "select item_id, event_type, count(*)::int from interactions where user_id = @user group by 1, 2", new { user }, cancellationToken: cancellationToken)), eventWeights);

    /// <summary>Each (item, event type) weighs its type's weight times how often it happened (as training sums repeats); items the model does not know are left out.</summary>
    public static (int[] Items, float[] Weights) Weighted(LoadedModel model, IEnumerable<(long Item, string Type, int Count)> rows, IReadOnlyDictionary<string, float> eventWeights)
    {
        var items = new List<int>();
        var weights = new List<float>();
        foreach (var (item, type, count) in rows)
        {
            if (model.ItemIndex.TryGetValue(item, out var i) && eventWeights.TryGetValue(type, out var w) && w > 0)
            {
                items.Add(i);
                weights.Add(w * count);
            }
        }
        return (items.ToArray(), weights.ToArray());
    }
}
