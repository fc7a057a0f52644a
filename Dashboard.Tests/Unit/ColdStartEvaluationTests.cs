using Recs.Services.Engine;

namespace Recs.Tests.Unit;

public sealed class ColdStartEvaluationTests
{
    [Fact]
    public void Users_with_at_most_one_training_item_are_reported_apart_including_those_with_none()
    {
        // Train: user 0 {0, 1}, user 1 {0}, user 2 nothing. Test: user 0 → 2, user 1 → 1, user 2 → 1.
        // Popularity ranks 0, 1, 2: user 0 gets [2] (NDCG 1), user 1 [1, 2] (1), user 2 [0, 1, 2] (1 / log2 3).
        var train = CsrMatrix.FromTriples(3, 3, [0, 0, 1], [0, 1, 0], [1, 1, 1]);
        var test = CsrMatrix.FromTriples(3, 3, [0, 1, 2], [2, 1, 1], [1, 1, 1]);
        var model = new PopularityRecommender();
        model.Fit(train, new FitOptions());

        var result = new Evaluator(train, test, 3).Evaluate(model);

        Assert.Equal(2, result.TestUsers);
        Assert.Equal(1.0, result.Metrics["ndcg@3"], 12);
        Assert.Equal((1 + 1 / Math.Log2(3)) / 2, result.Metrics["ndcg@3_cold_users"], 12);
    }
}
