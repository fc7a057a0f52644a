using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Recs.Services.Analytics;
using Recs.Services.Models;
using Recs.Tests.Integration;

namespace Recs.Tests.Remote;

/// <summary>The comparison page's service with a remote campaign's cached lists on one side and a local version on the other.</summary>
public sealed class RemoteComparisonTests(VersionsDatabaseFixture fixture) : IClassFixture<VersionsDatabaseFixture>
{
    private const string Arn = "arn:aws:personalize:eu-west-1:123456789012:campaign/retail-users";

    [Fact]
    public async Task Remote_lists_in_the_cache_compare_with_a_local_version()
    {
        await using var services = TestServices.Create(fixture.Database.ConnectionString);
        var comparisons = services.GetRequiredService<VersionComparisonService>();
        await using var connection = await fixture.Database.DataSource.OpenConnectionAsync();
        // The cache as a remote fetch leaves it: here the champion's own lists, stamped with an ARN.
        await connection.ExecuteAsync("update offline_user_recommendations set model_version = @Arn", new { Arn });
        try
        {
            var versions = await comparisons.VersionsAsync(Campaigns.UserRecommendations);
            Assert.Equal(Arn, versions[0].Version);
            Assert.Equal(VersionComparisonService.RemoteRecipe, versions[0].Recipe);

            // The same lists on both sides: every compared user overlaps fully.
            var same = await comparisons.CompareAsync(new ComparisonQuery(Campaigns.UserRecommendations, fixture.Popularity, Arn));
            Assert.Equal(await connection.QuerySingleAsync<int>("select count(*) from offline_user_recommendations"), same.Compared);
            Assert.Equal(1.0, same.Lists.MeanOverlap);
            Assert.Equal(Arn, same.B.Version);

            // Against another local version they differ, and the remote side is still the cached lists.
            var other = await comparisons.CompareAsync(new ComparisonQuery(Campaigns.UserRecommendations, Arn, fixture.Als, SideBySide: 5));
            Assert.True(other.Lists.MeanOverlap < 1);
            var row = other.SideBySide[0];
            var cached = await connection.QueryAsync<long>("""
                select (e->>'product_id')::bigint from offline_user_recommendations r, jsonb_array_elements(r.recommendations) with ordinality x(e, ord)
                where r.user_id = @id order by ord limit 10
                """, new { id = row.Id });
            Assert.Equal(cached, row.A.Select(e => e.ProductId));

            var missing = await Assert.ThrowsAsync<ArgumentException>(() => comparisons.CompareAsync(new ComparisonQuery(Campaigns.UserRecommendations, "arn:aws:personalize:eu-west-1:1:campaign/none", fixture.Als)));
            Assert.Contains("holds no lists fetched from", missing.Message, StringComparison.Ordinal);
        }
        finally
        {
            await connection.ExecuteAsync("update offline_user_recommendations set model_version = @Popularity", new { fixture.Popularity });
        }
    }
}
