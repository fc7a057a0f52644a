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

/// <summary>A category: price range, brands, product nouns, how often customers buy the same item of it again, and its profile over the taste dimensions.</summary>
public readonly record struct DemoCategory(string Name, double MinPrice, double MaxPrice, string[] Brands, string[] Nouns, double RepeatRate, double[] Taste);

public record struct DemoCustomer(short Region, byte City, byte Age, byte Gender, byte Segment, bool Loyalty);

public record struct DemoProduct(short Category, byte Brand, decimal Price, string Name, string Colour);

/// <summary>An order of customer <c>Customer</c> (0-based) at <c>Time</c> (Unix seconds).</summary>
public record struct DemoOrder(int Customer, long Time);

public record struct DemoOrderLine(int Order, int Product, short Quantity, decimal UnitPrice);

public record struct DemoView(int Customer, int Product, long Time);

/// <summary>What the generator made a product into (the ground truth behind the heatmap).</summary>
public enum DemoProductRole : byte
{
    /// <summary>An ordinary catalogue item, chosen by taste, popularity, brand and bundles.</summary>
    Regular,

    /// <summary>A regular item in the less popular half of the catalogue: few customers want it.</summary>
    Niche,

    /// <summary>A local staple: most of its region's customers buy it again and again (they have it already).</summary>
    Staple,

    /// <summary>A local favourite: launched during the year, most of its region's customers want it, few elsewhere; it is still spreading.</summary>
    Favourite,

    /// <summary>A national hit: launched during the year, wanted in every region, still spreading.</summary>
    Hit,
}

/// <summary>A generated business, plus the ground truth the generator planted (for tests, the heatmap's reader and a shopper simulator).</summary>
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

    /// <summary>Bundle (co-purchase cluster) of each product; staples, favourites and hits are bundles of their own.</summary>
    public required int[] ProductBundle { get; init; }

    /// <summary>Per bundle, the bundle of another category it is bought with (like a tent with sleeping bags), or −1.</summary>
    public required int[] BundlePartner { get; init; }

    /// <summary>What each product is: regular, niche, a local staple, a local favourite or a national hit.</summary>
    public required DemoProductRole[] ProductRole { get; init; }

    /// <summary>Per region, its local favourites: products most of its customers want and, at the end of the window, most have not bought yet.</summary>
    public required int[][] RegionFavourites { get; init; }

    /// <summary>Per region, its local staples: products most of its customers buy regularly (so a model can tell where they live).</summary>
    public required int[][] RegionStaples { get; init; }

    /// <summary>Per region, the category its local products belong to (its speciality).</summary>
    public required int[] RegionSpeciality { get; init; }

    /// <summary>Products every region wants, launched during the window.</summary>
    public required int[] NationalHits { get; init; }

    /// <summary>Regular products in the less popular half of the catalogue.</summary>
    public required int[] NicheProducts { get; init; }

    /// <summary>When each product went on sale (Unix seconds); the window's start for those on sale all along.</summary>
    public required long[] ProductLaunch { get; init; }

    /// <summary>Each customer's taste over <see cref="TasteDimensions"/> (row-major, customers × dimensions, each row summing to 1).</summary>
    public required float[] CustomerTaste { get; init; }

    /// <summary>Each product's profile over <see cref="TasteDimensions"/> (row-major, products × dimensions, each row summing to 1).</summary>
    public required float[] ProductTaste { get; init; }

    /// <summary>Each region's taste mix over <see cref="TasteDimensions"/> (row-major, regions × dimensions, each row summing to 1).</summary>
    public required float[] RegionTaste { get; init; }

    public ReadOnlySpan<float> TasteOfCustomer(int customer) => CustomerTaste.AsSpan(customer * TasteDimensions.Length, TasteDimensions.Length);

    public ReadOnlySpan<float> TasteOfProduct(int product) => ProductTaste.AsSpan(product * TasteDimensions.Length, TasteDimensions.Length);

    public static readonly string[] TasteDimensions = ["family", "outdoor", "tech", "home", "premium"];
    public static readonly string[] Genders = ["female", "male", "other"];
    public static readonly string[] Segments = ["budget", "mainstream", "premium"];
}

/// <summary>
/// A deterministic retail business (the same spec and seed give the same data on any machine). The story:
/// <para>
/// Customers have tastes over five dimensions (family, outdoor, tech, home, premium). Each of the twenty regions,
/// of different sizes, has its own mix of them; a customer's taste is drawn around their region's mix and shifted by
/// age (the young lean to tech, people of 25–45 to family, older people to home and garden) and segment (premium
/// customers to premium, budget ones away from it). Categories have taste profiles (toys and baby are family,
/// sports and garden outdoor...), and so do products inside their category: each leans to one dimension (a kids'
/// tablet, a premium kettle). A customer picks a category by how well it fits their taste, with three or so habit
/// categories they come back to; within it they pick by taste fit × popularity (a power law) × price fit for their
/// segment, half the time within their favourite brand there. Items come in bundles of 3–5 of one category, some
/// paired with a bundle of another; a bundle mate is often put in the same basket or bought later to complete the set.
/// Repeat purchases follow the category's habit (groceries and pet food often, televisions rarely). Activity is
/// heavy-tailed (log-normal); orders follow the season (Christmas peak, garden in spring and summer, toys in December).
/// </para>
/// <para>
/// Regions differ visibly. Each has a speciality category with a few local staples that most of its customers buy
/// regularly (a local coffee, a local bakery's granola: they say where a customer lives), and a handful of local
/// favourites: new local products launched during the year that nearly everyone in the region wants but, by the end
/// of the window, only a minority has got round to buying (each customer adopts them at a time of their own). A few
/// national hits spread the same way in every region. So a model that finds the regions puts the favourites in front
/// of most of a region's customers, and the hits in front of most customers everywhere; most of the catalogue is
/// niche. Views precede many purchases, and browsing views fall on other items of the same category.
/// </para>
/// <para>
/// Ground truth is recorded: bundles, staples, favourites, hits, niche products, launch times and every customer's and
/// product's taste vector.
/// </para>
/// </summary>
public static class DemoDataGenerator
{
    private const int Family = 0, Outdoor = 1, Tech = 2, Home = 3, Premium = 4, Dimensions = 5;

    /// <summary>Share of a customer's new picks in a category that keep to their style there (the rest follow their taste).</summary>
    private const double StyleLoyalty = 0.7;

    /// <summary>Added to a category's profile when drawing the styles of its items, so every category has items of every style.</summary>
    private const double StyleSpread = 0.3;

    /// <summary>Spread (log-normal σ) of a regular item's popularity from region to region: the regional assortment.</summary>
    private const double RegionalSkew = 1.5;

    /// <summary>How sharply category choice follows taste: appeal = exp(CategorySharpness × taste · profile).</summary>
    private const double CategorySharpness = 5.0;

    /// <summary>Power law of items' base popularity: weight = 1 / rank^PopularityExponent.</summary>
    private const double PopularityExponent = 0.9;

    /// <summary>Categories a customer keeps coming back to, and how much more they buy there.</summary>
    private const int HabitCategories = 3;
    private const double HabitBoost = 6.0;

    /// <summary>Spread (log-normal σ) of customers' activity: a heavy tail of frequent shoppers.</summary>
    private const double ActivitySpread = 0.8;

    /// <summary>Chance that an item is joined in its basket by a bundle mate; chance that a new pick completes a set the customer started.</summary>
    private const double MateInBasket = 0.3;
    private const double CompleteSet = 0.25;

    /// <summary>Chance that an order holds one of the region's staples, and that it is the customer's usual one rather than any.</summary>
    private const double StapleRate = 0.8;
    private const double UsualStaple = 0.3;

    private const int StaplesPerRegion = 4;
    private const int FavouritesPerRegion = 5;
    private const int MaxHits = 3;

    /// <summary>Shares of a region's customers that have bought a favourite, and of all customers a hit, by the end of the window (drawn per product).</summary>
    private static readonly (double Low, double High) FavouritePenetration = (0.08, 0.3);
    private static readonly (double Low, double High) HitPenetration = (0.12, 0.25);

    /// <summary>Launch windows, as fractions of the 12 months.</summary>
    private static readonly (double Low, double High) FavouriteLaunch = (0.2, 0.6);
    private static readonly (double Low, double High) HitLaunch = (0.25, 0.55);

    /// <summary>
    /// How much sooner busy shoppers pick up something new: the chance per order grows as activity^AdoptionEagerness, so
    /// early adopters are frequent shoppers (which is what makes a spreading product a hub of co-purchases).
    /// </summary>
    private const double AdoptionEagerness = 1.5;

    /// <summary>A hit spreads faster among customers whose taste fits it: chance × (fit / 0.2)^HitTasteFit.</summary>
    private const double HitTasteFit = 1.5;

    /// <summary>Customers who buy the local staples try the local favourites this many times as readily (the others as much less).</summary>
    private const double StapleShopperLift = 2.0;

    /// <summary>Chance that a customer picks up one favourite of another region (a visit, a gift).</summary>
    private const double Spillover = 0.05;

    /// <summary>Measured mean lines per order of the process below; sets the order rate from the target line count.</summary>
    private const double LinesPerOrder = 3.1;

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

    // Taste profiles: family, outdoor, tech, home, premium.
    private static readonly DemoCategory[] AllCategories =
    [
        new("Electronics", 15, 900, ["Voltix", "Nordtek", "Sonaro", "Pixelis", "Ampere"], ["Headphones", "Speaker", "Tablet", "Charger", "Camera", "Smartwatch"], 0.05, [0, 0, 1, 0, 0.2]),
        new("Home & Kitchen", 5, 250, ["Casaluna", "Hearth & Co", "Kitcho", "Domus"], ["Kettle", "Pan Set", "Knife Block", "Blender", "Mug Set", "Toaster"], 0.15, [0.2, 0, 0, 1, 0.1]),
        new("Garden", 4, 400, ["Greenway", "Bloomfield", "Terrafirm", "Sprout"], ["Hose", "Planter", "Seed Kit", "Pruner", "Lawn Feed", "Bird Feeder"], 0.2, [0, 0.7, 0, 0.5, 0]),
        new("Toys", 5, 120, ["Joybox", "Tinkertoy", "Brickle", "Funfair"], ["Puzzle", "Building Set", "Plush Bear", "Board Game", "Race Car", "Doll House"], 0.08, [1, 0, 0.1, 0, 0]),
        new("Books", 4, 45, ["Inkwell", "Pagefold", "Quill House", "Marginalia"], ["Novel", "Cookbook", "Atlas", "Biography", "Poetry Collection", "Field Guide"], 0.12, [0.2, 0.1, 0.1, 0.6, 0.1]),
        new("Fashion", 8, 220, ["Threadline", "Urbano", "Velvetta", "Northcoat"], ["Jacket", "Scarf", "Sneakers", "Jeans", "Hoodie", "Handbag"], 0.1, [0, 0.1, 0, 0, 1]),
        new("Beauty", 3, 90, ["Lumiere", "Pure Petal", "Glowhaus", "Aurae"], ["Face Cream", "Lipstick", "Shampoo", "Perfume", "Serum", "Nail Kit"], 0.35, [0, 0, 0, 0.3, 0.8]),
        new("Sports", 6, 500, ["Strideon", "Peakform", "Aquafin", "Kinetica"], ["Yoga Mat", "Running Shoes", "Dumbbells", "Tent", "Bike Helmet", "Water Bottle"], 0.08, [0, 1, 0, 0, 0.1]),
        new("Grocery", 1, 30, ["Harvest Lane", "Good Grain", "Daily Fare", "Orchard"], ["Coffee Beans", "Olive Oil", "Tea Selection", "Granola", "Chocolate", "Pasta"], 0.5, [0.4, 0, 0, 0.6, 0.1]),
        new("Pet Supplies", 2, 120, ["Pawsome", "Whisker", "Barkley", "Furball"], ["Dog Food", "Cat Litter", "Chew Toy", "Pet Bed", "Leash", "Fish Food"], 0.45, [0.3, 0.5, 0, 0.3, 0]),
        new("Office", 2, 350, ["Deskwise", "Paperhaus", "Inkjetix", "Officina"], ["Notebook", "Desk Lamp", "Office Chair", "Printer Ink", "Pen Set", "Organiser"], 0.2, [0, 0, 0.6, 0.4, 0]),
        new("Automotive", 5, 300, ["Roadstar", "Torqueline", "Motiva", "Gearhead"], ["Car Wax", "Dash Cam", "Seat Cover", "Jump Starter", "Tyre Inflator", "Wiper Blades"], 0.1, [0, 0.5, 0.4, 0, 0.1]),
        new("Health", 3, 150, ["Vitalis", "Carewell", "Medora", "Wellnest"], ["Vitamins", "Thermometer", "First Aid Kit", "Massager", "Protein Powder", "Blood Pressure Monitor"], 0.4, [0.1, 0.3, 0, 0.6, 0.1]),
        new("Music", 8, 700, ["Tonewood", "Soundcraft", "Melodia", "Rhythmix"], ["Guitar Strings", "Ukulele", "Keyboard", "Drum Pads", "Microphone", "Vinyl Record"], 0.1, [0.1, 0, 0.5, 0.1, 0.4]),
        new("Baby", 4, 300, ["Littleleaf", "Cuddle", "Nestling", "Tiny Steps"], ["Nappies", "Baby Monitor", "Stroller", "Bottle Set", "Cot Mobile", "Baby Wipes"], 0.45, [1, 0, 0, 0.2, 0]),
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

    /// <summary>Age's pull on each taste dimension (multipliers).</summary>
    private static void AgeShift(int age, Span<double> taste)
    {
        taste[Family] *= age is >= 25 and <= 45 ? 2.0 : 0.6;
        taste[Outdoor] *= age >= 55 ? 1.3 : 1.0;
        taste[Tech] *= age < 35 ? 1.8 : age >= 60 ? 0.5 : 1.0;
        taste[Home] *= age >= 50 ? 1.6 : age < 30 ? 0.7 : 1.0;
    }

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
        var startSeconds = new DateTimeOffset(spec.Start).ToUnixTimeSeconds();
        var endSeconds = new DateTimeOffset(spec.End).ToUnixTimeSeconds();
        var windowSeconds = endSeconds - startSeconds;

        // Category profiles, normalised to sum 1.
        var categoryTaste = categories.Select(k => Normalised(k.Taste)).ToArray();

        // Regions: sizes fall off with rank; each has a taste mix with one dimension it leans to, and a speciality category
        // (consumables more likely: local products are mostly things bought again), spread so few regions share one.
        var regionSize = new double[r];
        var regionTaste = new double[r][];
        var speciality = new int[r];
        var specialityTaken = new int[c];
        for (var i = 0; i < r; i++)
        {
            regionSize[i] = 1.0 / Math.Pow(i + 1, 0.6);
            var mix = new double[Dimensions];
            for (var d = 0; d < Dimensions; d++)
                mix[d] = rng.LogNormal(0, 0.5);
            mix[rng.Next(Dimensions)] *= 2.5;
            regionTaste[i] = Normalised(mix);
            var weights = categories.Select((k, j) => (k.RepeatRate + 0.05) / Math.Pow(1 + specialityTaken[j], 3)).ToArray();
            speciality[i] = rng.Pick(SeededRandom.Cumulative(weights));
            specialityTaken[speciality[i]]++;
        }
        var regionCumulative = SeededRandom.Cumulative(regionSize);

        // Products: category, brand, the taste dimension it leans to, price (log-uniform in the category's range; premium
        // items from its dearer part), global power-law popularity.
        var products = new DemoProduct[spec.Products];
        var productTaste = new float[spec.Products * Dimensions];
        var popularity = new double[spec.Products];
        var productLean = new byte[spec.Products];
        var rank = Enumerable.Range(0, spec.Products).ToArray();
        rng.Shuffle(rank.AsSpan());
        var byCategory = Enumerable.Range(0, c).Select(_ => new List<int>()).ToArray();
        for (var p = 0; p < spec.Products; p++)
        {
            // The first c products seed every category; the rest fall where they may.
            var k = p < c ? p : rng.Next(c);
            var cat = categories[k];
            var lean = rng.Pick(SeededRandom.Cumulative(categoryTaste[k].Select(t => t + StyleSpread).ToArray()));
            productLean[p] = (byte)lean;
            var position = lean == Premium ? 0.6 + 0.4 * rng.NextDouble() : rng.NextDouble();
            var price = Math.Exp(Math.Log(cat.MinPrice) + position * (Math.Log(cat.MaxPrice) - Math.Log(cat.MinPrice)));
            var brand = (byte)rng.Next(cat.Brands.Length);
            var name = $"{cat.Brands[brand]} {Adjectives[rng.Next(Adjectives.Length)]} {cat.Nouns[rng.Next(cat.Nouns.Length)]}";
            products[p] = new DemoProduct((short)k, brand, Math.Round((decimal)Math.Max(1, Math.Floor(price)) + 0.99m, 2), name, Colours[rng.Next(Colours.Length)]);
            for (var d = 0; d < Dimensions; d++)
                productTaste[p * Dimensions + d] = (float)(0.5 * categoryTaste[k][d] + (d == lean ? 0.5 : 0));
            popularity[p] = 1.0 / Math.Pow(rank[p] + 1, PopularityExponent);
            byCategory[k].Add(p);
        }

        // Local products and national hits, taken from the regular catalogue (every category keeps at least two regular items).
        var role = new DemoProductRole[spec.Products];
        var launch = Enumerable.Repeat(startSeconds, spec.Products).ToArray();
        var penetration = new double[spec.Products];
        var regular = byCategory.Select(list => list.ToList()).ToArray();
        int? TakeFrom(int k)
        {
            if (regular[k].Count <= 2)
                return null;
            var at = rng.Next(regular[k].Count);
            var p = regular[k][at];
            regular[k].RemoveAt(at);
            return p;
        }
        var staples = new int[r][];
        var favourites = new int[r][];
        for (var i = 0; i < r; i++)
        {
            var local = new List<int>();
            for (var n = 0; n < StaplesPerRegion + FavouritesPerRegion; n++)
            {
                if (TakeFrom(speciality[i]) is not { } p)
                    break;
                var cat = categories[speciality[i]];
                products[p] = products[p] with { Name = $"{cat.Brands[products[p].Brand]} {regions[i].Name} {cat.Nouns[rng.Next(cat.Nouns.Length)]}" };
                local.Add(p);
            }
            staples[i] = local.Take(StaplesPerRegion).ToArray();
            favourites[i] = local.Skip(StaplesPerRegion).ToArray();
            foreach (var p in staples[i])
                role[p] = DemoProductRole.Staple;
            foreach (var p in favourites[i])
            {
                role[p] = DemoProductRole.Favourite;
                launch[p] = startSeconds + (long)(windowSeconds * Uniform(rng, FavouriteLaunch));
                penetration[p] = Uniform(rng, FavouritePenetration);
            }
        }
        var hits = new List<int>();
        for (var n = 0; n < Math.Min(MaxHits, Math.Max(1, spec.Products / 150)); n++)
        {
            if (TakeFrom(rng.Next(c)) is not { } p)
                continue;
            hits.Add(p);
            role[p] = DemoProductRole.Hit;
            launch[p] = startSeconds + (long)(windowSeconds * Uniform(rng, HitLaunch));
            penetration[p] = Uniform(rng, HitPenetration);
        }
        for (var p = 0; p < spec.Products; p++)
        {
            if (role[p] == DemoProductRole.Regular && rank[p] >= spec.Products / 2)
                role[p] = DemoProductRole.Niche;
        }

        // Bundles: 3–5 regular items of one category; a third of the bundles also pair with a bundle of another category.
        // Local products and hits are bundles of their own.
        var bundle = new int[spec.Products];
        var bundleMembers = new List<int[]>();
        for (var k = 0; k < c; k++)
        {
            var items = regular[k].ToArray();
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
        var regularBundles = bundleMembers.Count;
        for (var p = 0; p < spec.Products; p++)
        {
            if (role[p] is DemoProductRole.Staple or DemoProductRole.Favourite or DemoProductRole.Hit)
            {
                bundle[p] = bundleMembers.Count;
                bundleMembers.Add([p]);
            }
        }
        var pairedBundle = new int[bundleMembers.Count];
        for (var b = 0; b < pairedBundle.Length; b++)
        {
            var partner = b < regularBundles && rng.NextDouble() < 0.33 ? rng.Next(regularBundles) : -1;
            pairedBundle[b] = partner == b ? -1 : partner;
        }
        var mates = new int[spec.Products][];
        for (var p = 0; p < spec.Products; p++)
        {
            var own = bundleMembers[bundle[p]].Where(m => m != p);
            var pb = pairedBundle[bundle[p]];
            mates[p] = (pb >= 0 ? own.Concat(bundleMembers[pb]) : own).ToArray();
        }

        // Regional assortment: each regular product sells better in some regions than in others.
        var regional = new double[r][];
        for (var i = 0; i < r; i++)
        {
            regional[i] = new double[spec.Products];
            for (var p = 0; p < spec.Products; p++)
                regional[i][p] = rng.LogNormal(0, RegionalSkew);
        }

        // Sampling tables per (region, segment, category, style) over the regular items: popularity × regional
        // multiplier × price fit for the segment. A style is the taste dimension an item leans to.
        var medianPrice = byCategory.Select(list => list.Select(p => (double)products[p].Price).Order().ElementAt(list.Count / 2)).ToArray();
        var regularByCategory = regular.Select(list => list.Order().ToArray()).ToArray();
        var byCategoryLean = new int[c][][];
        for (var k = 0; k < c; k++)
            byCategoryLean[k] = Enumerable.Range(0, Dimensions).Select(d => regularByCategory[k].Where(p => productLean[p] == d).ToArray()).ToArray();
        var tables = new double[r, 3, c][][];
        for (var i = 0; i < r; i++)
        for (var s = 0; s < 3; s++)
        for (var k = 0; k < c; k++)
        {
            var exponent = s switch { 0 => -0.6, 1 => 0.0, _ => 0.6 };
            var region = regional[i];
            tables[i, s, k] = byCategoryLean[k].Select(list => SeededRandom.Cumulative(list.Select(p =>
                popularity[p] * region[p] * Math.Pow((double)products[p].Price / medianPrice[k], exponent)).ToArray())).ToArray();
        }

        // The 12 months of the window, weighted by season and length.
        var monthStarts = Enumerable.Range(0, 13).Select(m => spec.Start.AddMonths(m)).ToArray();
        var monthCumulative = SeededRandom.Cumulative(Enumerable.Range(0, 12)
            .Select(m => MonthWeight[monthStarts[m].Month - 1] * (monthStarts[m + 1] - monthStarts[m]).TotalDays).ToArray());
        var seasonal = new double[12][];
        for (var m = 0; m < 12; m++)
            seasonal[m] = categories.Select(cat => SeasonalFactor(cat.Name, monthStarts[m].Month - 1)).ToArray();

        var allFavourites = favourites.SelectMany(f => f).ToArray();

        // Customers.
        var customers = new DemoCustomer[spec.Customers];
        var customerTaste = new float[spec.Customers * Dimensions];
        var activity = new double[spec.Customers];
        var taste = new double[Dimensions];
        for (var u = 0; u < spec.Customers; u++)
        {
            var region = (short)rng.Pick(regionCumulative);
            var age = (byte)Math.Clamp(18 + rng.Geometric(0.035) + rng.Next(5), 18, 90);
            var genderDraw = rng.NextDouble();
            var gender = (byte)(genderDraw < 0.49 ? 0 : genderDraw < 0.98 ? 1 : 2);
            var segmentDraw = rng.NextDouble();
            var segment = (byte)(segmentDraw < 0.35 ? 0 : segmentDraw < 0.8 ? 1 : 2);
            customers[u] = new DemoCustomer(region, (byte)rng.Next(regions[region].Cities.Length), age, gender, segment, rng.NextDouble() < 0.4);
            activity[u] = rng.LogNormal(0, ActivitySpread);
            for (var d = 0; d < Dimensions; d++)
                taste[d] = regionTaste[region][d] * rng.LogNormal(0, 0.6);
            AgeShift(age, taste);
            taste[Premium] *= segment switch { 0 => 0.35, 1 => 1.0, _ => 3.0 };
            var sum = taste.Sum();
            for (var d = 0; d < Dimensions; d++)
                customerTaste[u * Dimensions + d] = (float)(taste[d] / sum);
        }
        var meanActivity = activity.Average();
        var ordersPerCustomer = spec.OrderLines / LinesPerOrder / spec.Customers;

        // Adoption of favourites and hits: every order after launch picks the product up with chance q × the customer's
        // eagerness (× taste fit or staple shopping); q is solved (bisection over a sample of customers) so that about the
        // planted share of customers has it by the end of the window.
        var hazard = new double[spec.Products];
        var sample = activity.Take(4000).Select(a => (Orders: ordersPerCustomer * a / meanActivity, Eagerness: Math.Pow(a / meanActivity, AdoptionEagerness))).ToArray();
        for (var p = 0; p < spec.Products; p++)
        {
            if (penetration[p] <= 0)
                continue;
            var after = MassAfter(monthStarts, monthCumulative, launch[p]);
            double low = 0, high = 1;
            for (var step = 0; step < 40; step++)
            {
                var q = (low + high) / 2;
                var share = sample.Average(x => 1 - Math.Exp(-Math.Min(1, q * x.Eagerness) * x.Orders * after));
                if (share < penetration[p]) low = q; else high = q;
            }
            hazard[p] = (low + high) / 2;
        }

        var orders = new List<DemoOrder>((int)(spec.OrderLines / LinesPerOrder * 1.1) + 16);
        var lines = new List<DemoOrderLine>(spec.OrderLines + spec.OrderLines / 10 + 16);
        var views = new List<DemoView>((int)(spec.OrderLines * spec.ViewsPerOrderLine * 2.2) + 16);
        var historyByCategory = Enumerable.Range(0, c).Select(_ => new List<int>()).ToArray();
        var owned = new HashSet<int>();
        var basket = new List<(int Product, short Quantity)>();
        var appeal = new double[c];
        var style = new int[c];
        var leanCumulative = new double[c][];
        var monthAppeal = new double[c];
        var times = new List<long>();
        var adoptions = new List<(int Product, double Appeal, bool Done)>();
        var candidates = new List<int>();
        var reportEvery = Math.Max(1, spec.Customers / 100);

        for (var u = 0; u < spec.Customers; u++)
        {
            if (u % reportEvery == 0)
                progress?.Report((double)u / spec.Customers);
            var cu = customers[u];
            var mine = customerTaste.AsSpan(u * Dimensions, Dimensions);

            int PickRegular(int k)
            {
                var lean = rng.NextDouble() < StyleLoyalty ? style[k] : rng.Pick(leanCumulative[k]);
                return byCategoryLean[k][lean][rng.Pick(tables[cu.Region, cu.Segment, k][lean])];
            }

            // Category appeal: taste fit, a whim, and a few habit categories.
            for (var k = 0; k < c; k++)
            {
                double fit = 0;
                for (var d = 0; d < Dimensions; d++)
                    fit += mine[d] * categoryTaste[k][d];
                appeal[k] = Math.Exp(CategorySharpness * fit) * rng.LogNormal(0, 0.4);
            }
            var habitCumulative = SeededRandom.Cumulative(appeal);
            for (var h = 0; h < HabitCategories; h++)
                appeal[rng.Pick(habitCumulative)] *= HabitBoost;
            // Styles: per category, the one they keep to and how they choose when they stray (by taste).
            for (var k = 0; k < c; k++)
            {
                var weights = new double[Dimensions];
                for (var d = 0; d < Dimensions; d++)
                    weights[d] = byCategoryLean[k][d].Length == 0 ? 0 : mine[d] * mine[d] * (categoryTaste[k][d] + StyleSpread);
                leanCumulative[k] = SeededRandom.Cumulative(weights);
                style[k] = rng.Pick(leanCumulative[k]);
            }
            var localStaples = staples[cu.Region];
            var mainStaple = localStaples.Length > 0 ? rng.Next(localStaples.Length) : -1;

            adoptions.Clear();
            foreach (var p in favourites[cu.Region])
                adoptions.Add((p, 1, false));
            foreach (var p in hits)
            {
                double fit = 0;
                for (var d = 0; d < Dimensions; d++)
                    fit += mine[d] * productTaste[p * Dimensions + d];
                adoptions.Add((p, Math.Pow(fit / 0.2, HitTasteFit), false));
            }
            if (allFavourites.Length > 0 && rng.NextDouble() < Spillover)
                adoptions.Add((allFavourites[rng.Next(allFavourites.Length)], 1, false));

            var orderCount = rng.Poisson(ordersPerCustomer * activity[u] / meanActivity);
            var eagerness = Math.Pow(activity[u] / meanActivity, AdoptionEagerness);
            var stapleLines = 0;
            times.Clear();
            for (var o = 0; o < orderCount; o++)
            {
                var m = rng.Pick(monthCumulative);
                var monthSeconds = (long)(monthStarts[m + 1] - monthStarts[m]).TotalSeconds;
                times.Add(new DateTimeOffset(monthStarts[m]).ToUnixTimeSeconds() + (long)(rng.NextDouble() * monthSeconds));
            }
            times.Sort();
            foreach (var list in historyByCategory)
                list.Clear();
            owned.Clear();

            foreach (var time in times)
            {
                var m = MonthIndex(monthStarts, time, startSeconds);
                for (var k = 0; k < c; k++)
                    monthAppeal[k] = appeal[k] * seasonal[m][k];
                var categoryCumulative = SeededRandom.Cumulative(monthAppeal);

                basket.Clear();
                var size = 1 + rng.Geometric(0.6);
                for (var slot = 0; slot < size; slot++)
                {
                    var k = rng.Pick(categoryCumulative);
                    var before = historyByCategory[k];
                    int product;
                    if (before.Count > 0 && rng.NextDouble() < categories[k].RepeatRate)
                    {
                        product = before[rng.Next(before.Count)];
                    }
                    else
                    {
                        candidates.Clear();
                        if (before.Count > 0 && rng.NextDouble() < CompleteSet)
                        {
                            foreach (var b in before)
                            foreach (var mate in mates[b])
                                if (products[mate].Category == k && !owned.Contains(mate))
                                    candidates.Add(mate);
                        }
                        if (candidates.Count > 0)
                            product = candidates[rng.Next(candidates.Count)];
                        else
                            product = PickRegular(k);
                    }
                    AddToBasket(basket, product, (short)(1 + rng.Geometric(categories[k].Name == "Grocery" ? 0.5 : 0.8)));
                    if (mates[product].Length > 0 && rng.NextDouble() < MateInBasket)
                        AddToBasket(basket, mates[product][rng.Next(mates[product].Length)], 1);
                }
                if (mainStaple >= 0 && rng.NextDouble() < StapleRate)
                {
                    var staple = rng.NextDouble() < UsualStaple ? localStaples[mainStaple] : localStaples[rng.Next(localStaples.Length)];
                    AddToBasket(basket, staple, (short)(1 + rng.Geometric(0.6)));
                    stapleLines++;
                }
                for (var a = 0; a < adoptions.Count; a++)
                {
                    var (product, appealOf, done) = adoptions[a];
                    if (done || time < launch[product])
                        continue;
                    var lift = role[product] == DemoProductRole.Favourite ? (stapleLines > 0 ? StapleShopperLift : 1 / StapleShopperLift) : 1;
                    if (rng.NextDouble() < hazard[product] * eagerness * appealOf * lift)
                    {
                        AddToBasket(basket, product, 1);
                        adoptions[a] = (product, appealOf, true);
                    }
                }

                var orderIndex = orders.Count;
                orders.Add(new DemoOrder(u, time));
                foreach (var (product, quantity) in basket)
                {
                    var discounted = rng.NextDouble() < 0.1;
                    var price = discounted ? Math.Round(products[product].Price * 0.8m, 2) : products[product].Price;
                    lines.Add(new DemoOrderLine(orderIndex, product, quantity, price));
                    var k = products[product].Category;
                    historyByCategory[k].Add(product);
                    owned.Add(product);
                    if (rng.NextDouble() < spec.ViewsPerOrderLine)
                        views.Add(new DemoView(u, product, Math.Max(Math.Max(startSeconds, launch[product]), time - 60 - (long)(rng.NextDouble() * 3 * 86400))));
                    if (rng.NextDouble() < spec.ViewsPerOrderLine)
                    {
                        var browsed = PickRegular(k);
                        views.Add(new DemoView(u, browsed, Math.Max(startSeconds, time - 30 - (long)(rng.NextDouble() * 86400))));
                    }
                }
            }
        }
        progress?.Report(1.0);

        var regionTasteOut = new float[r * Dimensions];
        for (var i = 0; i < r; i++)
        for (var d = 0; d < Dimensions; d++)
            regionTasteOut[i * Dimensions + d] = (float)regionTaste[i][d];
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
            BundlePartner = pairedBundle,
            ProductRole = role,
            RegionFavourites = favourites,
            RegionStaples = staples,
            RegionSpeciality = speciality,
            NationalHits = [.. hits],
            NicheProducts = Enumerable.Range(0, spec.Products).Where(p => role[p] == DemoProductRole.Niche).ToArray(),
            ProductLaunch = launch,
            CustomerTaste = customerTaste,
            ProductTaste = productTaste,
            RegionTaste = regionTasteOut,
        };
    }

    private static double MassAfter(DateTime[] monthStarts, double[] monthCumulative, long time)
    {
        double before = 0;
        for (var m = 0; m < 12; m++)
        {
            var from = new DateTimeOffset(monthStarts[m]).ToUnixTimeSeconds();
            var to = new DateTimeOffset(monthStarts[m + 1]).ToUnixTimeSeconds();
            var mass = monthCumulative[m] - (m == 0 ? 0 : monthCumulative[m - 1]);
            before += time >= to ? mass : time <= from ? 0 : mass * (time - from) / (to - from);
        }
        return 1 - before / monthCumulative[^1];
    }

    private static double Uniform(SeededRandom rng, (double Low, double High) range) => range.Low + (range.High - range.Low) * rng.NextDouble();

    private static double[] Normalised(double[] weights)
    {
        var sum = weights.Sum();
        return weights.Select(w => w / sum).ToArray();
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
