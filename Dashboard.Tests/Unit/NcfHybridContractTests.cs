using Recs.Services.Engine;
using Recs.Services.Engine.Neural;

namespace Recs.Tests.Unit;

public sealed class NcfHybridContractTests : PersonalisedRecommenderContractTests
{
    protected override Recommender Create() =>
        new NcfHybridRecommender(embedding: 8, dropout: 0f, learningRate: 0.01f, negatives: 4, batchSize: 64, epochs: 20);

    // The block data's users carry their block as an attribute, and items their block as a category.
    private static SideFeatures BlockFeatures()
    {
        var (users, userNames) = SideFeatures.OneHot(40, ("block", Enumerable.Range(0, 40).Select(u => u < 20 ? "A" : "B").ToArray()));
        var (items, itemNames) = SideFeatures.OneHot(20, ("category", Enumerable.Range(0, 20).Select(i => i < 10 ? "A" : "B").ToArray()));
        return new SideFeatures(users, items, userNames, itemNames);
    }

    [Fact]
    public void A_new_user_is_scored_from_their_attributes_and_a_new_item_from_its_own()
    {
        var (train, _) = Blocks();
        var model = (NcfHybridRecommender)Create();
        model.Fit(train, new FitOptions { Seed = 3, Features = BlockFeatures() });
        var scores = new float[20];
        var top = new int[5];

        model.ScoreNewUser([Array.IndexOf(model.UserFeatureNames.ToArray(), "block=B")], scores);
        TopK.Select(scores, top, new float[5]);
        Assert.All(top, i => Assert.InRange(i, 10, 19));

        var userScores = new float[40];
        model.ScoreNewItem([Array.IndexOf(model.ItemFeatureNames.ToArray(), "category=B")], userScores);
        Assert.True(userScores[20..].Average() > userScores[..20].Average(),
            $"block B users {userScores[20..].Average()} vs block A users {userScores[..20].Average()}");
    }

    [Fact]
    public void The_curve_records_training_and_validation_loss_and_both_fall()
    {
        var (train, heldOut) = Blocks();
        var validation = CsrMatrix.FromTriples(40, 20, Enumerable.Range(0, 40).ToArray(), heldOut, Enumerable.Repeat(1f, 40).ToArray());
        var model = new NcfHybridRecommender(embedding: 8, dropout: 0f, learningRate: 0.01f, batchSize: 64, epochs: 10) { Validation = validation };

        model.Fit(train, new FitOptions { Seed = 2, Patience = 0 });

        Assert.Equal(10, model.History.Count);
        Assert.All(model.History, h => Assert.True(h.ValidationLoss > 0));
        Assert.True(model.History[^1].TrainLoss < model.History[0].TrainLoss, $"{model.History[0].TrainLoss} → {model.History[^1].TrainLoss}");
        Assert.True(model.History[^1].ValidationLoss < model.History[0].ValidationLoss, $"{model.History[0].ValidationLoss} → {model.History[^1].ValidationLoss}");
    }
}
