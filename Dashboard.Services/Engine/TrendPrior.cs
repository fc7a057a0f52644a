namespace Recs.Services.Engine;

/// <summary>
/// What is selling now: each item's interactions weighted 0.5^(age / half-life), age from the latest interaction, each
/// user counted at most once per item, scaled so the most recently popular item has <c>weight</c>. Added to a personal
/// model's scores it brings in the trend (a season, a launch) that a model of which items go together cannot see.
/// </summary>
public static class TrendPrior
{
    public static float[] Compute(InteractionSet interactions, double halfLifeDays, float weight)
    {
        var trend = new float[interactions.Items];
        if (interactions.Count == 0 || weight <= 0)
            return trend;
        // Per (user, item) the most recent interaction's decay, so a heavy buyer does not make an item trend alone.
        var latest = interactions.Time.Max();
        var best = new Dictionary<int, float>();
        foreach (var positions in interactions.PositionsByUser())
        {
            best.Clear();
            foreach (var k in positions)
            {
                if (interactions.Weight[k] <= 0)
                    continue;
                var decay = halfLifeDays > 0 ? (float)Math.Pow(0.5, (latest - interactions.Time[k]) / 86400.0 / halfLifeDays) : 1f;
                var item = interactions.Item[k];
                if (!best.TryGetValue(item, out var d) || decay > d)
                    best[item] = decay;
            }
            foreach (var (item, decay) in best)
                trend[item] += decay;
        }
        var max = trend.Max();
        if (max > 0)
        {
            for (var i = 0; i < trend.Length; i++)
                trend[i] = weight * trend[i] / max;
        }
        return trend;
    }
}
