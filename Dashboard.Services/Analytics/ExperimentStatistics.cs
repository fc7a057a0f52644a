namespace Recs.Services.Analytics;

/// <summary>A two-sided confidence interval.</summary>
public readonly record struct Interval(double Low, double High);

/// <summary>The statistics of an online experiment: pure functions, tested against hand-computed values.</summary>
public static class ExperimentStatistics
{
    /// <summary>The standard normal's 97.5th percentile: a 95 % two-sided interval is ±Z95 standard errors.</summary>
    public const double Z95 = 1.959963984540054;

    // Student's t 97.5th percentiles for 1..30 degrees of freedom (beyond 30 the Cornish-Fisher expansion is exact to 1e-4).
    private static readonly double[] T975 =
    [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010, 2.1788, 2.1604, 2.1448, 2.1314,
        2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
    ];

    /// <summary>
    /// Wilson score interval for a proportion x/n (95 %): centre (p̂ + z²/2n) / (1 + z²/n), half-width
    /// z / (1 + z²/n) · √(p̂(1−p̂)/n + z²/4n²). Unlike p̂ ± z·SE it stays inside [0, 1] and is sound for small n or p̂
    /// near 0. With n = 0 nothing is known: [0, 1].
    /// </summary>
    public static Interval Wilson(long successes, long n, double z = Z95)
    {
        if (n <= 0)
            return new Interval(0, 1);
        var p = (double)successes / n;
        var z2 = z * z;
        var denominator = 1 + z2 / n;
        var centre = (p + z2 / (2.0 * n)) / denominator;
        var half = z / denominator * Math.Sqrt(p * (1 - p) / n + z2 / (4.0 * n * n));
        return new Interval(Math.Max(0, centre - half), Math.Min(1, centre + half));
    }

    /// <summary>
    /// Two-proportion z-test of x1/n1 against x2/n2 with the pooled proportion p = (x1+x2)/(n1+n2):
    /// z = (p̂2 − p̂1) / √(p(1−p)(1/n1 + 1/n2)), two-sided p-value = erfc(|z|/√2). Returns (0, 1) when either arm is
    /// empty or the pooled proportion is 0 or 1 (no variation: no evidence of a difference).
    /// </summary>
    public static (double Z, double PValue) TwoProportionTest(long x1, long n1, long x2, long n2)
    {
        if (n1 <= 0 || n2 <= 0)
            return (0, 1);
        var pooled = (double)(x1 + x2) / (n1 + n2);
        var se = Math.Sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2));
        if (se == 0)
            return (0, 1);
        var z = ((double)x2 / n2 - (double)x1 / n1) / se;
        return (z, Erfc(Math.Abs(z) / Math.Sqrt(2)));
    }

    /// <summary>95 % interval of p̂2 − p̂1 (unpooled standard error √(p̂1(1−p̂1)/n1 + p̂2(1−p̂2)/n2)).</summary>
    public static Interval DifferenceInterval(long x1, long n1, long x2, long n2, double z = Z95)
    {
        if (n1 <= 0 || n2 <= 0)
            return new Interval(-1, 1);
        var p1 = (double)x1 / n1;
        var p2 = (double)x2 / n2;
        var se = Math.Sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2);
        return new Interval(p2 - p1 - z * se, p2 - p1 + z * se);
    }

    /// <summary>
    /// Mean and its 95 % t interval from n values given as their sum and sum of squares (users without revenue count
    /// as zeros): mean ± t(0.975, n−1) · s/√n with s² = (Σx² − n·mean²)/(n−1). Null interval when n &lt; 2.
    /// </summary>
    public static (double Mean, Interval? Interval) MeanInterval(long n, double sum, double sumOfSquares)
    {
        if (n <= 0)
            return (0, null);
        var mean = sum / n;
        if (n < 2)
            return (mean, null);
        var variance = Math.Max(0, (sumOfSquares - n * mean * mean) / (n - 1));
        var half = TQuantile975(n - 1) * Math.Sqrt(variance / n);
        return (mean, new Interval(mean - half, mean + half));
    }

    /// <summary>Student's t 97.5th percentile: a table to 30 degrees of freedom, the Cornish-Fisher expansion above.</summary>
    public static double TQuantile975(long df)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(df, 1);
        if (df <= T975.Length)
            return T975[df - 1];
        double z = Z95, n = df;
        double z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z, z9 = z7 * z * z;
        return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n) + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * n * n * n)
            + (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92160 * n * n * n * n);
    }

    /// <summary>Standard normal cumulative distribution Φ(x) = erfc(−x/√2)/2.</summary>
    public static double NormalCdf(double x) => 0.5 * Erfc(-x / Math.Sqrt(2));

    /// <summary>Complementary error function (Numerical Recipes' Chebyshev fit, fractional error below 1.2e-7).</summary>
    public static double Erfc(double x)
    {
        var z = Math.Abs(x);
        var t = 1 / (1 + 0.5 * z);
        var r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807
            + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2 - r;
    }
}
