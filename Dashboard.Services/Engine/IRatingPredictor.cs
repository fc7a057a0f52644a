namespace Recs.Services.Engine;

/// <summary>A recipe that predicts the value (rating) a user would give an item, not only a ranking score.</summary>
public interface IRatingPredictor
{
    /// <summary>The predicted rating of <paramref name="item"/> by <paramref name="user"/>, within the range seen in training.</summary>
    float Predict(int user, int item);
}
