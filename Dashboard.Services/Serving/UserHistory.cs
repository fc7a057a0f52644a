using Dapper;
using Npgsql;
using Recs.Services.Engine;
using Recs.Services.Models;

namespace Recs.Services.Serving;

/// <summary>A user's history as a model sees it: items (model indices) with their event weights.</summary>
public static class UserHistory
{
    /// <summary>Reads the user's interactions grouped by item and event type, ordered by each group's latest event (oldest first: a sequence model reads the order).</summary>
    public static async Task<(int[] Items, float[] Weights)> ReadAsync(NpgsqlConnection connection, LoadedModel model, long user,
        IReadOnlyDictionary<string, float> eventWeights, CancellationToken cancellationToken) =>
        Weighted(model, await connection.QueryAsync<(long Item, string Type, int Count)>(new CommandDefinition(
            "select item_id, event_type, count(*)::int from interactions where user_id = @user group by 1, 2 order by max(occurred_at), 1, 2", new { user }, cancellationToken: cancellationToken)), eventWeights);

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

    /// <summary>
    /// Scores of every model item for a user: from their history where the model scores histories, else their trained
    /// row; a non-personal model scores everyone alike. Null when none of these applies.
    /// </summary>
    public static float[]? Score(LoadedModel model, long user, int[] items, float[] weights)
    {
        var scores = new float[model.Model.Items];
        if (model.Model is IHistoryScorer scorer && items.Length > 0)
            scorer.ScoreHistory(items, weights, scores);
        else if (model.UserIndex.TryGetValue(user, out var u))
            model.Model.Score(u, scores);
        else if (!model.Recipe.Personal && model.Model.Users > 0)
            model.Model.Score(0, scores);
        else
            return null;
        return scores;
    }

    /// <summary>The best <paramref name="n"/> items by score, leaving out the user's own items when the model excludes seen ones (as the cache does).</summary>
    public static (int[] Items, float[] Scores) TopUnseen(LoadedModel model, float[] scores, ReadOnlySpan<int> seen, int n)
    {
        if (model.Model.ExcludeSeen)
        {
            foreach (var i in seen)
                scores[i] = float.NegativeInfinity;
        }
        var top = new int[Math.Min(n, scores.Length)];
        var topScores = new float[top.Length];
        var count = TopK.Select(scores, top, topScores);
        return (top[..count], topScores[..count]);
    }
}
