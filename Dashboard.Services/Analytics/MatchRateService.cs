using System.ComponentModel.DataAnnotations;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Services.Models;

namespace Recs.Services.Analytics;

/// <summary>The <c>Regions</c> configuration section: tier thresholds and when a cell is too thin to trust.</summary>
public sealed class RegionOptions
{
    public const string Section = "Regions";

    [Range(0.0, 1.0, ErrorMessage = "Regions:HighTier must be between 0 and 1.")]
    public double HighTier { get; set; } = 0.8;

    [Range(0.0, 1.0, ErrorMessage = "Regions:MediumTier must be between 0 and 1.")]
    public double MediumTier { get; set; } = 0.4;

    /// <summary>Cells with fewer users than this are marked unreliable instead of coloured like the rest.</summary>
    [Range(1, 100_000, ErrorMessage = "Regions:MinUsers must be at least 1.")]
    public int MinUsers { get; set; } = 30;

    /// <summary>Values within this distance of a tier threshold are marked as borderline (0.02 = 2 points).</summary>
    [Range(0.0, 0.5, ErrorMessage = "Regions:Borderline must be between 0 and 0.5.")]
    public double Borderline { get; set; } = 0.02;
}

/// <summary>What the Regions page asks for. Sample = 50 seeded users per region (as the old pipeline did); otherwise all users.</summary>
public sealed record MatchRateQuery(int TopN = 10, bool Sample = false, string? Category = null, string? Version = null, int Products = 30, int SampleSeed = 1, int SampleSize = 50);

/// <summary>One region × product cell: users considered, how many have the product in their top N, the rate and its 95 % Wilson interval.</summary>
public sealed record MatchCell(int Users, int Matches, double Rate, double Low, double High, bool Reliable);

public sealed record MatchMatrix(string? Version, string Mode, IReadOnlyList<string> Regions, IReadOnlyList<ProductRow> Products, MatchCell[,] Cells, int TopN);

public enum AffinityTier { High, Medium, Low }

public sealed record TierEntry(ProductRow Product, double Rate, AffinityTier Tier, bool Borderline, bool Reliable);

public sealed record MatchedUser(long Id, string ExternalId, string? City, string? Segment, string RecentPurchases);

/// <summary>
/// Match rate (region, product) = share of the region's users whose cached top-N holds the product. All users:
/// read from the aggregate batch inference writes (cheap at any scale). Sample: 50 users per region picked by a
/// seeded hash, computed live over the cache. The page never loops over users in C#.
/// </summary>
public sealed class MatchRateService(NpgsqlDataSource dataSource, IOptions<RegionOptions> options)
{
    public static readonly int[] TopNChoices = [5, 10, 25];

    /// <summary>The sample batch inference picks in advance (region_sample_users); other seeds or sizes are ranked live.</summary>
    public const int DefaultSampleSeed = RegionSample.DefaultSeed;
    public const int DefaultSampleSize = RegionSample.DefaultSize;

    public RegionOptions Options => options.Value;

    /// <summary>The versions that have match-rate aggregates (remote campaigns' ARNs first, then versions newest first) and the version in the cache now.</summary>
    public async Task<(IReadOnlyList<string> Versions, string? Cached)> VersionsAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var versions = (await connection.QueryAsync<string>("""
            select r.model_version from region_user_counts r left join model_versions m on m.version = r.model_version
            group by r.model_version, m.id order by m.id desc nulls first
            """)).ToList();
        var cached = await connection.ExecuteScalarAsync<string?>("select model_version from offline_user_recommendations limit 1");
        return (versions, cached);
    }

    public async Task<IReadOnlyList<string>> CategoriesAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<string>("select distinct category from products where category is not null order by 1")).ToList();
    }

    public async Task<MatchMatrix> MatchRatesAsync(MatchRateQuery query, CancellationToken cancellationToken = default)
    {
        if (!TopNChoices.Contains(query.TopN))
            throw new ArgumentException($"Top-N must be one of {string.Join(", ", TopNChoices)}.");
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var cached = await connection.ExecuteScalarAsync<string?>("select model_version from offline_user_recommendations limit 1");
        var version = query.Version ?? cached;
        if (version is null)
            return new MatchMatrix(null, "no model has been served yet", [], [], new MatchCell[0, 0], query.TopN);

        IReadOnlyDictionary<string, int> users;
        IReadOnlyList<(string Region, long ProductId, int Matches)> matches;
        string mode;
        if (query.Sample)
        {
            if (version != cached)
                throw new ArgumentException($"Sampling reads the current cache, which holds {cached}; choose all users to see {version}.");
            var precomputed = query.SampleSeed == DefaultSampleSeed && query.SampleSize == DefaultSampleSize
                && await connection.ExecuteScalarAsync<bool>("select exists (select 1 from region_sample_users where model_version = @version)", new { version });
            var sampleSource = precomputed
                ? "select user_id, region from region_sample_users where model_version = @version"
                : """
                    select user_id, region from (
                        select r.user_id, c.region,
                               row_number() over (partition by c.region order by md5(r.user_id::text || ':' || @seed)) as n
                        from offline_user_recommendations r join customers c on c.id = r.user_id
                        where c.region is not null) s
                    where n <= @size
                    """;
            var sampleSql = $"""
                with sample as ({sampleSource})
                select s.region as Region, (x.e->>'product_id')::bigint as ProductId, count(*)::int as Matches
                from sample s join offline_user_recommendations r on r.user_id = s.user_id
                cross join lateral jsonb_array_elements(r.recommendations) with ordinality as x(e, ord)
                where x.ord <= @topN
                group by 1, 2
                """;
            var sampleUsersSql = $"""
                with sample as ({sampleSource})
                select region, count(*)::int from sample group by region
                """;
            matches = (await connection.QueryAsync<(string, long, int)>(sampleSql, new { version, seed = query.SampleSeed.ToString(System.Globalization.CultureInfo.InvariantCulture), size = query.SampleSize, topN = query.TopN })).ToList();
            users = (await connection.QueryAsync<(string Region, int Users)>(sampleUsersSql, new { version, seed = query.SampleSeed.ToString(System.Globalization.CultureInfo.InvariantCulture), size = query.SampleSize })).ToDictionary(r => r.Region, r => r.Users);
            mode = $"a sample of {query.SampleSize} users per region (seed {query.SampleSeed}, picked by a hash of the user id, so the same every time)";
        }
        else
        {
            matches = (await connection.QueryAsync<(string, long, int)>(
                "select region, product_id, matches from region_match_counts where model_version = @version and top_n = @topN",
                new { version, topN = query.TopN })).ToList();
            users = (await connection.QueryAsync<(string Region, int Users)>(
                "select region, users from region_user_counts where model_version = @version", new { version })).ToDictionary(r => r.Region, r => r.Users);
            mode = "all users with cached recommendations";
        }

        // The products with the highest overall match rate (matches over all users), within the category if one is chosen.
        var totalUsers = Math.Max(1, users.Values.Sum());
        var candidates = matches.GroupBy(m => m.ProductId).Select(g => (ProductId: g.Key, Rate: g.Sum(m => m.Matches) / (double)totalUsers))
            .OrderByDescending(p => p.Rate).ThenBy(p => p.ProductId).Select(p => p.ProductId).ToArray();
        var products = (await connection.QueryAsync<ProductRow>("""
            select id as Id, external_id as ExternalId, name as Name, category as Category, brand as Brand, price as Price
            from products where id = any(@ids) and (@category::text is null or category = @category)
            """, new { ids = candidates, category = query.Category })).ToDictionary(p => p.Id);
        var chosen = candidates.Where(products.ContainsKey).Take(query.Products).Select(id => products[id]).ToList();
        var regions = users.Keys.Order(StringComparer.Ordinal).ToList();

        var lookup = matches.ToDictionary(m => (m.Region, m.ProductId), m => m.Matches);
        var cells = new MatchCell[regions.Count, chosen.Count];
        for (var r = 0; r < regions.Count; r++)
        for (var p = 0; p < chosen.Count; p++)
        {
            var n = users[regions[r]];
            var k = lookup.GetValueOrDefault((regions[r], chosen[p].Id));
            var (low, high) = Wilson(k, n);
            cells[r, p] = new MatchCell(n, k, n == 0 ? 0 : (double)k / n, low, high, n >= options.Value.MinUsers);
        }
        return new MatchMatrix(version, mode, regions, chosen, cells, query.TopN);
    }

    /// <summary>
    /// The 95 % Wilson score interval for k successes in n trials:
    /// (p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n), z = 1.96; (0, 0) when n = 0.
    /// </summary>
    public static (double Low, double High) Wilson(int k, int n)
    {
        if (n == 0)
            return (0, 0);
        const double z = 1.959963984540054;
        double p = (double)k / n, z2 = z * z;
        var centre = p + z2 / (2 * n);
        var margin = z * Math.Sqrt(p * (1 - p) / n + z2 / (4.0 * n * n));
        var denominator = 1 + z2 / n;
        // At k = 0 and k = n the bounds are exactly 0 and 1; say so rather than leave rounding residue.
        var low = k == 0 ? 0 : Math.Max(0, (centre - margin) / denominator);
        var high = k == n ? 1 : Math.Min(1, (centre + margin) / denominator);
        return (low, high);
    }

    /// <summary>Per region, each shown product's tier (High ≥ high threshold, Medium ≥ medium, else Low), borderline within the margin.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<TierEntry>> Tiers(MatchMatrix matrix)
    {
        var o = options.Value;
        var result = new Dictionary<string, IReadOnlyList<TierEntry>>();
        for (var r = 0; r < matrix.Regions.Count; r++)
        {
            var entries = new List<TierEntry>();
            for (var p = 0; p < matrix.Products.Count; p++)
            {
                var cell = matrix.Cells[r, p];
                var tier = cell.Rate >= o.HighTier ? AffinityTier.High : cell.Rate >= o.MediumTier ? AffinityTier.Medium : AffinityTier.Low;
                var borderline = Math.Abs(cell.Rate - o.HighTier) < o.Borderline || Math.Abs(cell.Rate - o.MediumTier) < o.Borderline;
                entries.Add(new TierEntry(matrix.Products[p], cell.Rate, tier, borderline, cell.Reliable));
            }
            result[matrix.Regions[r]] = entries.OrderByDescending(e => e.Rate).ToList();
        }
        return result;
    }

    /// <summary>Tiers as CSV: region, product id, name, rate, tier, borderline, users.</summary>
    public string TiersCsv(MatchMatrix matrix)
    {
        var csv = new System.Text.StringBuilder("region,product_id,product_name,match_rate,tier,borderline,users\n");
        var tiers = Tiers(matrix);
        for (var r = 0; r < matrix.Regions.Count; r++)
        {
            foreach (var e in tiers[matrix.Regions[r]])
            {
                csv.Append(System.Globalization.CultureInfo.InvariantCulture,
                    $"{Quote(matrix.Regions[r])},{Quote(e.Product.ExternalId)},{Quote(e.Product.Name)},{e.Rate:F4},{e.Tier},{(e.Borderline ? "yes" : "no")},{matrix.Cells[r, 0].Users}\n");
            }
        }
        return csv.ToString();

        static string Quote(string value) => value.Contains(',', StringComparison.Ordinal) || value.Contains('"', StringComparison.Ordinal)
            ? $"\"{value.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : value;
    }

    /// <summary>The region's users whose current top-N holds the product, with their three latest purchases.</summary>
    public async Task<IReadOnlyList<MatchedUser>> MatchedUsersAsync(string region, long productId, int topN, int limit = 50, CancellationToken cancellationToken = default)
    {
        const string sql = """
            select c.id as Id, c.external_id as ExternalId, c.city as City, c.segment as Segment,
                   coalesce((select string_agg(name, '; ') from (
                       select p.name from interactions i join products p on p.id = i.item_id
                       where i.user_id = c.id and i.event_type = 'purchase' order by i.occurred_at desc limit 3) recent), '') as RecentPurchases
            from offline_user_recommendations r join customers c on c.id = r.user_id
            where c.region = @region
              and exists (select 1 from jsonb_array_elements(r.recommendations) with ordinality as x(e, ord)
                          where x.ord <= @topN and (x.e->>'product_id')::bigint = @productId)
            order by c.id
            limit @limit
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<MatchedUser>(sql, new { region, productId, topN, limit })).ToList();
    }
}
