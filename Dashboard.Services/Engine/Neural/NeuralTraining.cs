namespace Recs.Services.Engine.Neural;

/// <summary>
/// What the neural recipes share when they train: one fit at a time with libtorch's generator seeded (dropout's masks
/// come from it), normal draws and negative items from our own seeded generator.
/// </summary>
public static class NeuralTraining
{
    private static readonly Lock FitGate = new();

    /// <summary>
    /// Runs <paramref name="fit"/> alone among neural fits, with libtorch's global generator seeded from
    /// <paramref name="seed"/> first: the generator is process-wide, so two fits at once would draw each other's masks.
    /// </summary>
    /// <param name="seed">seeds libtorch's generator (dropout masks where the recipe leaves them to libtorch).</param>
    /// <param name="fit">the fit itself.</param>
    /// <param name="intraOpThreads">libtorch's threads for this fit (null: one per core). A network whose steps are many
    /// small operations runs faster on one (each parallel region costs more than it saves) and uses the other core for
    /// its batches.</param>
    public static void Seeded(ulong seed, Action fit, int? intraOpThreads = null)
    {
        TorchRuntime.Start();
        lock (FitGate)
        {
            TorchSharp.torch.manual_seed((long)(seed & 0x7FFF_FFFF_FFFF_FFFF));
            var threads = TorchSharp.torch.get_num_threads();
            TorchSharp.torch.set_num_threads(intraOpThreads ?? TorchRuntime.Threads);
            try
            {
                // Every tensor the fit leaves to the garbage collector is kept until the fit ends: a temporary's
                // finalizer could otherwise free it while libtorch reads it (see Scalars).
                using var scope = TorchSharp.torch.NewDisposeScope();
                fit();
            }
            finally
            {
                TorchSharp.torch.set_num_threads(threads);
            }
        }
    }

    /// <summary>Below this many interactions auto leaves the neural recipes out: they do not beat the simple models there.</summary>
    public const int AutoMinimumInteractions = 20_000;

    /// <summary>
    /// When auto leaves a neural recipe out: too little data, or one trial (a fit with early stopping at the defaults,
    /// estimated by <paramref name="trialSeconds"/> from this machine's measurements) above a quarter of the budget,
    /// so the search can still try the simple recipes and more than one neural setting.
    /// </summary>
    public static Func<DataShape, double, string?> AutoGate(Func<DataShape, double> trialSeconds) => (shape, budget) =>
    {
        if (shape.Interactions < AutoMinimumInteractions)
            return $"fewer than {AutoMinimumInteractions:N0} interactions: a neural model needs more data than that to beat the simple ones";
        var seconds = trialSeconds(shape);
        return seconds > budget / 4
            ? $"a trial takes an estimated {seconds:N0} s, more than a quarter of the {budget:N0} s budget"
            : null;
    };

    /// <summary><paramref name="count"/> draws from N(0, scale²).</summary>
    public static float[] Normals(int count, double scale, SeededRandom rng)
    {
        var values = new float[count];
        for (var k = 0; k < count; k++)
            values[k] = (float)(rng.Normal() * scale);
        return values;
    }

    /// <summary>A uniformly drawn item the user has not had (their row is sorted); after 50 misses, any item.</summary>
    public static int Negative(CsrMatrix userItems, int user, SeededRandom rng)
    {
        var row = userItems.RowColumns(user);
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var j = rng.Next(userItems.Columns);
            if (row.BinarySearch(j) < 0)
                return j;
        }
        return rng.Next(userItems.Columns);
    }

    /// <summary>log(1 + eᵛ): the binary cross-entropy of a logit v against label 0 (of −v against label 1), without overflow.</summary>
    public static double Softplus(double v) => v > 30 ? v : Math.Log(1 + Math.Exp(v));
}
