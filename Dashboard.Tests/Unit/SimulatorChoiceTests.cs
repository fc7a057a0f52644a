using Recs.Services.Engine;
using Recs.Services.Ingestion;
using Recs.Services.Simulation;

namespace Recs.Tests.Unit;

/// <summary>The simulated shoppers' choices follow the generator's ground truth, and the same seed gives the same choices.</summary>
public sealed class SimulatorChoiceTests
{
    private static readonly Lazy<DemoDataSet> Data = new(() => DemoDataGenerator.Generate(new DemoDataSpec { Customers = 800, Products = 200, OrderLines = 8_000, Seed = 11 }));

    /// <summary>Customers with a favourite of their region they have not bought, and for each the niche product that fits them worst.</summary>
    private static List<(int Customer, int Favourite, int Mismatch)> Pairs(ShopperModel model)
    {
        var data = model.Data;
        var owned = data.Lines.Select(l => (data.Orders[l.Order].Customer, l.Product)).ToHashSet();
        var pairs = new List<(int, int, int)>();
        for (var u = 0; u < data.Customers.Length; u++)
        {
            var favourite = data.RegionFavourites[data.Customers[u].Region].Where(p => !owned.Contains((u, p))).DefaultIfEmpty(-1).First();
            if (favourite < 0)
                continue;
            var mismatch = data.NicheProducts.Where(p => !owned.Contains((u, p))).MinBy(p => model.TasteFit(u, p));
            pairs.Add((u, favourite, mismatch));
        }
        return pairs;
    }

    [Fact]
    public void A_shown_favourite_of_the_shoppers_region_is_clicked_and_bought_far_more_often_than_a_niche_mismatch()
    {
        var model = new ShopperModel(Data.Value);
        var pairs = Pairs(model);
        Assert.True(pairs.Count > 300, $"only {pairs.Count} customers with an unbought local favourite");
        Assert.All(pairs, p => Assert.True(model.Utility(p.Customer, p.Mismatch) < model.Utility(p.Customer, p.Favourite)));
        var rng = new SeededRandom(5);
        int favouriteClicks = 0, mismatchClicks = 0, favouriteBuys = 0, mismatchBuys = 0;
        foreach (var (customer, favourite, mismatch) in pairs)
        {
            // Each alone at the top of a list, so position plays no part.
            var f = model.Visit(customer, [favourite], rng)[0];
            var m = model.Visit(customer, [mismatch], rng)[0];
            favouriteClicks += f.Clicked ? 1 : 0;
            favouriteBuys += f.Bought ? 1 : 0;
            mismatchClicks += m.Clicked ? 1 : 0;
            mismatchBuys += m.Bought ? 1 : 0;
        }
        Assert.True(favouriteClicks > 3 * mismatchClicks, $"favourites clicked {favouriteClicks} times, niche mismatches {mismatchClicks} (of {pairs.Count})");
        Assert.True(favouriteBuys > 5 * Math.Max(1, mismatchBuys), $"favourites bought {favouriteBuys} times, niche mismatches {mismatchBuys}");
    }

    [Fact]
    public void The_same_seed_gives_the_same_shoppers_and_choices_and_a_bought_item_is_owned_afterwards()
    {
        List<(int Customer, bool[] Clicks, bool[] Buys)> Run()
        {
            var model = new ShopperModel(Data.Value);
            var rng = new SeededRandom(9);
            var shown = Enumerable.Range(0, 10).Select(k => k * 17).ToArray();
            return Enumerable.Range(0, 300).Select(_ =>
            {
                var customer = model.DrawShopper(rng);
                var choices = model.Visit(customer, shown, rng);
                return (customer, choices.Select(c => c.Clicked).ToArray(), choices.Select(c => c.Bought).ToArray());
            }).ToList();
        }
        var first = Run();
        var second = Run();
        Assert.Equal(first.Select(r => r.Customer), second.Select(r => r.Customer));
        Assert.Equal(first.SelectMany(r => r.Clicks), second.SelectMany(r => r.Clicks));
        Assert.Equal(first.SelectMany(r => r.Buys), second.SelectMany(r => r.Buys));
        Assert.Contains(true, first.SelectMany(r => r.Buys));
        // Frequent shoppers come more often: the 300 visits are not spread evenly over 800 customers.
        Assert.True(first.Select(r => r.Customer).Distinct().Count() < 280);

        var model = new ShopperModel(Data.Value);
        var (customer, favourite, _) = Pairs(model)[0];
        var before = model.Utility(customer, favourite);
        var rng = new SeededRandom(1);
        var visits = 0;
        while (!model.Visit(customer, [favourite], rng)[0].Bought)
            Assert.True(++visits < 1000, "a local favourite should be bought within 1,000 visits");
        Assert.True(model.Utility(customer, favourite) < before - 1, "a favourite once bought is no longer the want it was");
    }

    [Fact]
    public void Shoppers_look_at_the_top_of_a_list_more_and_buy_only_what_they_clicked()
    {
        Assert.True(ShopperModel.ClickChance(0, 0) > ShopperModel.ClickChance(0, 4));
        Assert.True(ShopperModel.ClickChance(0, 4) > ShopperModel.ClickChance(0, 9));
        Assert.Equal(1 / (1 + Math.Exp(-ShopperModel.ClickBase)), ShopperModel.ClickChance(0, 0), 12);
        Assert.True(ShopperModel.BuyChance(2) > ShopperModel.BuyChance(0));

        var model = new ShopperModel(Data.Value);
        var rng = new SeededRandom(3);
        var shown = new[] { 0, 1, -1, 2, 3 };
        for (var visit = 0; visit < 200; visit++)
        {
            var choices = model.Visit(model.DrawShopper(rng), shown, rng);
            Assert.All(choices, c => Assert.True(!c.Bought || c.Clicked));
            Assert.False(choices[2].Clicked); // not a demo product: nobody clicks it
        }
    }
}
