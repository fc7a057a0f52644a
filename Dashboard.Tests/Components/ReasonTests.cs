using System.Text.RegularExpressions;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Recs.Services.Analytics;
using Recs.Tests.Integration;

namespace Recs.Tests.Components;

/// <summary>Every reason the Users page gives is checked against the data it claims: no reason pairs items the data does not connect.</summary>
public sealed partial class ReasonTests(TrainedDatabaseFixture trained) : IClassFixture<TrainedDatabaseFixture>
{
    [Fact]
    public async Task Each_reason_names_evidence_that_is_in_the_data()
    {
        await using var services = TestServices.Create(trained.Database.ConnectionString);
        var explorer = services.GetRequiredService<ExplorerService>();
        await using var connection = await trained.Database.DataSource.OpenConnectionAsync();
        var customers = (await connection.QueryAsync<long>("select user_id from offline_user_recommendations order by user_id limit 40")).ToList();
        var buyers = await connection.ExecuteScalarAsync<double>("select count(distinct user_id) from interactions where event_type = 'purchase'");
        var kinds = new Dictionary<string, int>();

        foreach (var customer in customers)
        {
            var (rows, _, _) = await explorer.RecommendationsAsync(customer);
            var mine = (await connection.QueryAsync<(long Id, string Name)>(
                "select distinct p.id, p.name from interactions i join products p on p.id = i.item_id where i.user_id = @customer and i.event_type = 'purchase'",
                new { customer })).ToList();
            foreach (var row in rows)
            {
                if (Together().Match(row.Reason) is { Success: true } t)
                {
                    kinds["together"] = kinds.GetValueOrDefault("together") + 1;
                    // Names need not be unique: one of the customer's items of that name must carry the claim.
                    var holds = false;
                    foreach (var other in mine.Where(m => m.Name == t.Groups["name"].Value))
                    {
                        var co = await connection.ExecuteScalarAsync<long>("""
                            select count(distinct a.user_id) from interactions a join interactions b on b.user_id = a.user_id and b.event_type = 'purchase'
                            where a.item_id = @x and a.event_type = 'purchase' and b.item_id = @y
                            """, new { x = row.ProductId, y = other.Id });
                        var nx = await connection.ExecuteScalarAsync<double>("select count(distinct user_id) from interactions where item_id = @x and event_type = 'purchase'", new { x = row.ProductId });
                        var ny = await connection.ExecuteScalarAsync<double>("select count(distinct user_id) from interactions where item_id = @y and event_type = 'purchase'", new { y = other.Id });
                        holds |= co == long.Parse(t.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture) && co >= 3 && co * buyers / (nx * ny) >= 2;
                    }
                    Assert.True(holds, $"{row.Reason}: no item they bought by that name has that co-count and lift");
                }
                else if (Similar().Match(row.Reason) is { Success: true } s)
                {
                    kinds["similar"] = kinds.GetValueOrDefault("similar") + 1;
                    var holds = false;
                    foreach (var other in mine.Where(m => m.Name == s.Groups["name"].Value))
                    {
                        holds |= await connection.ExecuteScalarAsync<bool>(
                            "select similar_products @> jsonb_build_array(jsonb_build_object('product_id', @x::bigint)) from offline_similar_items where product_id = @y",
                            new { x = row.ProductId, y = other.Id });
                    }
                    Assert.True(holds, row.Reason);
                }
                else if (Region().Match(row.Reason) is { Success: true } r)
                {
                    kinds["region"] = kinds.GetValueOrDefault("region") + 1;
                    var place = await connection.ExecuteScalarAsync<long>("""
                        select place from (
                            select i.item_id, row_number() over (order by count(*) desc, i.item_id) as place
                            from interactions i join customers c on c.id = i.user_id
                            where c.region = (select region from customers where id = @customer) and i.event_type = 'purchase'
                            group by i.item_id) t
                        where item_id = @x
                        """, new { customer, x = row.ProductId });
                    Assert.Equal(long.Parse(r.Groups["place"].Value, System.Globalization.CultureInfo.InvariantCulture), place);
                }
                else if (Category().Match(row.Reason) is { Success: true } c)
                {
                    kinds["category"] = kinds.GetValueOrDefault("category") + 1;
                    Assert.Equal(row.Category, c.Groups["category"].Value);
                    Assert.True(int.Parse(c.Groups["share"].Value, System.Globalization.CultureInfo.InvariantCulture) >= 20);
                }
                else
                {
                    Assert.Equal("the model's pick from their overall taste", row.Reason);
                }
            }
        }
        // The checks above ran on real reasons, not on an empty list.
        Assert.True(kinds.Values.Sum() > 0, "no reason other than the model's pick");
    }

    [GeneratedRegex(@"^bought together with (?<name>.+) by (?<n>\d+) customers \((?<lift>[\d.]+)× chance\)$")]
    private static partial Regex Together();

    [GeneratedRegex(@"^similar to (?<name>.+), which they bought$")]
    private static partial Regex Similar();

    [GeneratedRegex(@"^popular in their region \(#(?<place>\d+)\)$")]
    private static partial Regex Region();

    [GeneratedRegex(@"^matches their interest in (?<category>.+) \((?<share>\d+) % of their purchases\)$")]
    private static partial Regex Category();
}
