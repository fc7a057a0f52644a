using Recs.Services.Engine;

namespace Recs.Tests.Unit;

public sealed class UserKnnContractTests : PersonalisedRecommenderContractTests
{
    protected override Recommender Create() => new UserKnnRecommender();

    [Fact]
    public void Cosine_with_shrinkage_and_scores_match_a_hand_computed_case()
    {
        // Users: u0 {0,1,2}, u1 {0,1}, u2 {2,3}, u3 {3}. co(0,1) = 2, co(0,2) = 1, co(0,3) = 0.
        var m = CsrMatrix.FromTriples(4, 4, [0, 0, 0, 1, 1, 2, 2, 3], [0, 1, 2, 0, 1, 2, 3, 3], [1, 1, 1, 1, 1, 1, 1, 1]);
        var model = new UserKnnRecommender(neighbours: 2, shrink: 1) { ExcludeSeen = false };
        model.Fit(m, new FitOptions());

        var (users, similarities) = model.Neighbours(0);
        var s01 = 2 / (Math.Sqrt(3 * 2) + 1);
        var s02 = 1 / (Math.Sqrt(3 * 2) + 1);
        Assert.Equal([1, 2], users);
        Assert.Equal(s01, similarities[0], 6);
        Assert.Equal(s02, similarities[1], 6);

        // score(u0, i) = Σ_v sim(u0, v)·[v has i].
        var scores = new float[4];
        model.Score(0, scores);
        Assert.Equal(s01, scores[0], 6);
        Assert.Equal(s01, scores[1], 6);
        Assert.Equal(s02, scores[2], 6);
        Assert.Equal(s02, scores[3], 6);

        // Only one neighbour kept: u2's items no longer reach u0.
        var one = new UserKnnRecommender(neighbours: 1, shrink: 1);
        one.Fit(m, new FitOptions());
        one.Score(0, scores);
        Assert.Equal(0, scores[3]);
    }

    [Fact]
    public void A_cancelled_fit_stops_with_operation_cancelled()
    {
        var (train, _) = Blocks();
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => new UserKnnRecommender().Fit(train, new FitOptions { Cancellation = cancelled.Token }));
    }
}
