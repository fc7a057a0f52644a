using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Services.Engine;
using Recs.Services.Ingestion;
using Recs.Services.Models;
using Recs.Services.Training;

namespace Recs.Dashboard.Cli;

/// <summary>
/// <c>bench</c>: the engine's speed on this machine, with warm-up runs and medians, as one JSON object.
/// Parts: peak (the machine's FMA throughput), als-online-retail, als-database (ALS on the configured
/// database at 25/50/100 % of its interactions, and peak memory), similar-items (all products of the database), regions
/// (the Regions page's match-rate query over the served cache),
/// ncf-hybrid (the seeds' network on the most recent 75 k Online Retail purchases, against their 5 s per epoch),
/// batch (top-25 for every user with the blocked kernel, GFLOP/s against the measured peak), compare (the Compare versions
/// page's computation for two versions of the configured database: the first call, artifacts loaded, and warm medians).
/// </summary>
public static class BenchCommand
{
    private static readonly string[] DatabaseParts = ["als-database", "similar-items", "regions", "compare", "import-online-retail", "import-personalize"];

    /// <summary>Whether any requested part reads or writes the configured database (which then has to be started).</summary>
    public static bool NeedsDatabase(Verb verb) =>
        (verb.Get("parts") ?? "").Split(',', StringSplitOptions.TrimEntries).Any(DatabaseParts.Contains);

    public static async Task<int> RunAsync(Verb verb, IServiceProvider services, TextWriter stdout, TextWriter stderr)
    {
        var parts = (verb.Get("parts") ?? "peak,als-online-retail").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var runs = Math.Max(1, verb.GetInt("runs", 3));
        var iterations = Math.Max(2, verb.GetInt("iterations", 5));
        var result = new Dictionary<string, object?>
        {
            ["machine"] = new { cores = Environment.ProcessorCount, avx2 = Vector256.IsHardwareAccelerated, avx512 = Vector512.IsHardwareAccelerated, os = Environment.OSVersion.ToString() },
        };
        double? peak = null;
        foreach (var part in parts)
        {
            await stderr.WriteLineAsync($"bench: {part}...");
            switch (part)
            {
                case "peak":
                    peak = PeakGflops(runs);
                    result["peak_fma_gflops"] = Math.Round(peak.Value, 1);
                    break;
                case "als-online-retail":
                {
                    var path = verb.Get("online-retail") ?? Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "shared", "datasets", "online-retail", "online_retail.csv.gz");
                    var data = OnlineRetailFile.ReadPurchases(Path.GetFullPath(path)).Interactions.Set;
                    var matrix = data.ToMatrix();
                    result["als_online_retail"] = AlsTiming(matrix, iterations, runs);
                    break;
                }
                case "ncf-hybrid":
                {
                    var path = verb.Get("online-retail") ?? Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "shared", "datasets", "online-retail", "online_retail.csv.gz");
                    result["ncf_hybrid"] = NcfTiming(OnlineRetailFile.ReadPurchases(Path.GetFullPath(path)), verb.GetInt("interactions", 75_000), verb.GetInt("patience", 5));
                    break;
                }
                case "als-database":
                {
                    var data = await LoadDatabaseAsync(services);
                    var sizes = new List<object>();
                    foreach (var share in new[] { 0.25, 0.5, 1.0 })
                    {
                        var keep = new bool[data.Count];
                        var limit = (int)(data.Count * share);
                        for (var k = 0; k < limit; k++) keep[k] = true;
                        var matrix = (share < 1 ? data.Where(keep) : data).ToMatrix();
                        GC.Collect();
                        sizes.Add(new { share, non_zeros = matrix.NonZeros, timing = AlsTiming(matrix, Math.Min(iterations, 3), 1) });
                    }
                    result["als_database"] = new { users = data.Users, items = data.Items, interactions = data.Count, sizes, peak_working_set_mb = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576 };
                    break;
                }
                case "similar-items":
                {
                    var data = await LoadDatabaseAsync(services);
                    var matrix = data.ToMatrix();
                    var times = new List<double>();
                    for (var r = 0; r < runs; r++)
                    {
                        var clock = Stopwatch.StartNew();
                        new ItemKnnRecommender().Fit(matrix, new FitOptions());
                        times.Add(clock.Elapsed.TotalSeconds);
                    }
                    result["similar_items"] = new { items = data.Items, non_zeros = matrix.NonZeros, seconds_median = Median(times), seconds = times };
                    break;
                }
                case "batch":
                {
                    var users = verb.GetInt("users", 1_000_000);
                    var items = verb.GetInt("items", 50_000);
                    var factors = verb.GetInt("factors", 64);
                    peak ??= PeakGflops(runs);
                    result["batch"] = BatchTiming(users, items, factors, peak.Value);
                    break;
                }
                case "regions":
                {
                    // The Regions page's query at the served cache's scale: all users, 20 regions × 30 products, top 10.
                    var rates = services.GetRequiredService<Recs.Services.Analytics.MatchRateService>();
                    var query = new Recs.Services.Analytics.MatchRateQuery(TopN: 10, Products: 30);
                    await rates.MatchRatesAsync(query); // warm-up
                    var times = new List<double>();
                    Recs.Services.Analytics.MatchMatrix? matrix = null;
                    for (var r = 0; r < Math.Max(5, runs); r++)
                    {
                        var clock = Stopwatch.StartNew();
                        matrix = await rates.MatchRatesAsync(query);
                        times.Add(clock.Elapsed.TotalMilliseconds);
                    }
                    var sampleClock = Stopwatch.StartNew();
                    await rates.MatchRatesAsync(query with { Sample = true });
                    result["regions"] = new
                    {
                        regions = matrix!.Regions.Count, products = matrix.Products.Count, users = Enumerable.Range(0, matrix.Regions.Count).Sum(r => matrix.Cells[r, 0].Users),
                        all_users_ms_median = Math.Round(Median(times), 1), all_users_ms = times.Select(t => Math.Round(t, 1)), sample_ms = Math.Round(sampleClock.Elapsed.TotalMilliseconds, 1),
                    };
                    break;
                }
                case "compare":
                {
                    // The comparison page's work, on the configured database: two versions of a campaign (the two newest by default).
                    var comparisons = services.GetRequiredService<Recs.Services.Analytics.VersionComparisonService>();
                    var campaign = verb.Get("campaign") ?? Campaigns.UserRecommendations;
                    var versions = await comparisons.VersionsAsync(campaign);
                    var b = verb.Get("b") ?? versions.FirstOrDefault()?.Version;
                    var a = verb.Get("a") ?? versions.FirstOrDefault(v => v.Version != b)?.Version;
                    if (a is null || b is null)
                        throw new CommandLineException($"compare needs two trained versions of the {campaign} campaign in the configured database; train two first.");
                    var query = new Recs.Services.Analytics.ComparisonQuery(campaign, a, b, MaxUsers: verb.GetInt("max-users", Recs.Services.Analytics.VersionComparisonService.DefaultMaxUsers));
                    var firstClock = Stopwatch.StartNew();
                    var first = await comparisons.CompareAsync(query);
                    var firstMs = firstClock.Elapsed.TotalMilliseconds;
                    var times = new List<double>();
                    Recs.Services.Analytics.VersionComparison? last = null;
                    for (var r = 0; r < Math.Max(5, runs); r++)
                    {
                        var clock = Stopwatch.StartNew();
                        last = await comparisons.CompareAsync(query);
                        times.Add(clock.Elapsed.TotalMilliseconds);
                    }
                    result["compare"] = new
                    {
                        campaign, a, b, recipes = new[] { first.A.Recipe, first.B.Recipe }, subjects = first.Subjects, compared = first.Compared, known = first.Eligible,
                        sampled = first.Sampled, max_users = query.MaxUsers, mean_overlap = Math.Round(first.Lists.MeanOverlap, 4),
                        first_ms = Math.Round(firstMs, 1), first_phases_ms = first.Phases.ToDictionary(p => p.Key, p => p.Value),
                        last_phases_ms = last!.Phases.ToDictionary(p => p.Key, p => p.Value), warm_ms_median = Math.Round(Median(times), 1), warm_ms = times.Select(t => Math.Round(t, 1)),
                    };
                    break;
                }
                case "import-online-retail":
                {
                    var path = verb.Get("online-retail") ?? Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "shared", "datasets", "online-retail", "online_retail.csv.gz");
                    result["import_online_retail"] = await ImportBench.OnlineRetailAsync(services.GetRequiredService<NpgsqlDataSource>(), Path.GetFullPath(path), runs);
                    break;
                }
                case "import-personalize":
                    result["import_personalize"] = await ImportBench.PersonalizeAsync(services.GetRequiredService<NpgsqlDataSource>(), verb.GetInt("rows", 20_000_000), stderr);
                    break;
                case "recipes":
                {
                    // Fit time of each recipe at its defaults, at every scale asked for (a refusal is reported, not thrown).
                    var recipes = (verb.Get("recipes") ?? "ease,rp3beta,similar-items,user-personalization,user-knn").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                    var scales = new Dictionary<string, object>();
                    foreach (var scale in (verb.Get("scales") ?? "demo,online-retail").Split(',', StringSplitOptions.TrimEntries))
                    {
                        await stderr.WriteLineAsync($"bench: recipes at the {scale} scale...");
                        var data = BenchData(verb, scale);
                        var matrix = data.ToMatrix();
                        scales[scale] = new { users = data.Users, items = data.Items, non_zeros = matrix.NonZeros, fits = recipes.ToDictionary(r => r, r => FitTiming(r, data, runs)) };
                    }
                    result["recipes"] = scales;
                    break;
                }
                case "auto":
                {
                    var scales = new Dictionary<string, object>();
                    foreach (var scale in (verb.Get("scales") ?? "demo,online-retail").Split(',', StringSplitOptions.TrimEntries))
                    {
                        await stderr.WriteLineAsync($"bench: auto at the {scale} scale...");
                        scales[scale] = AutoTiming(BenchData(verb, scale), verb.GetInt("trials", 20), verb.GetInt("budget-seconds", 600));
                    }
                    result["auto"] = scales;
                    break;
                }
                case "demo-check":
                    result["demo_check"] = DemoCheck.Run(verb, stderr);
                    break;
                case "demo-generate":
                {
                    // Generation time and memory at each scale asked for (the benchmark scale is 1M customers, 50k products, 20M lines).
                    var scales = new Dictionary<string, object>();
                    foreach (var scale in (verb.Get("scales") ?? "demo,benchmark").Split(',', StringSplitOptions.TrimEntries))
                    {
                        var end = new DateTime(2026, 11, 1, 0, 0, 0, DateTimeKind.Utc);
                        var spec = scale switch
                        {
                            "demo" => new DemoDataSpec { End = end },
                            "benchmark" => DemoDataSpec.Benchmark(end),
                            _ => throw new CommandLineException($"--scales takes demo and benchmark, not '{scale}'."),
                        };
                        GC.Collect();
                        var clock = Stopwatch.StartNew();
                        var data = DemoDataGenerator.Generate(spec);
                        var seconds = clock.Elapsed.TotalSeconds;
                        scales[scale] = new
                        {
                            customers = data.Customers.Length, products = data.Products.Length, orders = data.Orders.Count, lines = data.Lines.Count, views = data.Views.Count,
                            seconds = Math.Round(seconds, 1), peak_working_set_mb = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576,
                        };
                    }
                    result["demo_generate"] = scales;
                    break;
                }
                case "http":
                    result["http"] = await HttpLoadBench.RunAsync(verb, stderr);
                    break;
                default:
                    throw new CommandLineException($"Unknown bench part '{part}'; use http, peak, als-online-retail, als-database, similar-items, batch, regions, compare, import-online-retail, import-personalize, recipes, auto, demo-check, demo-generate.");
            }
        }
        result["peak_note"] = "peak = the faster of 256-bit and 512-bit FMA chains on all cores";
        result["peak_working_set_mb"] = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576;
        await stdout.WriteLineAsync(JsonSerializer.Serialize(result));
        return 0;
    }

    /// <summary>Interactions at a named scale: demo and benchmark are generated in memory (seed 42), online-retail is read from the file.</summary>
    private static InteractionSet BenchData(Verb verb, string scale)
    {
        var end = new DateTime(2026, 11, 1, 0, 0, 0, DateTimeKind.Utc);
        var spec = scale switch
        {
            "demo" => new DemoDataSpec { End = end },
            "benchmark" => DemoDataSpec.Benchmark(end),
            "online-retail" => null,
            _ => throw new CommandLineException($"--scales takes demo, online-retail and benchmark, not '{scale}'."),
        };
        if (spec is null)
        {
            var path = verb.Get("online-retail") ?? Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "shared", "datasets", "online-retail", "online_retail.csv.gz");
            return OnlineRetailFile.ReadPurchases(Path.GetFullPath(path)).Interactions.Set;
        }
        return Interactions(DemoDataGenerator.Generate(spec));
    }

    /// <summary>A generated business as training sees it: every order line a purchase, every view a view, weighted as <see cref="TrainingOptions.EventWeights"/> says.</summary>
    internal static InteractionSet Interactions(DemoDataSet data)
    {
        var weights = new TrainingOptions().EventWeights;
        var users = new List<int>();
        var items = new List<int>();
        var values = new List<float>();
        var times = new List<long>();
        foreach (var line in data.Lines)
        {
            var order = data.Orders[line.Order];
            users.Add(order.Customer);
            items.Add(line.Product);
            values.Add(weights["purchase"]);
            times.Add(order.Time);
        }
        foreach (var view in data.Views)
        {
            users.Add(view.Customer);
            items.Add(view.Product);
            values.Add(weights["view"]);
            times.Add(view.Time);
        }
        return new InteractionSet(data.Customers.Length, data.Products.Length, users.ToArray(), items.ToArray(), values.ToArray(), times.ToArray());
    }

    /// <summary>Seconds to fit one recipe at its defaults (median over runs after a warm-up on a slice), or why it refused.</summary>
    private static object FitTiming(string recipe, InteractionSet data, int runs)
    {
        var descriptor = RecipeCatalog.Get(recipe);
        if (descriptor.Refuses(new DataShape(data.Users, data.Items, data.Count)) is { } reason)
            return new { refused = reason };
        var matrix = descriptor.Create().Prepare(data).ToMatrix();
        var times = new List<double>();
        try
        {
            for (var r = 0; r < Math.Max(1, runs); r++)
            {
                var model = descriptor.Create();
                GC.Collect();
                var clock = Stopwatch.StartNew();
                model.Fit(matrix, new FitOptions { Seed = 42 });
                times.Add(clock.Elapsed.TotalSeconds);
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or OutOfMemoryException)
        {
            return new { refused = e.Message };
        }
        return new { seconds_median = Math.Round(Median(times), 3), seconds = times.Select(t => Math.Round(t, 3)), peak_working_set_mb = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576 };
    }

    /// <summary>auto end to end on the temporal split: the search, the refit and the test, with the chosen recipe and its figures.</summary>
    private static object AutoTiming(InteractionSet data, int trials, int budgetSeconds)
    {
        var (candidates, leftOut) = RecipeCatalog.AutoCandidates(new DataShape(data.Users, data.Items, data.Count), budgetSeconds: budgetSeconds);
        var clock = Stopwatch.StartNew();
        var result = Experiment.Run(data, new ExperimentSpec
        {
            Recipe = candidates[0],
            Search = new AutoSearchSpec { Candidates = candidates, LeftOut = leftOut, Trials = trials, BudgetSeconds = budgetSeconds },
        });
        return new
        {
            seconds = Math.Round(clock.Elapsed.TotalSeconds, 1),
            chosen = result.Recipe.Name,
            hyperparameters = result.Hyperparameters,
            ndcg_at_10 = Math.Round(result.Metrics.Metrics["ndcg@10"], 4),
            popularity_ndcg_at_10 = Math.Round(result.Baseline.Metrics["ndcg@10"], 4),
            trials = result.Search!.Trials.Select(t => new { t.Number, t.Recipe, ndcg = Math.Round(t.ValidationNdcg, 4), seconds = Math.Round(t.Seconds, 1) }),
        };
    }

    /// <summary>
    /// ncf-hybrid at its defaults (the seeds' guide) on the most recent <paramref name="count"/> Online Retail purchases,
    /// temporal 80/20: the early-stopped fit as the seeds train it (epochs, seconds per epoch, the whole fit with its
    /// per-epoch validation), then the refit on the whole training part and the test NDCG@10 beside popularity.
    /// The seeds' PyTorch implementation of the same network takes about 5 s per epoch on 75 k interactions.
    /// </summary>
    private static object NcfTiming(OnlineRetailPurchases retail, int count, int patience)
    {
        var all = retail.Interactions.Set;
        count = Math.Min(count, all.Count);
        var keep = new bool[all.Count];
        foreach (var k in Enumerable.Range(0, all.Count).OrderByDescending(k => all.Time[k]).ThenBy(k => k).Take(count))
            keep[k] = true;
        var data = all.Where(keep);
        var (countries, names) = SideFeatures.OneHot(data.Users, ("region", retail.CountryOfUser));
        var features = SideFeatures.None(data.Users, data.Items) with { UserFeatures = countries, UserFeatureNames = names };
        var phase = Stopwatch.StartNew();
        double choosing = 0;
        var spec = new ExperimentSpec { Recipe = Recs.Services.Engine.Neural.NcfHybridRecommender.Descriptor, Patience = patience, Seed = 42 };
        var result = Experiment.Run(data, spec, features: features, progress: new InlineProgress<ExperimentProgress>(p =>
        {
            if (p.Phase == ExperimentPhase.Training && p.Epoch is null)
                choosing = phase.Elapsed.TotalSeconds;
        }));
        var epochSeconds = result.History.Select(h => h.Seconds).ToList();
        return new
        {
            interactions = data.Count,
            train_interactions = result.TrainInteractions,
            early_stopped_fit = new
            {
                epochs_run = result.History.Count,
                best_epoch = result.BestEpoch,
                seconds_per_epoch_median = Math.Round(Median(epochSeconds), 2),
                seconds_with_validation = Math.Round(choosing, 1),
                seeds_seconds_same_epochs = 5.0 * result.History.Count * data.Count / 75_000.0,
            },
            refit_seconds = Math.Round(result.TrainSeconds, 1),
            ndcg_at_10 = Math.Round(result.Metrics.Metrics["ndcg@10"], 4),
            popularity_ndcg_at_10 = Math.Round(result.Baseline.Metrics["ndcg@10"], 4),
            best_validation_ndcg_at_10 = result.History.Max(h => h.ValidationNdcg ?? 0),
        };
    }

    private static async Task<InteractionSet> LoadDatabaseAsync(IServiceProvider services)
    {
        var data = await TrainingDataLoader.LoadAsync(services.GetRequiredService<NpgsqlDataSource>(),
            services.GetRequiredService<IOptions<TrainingOptions>>().Value.EventWeights);
        return data.Interactions;
    }

    /// <summary>Seconds per ALS sweep (users then items), 64 factors unless told: one warm-up fit, then medians over runs.</summary>
    private static object AlsTiming(CsrMatrix matrix, int iterations, int runs)
    {
        var als = new AlsRecommender(factors: 64, iterations: iterations);
        als.TimeIterations(matrix, 1); // warm-up: JIT, page faults
        var perIteration = new List<double>();
        for (var r = 0; r < runs; r++)
            perIteration.AddRange(als.TimeIterations(matrix, iterations).Skip(1)); // the first sweep of each fit allocates
        return new { users = matrix.Rows, items = matrix.Columns, non_zeros = matrix.NonZeros, factors = 64, seconds_per_iteration_median = Math.Round(Median(perIteration), 4), samples = perIteration.Count };
    }

    private static object BatchTiming(int users, int items, int factors, double peak)
    {
        var rng = new SeededRandom(7);
        var x = new float[(long)users * factors > int.MaxValue ? throw new CommandLineException("users × factors is too large") : users * factors];
        var y = new float[items * factors];
        for (var k = 0; k < x.Length; k++) x[k] = (float)rng.Normal();
        for (var k = 0; k < y.Length; k++) y[k] = (float)rng.Normal();
        var scorer = new FactorScorer(x, y, factors);
        const int k25 = 25;
        const int slice = 96;

        void Run(int count)
        {
            Parallel.For(0, (count + slice - 1) / slice, s =>
            {
                var block = Enumerable.Range(s * slice, Math.Min(slice, count - s * slice)).ToArray();
                scorer.TopK(block, null, k25, block.Select(_ => new int[k25]).ToArray(), block.Select(_ => new float[k25]).ToArray());
            });
        }

        Run(Math.Min(users, 2_000)); // warm-up
        var clock = Stopwatch.StartNew();
        Run(users);
        var seconds = clock.Elapsed.TotalSeconds;
        var gflops = scorer.Flops(users) / seconds / 1e9;
        return new
        {
            users, items, factors, top = k25, seconds = Math.Round(seconds, 2), users_per_second = Math.Round(users / seconds),
            gflops = Math.Round(gflops, 1), share_of_peak = Math.Round(gflops / peak, 3),
        };
    }

    /// <summary>
    /// The machine's peak single-precision FMA rate: every core runs 12 independent 256-bit FMA chains held in
    /// registers (enough to cover the FMA latency on two ports), 2 flops per lane per FMA. Median over runs.
    /// </summary>
    public static double PeakGflops(int runs) =>
        Math.Max(Peak(runs, 8, FmaChains), Vector512.IsHardwareAccelerated ? Peak(runs, 16, FmaChains512) : 0);

    private static double Peak(int runs, int lanes, Func<long, float> chains)
    {
        const long loops = 20_000_000;
        var samples = new List<double>();
        for (var r = 0; r < runs + 1; r++)
        {
            var clock = Stopwatch.StartNew();
            var sink = new float[Environment.ProcessorCount];
            Parallel.For(0, Environment.ProcessorCount, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, t => sink[t] = chains(loops));
            var seconds = clock.Elapsed.TotalSeconds;
            if (r > 0)
                samples.Add(Environment.ProcessorCount * loops * 12.0 * lanes * 2 / seconds / 1e9);
        }
        return Median(samples);
    }

    private static float FmaChains512(long loops)
    {
        var m = Vector512.Create(0.999999f);
        var a = Vector512.Create(1e-7f);
        Vector512<float> c0 = Vector512.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < loops; i++)
        {
            c0 = Vector512.FusedMultiplyAdd(c0, m, a);
            c1 = Vector512.FusedMultiplyAdd(c1, m, a);
            c2 = Vector512.FusedMultiplyAdd(c2, m, a);
            c3 = Vector512.FusedMultiplyAdd(c3, m, a);
            c4 = Vector512.FusedMultiplyAdd(c4, m, a);
            c5 = Vector512.FusedMultiplyAdd(c5, m, a);
            c6 = Vector512.FusedMultiplyAdd(c6, m, a);
            c7 = Vector512.FusedMultiplyAdd(c7, m, a);
            c8 = Vector512.FusedMultiplyAdd(c8, m, a);
            c9 = Vector512.FusedMultiplyAdd(c9, m, a);
            c10 = Vector512.FusedMultiplyAdd(c10, m, a);
            c11 = Vector512.FusedMultiplyAdd(c11, m, a);
        }
        return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    private static float FmaChains(long loops)
    {
        var m = Vector256.Create(0.999999f);
        var a = Vector256.Create(1e-7f);
        Vector256<float> c0 = Vector256.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < loops; i++)
        {
            c0 = Vector256.FusedMultiplyAdd(c0, m, a);
            c1 = Vector256.FusedMultiplyAdd(c1, m, a);
            c2 = Vector256.FusedMultiplyAdd(c2, m, a);
            c3 = Vector256.FusedMultiplyAdd(c3, m, a);
            c4 = Vector256.FusedMultiplyAdd(c4, m, a);
            c5 = Vector256.FusedMultiplyAdd(c5, m, a);
            c6 = Vector256.FusedMultiplyAdd(c6, m, a);
            c7 = Vector256.FusedMultiplyAdd(c7, m, a);
            c8 = Vector256.FusedMultiplyAdd(c8, m, a);
            c9 = Vector256.FusedMultiplyAdd(c9, m, a);
            c10 = Vector256.FusedMultiplyAdd(c10, m, a);
            c11 = Vector256.FusedMultiplyAdd(c11, m, a);
        }
        return Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    internal static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
