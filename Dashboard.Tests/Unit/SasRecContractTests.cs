using System.Diagnostics;
using Recs.Services.Engine;
using Recs.Services.Engine.Neural;

namespace Recs.Tests.Unit;

public sealed class SasRecContractTests : PersonalisedRecommenderContractTests
{
    protected override Recommender Create() =>
        new SasRecRecommender(maxLength: 10, hidden: 16, blocks: 2, dropout: 0.1f, learningRate: 0.01f, batchSize: 8, epochs: 80);

    // 60 users on a ring of 20 items: user u's history is a run of consecutive items starting at u % 20, of length
    // 2 + u % 7, listed newest first so that only the times give the order.
    private static InteractionSet Ring(out int[][] ordered)
    {
        var (users, items, times) = (new List<int>(), new List<int>(), new List<long>());
        ordered = new int[60][];
        for (var u = 0; u < 60; u++)
        {
            var run = Enumerable.Range(0, 2 + u % 7).Select(k => (u % 20 + k) % 20).ToArray();
            ordered[u] = run;
            for (var k = run.Length - 1; k >= 0; k--)
            {
                users.Add(u);
                items.Add(run[k]);
                times.Add(1_000_000 + 3600L * (k + u));
            }
        }
        return new InteractionSet(60, 20, users.ToArray(), items.ToArray(), Enumerable.Repeat(1f, users.Count).ToArray(), times.ToArray());
    }

    private static SasRecRecommender FitRing(out int[][] ordered, int maxLength = 10, int epochs = 80)
    {
        var set = Ring(out ordered);
        var model = new SasRecRecommender(maxLength: maxLength, hidden: 16, blocks: 2, dropout: 0.1f, learningRate: 0.01f, batchSize: 16, epochs: epochs);
        model.Fit(model.Prepare(set).ToMatrix(), new FitOptions { Seed = 4 });
        return model;
    }

    [Fact]
    public void The_next_item_follows_the_order_of_the_events_times()
    {
        var model = FitRing(out _);
        var scores = new float[20];
        var top = new int[1];

        foreach (var history in new[] { new[] { 3, 4, 5 }, [10, 11, 12, 13], [17, 18] })
        {
            model.ScoreHistory(history, Enumerable.Repeat(1f, history.Length).ToArray(), scores);
            foreach (var i in history)
                scores[i] = float.NegativeInfinity;
            TopK.Select(scores, top, new float[1]);
            Assert.Equal((history[^1] + 1) % 20, top[0]);
        }
    }

    [Fact]
    public void The_plain_array_forward_pass_equals_the_TorchSharp_one()
    {
        // Max length 4 < the longest histories (8): the truncation is mirrored too. Score(u) comes from the network run
        // by TorchSharp at export; ScoreHistory runs the C# forward pass over the same ordered history.
        var model = FitRing(out var ordered, maxLength: 4, epochs: 10);
        var torch = new float[20];
        var plain = new float[20];
        for (var u = 0; u < 60; u++)
        {
            model.Score(u, torch);
            model.ScoreHistory(ordered[u], new float[ordered[u].Length], plain);
            for (var i = 0; i < 20; i++)
                Assert.True(Math.Abs(torch[i] - plain[i]) <= 1e-4 * Math.Max(1, Math.Abs(torch[i])), $"user {u}, item {i}: {torch[i]} vs {plain[i]}");
        }
    }

    [Fact]
    public void The_curve_records_training_and_validation_loss_and_NDCG_and_early_stopping_keeps_the_best_epoch()
    {
        var (train, heldOut) = Blocks();
        var validation = CsrMatrix.FromTriples(40, 20, Enumerable.Range(0, 40).ToArray(), heldOut, Enumerable.Repeat(1f, 40).ToArray());
        var scores = new Queue<double>([0.1, 0.3, .. Enumerable.Repeat(0.2, 14)]);
        var reported = new List<EpochRecord>();
        var model = new SasRecRecommender(maxLength: 10, hidden: 16, learningRate: 0.01f, batchSize: 16, epochs: 16) { Validation = validation };

        // A patience of 3 is raised to sasrec's minimum of 10: the best epoch and ten more.
        model.Fit(train, new FitOptions { Seed = 1, Patience = 3, ValidationNdcg = _ => scores.Dequeue(), Progress = new InlineProgress<EpochRecord>(reported.Add) });

        Assert.Equal(2, model.BestEpoch);
        Assert.Equal(2 + SasRecRecommender.MinimumPatience, model.History.Count);
        Assert.Equal(model.History, reported);
        Assert.All(model.History, h => Assert.True(h.TrainLoss > 0 && h.ValidationLoss > 0 && h.ValidationNdcg is not null, $"epoch {h.Epoch}: {h.TrainLoss}, {h.ValidationLoss}"));
    }

    [Fact]
    public void The_training_loss_falls()
    {
        var model = FitRing(out _, epochs: 40);

        Assert.True(model.History[^1].TrainLoss < 0.7 * model.History[0].TrainLoss, $"loss {model.History[0].TrainLoss} → {model.History[^1].TrainLoss}");
    }

    [Fact]
    public void A_fit_cancelled_midway_stops_within_a_second()
    {
        var set = Ring(out _);
        var model = new SasRecRecommender(maxLength: 10, hidden: 16, batchSize: 4, epochs: 10_000);
        using var cancellation = new CancellationTokenSource();
        var clock = new Stopwatch();
        cancellation.Token.Register(clock.Start);
        // Once training runs (libtorch's first load is not what is measured), a timer cancels in the middle of an epoch.
        var progress = new InlineProgress<EpochRecord>(e =>
        {
            if (e.Epoch == 1)
                cancellation.CancelAfter(TimeSpan.FromMilliseconds(100));
        });

        Assert.ThrowsAny<OperationCanceledException>(() => model.Fit(model.Prepare(set).ToMatrix(), new FitOptions { Seed = 1, Progress = progress, Cancellation = cancellation.Token }));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"stopped {clock.Elapsed.TotalSeconds:F2} s after the cancellation");
    }

    [Fact]
    public void Histories_are_ordered_by_time_with_ties_in_listed_order_and_repeats_in_a_row_dropped()
    {
        var set = new InteractionSet(2, 5, [0, 0, 0, 0, 1, 0], [3, 1, 2, 4, 0, 4], [1, 1, 1, 1, 1, 1], [30, 10, 20, 20, 5, 25]);

        var histories = SasRecRecommender.OrderedHistories(set);

        Assert.Equal([1, 2, 4, 3], histories[0]);
        Assert.Equal([0], histories[1]);
    }
}
