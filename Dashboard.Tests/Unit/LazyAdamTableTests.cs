using Recs.Services.Engine.Neural;

namespace Recs.Tests.Unit;

public sealed class LazyAdamTableTests
{
    [Fact]
    public void A_step_moves_the_rows_a_batch_used_by_Adam_and_leaves_the_others()
    {
        // Three rows of two; the batch looked row 0 up twice and row 2 once.
        var table = new LazyAdamTable([1f, 2f, 3f, 4f, 5f, 6f], width: 2, learningRate: 0.1, weightDecay: 0);
        var distinct = new LazyAdamTable.Distinct(3);
        var (rows, lookup) = distinct.Of([0, 2, 0]);
        Assert.Equal([0L, 2L], rows);
        Assert.Equal([0L, 1L, 0L], lookup);
        Assert.Equal([1f, 2f, 5f, 6f, 1f, 2f], table.Gather([0, 2, 0]));

        // Gradients per lookup: row 0 gets (0.5, −1) + (0.5, 0) = (1, −1); row 2 gets (−2, 0).
        table.Step(rows, lookup, [0.5f, -1f, -2f, 0f, 0.5f, 0f]);

        // Adam's first step is lr · g / (|g| + ε) after bias correction: ±0.1 where the gradient is not 0.
        Assert.Equal(0.9f, table.Weight[0], 5);
        Assert.Equal(2.1f, table.Weight[1], 5);
        Assert.Equal([3f, 4f], table.Weight[2..4]);
        Assert.Equal(5.1f, table.Weight[4], 5);
        Assert.Equal(6f, table.Weight[5], 5);

        // Second step on row 2 alone with gradient (−2, 0) again: m̂ = −2, v̂ = 4, so another +0.1; row 0 stays put.
        table.Step([2], [0], [-2f, 0f]);
        Assert.Equal(5.2f, table.Weight[4], 4);
        Assert.Equal(0.9f, table.Weight[0], 5);
    }
}
