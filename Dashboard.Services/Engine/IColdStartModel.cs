namespace Recs.Services.Engine;

/// <summary>A recipe that can score users and items it has never seen, from their attributes (see <see cref="SideFeatures"/>).</summary>
public interface IColdStartModel
{
    /// <summary>The user features the model knows, by column index (e.g. <c>region=North</c>).</summary>
    IReadOnlyList<string> UserFeatureNames { get; }

    /// <summary>The item features the model knows, by column index (e.g. <c>category=Shoes</c>).</summary>
    IReadOnlyList<string> ItemFeatureNames { get; }

    /// <summary>Writes a score for every item (higher = better) for a new user described only by these user feature indices.</summary>
    void ScoreNewUser(ReadOnlySpan<int> userFeatures, Span<float> scores);

    /// <summary>Writes, for every known user, the score of a new item described only by these item feature indices.</summary>
    void ScoreNewItem(ReadOnlySpan<int> itemFeatures, Span<float> userScores);
}
