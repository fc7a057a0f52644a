namespace Recs.Services.Monitoring;

/// <summary>The drift figures as pure functions, tested against hand-computed values.</summary>
public static class DriftStatistics
{
    /// <summary>part / whole, 0 when the whole is 0.</summary>
    public static double Share(long part, long whole) => whole == 0 ? 0 : (double)part / whole;

    /// <summary>
    /// Total variation distance between two categorical distributions given as counts: TVD = ½ Σ_c |p_c − q_c|, with
    /// p_c = a_c / Σa and q_c = b_c / Σb over the union of categories. 0 = the same mix, 1 = no category in common;
    /// read as the share of events that would have to change category to turn one mix into the other.
    /// 0 when either side has no events.
    /// </summary>
    public static double TotalVariation(IReadOnlyDictionary<string, long> a, IReadOnlyDictionary<string, long> b)
    {
        var totalA = a.Values.Sum();
        var totalB = b.Values.Sum();
        if (totalA == 0 || totalB == 0)
            return 0;
        double sum = 0;
        foreach (var category in a.Keys.Union(b.Keys))
            sum += Math.Abs((double)a.GetValueOrDefault(category) / totalA - (double)b.GetValueOrDefault(category) / totalB);
        return sum / 2;
    }

    /// <summary>Relative drop of <paramref name="now"/> from <paramref name="reference"/>: (reference − now) / reference; negative when it rose. Null when the reference is not positive.</summary>
    public static double? RelativeDrop(double now, double reference) => reference > 0 ? (reference - now) / reference : null;
}
