using System.Text.Json;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Recs.Services.Analytics;
using Recs.Tests.Components;

namespace Recs.Tests.Integration;

public sealed class WilsonTests
{
    [Theory]
    [InlineData(5, 10, 0.2366, 0.7634)]   // textbook values for p̂ = 0.5, n = 10
    [InlineData(0, 10, 0.0, 0.2775)]
    [InlineData(10, 10, 0.7225, 1.0)]
    [InlineData(0, 0, 0.0, 0.0)]
    public void The_interval_matches_hand_computed_values(int k, int n, double low, double high)
    {
        var (l, h) = MatchRateService.Wilson(k, n);
        Assert.Equal(low, l, 4);
        Assert.Equal(high, h, 4);
    }
}

public sealed class MatchRateTests(TrainedDatabaseFixture trained) : IClassFixture<TrainedDatabaseFixture>, IAsyncLifetime
{
    private ServiceProvider _services = null!;

    public Task InitializeAsync()
    {
        _services = TestServices.Create(trained.Database.ConnectionString);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _services.DisposeAsync();

    private MatchRateService Rates => _services.GetRequiredService<MatchRateService>();

    /// <summary>The same figures straight from the cache rows, counted in C#.</summary>
    private async Task<Dictionary<(string Region, long Product), (int Matches, int Users)>> DirectAsync(int topN)
    {
        await using var connection = await trained.Database.DataSource.OpenConnectionAsync();
        var rows = await connection.QueryAsync<(string Region, string Recs)>(
            "select c.region, r.recommendations::text from offline_user_recommendations r join customers c on c.id = r.user_id");
        var users = new Dictionary<string, int>();
        var counts = new Dictionary<(string, long), int>();
        foreach (var (region, recs) in rows)
        {
            users[region] = users.GetValueOrDefault(region) + 1;
            foreach (var e in JsonDocument.Parse(recs).RootElement.EnumerateArray().Take(topN))
            {
                var key = (region, e.GetProperty("product_id").GetInt64());
                counts[key] = counts.GetValueOrDefault(key) + 1;
            }
        }
        return counts.ToDictionary(c => c.Key, c => (c.Value, users[c.Key.Item1]));
    }

    [Theory]
    [InlineData(5)]
    [InlineData(25)]
    public async Task All_user_rates_from_the_aggregate_equal_a_direct_count_over_the_cache(int topN)
    {
        var direct = await DirectAsync(topN);

        var matrix = await Rates.MatchRatesAsync(new MatchRateQuery(TopN: topN));

        Assert.Equal(trained.Popularity, matrix.Version);
        Assert.Equal(20, matrix.Regions.Count);
        Assert.Equal(Math.Min(30, direct.Keys.Select(k => k.Product).Distinct().Count()), matrix.Products.Count);
        for (var r = 0; r < matrix.Regions.Count; r++)
        for (var p = 0; p < matrix.Products.Count; p++)
        {
            var cell = matrix.Cells[r, p];
            var expected = direct.GetValueOrDefault((matrix.Regions[r], matrix.Products[p].Id));
            Assert.Equal(expected.Matches, cell.Matches);
            Assert.InRange(cell.Rate, cell.Low, cell.High);
        }
    }

    [Fact]
    public async Task A_category_filter_keeps_only_that_categorys_products()
    {
        var matrix = await Rates.MatchRatesAsync(new MatchRateQuery(Category: "Toys"));

        Assert.NotEmpty(matrix.Products);
        Assert.All(matrix.Products, p => Assert.Equal("Toys", p.Category));
    }

    [Fact]
    public async Task The_sample_takes_at_most_50_users_per_region_the_same_ones_every_time()
    {
        var a = await Rates.MatchRatesAsync(new MatchRateQuery(Sample: true));
        var b = await Rates.MatchRatesAsync(new MatchRateQuery(Sample: true));

        Assert.Contains("sample of 50", a.Mode, StringComparison.Ordinal);
        for (var r = 0; r < a.Regions.Count; r++)
        {
            Assert.InRange(a.Cells[r, 0].Users, 1, 50);
            for (var p = 0; p < a.Products.Count; p++)
                Assert.Equal(a.Cells[r, p].Matches, b.Cells[r, p].Matches);
        }
        // Regions with fewer users than the reliability floor are marked, not hidden.
        Assert.Contains(Enumerable.Range(0, a.Regions.Count), r => a.Cells[r, 0].Users >= Rates.Options.MinUsers == a.Cells[r, 0].Reliable);
    }

    [Fact]
    public async Task The_sample_picked_at_batch_time_is_the_one_the_live_ranking_picks()
    {
        await using var connection = await trained.Database.DataSource.OpenConnectionAsync();
        var stored = (await connection.QueryAsync<long>("select user_id from region_sample_users where model_version = @v order by user_id", new { v = trained.Popularity })).ToList();
        var live = (await connection.QueryAsync<long>("""
            select user_id from (
                select r.user_id, row_number() over (partition by c.region order by md5(r.user_id::text || ':1')) as n
                from offline_user_recommendations r join customers c on c.id = r.user_id where c.region is not null) s
            where n <= 50 order by user_id
            """)).ToList();

        Assert.NotEmpty(stored);
        Assert.Equal(live, stored);
        // Another seed is ranked live and picks other users.
        var other = await Rates.MatchRatesAsync(new MatchRateQuery(Sample: true, SampleSeed: 2));
        Assert.Contains("seed 2", other.Mode, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tiers_follow_the_thresholds_and_the_csv_has_a_row_per_region_and_product()
    {
        var matrix = await Rates.MatchRatesAsync(new MatchRateQuery());

        var tiers = Rates.Tiers(matrix);
        var csv = Rates.TiersCsv(matrix).TrimEnd('\n').Split('\n');

        Assert.All(tiers.Values.SelectMany(t => t), e =>
            Assert.Equal(e.Rate >= 0.8 ? AffinityTier.High : e.Rate >= 0.4 ? AffinityTier.Medium : AffinityTier.Low, e.Tier));
        Assert.Equal("region,product_id,product_name,match_rate,tier,borderline,users", csv[0]);
        Assert.Equal(1 + matrix.Regions.Count * matrix.Products.Count, csv.Length);
    }

    [Fact]
    public async Task The_drill_down_lists_the_regions_users_who_got_the_product()
    {
        var matrix = await Rates.MatchRatesAsync(new MatchRateQuery());
        var region = matrix.Regions[0];
        var product = matrix.Products[0].Id;

        var users = await Rates.MatchedUsersAsync(region, product, 10);

        Assert.Equal(Math.Min(50, matrix.Cells[0, 0].Matches), users.Count);
        await using var connection = await trained.Database.DataSource.OpenConnectionAsync();
        foreach (var u in users)
            Assert.Equal(region, await connection.ExecuteScalarAsync<string>("select region from customers where id = @id", new { id = u.Id }));
    }
}
