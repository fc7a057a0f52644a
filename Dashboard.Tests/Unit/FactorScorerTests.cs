using Recs.Services.Engine;

namespace Recs.Tests.Unit;

public sealed class FactorScorerTests
{
    [Theory]
    [InlineData(7, 37, 5, false)]   // fewer users than a register block, items not a multiple of 16
    [InlineData(23, 2100, 16, true)] // crosses an item block boundary, with item biases
    public void The_blocked_kernel_gives_exactly_the_plain_top_k_leaving_out_seen_items(int users, int items, int factors, bool withBias)
    {
        var rng = new SeededRandom(1);
        var x = Enumerable.Range(0, users * factors).Select(_ => (float)rng.Normal()).ToArray();
        var y = Enumerable.Range(0, items * factors).Select(_ => (float)rng.Normal()).ToArray();
        var bias = withBias ? Enumerable.Range(0, items).Select(_ => (float)rng.Normal()).ToArray() : null;
        var seen = Enumerable.Range(0, users).Select(u => Enumerable.Range(0, items).Where(i => (i * 7 + u) % 5 == 0).ToArray()).ToArray();
        const int k = 10;

        var scorer = new FactorScorer(x, y, factors, bias);
        var userList = Enumerable.Range(0, users).ToArray();
        var outItems = userList.Select(_ => new int[k]).ToArray();
        var outScores = userList.Select(_ => new float[k]).ToArray();
        var counts = scorer.TopK(userList, u => seen[u], k, outItems, outScores);

        for (var u = 0; u < users; u++)
        {
            var plain = new float[items];
            for (var i = 0; i < items; i++)
            {
                double s = bias?[i] ?? 0;
                for (var g = 0; g < factors; g++)
                    s += (double)x[u * factors + g] * y[i * factors + g];
                plain[i] = seen[u].Contains(i) ? float.NegativeInfinity : (float)s;
            }
            var expected = new int[k];
            TopK.Select(plain, expected, new float[k]);
            Assert.Equal(k, counts[u]);
            Assert.Equal(expected, outItems[u]);
            Assert.DoesNotContain(outItems[u], i => seen[u].Contains(i));
        }
    }
}
