using Recs.Services.Engine;
using Recs.Services.Ingestion;

namespace Recs.Tests.Unit;

/// <summary>
/// rating-mf passes the common contract but not the personalised block tests, and cannot: it fits the observed
/// ratings only, and in the block data every user rates only its own block (block A at 2, block B at 1). Nothing
/// says a block-B user would rate a block-A item low (the missing ratings are unknown, not zeros), so the model
/// predicts μ + b_u + b_i there and the higher-rated block A wins; and the ratings within a block are constant, so
/// the biases explain them fully and the item factors carry no block structure for similar items.
/// </summary>
public sealed class RatingMfContractTests : RecommenderContractTests
{
    protected override Recommender Create() => new RatingMfRecommender(factors: 4, epochs: 30, learningRate: 0.01f, regularization: 0.02f);

    // 80 users × 50 items, rating = 3 + b_u + b_i + p_u·q_i with rank-2 p, q; a seeded 60 % of the cells is training, the rest test.
    private static (CsrMatrix Train, CsrMatrix Test) Planted()
    {
        var rng = new SeededRandom(11);
        const int users = 80, items = 50;
        var bu = Enumerable.Range(0, users).Select(_ => 0.3 * rng.Normal()).ToArray();
        var bi = Enumerable.Range(0, items).Select(_ => 0.3 * rng.Normal()).ToArray();
        var p = Enumerable.Range(0, users * 2).Select(_ => rng.Normal()).ToArray();
        var q = Enumerable.Range(0, items * 2).Select(_ => rng.Normal()).ToArray();
        var train = (U: new List<int>(), I: new List<int>(), R: new List<float>());
        var test = (U: new List<int>(), I: new List<int>(), R: new List<float>());
        for (var u = 0; u < users; u++)
        {
            for (var i = 0; i < items; i++)
            {
                var r = (float)(3 + bu[u] + bi[i] + p[2 * u] * q[2 * i] + p[2 * u + 1] * q[2 * i + 1]);
                var to = rng.NextDouble() < 0.6 ? train : test;
                to.U.Add(u);
                to.I.Add(i);
                to.R.Add(r);
            }
        }
        return (CsrMatrix.FromTriples(users, items, train.U.ToArray(), train.I.ToArray(), train.R.ToArray()),
            CsrMatrix.FromTriples(users, items, test.U.ToArray(), test.I.ToArray(), test.R.ToArray()));
    }

    [Fact]
    public void On_a_planted_low_rank_matrix_training_mse_falls_and_held_out_rmse_is_small()
    {
        var (train, test) = Planted();
        var model = new RatingMfRecommender(factors: 4, epochs: 150, learningRate: 0.01f, regularization: 0.01f) { Validation = test };

        model.Fit(train, new FitOptions { Seed = 5, Patience = 0 });

        Assert.Equal(150, model.History.Count);
        Assert.True(model.History[^1].TrainLoss < 0.2 * model.History[0].TrainLoss,
            $"training MSE {model.History[0].TrainLoss} → {model.History[^1].TrainLoss}");
        Assert.All(model.History, h => Assert.NotNull(h.ValidationLoss));
        var predicted = new List<float>();
        for (var u = 0; u < test.Rows; u++)
            foreach (var i in test.RowColumns(u)) predicted.Add(model.Predict(u, i));
        var rmse = Metrics.Rmse(predicted.ToArray(), test.Values);
        var spread = Math.Sqrt(test.Values.Select(v => (v - test.Values.Average()) * (v - test.Values.Average())).Average());
        Assert.True(rmse < 0.25 * spread, $"held-out RMSE {rmse} against a rating spread of {spread}");
    }

    [Fact]
    public void Early_stopping_keeps_the_epoch_with_the_lowest_validation_mse()
    {
        var (train, test) = Planted();
        var model = new RatingMfRecommender(factors: 4, epochs: 40, learningRate: 0.01f, regularization: 0.01f) { Validation = test };

        model.Fit(train, new FitOptions { Seed = 5, Patience = 2 });

        var best = model.History.MinBy(h => h.ValidationLoss!.Value)!;
        Assert.Equal(best.Epoch, model.BestEpoch);
        Assert.Equal(best.ValidationLoss!.Value, model.MeanSquaredError(test), 5);
    }

    [Fact]
    public void Ratings_average_repeats_fall_back_to_weights_and_survive_where()
    {
        // User 0 rates item 1 twice (4 then 2) and item 0 once without a value; user 1 rates item 0 at 5.
        var set = new InteractionSet(2, 2, [0, 0, 0, 1], [1, 1, 0, 0], [1, 1, 1, 1], [10, 20, 30, 40], [4, 2, float.NaN, 5]);

        var ratings = set.Ratings();
        Assert.Equal([0, 1], ratings.User);
        Assert.Equal([1, 0], ratings.Item);
        Assert.Equal([3f, 5f], ratings.Weight);
        Assert.Equal([20L, 40L], ratings.Time);

        var kept = set.Where([false, true, true, true]);
        Assert.Equal([2f, float.NaN, 5f], kept.Value!);

        var weightsOnly = new InteractionSet(1, 1, [0, 0], [0, 0], [1, 3], [0, 0]);
        Assert.Null(weightsOnly.Value);
        Assert.Equal([2f], weightsOnly.Ratings().Weight);
        Assert.Equal(4f, weightsOnly.ToMatrix().Values[0]);
    }

    [Fact]
    public void Personalize_files_carry_event_value_as_the_interactions_value()
    {
        var path = Path.Combine(Path.GetTempPath(), $"ratings-{Guid.NewGuid():N}.csv");
        File.WriteAllText(path, "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\nu1,i1,100,rating,4.5\nu1,i2,101,click,\nu2,i1,102,rating,2\n");
        try
        {
            var set = PersonalizeInteractionsFile.Read(path).Set;

            Assert.NotNull(set.Value);
            Assert.Equal(4.5f, set.Value![0]);
            Assert.True(float.IsNaN(set.Value[1]));
            Assert.Equal(2, set.Ratings().Count);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void An_experiment_reports_rmse_and_mae_on_the_test_ratings()
    {
        var (train, test) = Planted();
        var users = new List<int>();
        var items = new List<int>();
        var values = new List<float>();
        foreach (var m in new[] { train, test })
        {
            for (var u = 0; u < m.Rows; u++)
            {
                foreach (var i in m.RowColumns(u)) { users.Add(u); items.Add(i); }
                values.AddRange(m.RowValues(u).ToArray());
            }
        }
        var data = new InteractionSet(80, 50, users.ToArray(), items.ToArray(), Enumerable.Repeat(1f, users.Count).ToArray(),
            Enumerable.Range(0, users.Count).Select(k => (long)k).ToArray(), values.ToArray());

        var result = Experiment.Run(data, new ExperimentSpec
        {
            Recipe = RatingMfRecommender.Descriptor, Split = Splits.RandomPerUser, Seed = 3,
            Hyperparameters = new Dictionary<string, string> { ["factors"] = "4", ["epochs"] = "100", ["learning-rate"] = "0.01", ["regularization"] = "0.01" },
        });

        Assert.InRange(result.Metrics.Metrics["rmse"], 0, 0.5);
        Assert.InRange(result.Metrics.Metrics["mae"], 0, result.Metrics.Metrics["rmse"]);
        Assert.NotNull(result.BestEpoch);
        Assert.All(result.History, h => Assert.NotNull(h.ValidationLoss));
    }
}
