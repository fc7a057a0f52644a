namespace Recs.Dashboard.Components.Charts;

/// <summary>TensorBoard's scalar smoothing: an exponential moving average, debiased so the first points are not pulled towards zero.</summary>
public static class Smoothing
{
    /// <summary>
    /// s_t = w·s_(t−1) + (1 − w)·v_t with s_0 = 0, reported as s_t / (1 − w^n) where n counts the finite values so far
    /// (TensorBoard's debiasing). Weight 0 returns the values; missing values stay missing and do not count.
    /// </summary>
    public static IReadOnlyList<double?> Ema(IReadOnlyList<double?> values, double weight)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(weight);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(weight, 1);
        var result = new double?[values.Count];
        double last = 0;
        var n = 0;
        for (var i = 0; i < values.Count; i++)
        {
            if (values[i] is not { } v || !double.IsFinite(v))
                continue;
            n++;
            last = last * weight + (1 - weight) * v;
            result[i] = weight == 0 ? v : last / (1 - Math.Pow(weight, n));
        }
        return result;
    }
}
