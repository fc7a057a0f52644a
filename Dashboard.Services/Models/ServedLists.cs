using Recs.Services.Engine;

namespace Recs.Services.Models;

/// <summary>
/// One user's or one product's list as serving computes it from a loaded model, in one place for everyone who needs a
/// single list (the event tracker's refresh, the verdict replay); batch inference computes the same lists in blocks.
/// </summary>
public static class ServedLists
{
    /// <summary>
    /// A user's top items (model indices), best first, their seen items left out when the model leaves seen items out:
    /// from their trained row when the model knows them (as batch inference writes it), else from their current
    /// history where the model can fold one in (as the event tracker does); 0 when neither applies.
    /// </summary>
    public static int ForUser(LoadedModel model, long userId, ReadOnlySpan<int> seen, ReadOnlySpan<float> weights, Span<int> items, Span<float> scores)
    {
        if (model.UserIndex.TryGetValue(userId, out var u) && u < model.Model.Users)
            return model.Model.Recommend(u, seen, items, scores);
        return seen.Length > 0 && model.Model is IHistoryScorer ? FromHistory(model, seen, weights, items, scores) : 0;
    }

    /// <summary>Top items (model indices) for a history of items and weights, the history itself left out when the model leaves seen items out.</summary>
    public static int FromHistory(LoadedModel model, ReadOnlySpan<int> history, ReadOnlySpan<float> weights, Span<int> items, Span<float> scores)
    {
        var all = new float[model.Model.Items];
        ((IHistoryScorer)model.Model).ScoreHistory(history, weights, all);
        if (model.Model.ExcludeSeen)
        {
            foreach (var i in history)
                all[i] = float.NegativeInfinity;
        }
        return TopK.Select(all, items, scores);
    }

    /// <summary>A product's most similar items (model indices), best first; 0 when the model does not know the product.</summary>
    public static int Similar(LoadedModel model, long productId, Span<int> items, Span<float> scores) =>
        model.ItemIndex.TryGetValue(productId, out var i) && i < model.Model.Items ? model.Model.SimilarItems(i, items, scores) : 0;
}
