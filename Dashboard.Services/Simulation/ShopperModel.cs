using Recs.Services.Engine;
using Recs.Services.Ingestion;

namespace Recs.Services.Simulation;

/// <summary>What a simulated shopper did with one item of a list shown to them.</summary>
public readonly record struct ShopperChoice(int Position, int Product, bool Clicked, bool Bought);

/// <summary>
/// How a shopper of the demo business reacts to a list, from the ground truth the generator planted (never from the
/// data a model learns from). An item's appeal to a customer is a utility:
/// <c>Sharpness × (taste · profile − mean fit)</c> (the generator picks categories by exp(5 × taste · profile)), plus
/// the planted wants: a local favourite of their own region they have not bought (most of the region wants it), a
/// national hit they have not bought, their region's staples, a bundle mate of something they own (sets get
/// completed); minus another region's local products, niche items (few want them) and things they already own in a
/// category people rarely buy twice. A shown item at position k (0-based) is clicked with chance
/// <c>1/log2(k+2) × σ(utility + ClickBase)</c> (people look at the top of a list more) and a clicked item is bought
/// with chance <c>σ(utility + BuyBase)</c>. So a model that ranks what customers truly want higher gets more clicks
/// and purchases. What a shopper buys here is owned from then on.
/// </summary>
public sealed class ShopperModel
{
    public const double Sharpness = 5.0;
    public const double ClickBase = -2.5;
    public const double BuyBase = -1.0;
    public const double FavouriteLift = 2.5;
    public const double HitLift = 1.5;
    public const double StapleLift = 1.0;
    public const double BundleMateLift = 1.0;
    public const double ForeignLocalPenalty = -1.5;
    public const double NichePenalty = -0.5;
    public const double OwnedPenalty = -2.0;

    private readonly HashSet<int>[] _owned;
    private readonly HashSet<int>[] _wantedBundles;
    private readonly HashSet<int>[] _regionFavourites;
    private readonly HashSet<int>[] _regionStaples;
    private readonly double[] _shopperCumulative;
    private readonly Dictionary<string, int> _productByExternalId;
    private readonly double _meanFit;

    public ShopperModel(DemoDataSet data)
    {
        Data = data;
        var customers = data.Customers.Length;
        _owned = new HashSet<int>[customers];
        _wantedBundles = new HashSet<int>[customers];
        for (var u = 0; u < customers; u++)
        {
            _owned[u] = [];
            _wantedBundles[u] = [];
        }
        // Activity: a customer comes to the shop about as often as they ordered in the year (every one of them now and then).
        var orders = new double[customers];
        foreach (var order in data.Orders)
            orders[order.Customer]++;
        foreach (var line in data.Lines)
            Own(data.Orders[line.Order].Customer, line.Product);
        _shopperCumulative = SeededRandom.Cumulative(orders.Select(n => n + 0.5).ToArray());
        _regionFavourites = data.RegionFavourites.Select(f => f.ToHashSet()).ToArray();
        _regionStaples = data.RegionStaples.Select(f => f.ToHashSet()).ToArray();
        _productByExternalId = Enumerable.Range(0, data.Products.Length).ToDictionary(DemoDataLoader.ProductExternalId);

        // The mean of taste · profile over all (customer, product) pairs is the dot product of the means (it is linear).
        var dimensions = DemoDataSet.TasteDimensions.Length;
        double meanFit = 0;
        for (var d = 0; d < dimensions; d++)
        {
            double customerMean = 0, productMean = 0;
            for (var u = 0; u < customers; u++)
                customerMean += data.CustomerTaste[u * dimensions + d];
            for (var p = 0; p < data.Products.Length; p++)
                productMean += data.ProductTaste[p * dimensions + d];
            meanFit += customerMean / customers * (productMean / data.Products.Length);
        }
        _meanFit = meanFit;
    }

    public DemoDataSet Data { get; }

    /// <summary>A customer to simulate, drawn by their activity (frequent shoppers come more often).</summary>
    public int DrawShopper(SeededRandom rng) => rng.Pick(_shopperCumulative);

    /// <summary>The product index of an item id the API returned, or null when it is not a demo product.</summary>
    public int? ProductOf(string itemId) => _productByExternalId.TryGetValue(itemId, out var p) ? p : null;

    /// <summary>The generator's taste fit of a customer and a product (both profiles sum to 1).</summary>
    public double TasteFit(int customer, int product)
    {
        var taste = Data.TasteOfCustomer(customer);
        var profile = Data.TasteOfProduct(product);
        double fit = 0;
        for (var d = 0; d < taste.Length; d++)
            fit += taste[d] * profile[d];
        return fit;
    }

    /// <summary>The ground-truth utility of <paramref name="product"/> to <paramref name="customer"/> now (see the class).</summary>
    public double Utility(int customer, int product)
    {
        var utility = Sharpness * (TasteFit(customer, product) - _meanFit);
        var region = Data.Customers[customer].Region;
        bool owns, wantsSet;
        lock (_owned[customer])
        {
            owns = _owned[customer].Contains(product);
            wantsSet = _wantedBundles[customer].Contains(Data.ProductBundle[product]);
        }
        switch (Data.ProductRole[product])
        {
            case DemoProductRole.Favourite:
                utility += _regionFavourites[region].Contains(product) ? (owns ? 0 : FavouriteLift) : ForeignLocalPenalty;
                break;
            case DemoProductRole.Staple:
                utility += _regionStaples[region].Contains(product) ? StapleLift : ForeignLocalPenalty;
                break;
            case DemoProductRole.Hit:
                utility += owns ? 0 : HitLift;
                break;
            default:
                if (Data.ProductRole[product] == DemoProductRole.Niche)
                    utility += NichePenalty;
                if (owns)
                    utility += OwnedPenalty * (1 - Data.Categories[Data.Products[product].Category].RepeatRate);
                else if (wantsSet)
                    utility += BundleMateLift;
                break;
        }
        return utility;
    }

    /// <summary>Chance that an item at <paramref name="position"/> (0-based) of a shown list is clicked.</summary>
    public static double ClickChance(double utility, int position) => 1 / Math.Log2(position + 2) * Sigmoid(utility + ClickBase);

    /// <summary>Chance that a clicked item is bought.</summary>
    public static double BuyChance(double utility) => Sigmoid(utility + BuyBase);

    /// <summary>
    /// One visit: the customer looks at the shown products (demo product indices, best first; -1 for an item that is
    /// not a demo product, which nobody clicks) and clicks and buys by their utilities. What they buy is owned from now.
    /// </summary>
    public IReadOnlyList<ShopperChoice> Visit(int customer, IReadOnlyList<int> shown, SeededRandom rng)
    {
        var choices = new List<ShopperChoice>(shown.Count);
        for (var k = 0; k < shown.Count; k++)
        {
            var product = shown[k];
            if (product < 0)
            {
                choices.Add(new ShopperChoice(k, product, false, false));
                continue;
            }
            var utility = Utility(customer, product);
            var clicked = rng.NextDouble() < ClickChance(utility, k);
            var bought = clicked && rng.NextDouble() < BuyChance(utility);
            choices.Add(new ShopperChoice(k, product, clicked, bought));
        }
        foreach (var c in choices.Where(c => c.Bought))
            Own(customer, c.Product);
        return choices;
    }

    private void Own(int customer, int product)
    {
        lock (_owned[customer])
        {
            _owned[customer].Add(product);
            var bundle = Data.ProductBundle[product];
            _wantedBundles[customer].Add(bundle);
            if (Data.BundlePartner[bundle] >= 0)
                _wantedBundles[customer].Add(Data.BundlePartner[bundle]);
        }
    }

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));
}
