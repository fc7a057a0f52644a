using Recs.Services.Engine;

namespace Recs.Services.Ingestion;

/// <summary>How much demo data to make, from which seed, over which 12 months.</summary>
public sealed record DemoDataSpec
{
    public int Customers { get; init; } = 5_000;
    public int Products { get; init; } = 1_000;

    /// <summary>Target number of order lines; the result lands within a few percent of it.</summary>
    public int OrderLines { get; init; } = 100_000;

    public ulong Seed { get; init; } = 42;

    /// <summary>End of the window (exclusive, UTC); the window is the 12 months before it.</summary>
    public DateTime End { get; init; } = new(2026, 11, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>Product views per order line (some of the viewed items are then bought, some not).</summary>
    public double ViewsPerOrderLine { get; init; } = 0.5;

    public DateTime Start => End.AddMonths(-12);

    public static DemoDataSpec Benchmark(DateTime end) =>
        new() { Customers = 1_000_000, Products = 50_000, OrderLines = 20_000_000, End = end, ViewsPerOrderLine = 0.25 };
}

public readonly record struct DemoRegion(string Name, string[] Cities);

public readonly record struct DemoCategory(string Name, double MinPrice, double MaxPrice, string[] Brands, string[] Nouns, double Youth, double RepeatRate);

public record struct DemoCustomer(short Region, byte City, byte Age, byte Gender, byte Segment, bool Loyalty);

public record struct DemoProduct(short Category, byte Brand, decimal Price, string Name, string Colour);

/// <summary>An order of customer <c>Customer</c> (0-based) at <c>Time</c> (Unix seconds).</summary>
public record struct DemoOrder(int Customer, long Time);

public record struct DemoOrderLine(int Order, int Product, short Quantity, decimal UnitPrice);

public record struct DemoView(int Customer, int Product, long Time);

/// <summary>A generated business, plus the ground truth the generator planted (for tests and for reading the heatmap).</summary>
public sealed class DemoDataSet
{
    public required DemoDataSpec Spec { get; init; }
    public required DemoRegion[] Regions { get; init; }
    public required DemoCategory[] Categories { get; init; }
    public required DemoCustomer[] Customers { get; init; }
    public required DemoProduct[] Products { get; init; }
    public required List<DemoOrder> Orders { get; init; }
    public required List<DemoOrderLine> Lines { get; init; }
    public required List<DemoView> Views { get; init; }

    /// <summary>Bundle (co-purchase cluster) of each product.</summary>
    public required int[] ProductBundle { get; init; }

    /// <summary>Per region, the products it over-buys (its local favourites).</summary>
    public required int[][] RegionFavourites { get; init; }

    /// <summary>The bundle each bundle is paired with (bought alongside it), or −1.</summary>
    public int[] BundlePartner { get; init; } = [];

    /// <summary>Products every region wants.</summary>
    public int[] NationalHits { get; init; } = [];

    /// <summary>Products few customers want.</summary>
    public int[] NicheProducts { get; init; } = [];

    public static readonly string[] Genders = ["female", "male", "other"];
    public static readonly string[] Segments = ["budget", "mainstream", "premium"];
}

/// <summary>
/// A deterministic retail business. The story: twenty regions of different sizes each have their own
/// taste over fifteen categories and a handful of local favourite products. Items within a category
/// follow a power law in popularity; each item belongs to a small bundle of items that are bought
/// together (some bundles pair with a bundle of another category, like a tent with sleeping bags).
/// Customers take their region's taste, shifted by age (the young buy electronics and fashion, the old
/// garden and health) and by their own whims; their segment bends them towards cheap or dear items, and
/// each has a favourite brand in every category, from which half of their new picks there come.
/// Some customers buy much more than others (log-normal activity). Over twelve months they place orders
/// whose number follows the season (Christmas peak, garden in spring and summer, toys in December);
/// each order has one or more items, often a bundle mate of an item in it, and often an item they
/// bought before (groceries and pet food more than televisions). Views precede many purchases, and
/// some viewed items are not bought.
/// </summary>
public static class DemoDataGenerator
{
    /// <summary>Share of a customer's new picks in a category that come from their favourite brand there.</summary>
    private const double BrandLoyalty = 0.5;

    private static readonly double[] MonthWeight = [0.8, 0.75, 0.85, 0.9, 0.95, 0.9, 0.85, 0.85, 0.95, 1.05, 1.4, 1.7];

    private static readonly DemoRegion[] AllRegions =
    [
        new("London", ["Camden", "Hackney", "Croydon", "Greenwich"]),
        new("South East", ["Brighton", "Reading", "Oxford", "Canterbury"]),
        new("North West", ["Manchester", "Liverpool", "Preston", "Chester"]),
        new("West Midlands", ["Birmingham", "Coventry", "Wolverhampton", "Worcester"]),
        new("Yorkshire", ["Leeds", "Sheffield", "York", "Hull"]),
        new("South West", ["Bristol", "Exeter", "Plymouth", "Bath"]),
        new("East of England", ["Cambridge", "Norwich", "Ipswich", "Luton"]),
        new("Scotland", ["Glasgow", "Edinburgh", "Aberdeen", "Dundee"]),
        new("East Midlands", ["Nottingham", "Leicester", "Derby", "Lincoln"]),
        new("Wales", ["Cardiff", "Swansea", "Newport", "Wrexham"]),
        new("North East", ["Newcastle", "Sunderland", "Durham", "Middlesbrough"]),
        new("Northern Ireland", ["Belfast", "Derry", "Lisburn", "Newry"]),
        new("Dublin", ["Dublin City", "Dun Laoghaire", "Swords", "Tallaght"]),
        new("Munster", ["Cork", "Limerick", "Waterford", "Tralee"]),
        new("Flanders", ["Antwerp", "Ghent", "Bruges", "Leuven"]),
        new("Wallonia", ["Liege", "Namur", "Charleroi", "Mons"]),
        new("Holland", ["Amsterdam", "Rotterdam", "The Hague", "Utrecht"]),
        new("Brittany", ["Rennes", "Brest", "Quimper", "Vannes"]),
        new("Normandy", ["Rouen", "Caen", "Le Havre", "Cherbourg"]),
        new("Channel Islands", ["St Helier", "St Peter Port", "Gorey", "St Anne"]),
    ];

    private static readonly DemoCategory[] AllCategories =
    [
        new("Electronics", 15, 900, ["Voltix", "Nordtek", "Sonaro", "Pixelis", "Ampere"], ["Headphones", "Speaker", "Tablet", "Charger", "Camera", "Smartwatch"], 0.7, 0.05),
        new("Home & Kitchen", 5, 250, ["Casaluna", "Hearth & Co", "Kitcho", "Domus"], ["Kettle", "Pan Set", "Knife Block", "Blender", "Mug Set", "Toaster"], 0.0, 0.15),
        new("Garden", 4, 400, ["Greenway", "Bloomfield", "Terrafirm", "Sprout"], ["Hose", "Planter", "Seed Kit", "Pruner", "Lawn Feed", "Bird Feeder"], -0.7, 0.2),
        new("Toys", 5, 120, ["Joybox", "Tinkertoy", "Brickle", "Funfair"], ["Puzzle", "Building Set", "Plush Bear", "Board Game", "Race Car", "Doll House"], 0.2, 0.08),
        new("Books", 4, 45, ["Inkwell", "Pagefold", "Quill House", "Marginalia"], ["Novel", "Cookbook", "Atlas", "Biography", "Poetry Collection", "Field Guide"], -0.3, 0.12),
        new("Fashion", 8, 220, ["Threadline", "Urbano", "Velvetta", "Northcoat"], ["Jacket", "Scarf", "Sneakers", "Jeans", "Hoodie", "Handbag"], 0.6, 0.1),
        new("Beauty", 3, 90, ["Lumiere", "Pure Petal", "Glowhaus", "Aurae"], ["Face Cream", "Lipstick", "Shampoo", "Perfume", "Serum", "Nail Kit"], 0.3, 0.35),
        new("Sports", 6, 500, ["Strideon", "Peakform", "Aquafin", "Kinetica"], ["Yoga Mat", "Running Shoes", "Dumbbells", "Tent", "Bike Helmet", "Water Bottle"], 0.4, 0.08),
        new("Grocery", 1, 30, ["Harvest Lane", "Good Grain", "Daily Fare", "Orchard"], ["Coffee Beans", "Olive Oil", "Tea Selection", "Granola", "Chocolate", "Pasta"], -0.1, 0.5),
        new("Pet Supplies", 2, 120, ["Pawsome", "Whisker", "Barkley", "Furball"], ["Dog Food", "Cat Litter", "Chew Toy", "Pet Bed", "Leash", "Fish Food"], -0.2, 0.45),
        new("Office", 2, 350, ["Deskwise", "Paperhaus", "Inkjetix", "Officina"], ["Notebook", "Desk Lamp", "Office Chair", "Printer Ink", "Pen Set", "Organiser"], 0.1, 0.2),
        new("Automotive", 5, 300, ["Roadstar", "Torqueline", "Motiva", "Gearhead"], ["Car Wax", "Dash Cam", "Seat Cover", "Jump Starter", "Tyre Inflator", "Wiper Blades"], -0.2, 0.1),
        new("Health", 3, 150, ["Vitalis", "Carewell", "Medora", "Wellnest"], ["Vitamins", "Thermometer", "First Aid Kit", "Massager", "Protein Powder", "Blood Pressure Monitor"], -0.6, 0.4),
        new("Music", 8, 700, ["Tonewood", "Soundcraft", "Melodia", "Rhythmix"], ["Guitar Strings", "Ukulele", "Keyboard", "Drum Pads", "Microphone", "Vinyl Record"], 0.5, 0.1),
        new("Baby", 4, 300, ["Littleleaf", "Cuddle", "Nestling", "Tiny Steps"], ["Nappies", "Baby Monitor", "Stroller", "Bottle Set", "Cot Mobile", "Baby Wipes"], 0.3, 0.45),
    ];

    private static readonly string[] Adjectives = ["Classic", "Deluxe", "Compact", "Eco", "Pro", "Essential", "Premium", "Mini", "Smart", "Vintage", "Everyday", "Ultra"];
    private static readonly string[] Colours = ["black", "white", "red", "blue", "green", "grey", "natural", "pink", "yellow", "navy"];

    // Per calendar month (0 = January), multipliers of a category's appeal; absent = 1.
    private static double SeasonalFactor(string category, int calendarMonth) => category switch
    {
        "Garden" => calendarMonth is >= 3 and <= 7 ? 2.2 : calendarMonth is 10 or 11 or 0 or 1 ? 0.4 : 1.0,
        "Toys" => calendarMonth == 11 ? 3.0 : calendarMonth == 10 ? 2.0 : 0.8,
        "Sports" => calendarMonth is >= 4 and <= 7 ? 1.5 : 1.0,
        "Electronics" => calendarMonth is 10 or 11 ? 1.6 : 1.0,
        _ => 1.0,
    };

    /// <summary>Generates the whole business from the spec; the same spec gives the same data.</summary>
    public static DemoDataSet Generate(DemoDataSpec spec, IProgress<double>? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(spec.Customers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(spec.Products, AllCategories.Length);
        ArgumentOutOfRangeException.ThrowIfNegative(spec.OrderLines);

        var rng = new SeededRandom(spec.Seed);
        var regions = AllRegions;
        var categories = AllCategories;
        int r = regions.Length, c = categories.Length;

        // Regions: sizes fall off with rank; tastes are log-normal around 1 with two strong favourites.
        var regionSize = new double[r];
        var taste = new double[r][];
        for (var i = 0; i < r; i++)
        {
            regionSize[i] = 1.0 / Math.Pow(i + 1, 0.6);
            taste[i] = new double[c];
            for (var k = 0; k < c; k++)
                taste[i][k] = rng.LogNormal(0, 0.6);
            for (var f = 0; f < 2; f++)
                taste[i][rng.Next(c)] *= 3.0;
        }
        var regionCumulative = SeededRandom.Cumulative(regionSize);

        // Products: category, brand, price (log-uniform in the category's range), global power-law popularity.
        var products = new DemoProduct[spec.Products];
        var popularity = new double[spec.Products];
        var rank = Enumerable.Range(0, spec.Products).ToArray();
        rng.Shuffle(rank.AsSpan());
        var byCategory = Enumerable.Range(0, c).Select(_ => new List<int>()).ToArray();
        for (var p = 0; p < spec.Products; p++)
        {
            // The first c products seed every category; the rest fall where they may.
            var k = p < c ? p : rng.Next(c);
            var cat = categories[k];
            var price = Math.Exp(Math.Log(cat.MinPrice) + rng.NextDouble() * (Math.Log(cat.MaxPrice) - Math.Log(cat.MinPrice)));
            var brand = (byte)rng.Next(cat.Brands.Length);
            var name = $"{cat.Brands[brand]} {Adjectives[rng.Next(Adjectives.Length)]} {cat.Nouns[rng.Next(cat.Nouns.Length)]}";
            products[p] = new DemoProduct((short)k, brand, Math.Round((decimal)Math.Max(1, Math.Floor(price)) + 0.99m, 2), name, Colours[rng.Next(Colours.Length)]);
            popularity[p] = 1.0 / Math.Pow(rank[p] + 1, 0.9);
            byCategory[k].Add(p);
        }

        // Bundles: 3–5 items of one category; a third of the bundles also pair with a bundle of another category.
        var bundle = new int[spec.Products];
        var bundleMembers = new List<int[]>();
        for (var k = 0; k < c; k++)
        {
            var items = byCategory[k].ToArray();
            rng.Shuffle(items.AsSpan());
            for (var start = 0; start < items.Length;)
            {
                var size = Math.Min(3 + rng.Next(3), items.Length - start);
                if (items.Length - start - size is > 0 and < 3)
                    size = items.Length - start;
                var members = items[start..(start + size)];
                foreach (var m in members)
                    bundle[m] = bundleMembers.Count;
                bundleMembers.Add(members);
                start += size;
            }
        }
        var pairedBundle = new int[bundleMembers.Count];
        for (var b = 0; b < pairedBundle.Length; b++)
            pairedBundle[b] = rng.NextDouble() < 0.33 ? rng.Next(bundleMembers.Count) : -1;
        var mates = new int[spec.Products][];
        for (var p = 0; p < spec.Products; p++)
        {
            var own = bundleMembers[bundle[p]].Where(m => m != p);
            var pb = pairedBundle[bundle[p]];
            mates[p] = (pb >= 0 && pb != bundle[p] ? own.Concat(bundleMembers[pb]) : own).ToArray();
        }

        // Regional favourites: six items from the region's two best-liked categories, picked by popularity.
        var favourites = new int[r][];
        var favouriteSet = new HashSet<int>[r];
        for (var i = 0; i < r; i++)
        {
            var liked = Enumerable.Range(0, c).OrderByDescending(k => taste[i][k]).Take(2).ToArray();
            var pool = liked.SelectMany(k => byCategory[k]).ToArray();
            var poolCumulative = SeededRandom.Cumulative(pool.Select(p => popularity[p]).ToArray());
            var chosen = new HashSet<int>();
            for (var guard = 0; chosen.Count < Math.Min(6, pool.Length) && guard < 1000; guard++)
                chosen.Add(pool[rng.Pick(poolCumulative)]);
            favourites[i] = chosen.Order().ToArray();
            favouriteSet[i] = chosen;
        }

        // Sampling tables per (region, segment, category): popularity × price preference × local favourite boost.
        var medianPrice = byCategory.Select(list => list.Select(p => (double)products[p].Price).Order().ElementAt(list.Count / 2)).ToArray();
        var tables = new double[r, 3, c][];
        for (var i = 0; i < r; i++)
        for (var s = 0; s < 3; s++)
        for (var k = 0; k < c; k++)
        {
            var exponent = s switch { 0 => -0.6, 1 => 0.0, _ => 0.6 };
            var weights = byCategory[k].Select(p =>
                popularity[p] * Math.Pow((double)products[p].Price / medianPrice[k], exponent) * (favouriteSet[i].Contains(p) ? 8.0 : 1.0)).ToArray();
            tables[i, s, k] = SeededRandom.Cumulative(weights);
        }

        // The same per (region, segment, category, brand): brand-loyal picks come from these.
        var brandTables = new double[r, 3, c][][];
        var byCategoryBrand = new int[c][][];
        for (var k = 0; k < c; k++)
        {
            var brands = categories[k].Brands.Length;
            byCategoryBrand[k] = Enumerable.Range(0, brands).Select(b => byCategory[k].Where(p => products[p].Brand == b).ToArray()).ToArray();
            for (var i = 0; i < r; i++)
            for (var s = 0; s < 3; s++)
            {
                var exponent = s switch { 0 => -0.6, 1 => 0.0, _ => 0.6 };
                brandTables[i, s, k] = byCategoryBrand[k].Select(list => SeededRandom.Cumulative(list.Select(p =>
                    popularity[p] * Math.Pow((double)products[p].Price / medianPrice[k], exponent) * (favouriteSet[i].Contains(p) ? 8.0 : 1.0)).ToArray())).ToArray();
            }
        }

        // The 12 months of the window, weighted by season and length.
        var monthStarts = Enumerable.Range(0, 13).Select(m => spec.Start.AddMonths(m)).ToArray();
        var monthCumulative = SeededRandom.Cumulative(Enumerable.Range(0, 12)
            .Select(m => MonthWeight[monthStarts[m].Month - 1] * (monthStarts[m + 1] - monthStarts[m]).TotalDays).ToArray());
        var seasonal = new double[12][];
        for (var m = 0; m < 12; m++)
            seasonal[m] = categories.Select(cat => SeasonalFactor(cat.Name, monthStarts[m].Month - 1)).ToArray();

        // Customers.
        var customers = new DemoCustomer[spec.Customers];
        var activity = new double[spec.Customers];
        for (var u = 0; u < spec.Customers; u++)
        {
            var region = (short)rng.Pick(regionCumulative);
            var age = (byte)Math.Clamp(18 + rng.Geometric(0.035) + rng.Next(5), 18, 90);
            var genderDraw = rng.NextDouble();
            var gender = (byte)(genderDraw < 0.49 ? 0 : genderDraw < 0.98 ? 1 : 2);
            var segmentDraw = rng.NextDouble();
            var segment = (byte)(segmentDraw < 0.35 ? 0 : segmentDraw < 0.8 ? 1 : 2);
            customers[u] = new DemoCustomer(region, (byte)rng.Next(regions[region].Cities.Length), age, gender, segment, rng.NextDouble() < 0.4);
            activity[u] = rng.LogNormal(0, 1.0);
        }
        var meanActivity = activity.Average();
        const double linesPerOrder = 2.2; // measured mean of the basket process below; sets the order rate
        var ordersPerCustomer = spec.OrderLines / linesPerOrder / spec.Customers;

        var orders = new List<DemoOrder>((int)(spec.OrderLines / linesPerOrder * 1.1) + 16);
        var lines = new List<DemoOrderLine>(spec.OrderLines + spec.OrderLines / 10 + 16);
        var views = new List<DemoView>((int)(spec.OrderLines * spec.ViewsPerOrderLine * 2.2) + 16);
        var history = new List<int>();
        var basket = new List<(int Product, short Quantity)>();
        var customerTaste = new double[c];
        var favouriteBrand = new int[c];
        var monthTaste = new double[c];
        var times = new List<long>();
        var startSeconds = new DateTimeOffset(spec.Start).ToUnixTimeSeconds();
        var reportEvery = Math.Max(1, spec.Customers / 100);

        for (var u = 0; u < spec.Customers; u++)
        {
            if (u % reportEvery == 0)
                progress?.Report((double)u / spec.Customers);
            var cu = customers[u];
            var youth = Math.Clamp((45.0 - cu.Age) / 25.0, -1, 1);
            for (var k = 0; k < c; k++)
                customerTaste[k] = taste[cu.Region][k] * Math.Exp(categories[k].Youth * youth) * rng.LogNormal(0, 0.7);
            customerTaste[rng.Next(c)] *= 3.0;
            for (var k = 0; k < c; k++)
                favouriteBrand[k] = rng.Next(categories[k].Brands.Length);

            var orderCount = rng.Poisson(ordersPerCustomer * activity[u] / meanActivity);
            times.Clear();
            for (var o = 0; o < orderCount; o++)
            {
                var m = rng.Pick(monthCumulative);
                var monthSeconds = (long)(monthStarts[m + 1] - monthStarts[m]).TotalSeconds;
                times.Add(new DateTimeOffset(monthStarts[m]).ToUnixTimeSeconds() + (long)(rng.NextDouble() * monthSeconds));
            }
            times.Sort();
            history.Clear();

            foreach (var time in times)
            {
                var m = MonthIndex(monthStarts, time, startSeconds);
                for (var k = 0; k < c; k++)
                    monthTaste[k] = customerTaste[k] * seasonal[m][k];
                var categoryCumulative = SeededRandom.Cumulative(monthTaste);

                basket.Clear();
                var size = 1 + rng.Geometric(0.6);
                for (var slot = 0; slot < size; slot++)
                {
                    int product;
                    var k = rng.Pick(categoryCumulative);
                    if (history.Count > 0 && rng.NextDouble() < categories[k].RepeatRate)
                        product = history[rng.Next(history.Count)];
                    else if (rng.NextDouble() < BrandLoyalty && byCategoryBrand[k][favouriteBrand[k]].Length > 0)
                        product = byCategoryBrand[k][favouriteBrand[k]][rng.Pick(brandTables[cu.Region, cu.Segment, k][favouriteBrand[k]])];
                    else
                        product = byCategory[k][rng.Pick(tables[cu.Region, cu.Segment, k])];
                    AddToBasket(basket, product, (short)(1 + rng.Geometric(categories[products[product].Category].Name == "Grocery" ? 0.5 : 0.8)));
                    if (mates[product].Length > 0 && rng.NextDouble() < 0.3)
                        AddToBasket(basket, mates[product][rng.Next(mates[product].Length)], 1);
                }

                var orderIndex = orders.Count;
                orders.Add(new DemoOrder(u, time));
                foreach (var (product, quantity) in basket)
                {
                    var discounted = rng.NextDouble() < 0.1;
                    var price = discounted ? Math.Round(products[product].Price * 0.8m, 2) : products[product].Price;
                    lines.Add(new DemoOrderLine(orderIndex, product, quantity, price));
                    history.Add(product);
                    if (rng.NextDouble() < spec.ViewsPerOrderLine)
                        views.Add(new DemoView(u, product, Math.Max(startSeconds, time - 60 - (long)(rng.NextDouble() * 3 * 86400))));
                    if (rng.NextDouble() < spec.ViewsPerOrderLine)
                    {
                        var k = products[product].Category;
                        var browsed = byCategory[k][rng.Pick(tables[cu.Region, cu.Segment, k])];
                        views.Add(new DemoView(u, browsed, Math.Max(startSeconds, time - 30 - (long)(rng.NextDouble() * 86400))));
                    }
                }
            }
        }
        progress?.Report(1.0);

        return new DemoDataSet
        {
            Spec = spec,
            Regions = regions,
            Categories = categories,
            Customers = customers,
            Products = products,
            Orders = orders,
            Lines = lines,
            Views = views,
            ProductBundle = bundle,
            RegionFavourites = favourites,
            BundlePartner = pairedBundle,
            NicheProducts = Enumerable.Range(0, spec.Products).Where(p => rank[p] >= spec.Products / 2).ToArray(),
        };
    }

    private static void AddToBasket(List<(int Product, short Quantity)> basket, int product, short quantity)
    {
        for (var i = 0; i < basket.Count; i++)
        {
            if (basket[i].Product == product)
            {
                basket[i] = (product, (short)Math.Min(short.MaxValue, basket[i].Quantity + quantity));
                return;
            }
        }
        basket.Add((product, quantity));
    }

    private static int MonthIndex(DateTime[] monthStarts, long time, long startSeconds)
    {
        var at = DateTime.UnixEpoch.AddSeconds(time);
        var m = (at.Year - monthStarts[0].Year) * 12 + at.Month - monthStarts[0].Month;
        return time < startSeconds ? 0 : Math.Clamp(m, 0, 11);
    }
}
