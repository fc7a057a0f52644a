using System.Diagnostics;
using System.Globalization;

namespace Recs.Services.Engine;

/// <summary>How <c>auto</c> searches: over which recipes, how many trials, how long, how many at once.</summary>
public sealed record AutoSearchSpec
{
    public required IReadOnlyList<RecipeDescriptor> Candidates { get; init; }

    public int Trials { get; init; } = 20;

    public double BudgetSeconds { get; init; } = 600;

    public int Parallel { get; init; } = 2;

    /// <summary>Recipes left out before the search, with why (shown beside the trials).</summary>
    public IReadOnlyDictionary<string, string> LeftOut { get; init; } = new Dictionary<string, string>();
}

/// <summary>One trial of the search: what was tried, its validation NDCG@10 and how long it took.</summary>
public sealed record AutoTrial(int Number, string Recipe, IReadOnlyDictionary<string, string> Hyperparameters, double ValidationNdcg, int? BestEpoch, double Seconds, string? Error = null);

/// <summary>The search's outcome: the winning recipe and hyperparameters (epochs set to the best epoch), and every trial.</summary>
public sealed record AutoSearchResult(RecipeDescriptor Winner, IReadOnlyDictionary<string, string> Hyperparameters, IReadOnlyList<AutoTrial> Trials,
    IReadOnlyDictionary<string, string> LeftOut, bool BudgetReached);

/// <summary>
/// <c>auto</c>'s search: a Tree-structured Parzen Estimator (Bergstra et al. 2011) over the joint space "recipe, then
/// that recipe's hyperparameters", judged by NDCG@10 on a validation slice of the training data only. The first trials
/// try each candidate at its defaults (so the search can only do better than them); later ones split the finished
/// trials into the best quarter and the rest, and pick, among candidates drawn from the best quarter's density, the one
/// with the highest ratio of good to bad density — first for the recipe (a categorical), then per hyperparameter (a
/// Gaussian kernel density on the unit interval, on a log scale where the descriptor says so). Iterative recipes stop
/// early on the validation score, so each trial also chooses its epoch count. Trials run <see cref="AutoSearchSpec.Parallel"/>
/// at a time in rounds: a round's suggestions depend only on the rounds before it, so the same seed and number of
/// trials give the same search on any machine; the time budget can only end it sooner.
/// </summary>
public static class AutoSearch
{
    private const double Gamma = 0.25;
    private const int DrawsPerSuggestion = 24;

    /// <summary>
    /// Runs the search. <paramref name="evaluate"/> fits a model from a descriptor and text hyperparameters and returns
    /// its validation NDCG@10 and best epoch (the caller owns the data and the validation split).
    /// </summary>
    public static AutoSearchResult Run(AutoSearchSpec spec, ulong seed,
        Func<RecipeDescriptor, IReadOnlyDictionary<string, string>, CancellationToken, (double Ndcg, int? BestEpoch)> evaluate,
        IProgress<AutoTrial>? progress = null, CancellationToken cancellation = default)
    {
        if (spec.Candidates.Count == 0)
            throw new ArgumentException("No recipe fits this data: " + string.Join("; ", spec.LeftOut.Select(l => $"{l.Key}: {l.Value}")));
        var rng = new SeededRandom(seed);
        var clock = Stopwatch.StartNew();
        var trials = new List<AutoTrial>();
        var budgetReached = false;
        while (trials.Count < spec.Trials)
        {
            cancellation.ThrowIfCancellationRequested();
            if (clock.Elapsed.TotalSeconds >= spec.BudgetSeconds && trials.Count > 0)
            {
                budgetReached = true;
                break;
            }
            var round = Math.Min(Math.Max(1, spec.Parallel), spec.Trials - trials.Count);
            var suggestions = new List<(RecipeDescriptor Recipe, Dictionary<string, string> Hyper)>();
            for (var k = 0; k < round; k++)
            {
                // A point already tried (or suggested for this round) teaches nothing new: draw again, a few times at most.
                var suggestion = Suggest(spec.Candidates, trials, trials.Count + k, rng);
                for (var retry = 0; retry < 5 && trials.Select(t => (t.Recipe, (IReadOnlyDictionary<string, string>)t.Hyperparameters))
                         .Concat(suggestions.Select(x => (x.Recipe.Name, (IReadOnlyDictionary<string, string>)x.Hyper)))
                         .Any(t => t.Item1 == suggestion.Item1.Name && t.Item2.Count == suggestion.Item2.Count && t.Item2.All(h => suggestion.Item2.GetValueOrDefault(h.Key) == h.Value)); retry++)
                    suggestion = Suggest(spec.Candidates, trials, trials.Count + k, rng);
                suggestions.Add(suggestion);
            }
            var results = new AutoTrial[round];
            System.Threading.Tasks.Parallel.For(0, round, new ParallelOptions { MaxDegreeOfParallelism = round, CancellationToken = cancellation }, k =>
            {
                var (recipe, hyper) = suggestions[k];
                var started = Stopwatch.StartNew();
                try
                {
                    var (ndcg, best) = evaluate(recipe, hyper, cancellation);
                    results[k] = new AutoTrial(trials.Count + k + 1, recipe.Name, hyper, ndcg, best, started.Elapsed.TotalSeconds);
                }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or OutOfMemoryException)
                {
                    // A trial the data refuses scores nothing; the search goes on without it.
                    results[k] = new AutoTrial(trials.Count + k + 1, recipe.Name, hyper, double.NaN, null, started.Elapsed.TotalSeconds, e.Message);
                }
            });
            foreach (var trial in results)
            {
                trials.Add(trial);
                progress?.Report(trial);
            }
        }
        var scored = trials.Where(t => !double.IsNaN(t.ValidationNdcg)).ToList();
        if (scored.Count == 0)
            throw new InvalidOperationException("Every trial failed: " + string.Join("; ", trials.Select(t => $"{t.Recipe}: {t.Error}").Distinct()));
        // Best validation score; ties go to the earlier trial.
        var best = scored.OrderByDescending(t => t.ValidationNdcg).ThenBy(t => t.Number).First();
        var winner = spec.Candidates.First(c => c.Name == best.Recipe);
        var hyperparameters = new Dictionary<string, string>(best.Hyperparameters);
        if (winner.EpochParameter is { } epochs && best.BestEpoch is { } e)
            hyperparameters[epochs] = e.ToString(CultureInfo.InvariantCulture);
        return new AutoSearchResult(winner, hyperparameters, trials, spec.LeftOut, budgetReached);
    }

    /// <summary>The next trial: each candidate at its defaults first, then TPE.</summary>
    internal static (RecipeDescriptor, Dictionary<string, string>) Suggest(IReadOnlyList<RecipeDescriptor> candidates, IReadOnlyList<AutoTrial> done, int index, SeededRandom rng)
    {
        if (index < candidates.Count)
            return (candidates[index], new Dictionary<string, string>(candidates[index].Defaults));

        var scored = done.Where(t => !double.IsNaN(t.ValidationNdcg)).OrderByDescending(t => t.ValidationNdcg).ThenBy(t => t.Number).ToList();
        var goodCount = Math.Max(1, (int)Math.Ceiling(Gamma * scored.Count));
        var good = scored.Take(goodCount).ToList();
        var bad = scored.Skip(goodCount).ToList();

        // The recipe: categorical TPE with add-one smoothing.
        double Density(List<AutoTrial> set, string name) => (set.Count(t => t.Recipe == name) + 1.0) / (set.Count + candidates.Count);
        var weights = candidates.Select(c => Density(good, c.Name)).ToArray();
        RecipeDescriptor? recipe = null;
        var bestRatio = double.NegativeInfinity;
        for (var d = 0; d < DrawsPerSuggestion; d++)
        {
            var c = candidates[Draw(weights, rng)];
            var ratio = Density(good, c.Name) / Density(bad, c.Name);
            if (ratio > bestRatio)
            {
                bestRatio = ratio;
                recipe = c;
            }
        }
        recipe ??= candidates[0];

        // Its hyperparameters: TPE per dimension over that recipe's trials (independent dimensions, as in the original).
        var mine = scored.Where(t => t.Recipe == recipe.Name).ToList();
        var mineGood = mine.Take(Math.Max(1, (int)Math.Ceiling(Gamma * mine.Count))).ToList();
        var mineBad = mine.Skip(mineGood.Count).ToList();
        var hyper = new Dictionary<string, string>(recipe.Defaults);
        foreach (var p in recipe.Parameters)
        {
            if (p.Search is not { } range)
                continue;
            var goodPoints = mineGood.Select(t => ToUnit(p, range, t.Hyperparameters)).ToArray();
            var badPoints = mineBad.Select(t => ToUnit(p, range, t.Hyperparameters)).ToArray();
            var bestX = rng.NextDouble();
            var bestScore = double.NegativeInfinity;
            for (var d = 0; d < DrawsPerSuggestion; d++)
            {
                var x = SampleKde(goodPoints, rng);
                var score = Math.Log(Kde(goodPoints, x)) - Math.Log(Kde(badPoints, x));
                if (score > bestScore)
                {
                    bestScore = score;
                    bestX = x;
                }
            }
            hyper[p.Name] = p.Format(FromUnit(p, range, bestX));
        }
        return (recipe, hyper);
    }

    private static int Draw(double[] weights, SeededRandom rng)
    {
        var u = rng.NextDouble() * weights.Sum();
        for (var k = 0; k < weights.Length; k++)
        {
            u -= weights[k];
            if (u < 0)
                return k;
        }
        return weights.Length - 1;
    }

    /// <summary>Bandwidth of each kernel: wide when there are few points (Scott-like, bounded).</summary>
    private static double Bandwidth(int points) => Math.Clamp(1.0 / (1 + points), 0.08, 0.5);

    /// <summary>Kernel density on [0, 1]: a Gaussian per point plus a uniform prior weighing like one point.</summary>
    private static double Kde(double[] points, double x)
    {
        var h = Bandwidth(points.Length);
        var sum = 1.0; // the uniform prior's density on [0, 1]
        foreach (var p in points)
            sum += Math.Exp(-0.5 * (x - p) * (x - p) / (h * h)) / (h * Math.Sqrt(2 * Math.PI));
        return sum / (points.Length + 1);
    }

    private static double SampleKde(double[] points, SeededRandom rng)
    {
        var pick = (int)(rng.NextDouble() * (points.Length + 1));
        if (pick >= points.Length)
            return rng.NextDouble();
        return Math.Clamp(points[pick] + Bandwidth(points.Length) * rng.Normal(), 0, 1);
    }

    private static double ToUnit(HyperParameter p, (double Low, double High) range, IReadOnlyDictionary<string, string> hyper)
    {
        var value = hyper.TryGetValue(p.Name, out var text) ? double.Parse(text, CultureInfo.InvariantCulture) : p.Default;
        return Math.Clamp(Scaled(p, range, value), 0, 1);
    }

    private static double Scaled(HyperParameter p, (double Low, double High) range, double value) =>
        p.LogScale && range.Low > 0
            ? (Math.Log(Math.Max(value, range.Low)) - Math.Log(range.Low)) / (Math.Log(range.High) - Math.Log(range.Low))
            : (value - range.Low) / (range.High - range.Low);

    private static double FromUnit(HyperParameter p, (double Low, double High) range, double x)
    {
        var value = p.LogScale && range.Low > 0
            ? Math.Exp(Math.Log(range.Low) + x * (Math.Log(range.High) - Math.Log(range.Low)))
            : range.Low + x * (range.High - range.Low);
        value = Math.Clamp(value, p.Min, p.Max);
        return p.Integer ? Math.Round(value) : double.Parse(value.ToString("G3", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }
}
