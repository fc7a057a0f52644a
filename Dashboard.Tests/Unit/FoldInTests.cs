using Recs.Services.Engine;

namespace Recs.Tests.Unit;

public sealed class FoldInTests
{
    /// <summary>Two taste groups: users 0–99 buy among items 0–19, users 100–199 among items 20–39 (4 factors: the groups, not noise).</summary>
    private static AlsRecommender TrainTwoGroups()
    {
        var rng = new SeededRandom(3);
        var users = new List<int>();
        var items = new List<int>();
        for (var u = 0; u < 200; u++)
        {
            var offset = u < 100 ? 0 : 20;
            for (var k = 0; k < 12; k++)
            {
                users.Add(u);
                items.Add(offset + (int)(rng.NextDouble() * 20));
            }
        }
        var set = new InteractionSet(200, 40, users.ToArray(), items.ToArray(), Enumerable.Repeat(1f, users.Count).ToArray(), new long[users.Count]);
        var als = new AlsRecommender(factors: 4, iterations: 10, regularization: 0.1f);
        als.Fit(set.ToMatrix(), new FitOptions { Seed = 5 });
        return als;
    }

    [Fact]
    public void A_new_user_folded_in_from_a_few_purchases_gets_recommendations_from_their_group()
    {
        var als = TrainTwoGroups();

        foreach (var (bought, group) in new[] { (new[] { 21, 25, 33 }, 20), (new[] { 2, 7 }, 0) })
        {
            var vector = als.FoldIn(bought, Enumerable.Repeat(1f, bought.Length).ToArray());
            var scores = new float[als.Items];
            als.Score(vector, scores);
            foreach (var i in bought)
                scores[i] = float.NegativeInfinity;
            // The five best of the 37 items not yet bought all come from the buyer's group (18 or 17 candidates there).
            var top = new int[5];
            var n = TopK.Select(scores, top, new float[5]);

            Assert.Equal(5, n);
            Assert.All(top, i => Assert.InRange(i, group, group + 19));
        }
    }

    [Fact]
    public void Folding_in_a_trained_users_history_gives_nearly_the_same_recommendations_as_training()
    {
        var als = TrainTwoGroups();
        var user = 7;
        var history = new List<int>();
        var trainedScores = new float[als.Items];
        als.Score(user, trainedScores);
        // Reconstruct user 7's history from the same seeded generator.
        var rng = new SeededRandom(3);
        for (var u = 0; u < 200; u++)
        {
            for (var k = 0; k < 12; k++)
            {
                var item = (u < 100 ? 0 : 20) + (int)(rng.NextDouble() * 20);
                if (u == user) history.Add(item);
            }
        }

        var scores = new float[als.Items];
        als.Score(als.FoldIn(history.ToArray(), Enumerable.Repeat(1f, history.Count).ToArray()), scores);

        // The exact least-squares solve and training's conjugate-gradient steps agree on the ranking's head.
        var topTrained = Enumerable.Range(0, als.Items).OrderByDescending(i => trainedScores[i]).Take(5).ToHashSet();
        var topFolded = Enumerable.Range(0, als.Items).OrderByDescending(i => scores[i]).Take(5);
        Assert.True(topFolded.Count(topTrained.Contains) >= 4, $"trained {string.Join(",", topTrained)} folded {string.Join(",", topFolded)}");
    }

    [Fact]
    public void The_Cholesky_solver_solves_a_symmetric_positive_definite_system()
    {
        double[] a = [4, 2, 0.6, 2, 5, 1, 0.6, 1, 3];
        double[] expected = [1, -2, 3];
        var b = new double[3];
        for (var r = 0; r < 3; r++)
            for (var c = 0; c < 3; c++)
                b[r] += a[r * 3 + c] * expected[c];

        var x = FactorMath.SolveSymmetricPositiveDefinite((double[])a.Clone(), b, 3);

        for (var k = 0; k < 3; k++)
            Assert.Equal(expected[k], x[k], 9);
        Assert.Throws<ArithmeticException>(() => FactorMath.SolveSymmetricPositiveDefinite([1, 2, 2, 1], [1, 1], 2));
    }
}
