namespace Recs.Services.Engine;

/// <summary>A train/test division of interactions, with what defines it (recorded with every model version).</summary>
public sealed record DataSplit(InteractionSet Train, InteractionSet Test, string Kind, double TestRatio, long? CutoffTime, ulong? Seed);

/// <summary>Ways to hold out interactions for evaluation.</summary>
public static class Splits
{
    public const string Temporal = "temporal";
    public const string RandomPerUser = "random-per-user";
    public const string LeaveLastOut = "leave-last-out";

    public static readonly string[] All = [Temporal, RandomPerUser, LeaveLastOut];

    /// <summary>Dispatches on the split's name.</summary>
    public static DataSplit Make(InteractionSet data, string kind, double testRatio, ulong seed) => kind switch
    {
        Temporal => ByTime(data, testRatio),
        RandomPerUser => RandomByUser(data, testRatio, seed),
        LeaveLastOut => LastPerUser(data),
        _ => throw new ArgumentException($"Unknown split '{kind}'; use one of {string.Join(", ", All)}.", nameof(kind)),
    };

    /// <summary>
    /// Temporal split: the cut-off is the time below which (1 − testRatio) of the interactions fall;
    /// train = before the cut-off, test = at or after it. Nothing from the future leaks into training.
    /// </summary>
    public static DataSplit ByTime(InteractionSet data, double testRatio)
    {
        CheckRatio(testRatio);
        if (data.Count == 0)
            return new DataSplit(data, data, Temporal, testRatio, null, null);
        var times = (long[])data.Time.Clone();
        Array.Sort(times);
        var cutoff = times[Math.Clamp((int)Math.Floor(times.Length * (1 - testRatio)), 0, times.Length - 1)];
        var train = new bool[data.Count];
        var test = new bool[data.Count];
        for (var k = 0; k < data.Count; k++)
        {
            train[k] = data.Time[k] < cutoff;
            test[k] = !train[k];
        }
        return new DataSplit(data.Where(train), data.Where(test), Temporal, testRatio, cutoff, null);
    }

    /// <summary>
    /// Random per-user split: for each user with at least two interactions, a seeded random
    /// round(testRatio × n) of them (at least one, leaving at least one) go to test.
    /// </summary>
    public static DataSplit RandomByUser(InteractionSet data, double testRatio, ulong seed)
    {
        CheckRatio(testRatio);
        var rng = new SeededRandom(seed);
        var test = new bool[data.Count];
        foreach (var positions in data.PositionsByUser())
        {
            if (positions.Length < 2)
                continue;
            var held = Math.Clamp((int)Math.Round(positions.Length * testRatio), 1, positions.Length - 1);
            var shuffled = (int[])positions.Clone();
            rng.Shuffle(shuffled.AsSpan());
            for (var k = 0; k < held; k++)
                test[shuffled[k]] = true;
        }
        return new DataSplit(data.Where(Not(test)), data.Where(test), RandomPerUser, testRatio, null, seed);
    }

    /// <summary>Leave-last-out: each user's latest interaction (ties: the last listed) is the test set, for users with at least two.</summary>
    public static DataSplit LastPerUser(InteractionSet data)
    {
        var test = new bool[data.Count];
        foreach (var positions in data.PositionsByUser())
        {
            if (positions.Length < 2)
                continue;
            var last = positions[0];
            foreach (var k in positions)
                if (data.Time[k] >= data.Time[last]) last = k;
            test[last] = true;
        }
        return new DataSplit(data.Where(Not(test)), data.Where(test), LeaveLastOut, 0, null, null);
    }

    private static bool[] Not(bool[] mask)
    {
        var result = new bool[mask.Length];
        for (var k = 0; k < mask.Length; k++)
            result[k] = !mask[k];
        return result;
    }

    private static void CheckRatio(double testRatio)
    {
        if (testRatio is <= 0 or >= 1 || double.IsNaN(testRatio))
            throw new ArgumentOutOfRangeException(nameof(testRatio), "The test ratio must be between 0 and 1 (exclusive).");
    }
}
