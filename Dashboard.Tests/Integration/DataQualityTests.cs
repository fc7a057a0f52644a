using Dapper;
using Recs.Services.Ingestion;

namespace Recs.Tests.Integration;

public sealed class DataQualityTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task The_report_counts_what_the_data_holds()
    {
        await using (var connection = await db.DataSource.OpenConnectionAsync())
        {
            // 4 products (P4 never bought, no category), 3 customers (c3 has a single event),
            // one duplicated event, a month with one lonely event, and one far-out order quantity.
            await connection.ExecuteAsync("""
                insert into customers (id, external_id, region) values (1, 'c1', 'North'), (2, 'c2', null), (3, 'c3', 'South');
                insert into products (id, external_id, name, category, price) values
                    (1, 'P1', 'One', 'A', 1), (2, 'P2', 'Two', 'A', 2), (3, 'P3', 'Three', 'B', null), (4, 'P4', 'Four', null, 4);
                insert into interactions (user_id, item_id, event_type, occurred_at) values
                    (1, 1, 'purchase', '2026-01-05'), (1, 1, 'purchase', '2026-01-05'), (1, 2, 'view', '2026-01-06'),
                    (2, 1, 'purchase', '2026-02-01'), (2, 3, 'purchase', '2026-02-02'), (2, 2, 'view', '2026-02-03'),
                    (1, 3, 'purchase', '2026-03-01'), (2, 1, 'view', '2026-03-02'), (1, 2, 'purchase', '2026-03-03'),
                    (3, 2, 'purchase', '2026-04-10');
                insert into orders (id, customer_id, ordered_at) values (1, 1, '2026-01-05');
                insert into order_items (order_id, line_no, product_id, quantity, unit_price)
                select 1, g, 1 + g % 3, case when g = 20 then 5000 else 1 + g % 4 end, 1 from generate_series(1, 20) g;
                """);
        }
        var service = new DataQualityService(db.DataSource, TimeProvider.System);

        var report = await service.ComputeAsync();

        Assert.Equal((3, 4, 10), (report.Customers, report.Products, report.Interactions));
        Assert.Equal(1, report.ItemsWithoutInteractions);
        Assert.Equal(0.25, report.ItemsWithoutInteractionsShare, 6);
        Assert.Equal((3, 1), (report.UsersWithInteractions, report.UsersWithSingleInteraction));
        Assert.Equal(1, report.DuplicateEvents);
        Assert.Equal(1, report.OutlierQuantityLines);
        Assert.Equal(5000, report.MaxQuantity);
        Assert.Equal(1, report.Missing.Single(m => m is { Table: "customers", Column: "region" }).Missing);
        Assert.Equal(1, report.Missing.Single(m => m is { Table: "products", Column: "category" }).Missing);
        Assert.Equal(1, report.Missing.Single(m => m is { Table: "products", Column: "price" }).Missing);
        Assert.Equal(["purchase", "view"], report.EventTypes.Select(t => t.EventType));
        Assert.Equal(0.7, report.EventTypes[0].Share, 6);
        Assert.Equal([3L, 3, 3, 1], report.PerMonth.Select(m => m.Interactions));
        Assert.Equal(new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), report.PerMonth[0].Month);
        Assert.Contains(report.Warnings, w => w.Contains("25 % of products have no interactions", StringComparison.Ordinal));
        Assert.Contains(report.Warnings, w => w.Contains("duplicate another", StringComparison.Ordinal));
        Assert.Contains(report.Warnings, w => w.Contains("quantities above", StringComparison.Ordinal));
        // Purchases and views have weights; an event type training would ignore is called out.
        Assert.DoesNotContain(report.Warnings, w => w.Contains("training ignores", StringComparison.Ordinal));
        var withClicks = report with { EventTypes = [.. report.EventTypes, new EventTypeShare("click", 42, 0.1)] };
        Assert.Contains(DataQualityService.Warnings(withClicks, new Dictionary<string, float> { ["purchase"] = 1, ["view"] = 0.1f }),
            w => w.Contains("training ignores (no weight in Training:EventWeights): click (42)", StringComparison.Ordinal));
    }
}
