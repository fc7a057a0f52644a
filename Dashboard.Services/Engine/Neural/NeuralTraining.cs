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
    public static void Seeded(ulong seed, Action fit)
    {
        TorchRuntime.Start();
        lock (FitGate)
        {
            TorchSharp.torch.manual_seed((long)(seed & 0x7FFF_FFFF_FFFF_FFFF));
            fit();
        }
    }

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
