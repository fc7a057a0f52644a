using Recs.Services.Engine;
using Recs.Services.Engine.Neural;

namespace Recs.Tests.Unit;

public sealed class MultVaeContractTests : PersonalisedRecommenderContractTests
{
    protected override Recommender Create() =>
        new MultVaeRecommender(hidden: 32, latent: 8, dropout: 0.2f, annealCap: 0.2f, annealEpochs: 20, learningRate: 0.01f, batchSize: 40, epochs: 150);

    [Fact]
    public void Early_stopping_keeps_the_best_epoch_and_the_curve_records_loss_and_validation()
    {
        var (train, heldOut) = Blocks();
        var validation = CsrMatrix.FromTriples(40, 20, Enumerable.Range(0, 40).ToArray(), heldOut, Enumerable.Repeat(1f, 40).ToArray());
        var scores = new Queue<double>([0.1, 0.3, 0.2, 0.25, 0.2, 0.1, 0.05]);
        var model = new MultVaeRecommender(hidden: 16, latent: 4, batchSize: 16, epochs: 7) { Validation = validation };

        model.Fit(train, new FitOptions { Seed = 1, Patience = 3, ValidationNdcg = _ => scores.Dequeue() });

        Assert.Equal(2, model.BestEpoch);
        Assert.Equal(5, model.History.Count);
        Assert.All(model.History, h => Assert.True(h.TrainLoss > 0 && h.ValidationLoss > 0, $"epoch {h.Epoch}: {h.TrainLoss}, {h.ValidationLoss}"));
    }

    [Fact]
    public void The_training_loss_falls()
    {
        var (train, _) = Blocks();
        var model = (MultVaeRecommender)Create();

        model.Fit(train, new FitOptions { Seed = 5 });

        Assert.True(model.History[^1].TrainLoss < 0.8 * model.History[0].TrainLoss,
            $"loss {model.History[0].TrainLoss} → {model.History[^1].TrainLoss}");
    }
}
