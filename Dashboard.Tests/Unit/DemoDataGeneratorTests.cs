using Recs.Services.Engine;
using Recs.Services.Ingestion;

namespace Recs.Tests.Unit;

/// <summary>The generator is deterministic and plants the structure later models and pages rely on, and models find it.</summary>
public sealed class DemoDataGeneratorTests
{
    // The default demo size: these tests check what the app actually shows.
    private static readonly Lazy<DemoDataSet> Default = new(() => DemoDataGenerator.Generate(new DemoDataSpec()));

    // Half the demo, for the tests that fit models (seconds, not minutes).
    private static readonly Lazy<DemoDataSet> Small = new(() => DemoDataGenerator.Generate(new DemoDataSpec { Customers = 2_500, Products = 500, OrderLines = 50_000, Seed = 5 }));

    private static DemoDataSet Data => Default.Value;

    /// <summary>Interactions as training sees them: purchases weigh 1, views 0.1 (the default event weights).</summary>
    private static InteractionSet Interactions(DemoDataSet d)
    {
        var user = d.Lines.Select(l => d.Orders[l.Order].Customer).Concat(d.Views.Select(v => v.Customer)).ToArray();
        var item = d.Lines.Select(l => l.Product).Concat(d.Views.Select(v => v.Product)).ToArray();
        var weight = d.Lines.Select(_ => 1f).Concat(d.Views.Select(_ => 0.1f)).ToArray();
        var time = d.Lines.Select(l => d.Orders[l.Order].Time).Concat(d.Views.Select(v => v.Time)).ToArray();
        return new InteractionSet(d.Customers.Length, d.Products.Length, user, item, weight, time);
    }

    /// <summary>Share of each region's customers (with any interaction) bought each product.</summary>
    private static double[,] BoughtShare(DemoDataSet d)
    {
        var customers = new int[d.Regions.Length];
        foreach (var u in d.Orders.Select(o => o.Customer).Distinct())
            customers[d.Customers[u].Region]++;
        var share = new double[d.Regions.Length, d.Products.Length];
        foreach (var (u, p) in d.Lines.Select(l => (d.Orders[l.Order].Customer, l.Product)).Distinct())
            share[d.Customers[u].Region, p]++;
        for (var r = 0; r < d.Regions.Length; r++)
        for (var p = 0; p < d.Products.Length; p++)
            share[r, p] /= Math.Max(1, customers[r]);
        return share;
    }

    private static int Fingerprint(DemoDataSet d)
    {
        var h = new HashCode();
        foreach (var c in d.Customers) h.Add(c);
        foreach (var p in d.Products) h.Add(p);
        foreach (var o in d.Orders) h.Add(o);
        foreach (var l in d.Lines) h.Add(l);
        foreach (var v in d.Views) h.Add(v);
        return h.ToHashCode();
    }

    [Fact]
    public void The_same_seed_gives_the_same_data_and_another_seed_different_data()
    {
        var spec = new DemoDataSpec { Customers = 800, Products = 200, OrderLines = 8_000, Seed = 11 };
        var a = DemoDataGenerator.Generate(spec);
        var b = DemoDataGenerator.Generate(spec);
        var c = DemoDataGenerator.Generate(spec with { Seed = 12 });

        Assert.Equal(a.Lines.Count, b.Lines.Count);
        Assert.Equal(Fingerprint(a), Fingerprint(b));
        Assert.NotEqual(Fingerprint(a), Fingerprint(c));
    }

    [Fact]
    public void The_default_size_is_about_5000_customers_1000_products_and_100000_order_lines()
    {
        Assert.Equal(5_000, Data.Customers.Length);
        Assert.Equal(1_000, Data.Products.Length);
        Assert.InRange(Data.Lines.Count, 90_000, 110_000);
        Assert.Equal(20, Data.Customers.Select(c => c.Region).Distinct().Count());
        Assert.Equal(15, Data.Products.Select(p => p.Category).Distinct().Count());
        Assert.All(Data.Products, p => Assert.True(p.Price > 0));
    }

    [Fact]
    public void Every_order_falls_in_the_twelve_month_window_and_every_line_names_a_real_order_and_product()
    {
        var start = new DateTimeOffset(Data.Spec.Start).ToUnixTimeSeconds();
        var end = new DateTimeOffset(Data.Spec.End).ToUnixTimeSeconds();
        Assert.All(Data.Orders, o => Assert.InRange(o.Time, start, end - 1));
        Assert.All(Data.Views, v => Assert.InRange(v.Time, start, end - 1));
        Assert.All(Data.Lines, l =>
        {
            Assert.InRange(l.Order, 0, Data.Orders.Count - 1);
            Assert.InRange(l.Product, 0, Data.Products.Length - 1);
            Assert.True(l.Quantity >= 1);
        });
    }

    [Fact]
    public void Item_popularity_follows_a_power_law()
    {
        var counts = Data.Lines.GroupBy(l => l.Product).Select(g => g.Count()).OrderDescending().ToArray();
        var topTenth = counts.Take(Data.Products.Length / 10).Sum();

        // A uniform catalogue would give the top 10 % about 10 % of the lines (the regional assortment spreads the national head a little).
        Assert.True(topTenth > 0.35 * Data.Lines.Count, $"top 10 % of products hold {100.0 * topTenth / Data.Lines.Count:F1} % of lines");
    }

    [Fact]
    public void Regions_buy_differently_and_their_favourites_far_more_than_elsewhere()
    {
        // Total-variation distance between regions' product mixes: one national assortment would give little more than sampling noise.
        var regionLines = new double[Data.Regions.Length];
        var mix = new double[Data.Regions.Length, Data.Products.Length];
        foreach (var line in Data.Lines)
        {
            var region = Data.Customers[Data.Orders[line.Order].Customer].Region;
            mix[region, line.Product]++;
            regionLines[region]++;
        }
        var distances = new List<double>();
        for (var a = 0; a < 5; a++)
        for (var b = a + 1; b < 5; b++)
        {
            double tv = 0;
            for (var p = 0; p < Data.Products.Length; p++)
                tv += Math.Abs(mix[a, p] / regionLines[a] - mix[b, p] / regionLines[b]);
            distances.Add(tv / 2);
        }
        Assert.True(distances.Average() > 0.4, $"mean distance between the five largest regions' product mixes {distances.Average():F3}");

        // Every region has favourites; each is bought by a far larger share of its own region than of the others.
        var share = BoughtShare(Data);
        Assert.All(Data.RegionFavourites, f => Assert.Equal(5, f.Length));
        var lifts = new List<double>();
        for (var r = 0; r < Data.Regions.Length; r++)
        {
            foreach (var p in Data.RegionFavourites[r])
            {
                var elsewhere = Enumerable.Range(0, Data.Regions.Length).Where(o => o != r).Average(o => share[o, p]);
                lifts.Add(share[r, p] / Math.Max(elsewhere, 1e-4));
            }
        }
        Assert.True(lifts.Order().ElementAt(lifts.Count / 2) > 20, $"median lift of a favourite in its region {lifts.Order().ElementAt(lifts.Count / 2):F1}");
    }

    [Fact]
    public void Favourites_and_hits_are_still_spreading_wanted_widely_but_bought_by_a_minority()
    {
        var share = BoughtShare(Data);
        var favouriteShares = Enumerable.Range(0, Data.Regions.Length).SelectMany(r => Data.RegionFavourites[r].Select(p => share[r, p])).ToList();
        Assert.InRange(favouriteShares.Average(), 0.08, 0.4);
        Assert.True(favouriteShares.Count(x => x > 0.6) == 0, "no favourite has reached most of its region yet");
        Assert.All(Data.RegionFavourites.SelectMany(f => f), p => Assert.True(Data.ProductLaunch[p] > new DateTimeOffset(Data.Spec.Start).ToUnixTimeSeconds(), "favourites launch during the window"));

        // National hits: bought in every region, by a minority everywhere.
        Assert.NotEmpty(Data.NationalHits);
        foreach (var hit in Data.NationalHits)
        {
            var perRegion = Enumerable.Range(0, Data.Regions.Length).Select(r => share[r, hit]).ToArray();
            Assert.True(perRegion.All(x => x > 0.02), $"hit {hit} is bought in every region: {string.Join(", ", perRegion.Select(x => x.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)))}");
            Assert.InRange(perRegion.Average(), 0.05, 0.45);
        }

        // Niche products: few customers anywhere.
        Assert.True(Data.NicheProducts.Length > Data.Products.Length / 4);
        var nicheMax = Data.NicheProducts.Select(p => Enumerable.Range(0, Data.Regions.Length).Max(r => share[r, p])).Order().ElementAt(Data.NicheProducts.Length * 9 / 10);
        Assert.True(nicheMax < 0.1, $"90th percentile of a niche product's best regional share {nicheMax:F3}");
    }

    [Fact]
    public void Customers_buy_the_categories_their_taste_vectors_fit()
    {
        Assert.Equal(Data.Customers.Length * DemoDataSet.TasteDimensions.Length, Data.CustomerTaste.Length);
        Assert.All(Enumerable.Range(0, Data.Customers.Length), u => Assert.InRange(Data.TasteOfCustomer(u).ToArray().Sum(), 0.999f, 1.001f));

        // Customers leaning most to a dimension buy that dimension's categories more than the others do.
        var family = Array.IndexOf(DemoDataSet.TasteDimensions, "family");
        var toys = Array.FindIndex(Data.Categories, c => c.Name == "Toys");
        var baby = Array.FindIndex(Data.Categories, c => c.Name == "Baby");
        var familyMinded = Enumerable.Range(0, Data.Customers.Length).Select(u => Data.TasteOfCustomer(u)[family]).Order().ElementAt(Data.Customers.Length * 3 / 4);
        double ShareOfFamilyCategories(bool minded)
        {
            var lines = Data.Lines.Where(l => Data.TasteOfCustomer(Data.Orders[l.Order].Customer)[family] >= familyMinded == minded).ToList();
            return lines.Count(l => Data.Products[l.Product].Category == toys || Data.Products[l.Product].Category == baby) / (double)lines.Count;
        }
        Assert.True(ShareOfFamilyCategories(true) > 1.5 * ShareOfFamilyCategories(false),
            $"toys and baby: {ShareOfFamilyCategories(true):P1} of family-minded customers' lines, {ShareOfFamilyCategories(false):P1} of the others'");
    }

    [Fact]
    public void Similar_items_find_the_bundles_and_stay_mostly_within_a_category()
    {
        var d = Small.Value;
        var knn = new ItemKnnRecommender();
        knn.Fit(Interactions(d).ToMatrix(), new FitOptions());
        var neighbours = new int[10];
        var scores = new float[10];
        int withMates = 0, mateFound = 0, counted = 0;
        double local = 0;
        for (var p = 0; p < d.Products.Length; p++)
        {
            var n = knn.SimilarItems(p, neighbours, scores);
            if (n == 0)
                continue;
            var mates = Enumerable.Range(0, d.Products.Length).Where(q => q != p && (d.ProductBundle[q] == d.ProductBundle[p] || d.BundlePartner[d.ProductBundle[p]] == d.ProductBundle[q])).ToHashSet();
            counted++;
            local += neighbours[..n].Count(q => d.Products[q].Category == d.Products[p].Category || mates.Contains(q)) / (double)n;
            if (mates.Count == 0)
                continue;
            withMates++;
            if (neighbours[..n].Any(mates.Contains))
                mateFound++;
        }
        Assert.True(mateFound > 0.8 * withMates, $"{mateFound} of {withMates} products have a bundle mate among their 10 most similar items");
        Assert.True(local / counted > 0.75, $"on average {local / counted:P1} of a product's 10 most similar items share its category or bundle");
    }

    [Fact]
    public void A_model_beats_popularity_clearly_on_the_temporal_split()
    {
        var result = Experiment.Run(Interactions(Small.Value), new ExperimentSpec { Recipe = ItemKnnRecommender.Descriptor });
        var model = result.Metrics.Metrics["ndcg@10"];
        var popularity = result.Baseline.Metrics["ndcg@10"];
        Assert.True(model > 1.5 * popularity, $"similar-items NDCG@10 {model:F4} vs popularity {popularity:F4}");
    }

    [Fact]
    public void A_model_shows_each_region_its_favourites_and_everyone_the_hits()
    {
        // As serving does: fit on everything, every customer's top 10 without what they already have, match rate per region.
        // At the demo's size: regions of a hundred customers or more are what lets a model see them.
        var d = Data;
        var matrix = Interactions(d).ToMatrix();
        var knn = new ItemKnnRecommender();
        knn.Fit(matrix, new FitOptions());
        var users = new int[d.Regions.Length];
        var matches = new int[d.Regions.Length, d.Products.Length];
        var items = new int[10];
        var scores = new float[10];
        for (var u = 0; u < d.Customers.Length; u++)
        {
            if (matrix.RowLength(u) == 0)
                continue;
            users[d.Customers[u].Region]++;
            var n = knn.Recommend(u, matrix.RowColumns(u), items, scores);
            foreach (var p in items[..n])
                matches[d.Customers[u].Region, p]++;
        }
        double Rate(int r, int p) => (double)matches[r, p] / Math.Max(1, users[r]);

        var favourites = Enumerable.Range(0, d.Regions.Length).SelectMany(r => d.RegionFavourites[r].Select(p => Rate(r, p))).ToList();
        Assert.True(favourites.Count(x => x >= 0.4) > 0.75 * favourites.Count, $"{favourites.Count(x => x >= 0.4)} of {favourites.Count} favourites are High or Medium in their region");
        var elsewhere = Enumerable.Range(0, d.Regions.Length).SelectMany(r => d.RegionFavourites[r].SelectMany(p => Enumerable.Range(0, d.Regions.Length).Where(o => o != r).Select(o => Rate(o, p)))).ToList();
        Assert.True(elsewhere.Average() < 0.05, $"favourites reach {elsewhere.Average():P1} of other regions' lists on average");
        var hits = d.NationalHits.SelectMany(h => Enumerable.Range(0, d.Regions.Length).Select(r => Rate(r, h))).ToList();
        Assert.True(hits.Count(x => x >= 0.4) > 0.6 * hits.Count, $"{hits.Count(x => x >= 0.4)} of {hits.Count} (hit, region) cells are High or Medium");
    }

    [Fact]
    public void Items_of_a_bundle_are_bought_together_far_more_than_chance()
    {
        long pairs = 0, matePairs = 0;
        foreach (var order in Data.Lines.GroupBy(l => l.Order))
        {
            var items = order.Select(l => l.Product).ToArray();
            for (var i = 0; i < items.Length; i++)
            for (var j = i + 1; j < items.Length; j++)
            {
                pairs++;
                if (Data.ProductBundle[items[i]] == Data.ProductBundle[items[j]]) matePairs++;
            }
        }
        var bundles = Data.ProductBundle.Where((_, p) => Data.ProductRole[p] is DemoProductRole.Regular or DemoProductRole.Niche).Distinct().Count();
        var chance = 1.0 / bundles;
        var observed = (double)matePairs / pairs;
        Assert.True(observed > 10 * chance, $"share of same-bundle pairs {observed:P1}, chance {chance:P2}");
    }

    [Fact]
    public void Orders_follow_the_season_with_a_christmas_peak()
    {
        var byMonth = Data.Orders.GroupBy(o => DateTime.UnixEpoch.AddSeconds(o.Time).Month).ToDictionary(g => g.Key, g => g.Count());
        Assert.True(byMonth[12] > 1.6 * byMonth[2], $"December {byMonth[12]} vs February {byMonth[2]}");

        var garden = Array.FindIndex(Data.Categories, c => c.Name == "Garden");
        int GardenIn(int month) => Data.Lines.Count(l => Data.Products[l.Product].Category == garden
            && DateTime.UnixEpoch.AddSeconds(Data.Orders[l.Order].Time).Month == month);
        Assert.True(GardenIn(6) > 2 * GardenIn(1), "garden sells in June, not January");
    }

    [Fact]
    public void Customers_buy_some_items_again()
    {
        var pairs = Data.Lines.GroupBy(l => (Data.Orders[l.Order].Customer, l.Product)).ToList();
        var repeated = pairs.Count(g => g.Select(l => l.Order).Distinct().Count() >= 2);
        Assert.True(repeated > 0.05 * pairs.Count, $"{repeated} of {pairs.Count} customer–item pairs were bought in more than one order");
    }

    [Fact]
    public void Activity_is_skewed_some_customers_buy_much_more_than_others()
    {
        var perCustomer = Data.Orders.GroupBy(o => o.Customer).Select(g => g.Count()).OrderDescending().ToArray();
        var topFifth = perCustomer.Take(Data.Customers.Length / 5).Sum();
        Assert.True(topFifth > 0.4 * Data.Orders.Count, $"top 20 % of customers place {100.0 * topFifth / Data.Orders.Count:F1} % of orders");
    }
}
