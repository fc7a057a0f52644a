namespace Recs.Services.Engine;

/// <summary>
/// A model that can score every item from a user's history alone, without retraining: item-based models by definition
/// (their score is the history times an item × item matrix), factor models by folding the user in. Serving uses it
/// to refresh one user's recommendations the moment an event arrives, and to rank for users the model never saw.
/// </summary>
public interface IHistoryScorer
{
    /// <summary>Writes a score for every item from the user's items and their weights (repeats add up).</summary>
    void ScoreHistory(ReadOnlySpan<int> items, ReadOnlySpan<float> weights, Span<float> scores);
}
