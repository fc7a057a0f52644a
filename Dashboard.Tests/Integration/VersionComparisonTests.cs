using System.Text.Json;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Recs.Services.Analytics;
using Recs.Services.Engine;
using Recs.Services.Models;
using Recs.Services.Training;

namespace Recs.Tests.Integration;

/// <summary>
/// The demo business with three versions: popularity (the champion, in the cache), ALS (trained, not promoted: a
/// challenger) and similar-items for its own campaign. Shared by the comparison and the experiment tests.
/// </summary>
public sealed class VersionsDatabaseFixture : IAsyncLifetime
{
    public DemoDatabaseFixture Database { get; } = new();

    public string Popularity { get; private set; } = "";
    public string Als { get; private set; } = "";
    public string Similar { get; private set; } = "";

    public async Task InitializeAsync()
    {
        await Database.InitializeAsync();
        await using var services = TestServices.Create(Database.ConnectionString);
        var training = services.GetRequiredService<TrainingService>();
        Popularity = (await training.RunNowAsync(new TrainingRequest { Recipe = PopularityRecommender.Name })).Version.Version;
        Als = (await training.RunNowAsync(new TrainingRequest
        {
            Recipe = AlsRecommender.Name, AutoPromote = false, Hyperparameters = new Dictionary<string, string> { ["factors"] = "8", ["iterations"] = "6" },
        })).Version.Version;
        Similar = (await training.RunNowAsync(new TrainingRequest { Recipe = ItemKnnRecommender.Name, Campaign = Campaigns.SimilarItems, AutoPromote = false })).Version.Version;
    }

    public Task DisposeAsync() => Database.DisposeAsync();
}

public sealed class VersionComparisonTests(VersionsDatabaseFixture fixture) : IClassFixture<VersionsDatabaseFixture>, IAsyncLifetime
{
    private ServiceProvider _services = null!;

    public Task InitializeAsync()
    {
        _services = TestServices.Create(fixture.Database.ConnectionString);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _services.DisposeAsync();

    private VersionComparisonService Comparisons => _services.GetRequiredService<VersionComparisonService>();

    [Fact]
    public async Task A_version_compared_with_itself_overlaps_fully_for_every_user()
    {
        var result = await Comparisons.CompareAsync(new ComparisonQuery(Campaigns.UserRecommendations, fixture.Als, fixture.Als));

        Assert.True(result.Compared > 300, $"only {result.Compared} users compared");
        Assert.All(result.Lists.Overlaps, o => Assert.Equal(1.0, o));
        Assert.Equal(1.0, result.Lists.MeanOverlap);
        Assert.Equal(result.Compared, result.Lists.OverlapHistogram[^1]);
        Assert.Empty(result.Entered);
        Assert.Empty(result.Left);
        Assert.Equal(result.Lists.A, result.Lists.B);
        Assert.NotNull(result.Regions);
        Assert.Empty(result.Regions!.Products); // nothing moved
        Assert.All(result.SideBySide, row => Assert.All(row.A.Concat(row.B), e => Assert.True(e.InBoth)));
        Assert.False(result.Sampled);
    }

    [Fact]
    public async Task Entered_and_left_agree_with_the_users_lists_and_the_lists_are_the_served_ones()
    {
        // Every user side by side, so the per-user lists can be recounted here.
        var result = await Comparisons.CompareAsync(new ComparisonQuery(Campaigns.UserRecommendations, fixture.Popularity, fixture.Als, SideBySide: int.MaxValue, RegionProducts: 1000));
        var rows = result.SideBySide;
        Assert.Equal(result.Compared, rows.Count);
        Assert.Equal(rows.Count, result.Lists.OverlapHistogram.Sum());
        Assert.True(result.Lists.MeanOverlap < 1, "ALS and popularity should not agree on every list");

        var entered = new Dictionary<long, int>();
        var left = new Dictionary<long, int>();
        foreach (var row in rows)
        {
            var a = row.A.Select(e => e.ProductId).ToHashSet();
            var b = row.B.Select(e => e.ProductId).ToHashSet();
            Assert.All(row.A, e => Assert.Equal(b.Contains(e.ProductId), e.InBoth));
            Assert.All(row.B, e => Assert.Equal(a.Contains(e.ProductId), e.InBoth));
            Assert.Equal(a.Intersect(b).Count() / 10.0, row.Overlap, 10);
            foreach (var i in b.Except(a)) entered[i] = entered.GetValueOrDefault(i) + 1;
            foreach (var i in a.Except(b)) left[i] = left.GetValueOrDefault(i) + 1;
        }
        Assert.Equal(entered.OrderBy(e => e.Key), result.Lists.Entered.OrderBy(e => e.Key));
        Assert.Equal(left.OrderBy(e => e.Key), result.Lists.Left.OrderBy(e => e.Key));
        Assert.Equal(rows.Average(r => r.Overlap), result.Lists.MeanOverlap, 10);
        // The shown top changes are the most frequent ones, counted the same way.
        Assert.Equal(entered.Values.Max(), result.Entered[0].Count);
        Assert.Equal(left.Values.Max(), result.Left[0].Count);
        Assert.Equal(result.Entered.Select(e => e.Count).OrderDescending(), result.Entered.Select(e => e.Count));

        // A is the champion: its lists are the top 10 batch inference cached (the same scoring code).
        await using var connection = await fixture.Database.DataSource.OpenConnectionAsync();
        var cached = (await connection.QueryAsync<(long User, string Recs)>("select user_id, recommendations::text from offline_user_recommendations where model_version = @v",
            new { v = fixture.Popularity })).ToDictionary(r => r.User, r => JsonDocument.Parse(r.Recs).RootElement.EnumerateArray().Take(10).Select(e => e.GetProperty("product_id").GetInt64()).ToArray());
        Assert.Equal(cached.Count, rows.Count);
        Assert.All(rows, row => Assert.Equal(cached[row.Id], row.A.Select(e => e.ProductId).ToArray()));

        // Region rates of A equal a direct count over the cache.
        var regions = result.Regions!;
        var regionOf = (await connection.QueryAsync<(long Id, string Region)>("select id, region from customers")).ToDictionary(c => c.Id, c => c.Region);
        for (var g = 0; g < regions.Regions.Count; g++)
        {
            var users = cached.Keys.Where(u => regionOf[u] == regions.Regions[g]).ToList();
            Assert.Equal(users.Count, regions.Users[g]);
            for (var p = 0; p < regions.Products.Count; p++)
                Assert.Equal((double)users.Count(u => cached[u].Contains(regions.Products[p].Id)) / users.Count, regions.RateA[g, p], 10);
        }
    }

    [Fact]
    public async Task Similar_items_compare_each_products_neighbours()
    {
        var self = await Comparisons.CompareAsync(new ComparisonQuery(Campaigns.SimilarItems, fixture.Similar, fixture.Similar));
        Assert.True(self.ByProduct);
        Assert.Equal(120, self.Compared);
        Assert.All(self.Lists.Overlaps, o => Assert.Equal(1.0, o));
        Assert.Null(self.Regions);

        var other = await Comparisons.CompareAsync(new ComparisonQuery(Campaigns.SimilarItems, fixture.Similar, fixture.Als));
        Assert.True(other.Lists.MeanOverlap < 1);
        Assert.All(other.SideBySide, row => Assert.DoesNotContain(row.Id, row.A.Select(e => e.ProductId)));
    }

    [Fact]
    public async Task Versions_that_cannot_serve_the_campaign_or_do_not_exist_are_refused_with_a_reason()
    {
        var campaign = await Assert.ThrowsAsync<ArgumentException>(() => Comparisons.CompareAsync(new ComparisonQuery(Campaigns.SimilarItems, fixture.Popularity, fixture.Similar)));
        Assert.Contains("cannot serve the similar-items campaign", campaign.Message, StringComparison.Ordinal);

        var missing = await Assert.ThrowsAsync<ArgumentException>(() => Comparisons.CompareAsync(new ComparisonQuery(Campaigns.UserRecommendations, fixture.Als, "9.9.9")));
        Assert.Contains("no model version 9.9.9", missing.Message, StringComparison.Ordinal);

        await Assert.ThrowsAsync<ArgumentException>(() => Comparisons.CompareAsync(new ComparisonQuery("nope", fixture.Als, fixture.Popularity)));

        Assert.DoesNotContain(fixture.Popularity, (await Comparisons.VersionsAsync(Campaigns.SimilarItems)).Select(v => v.Version));
    }

    [Fact]
    public async Task Beyond_the_user_limit_a_seeded_sample_is_compared_and_the_same_every_time()
    {
        var query = new ComparisonQuery(Campaigns.UserRecommendations, fixture.Popularity, fixture.Als, MaxUsers: 100, SideBySide: 100);

        var first = await Comparisons.CompareAsync(query);
        var second = await Comparisons.CompareAsync(query);

        Assert.True(first.Sampled);
        Assert.InRange(first.Compared, 1, 100);
        Assert.True(first.Eligible > 100);
        Assert.Equal(first.SideBySide.Select(r => r.Id), second.SideBySide.Select(r => r.Id));
        Assert.Equal(first.Lists.Overlaps, second.Lists.Overlaps);
    }

    [Fact]
    public async Task A_page_rendered_twice_reuses_the_comparison_and_a_refusal_is_not_kept()
    {
        var query = new ComparisonQuery(Campaigns.UserRecommendations, fixture.Popularity, fixture.Als, SideBySide: 3);

        var first = await Comparisons.CompareRecentAsync(query);
        var second = await Comparisons.CompareRecentAsync(query);
        var fresh = await Comparisons.CompareAsync(query);

        Assert.Same(first, second);
        Assert.NotSame(first, fresh);
        Assert.Equal(first.Lists.Overlaps, fresh.Lists.Overlaps);
        var bad = query with { B = "9.9.9" };
        await Assert.ThrowsAsync<ArgumentException>(() => Comparisons.CompareRecentAsync(bad));
        await Assert.ThrowsAsync<ArgumentException>(() => Comparisons.CompareRecentAsync(bad));
    }
}
