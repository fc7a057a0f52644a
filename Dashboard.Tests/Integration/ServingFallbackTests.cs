using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Recs.Services.Serving;

namespace Recs.Tests.Integration;

/// <summary>What a customer without history is recommended, and what it says about it.</summary>
public sealed class ServingFallbackTests(DemoDatabaseFixture db) : IClassFixture<DemoDatabaseFixture>
{
    [Fact]
    public async Task A_known_customer_without_history_gets_their_regions_popular_items_and_is_told_so()
    {
        await using var services = TestServices.Create(db.ConnectionString);
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var region = await connection.ExecuteScalarAsync<string>("select region from customers group by region order by count(*) desc, region limit 1");
        await connection.ExecuteAsync("insert into customers (external_id, region) values ('NEW-IN-REGION', @region), ('NEW-NOWHERE', null)", new { region });
        var regionTop = await connection.ExecuteScalarAsync<string>("""
            select p.external_id from interactions i join customers c on c.id = i.user_id join products p on p.id = i.item_id
            where c.region = @region and i.event_type in ('purchase', 'add-to-cart', 'view') and i.occurred_at > (select max(occurred_at) from interactions) - interval '90 days'
            group by p.id, p.external_id order by count(*) desc, p.id limit 1
            """, new { region });
        var service = services.GetRequiredService<RecommendationService>();

        var local = await service.ForUserAsync("NEW-IN-REGION", 5);
        var nowhere = await service.ForUserAsync("NEW-NOWHERE", 5);
        var stranger = await service.ForUserAsync("NEVER-SEEN", 5);

        Assert.True(local.Fallback);
        Assert.Equal($"no history yet: popular in their region ({region}), then everywhere", local.FallbackReason);
        Assert.Equal(regionTop, local.Items[0].ItemId);
        Assert.All(local.Items, i => Assert.Equal("popularity-region", i.Source));
        Assert.Equal("no cached recommendations for this user yet: popular items", nowhere.FallbackReason);
        Assert.All(nowhere.Items, i => Assert.Equal("popularity", i.Source));
        Assert.Equal("unknown user: popular items", stranger.FallbackReason);
        Assert.Equal(5, local.Items.Select(i => i.ItemId).Distinct().Count());

        // The Users page shows the same to a person, each item saying why.
        var explorer = services.GetRequiredService<Recs.Services.Analytics.ExplorerService>();
        var id = await connection.ExecuteScalarAsync<long>("select id from customers where external_id = 'NEW-IN-REGION'");
        var (rows, version, _) = await explorer.RecommendationsAsync(id);
        Assert.Null(version);
        Assert.Equal(25, rows.Count);
        Assert.Equal("popular in their region (#1): no history yet, so no model pick", rows[0].Reason);
        var regionTopByPurchases = await connection.ExecuteScalarAsync<long>("""
            select i.item_id from interactions i join customers c on c.id = i.user_id
            where c.region = @region and i.event_type = 'purchase' and i.occurred_at > (select max(occurred_at) from interactions) - interval '90 days'
            group by i.item_id order by count(*) desc, i.item_id limit 1
            """, new { region });
        Assert.Equal(regionTopByPurchases, rows[0].ProductId);
    }
}
