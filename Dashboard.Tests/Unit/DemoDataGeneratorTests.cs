using Recs.Services.Ingestion;

namespace Recs.Tests.Unit;

/// <summary>The generator is deterministic and plants the structure later models and pages rely on.</summary>
public sealed class DemoDataGeneratorTests
{
    // The default demo size: these tests check what the app actually shows.
    private static readonly Lazy<DemoDataSet> Default = new(() => DemoDataGenerator.Generate(new DemoDataSpec()));

    private static DemoDataSet Data => Default.Value;

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

        // A uniform catalogue would give the top 10 % about 10 % of the lines.
        Assert.True(topTenth > 0.4 * Data.Lines.Count, $"top 10 % of products hold {100.0 * topTenth / Data.Lines.Count:F1} % of lines");
    }

    [Fact]
    public void Regions_have_distinct_tastes_and_over_buy_their_local_favourites()
    {
        var categoryShare = new double[Data.Regions.Length, Data.Categories.Length];
        var regionLines = new double[Data.Regions.Length];
        foreach (var line in Data.Lines)
        {
            var region = Data.Customers[Data.Orders[line.Order].Customer].Region;
            categoryShare[region, Data.Products[line.Product].Category]++;
            regionLines[region]++;
        }

        // Total-variation distance between regions' category mixes: identical tastes would give ~0.
        var distances = new List<double>();
        for (var a = 0; a < Data.Regions.Length; a++)
        for (var b = a + 1; b < Data.Regions.Length; b++)
        {
            double tv = 0;
            for (var k = 0; k < Data.Categories.Length; k++)
                tv += Math.Abs(categoryShare[a, k] / regionLines[a] - categoryShare[b, k] / regionLines[b]);
            distances.Add(tv / 2);
        }
        Assert.True(distances.Average() > 0.15, $"mean distance between regional category mixes {distances.Average():F3}");

        // A favourite's share of its own region's lines beats its share elsewhere.
        var lifts = new List<double>();
        for (var r = 0; r < Data.Regions.Length; r++)
        {
            var favourites = Data.RegionFavourites[r].ToHashSet();
            double inRegion = 0, elsewhere = 0;
            foreach (var line in Data.Lines)
            {
                if (!favourites.Contains(line.Product))
                    continue;
                if (Data.Customers[Data.Orders[line.Order].Customer].Region == r) inRegion++; else elsewhere++;
            }
            lifts.Add(inRegion / regionLines[r] / Math.Max(1, elsewhere) * (Data.Lines.Count - regionLines[r]));
        }
        Assert.True(lifts.Average() > 3, $"mean lift of regional favourites {lifts.Average():F2}");
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
        var bundles = Data.ProductBundle.Distinct().Count();
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
