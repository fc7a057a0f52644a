using System.Diagnostics;
using Recs.Services.Engine;
using Recs.Services.Ingestion;
using Recs.Services.Models;

namespace Recs.Dashboard.Cli;

/// <summary>
/// <c>bench --parts demo-check</c>: does the demo business show what it planted? In memory, no database: generate
/// the demo, run <c>auto</c> (or one recipe, with --recipe) on the temporal split against popularity, refit the chosen
/// recipe on all the data as serving does, take every user's top 10 without what they already have, and read the
/// Regions page's tiers from it: regions with High products, how much regions' High ∪ Medium sets overlap, whether
/// the planted favourites and national hits show and niche products do not; and whether similar items stay within a
/// category or a bundle.
/// </summary>
public static class DemoCheck
{
    private const int TopN = 10;
    private const double High = 0.8;
    private const double Medium = 0.4;

    public static object Run(Verb verb, TextWriter stderr)
    {
        var seed = (ulong)verb.GetInt("seed", 42);
        var spec = new DemoDataSpec { Seed = seed };
        if (verb.Get("customers") is not null || verb.Get("products") is not null || verb.Get("order-lines") is not null)
            spec = spec with { Customers = verb.GetInt("customers", spec.Customers), Products = verb.GetInt("products", spec.Products), OrderLines = verb.GetInt("order-lines", spec.OrderLines) };
        var clock = Stopwatch.StartNew();
        var data = DemoDataGenerator.Generate(spec);
        var generateSeconds = clock.Elapsed.TotalSeconds;
        var interactions = BenchCommand.Interactions(data);

        // The model, chosen and tested as the training job does (auto unless told otherwise).
        stderr.WriteLine($"demo-check: seed {seed}, {data.Lines.Count:N0} lines, {data.Views.Count:N0} views; training...");
        var budget = verb.GetInt("budget-seconds", 86_400);
        var (candidates, leftOut) = RecipeCatalog.AutoCandidates(new DataShape(interactions.Users, interactions.Items, interactions.Count), budgetSeconds: budget);
        var recipeName = verb.Get("recipe") ?? RecipeCatalog.Auto;
        clock.Restart();
        var experiment = Experiment.Run(interactions, new ExperimentSpec
        {
            Recipe = recipeName == RecipeCatalog.Auto ? candidates[0] : RecipeCatalog.Get(recipeName),
            Search = recipeName == RecipeCatalog.Auto
                ? new AutoSearchSpec { Candidates = candidates, LeftOut = leftOut, Trials = verb.GetInt("trials", 20), BudgetSeconds = budget }
                : null,
        }, progress: new InlineProgress<ExperimentProgress>(p =>
        {
            if (p.Trial is { } t)
                stderr.WriteLine($"demo-check: trial {t.Number} {t.Recipe} {string.Join(" ", t.Hyperparameters.Select(h => $"{h.Key}={h.Value}"))} → {t.ValidationNdcg:F4} ({t.Seconds:F0} s)");
        }));
        var experimentSeconds = clock.Elapsed.TotalSeconds;
        var explain = verb.Get("explain") is not null ? Explain(data, experiment) : null;
        var ndcg = experiment.Metrics.Metrics["ndcg@10"];
        var popularity = experiment.Baseline.Metrics["ndcg@10"];

        // Serving: the same recipe and hyperparameters fitted on everything; top 10 of every user with history, seen items left out.
        stderr.WriteLine($"demo-check: {experiment.Recipe.Name} NDCG@10 {ndcg:F4} vs popularity {popularity:F4}; refitting on all the data...");
        var serving = experiment.Recipe.Create(experiment.Hyperparameters);
        serving.Fit(serving.Prepare(interactions).ToMatrix(), new FitOptions { Seed = 42 });
        var seen = interactions.ToMatrix();
        var regions = data.Regions.Length;
        var products = data.Products.Length;
        var users = new int[regions];
        var matches = new int[regions, products];
        var lists = new int[data.Customers.Length][];
        Parallel.For(0, data.Customers.Length, () => (Items: new int[TopN], Scores: new float[TopN]), (u, _, b) =>
        {
            if (seen.RowLength(u) == 0)
                return b;
            var n = serving.Recommend(u, seen.RowColumns(u), b.Items, b.Scores);
            lists[u] = b.Items[..n];
            return b;
        }, _ => { });
        for (var u = 0; u < lists.Length; u++)
        {
            if (lists[u] is not { } list)
                continue;
            var region = data.Customers[u].Region;
            users[region]++;
            foreach (var p in list)
                matches[region, p]++;
        }

        // Tiers per region: High ≥ 80 %, Medium 40–79 %, Low below (the Regions page's defaults).
        var tier = new int[regions, products]; // 2 High, 1 Medium, 0 Low
        var shown = new HashSet<int>[regions];
        for (var r = 0; r < regions; r++)
        {
            shown[r] = [];
            for (var p = 0; p < products; p++)
            {
                var rate = users[r] == 0 ? 0 : (double)matches[r, p] / users[r];
                tier[r, p] = rate >= High ? 2 : rate >= Medium ? 1 : 0;
                if (tier[r, p] > 0)
                    shown[r].Add(p);
            }
        }
        var jaccards = new List<double>();
        for (var a = 0; a < regions; a++)
        for (var b = a + 1; b < regions; b++)
        {
            var union = shown[a].Union(shown[b]).Count();
            jaccards.Add(union == 0 ? 1 : (double)shown[a].Intersect(shown[b]).Count() / union);
        }

        var favourites = Enumerable.Range(0, regions).SelectMany(r => data.RegionFavourites[r].Select(p => (Region: r, Product: p))).ToList();
        var favouritesShown = favourites.Count(f => tier[f.Region, f.Product] > 0);
        var hitCells = data.NationalHits.Select(h => Enumerable.Range(0, regions).Select(r => tier[r, h]).ToArray()).ToArray();
        var niche = data.NicheProducts;
        var nicheLowEverywhere = niche.Count(p => Enumerable.Range(0, regions).All(r => tier[r, p] == 0));

        // Similar items at the similar-items recipe's defaults, on all the data.
        var knn = new ItemKnnRecommender();
        knn.Fit(seen, new FitOptions());
        var mates = BundleMates(data);
        var neighbours = new int[TopN];
        var scores = new float[TopN];
        double shareSum = 0;
        int withNeighbours = 0, withMateInTop = 0, withMates = 0;
        for (var p = 0; p < products; p++)
        {
            var n = knn.SimilarItems(p, neighbours, scores);
            if (n == 0)
                continue;
            withNeighbours++;
            var near = neighbours[..n];
            shareSum += near.Count(q => data.Products[q].Category == data.Products[p].Category || mates[p].Contains(q)) / (double)n;
            if (mates[p].Count > 0)
            {
                withMates++;
                if (near.Any(mates[p].Contains))
                    withMateInTop++;
            }
        }

        // What fills the lists: share of top-10 slots by planted role, and how far the favourites and hits have spread.
        var slots = new Dictionary<string, int>();
        foreach (var list in lists)
        {
            if (list is null)
                continue;
            foreach (var p in list)
            {
                var name = data.ProductRole[p].ToString();
                slots[name] = slots.GetValueOrDefault(name) + 1;
            }
        }
        var totalSlots = Math.Max(1, slots.Values.Sum());
        double Penetration(int p, int region)
        {
            int have = 0, all = 0;
            for (var u = 0; u < lists.Length; u++)
            {
                if (lists[u] is null || (region >= 0 && data.Customers[u].Region != region))
                    continue;
                all++;
                if (seen.RowColumns(u).BinarySearch(p) >= 0)
                    have++;
            }
            return all == 0 ? 0 : (double)have / all;
        }
        // Median rank of each favourite in its region's non-buyers' full rankings (diagnostic).
        var favouriteRanks = new List<double>();
        if (verb.Get("explain") is not null)
        {
            var all = new float[products];
            foreach (var (region, product) in favourites)
            {
                var ranks = new List<int>();
                for (var u = 0; u < lists.Length; u++)
                {
                    if (lists[u] is null || data.Customers[u].Region != region || seen.RowColumns(u).BinarySearch(product) >= 0)
                        continue;
                    serving.Score(u, all);
                    foreach (var i in seen.RowColumns(u))
                        all[i] = float.NegativeInfinity;
                    var mine = all[product];
                    ranks.Add(all.Count(x => x > mine));
                }
                favouriteRanks.Add(ranks.Count == 0 ? -1 : ranks.Order().ElementAt(ranks.Count / 2));
            }
        }
        // Hits and favourites: share of non-owners whose list has them, by history length (diagnostic).
        object? byLength = null;
        if (verb.Get("explain") is not null)
        {
            int[] edges = [3, 6, 12, 25, 50, int.MaxValue];
            var planted = data.NationalHits.Select(h => (Product: h, Region: -1))
                .Concat(Enumerable.Range(0, regions).Where(r => data.RegionFavourites[r].Length > 0).Select(r => (Product: data.RegionFavourites[r].MaxBy(p => matches[r, p]), Region: r))).ToArray();
            var rows = new Dictionary<string, object>();
            foreach (var kind in new[] { "hits", "favourites" })
            {
                var have = new long[edges.Length];
                var users2 = new long[edges.Length];
                var owners = new long[edges.Length];
                foreach (var (product, region) in planted.Where(x => (x.Region < 0) == (kind == "hits")))
                {
                    for (var u = 0; u < lists.Length; u++)
                    {
                        if (lists[u] is null || (region >= 0 && data.Customers[u].Region != region))
                            continue;
                        var b = Array.FindIndex(edges, e => seen.RowLength(u) <= e);
                        users2[b]++;
                        if (seen.RowColumns(u).BinarySearch(product) >= 0)
                            owners[b]++;
                        else if (lists[u].Contains(product))
                            have[b]++;
                    }
                }
                rows[kind] = edges.Select((e, b) => $"<={e}: users {users2[b]} owners {(double)owners[b] / Math.Max(1, users2[b]):F2} listed-of-nonowners {(double)have[b] / Math.Max(1, users2[b] - owners[b]):F2}").ToArray();
            }
            byLength = rows;
        }
        object? missed = null;
        if (verb.Get("explain") is not null)
        {
            var rows = new List<object>();
            var all = new float[products];
            for (var r = 0; r < regions; r++)
            {
                if (data.RegionFavourites[r].Length == 0) continue;
                var fav = data.RegionFavourites[r].MaxBy(p => matches[r, p]);
                int n = 0, withStaple = 0, histSum = 0; var rk = new List<int>(); var roles = new Dictionary<string, int>();
                for (var u = 0; u < lists.Length; u++)
                {
                    if (lists[u] is null || data.Customers[u].Region != r || seen.RowColumns(u).BinarySearch(fav) >= 0 || lists[u].Contains(fav)) continue;
                    n++; histSum += seen.RowLength(u);
                    if (seen.RowColumns(u).ToArray().Any(i => data.RegionStaples[r].Contains(i))) withStaple++;
                    serving.Score(u, all);
                    foreach (var i in seen.RowColumns(u)) all[i] = float.NegativeInfinity;
                    var mine = all[fav]; rk.Add(all.Count(x => x > mine));
                    foreach (var p in lists[u]) { var k = data.ProductRole[p].ToString(); roles[k] = roles.GetValueOrDefault(k) + 1; }
                }
                rows.Add(new { region = r, missed = n, users = users[r], mean_history = n == 0 ? 0 : histSum / (double)n, with_staple = withStaple, median_rank = rk.Count == 0 ? -1 : rk.Order().ElementAt(rk.Count / 2), roles });
            }
            missed = rows;
        }
        var favouritePenetration = favourites.Select(f => Penetration(f.Product, f.Region)).ToArray();
        var favouriteRate = favourites.Select(f => users[f.Region] == 0 ? 0 : (double)matches[f.Region, f.Product] / users[f.Region]).ToArray();
        var staplePenetration = Enumerable.Range(0, regions).SelectMany(r => data.RegionStaples[r].Select(p => Penetration(p, r))).ToArray();

        return new
        {
            seed,
            generate_seconds = Math.Round(generateSeconds, 2),
            customers = data.Customers.Length,
            products,
            lines = data.Lines.Count,
            views = data.Views.Count,
            champion = experiment.Recipe.Name,
            hyperparameters = experiment.Hyperparameters,
            experiment_seconds = Math.Round(experimentSeconds, 1),
            ndcg_at_10 = Math.Round(ndcg, 4),
            popularity_ndcg_at_10 = Math.Round(popularity, 4),
            ratio_to_popularity = Math.Round(ndcg / popularity, 2),
            trials = experiment.Search?.Trials.Select(t => new { t.Number, t.Recipe, ndcg = Math.Round(t.ValidationNdcg, 4) }),
            regions = Enumerable.Range(0, regions).Select(r => new
            {
                name = data.Regions[r].Name,
                users = users[r],
                high = Enumerable.Range(0, products).Count(p => tier[r, p] == 2),
                medium = Enumerable.Range(0, products).Count(p => tier[r, p] == 1),
                low = Enumerable.Range(0, products).Count(p => tier[r, p] == 0),
                favourites_high = data.RegionFavourites[r].Count(p => tier[r, p] == 2),
                favourites_medium = data.RegionFavourites[r].Count(p => tier[r, p] == 1),
                favourites = data.RegionFavourites[r].Length,
                top = Enumerable.Range(0, products).OrderByDescending(p => matches[r, p]).Take(3)
                    .Select(p => $"{data.ProductRole[p]} {(users[r] == 0 ? 0 : Math.Round((double)matches[r, p] / users[r], 2))}"),
            }),
            regions_with_high = Enumerable.Range(0, regions).Count(r => Enumerable.Range(0, products).Any(p => tier[r, p] == 2)),
            mean_pairwise_jaccard = Math.Round(jaccards.Average(), 3),
            favourites_high_or_medium_share = Math.Round((double)favouritesShown / Math.Max(1, favourites.Count), 3),
            national_hits = hitCells.Select((cells, k) => new
            {
                product = data.NationalHits[k],
                high = cells.Count(t => t == 2),
                medium = cells.Count(t => t == 1),
                low = cells.Count(t => t == 0),
            }),
            national_hit_cells_high_or_medium_share = Math.Round(hitCells.Sum(c => c.Count(t => t > 0)) / (double)Math.Max(1, hitCells.Length * regions), 3),
            niche_products = niche.Length,
            niche_low_everywhere_share = Math.Round((double)nicheLowEverywhere / Math.Max(1, niche.Length), 3),
            explain,
            top_10_slots_by_role = slots.ToDictionary(s => s.Key, s => Math.Round((double)s.Value / totalSlots, 3)),
            favourites_bought_in_region_mean = Math.Round(favouritePenetration.DefaultIfEmpty().Average(), 3),
            favourites_bought_in_region = favouritePenetration.Select(x => Math.Round(x, 2)),
            favourites_match_rate_mean = Math.Round(favouriteRate.DefaultIfEmpty().Average(), 3),
            favourites_median_rank = favouriteRanks,
            by_history_length = byLength,
            missed,
            favourites_match_rate = favouriteRate.Select(x => Math.Round(x, 2)),
            staples_bought_in_region_mean = Math.Round(staplePenetration.DefaultIfEmpty().Average(), 3),
            hits_bought_mean = Math.Round(data.NationalHits.Select(p => Penetration(p, -1)).DefaultIfEmpty().Average(), 3),
            similar_items = new
            {
                same_category_or_bundle_share = Math.Round(shareSum / Math.Max(1, withNeighbours), 3),
                products_with_a_bundle_mate_in_top_10 = Math.Round((double)withMateInTop / Math.Max(1, withMates), 3),
            },
        };
    }

    /// <summary>The test's relevant pairs by the product's role and by purchase or view only, and how many each model's top 10 catch.</summary>
    private static object Explain(DemoDataSet data, ExperimentResult experiment)
    {
        var train = experiment.Split.Train.ToMatrix();
        var test = experiment.Split.Test;
        var bought = new HashSet<(int, int)>();
        for (var k = 0; k < test.Count; k++)
            if (test.Weight[k] >= 1) bought.Add((test.User[k], test.Item[k]));
        var testMatrix = test.ToMatrix();
        var popularity = new PopularityRecommender();
        popularity.Fit(train, new FitOptions());
        var buckets = new Dictionary<string, int[]>();
        var items = new int[10];
        var scores = new float[10];
        for (var u = 0; u < train.Rows; u++)
        {
            if (train.RowLength(u) == 0)
                continue;
            var seen = train.RowColumns(u);
            var n = experiment.Model.Recommend(u, seen, items, scores);
            var modelTop = items[..n].ToHashSet();
            n = popularity.Recommend(u, seen, items, scores);
            var popTop = items[..n].ToHashSet();
            foreach (var i in testMatrix.RowColumns(u))
            {
                if (seen.BinarySearch(i) >= 0)
                    continue;
                var key = $"{data.ProductRole[i]}/{(bought.Contains((u, i)) ? "bought" : "viewed")}";
                if (!buckets.TryGetValue(key, out var b))
                    buckets[key] = b = new int[3];
                b[0]++;
                if (modelTop.Contains(i)) b[1]++;
                if (popTop.Contains(i)) b[2]++;
            }
        }
        return buckets.OrderByDescending(b => b.Value[0]).ToDictionary(b => b.Key, b => new { pairs = b.Value[0], model_hits = b.Value[1], popularity_hits = b.Value[2] });
    }

    /// <summary>Each product's planted bundle mates: the other members of its bundle and of the bundle paired with it.</summary>
    internal static HashSet<int>[] BundleMates(DemoDataSet data)
    {
        var byBundle = new Dictionary<int, List<int>>();
        for (var p = 0; p < data.Products.Length; p++)
        {
            if (!byBundle.TryGetValue(data.ProductBundle[p], out var members))
                byBundle[data.ProductBundle[p]] = members = [];
            members.Add(p);
        }
        var mates = new HashSet<int>[data.Products.Length];
        for (var p = 0; p < mates.Length; p++)
        {
            mates[p] = [.. byBundle[data.ProductBundle[p]]];
            if (data.BundlePartner.Length > 0 && data.BundlePartner[data.ProductBundle[p]] is var partner and >= 0 && byBundle.TryGetValue(partner, out var other))
                mates[p].UnionWith(other);
            mates[p].Remove(p);
        }
        return mates;
    }
}
