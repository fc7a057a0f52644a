using Recs.Services.Engine;

namespace Recs.Tests.Unit;

public sealed class Rp3BetaContractTests : PersonalisedRecommenderContractTests
{
    protected override Recommender Create() => new Rp3BetaRecommender();

    [Fact]
    public void Walk_weights_match_a_hand_computed_case()
    {
        // Users: u0 {0,1}, u1 {0,1}, u2 {0,2}: every user has 2 items; items have 3, 2 and 1 users.
        var m = CsrMatrix.FromTriples(3, 3, [0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 2], [1, 1, 1, 1, 1, 1]);
        var model = new Rp3BetaRecommender(alpha: 1, beta: 0.5f, neighbours: 5);
        model.Fit(m, new FitOptions());

        // W_ij = (1/n_i) Σ_u (1/n_u) / n_j^β.
        Assert.Equal(1 / 3.0 * (0.5 + 0.5) / Math.Sqrt(2), model.Weight(0, 1), 6);
        Assert.Equal(1 / 3.0 * 0.5 / 1, model.Weight(0, 2), 6);
        Assert.Equal(1 / 2.0 * (0.5 + 0.5) / Math.Sqrt(3), model.Weight(1, 0), 6);
        Assert.Equal(0, model.Weight(1, 2));
        Assert.Equal(0, model.Weight(0, 0));

        var items = new int[3];
        var n = model.SimilarItems(0, items, new float[3]);
        Assert.Equal([1, 2], items[..n]);

        // α = 2 squares both transition probabilities; β = 0 leaves popularity alone.
        var sharp = new Rp3BetaRecommender(alpha: 2, beta: 0, neighbours: 5);
        sharp.Fit(m, new FitOptions());
        Assert.Equal(1 / 9.0 * (0.25 + 0.25), sharp.Weight(0, 1), 6);
    }

    [Fact]
    public void A_cancelled_fit_stops_with_operation_cancelled()
    {
        var (train, _) = Blocks();
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => new Rp3BetaRecommender().Fit(train, new FitOptions { Cancellation = cancelled.Token }));
    }
}
