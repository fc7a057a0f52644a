using Dapper;
using Recs.Services.Ingestion;
using Recs.Tests.Accuracy;

namespace Recs.Tests.Integration;

/// <summary>The real Online Retail export imported once for the class (about 10 s).</summary>
public sealed class OnlineRetailDatabaseFixture : DatabaseFixture
{
    public ImportReport Report { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Report = await OnlineRetailImporter.ImportAsync(DataSource, OnlineRetailAccuracyTests.DatasetPath);
    }
}

public sealed class OnlineRetailImportTests(OnlineRetailDatabaseFixture db) : IClassFixture<OnlineRetailDatabaseFixture>
{
    [Fact]
    public void The_file_shape_in_the_report_reconciles_with_the_dataset_README()
    {
        var shape = db.Report.Files.Single().Shape;
        // Every figure the README in ../shared/datasets/online-retail states.
        Assert.Equal(541_909, shape["rows"]);
        Assert.Equal(25_900, shape["invoices"]);
        Assert.Equal(4_372, shape["customers"]);
        Assert.Equal(4_070, shape["stock codes"]);
        Assert.Equal(38, shape["countries"]);
        Assert.Equal(8, shape["customers under more than one country"]);
        Assert.Equal(3_836, shape["cancelled invoices (C)"]);
        Assert.Equal(9_288, shape["rows on cancelled invoices"]);
        Assert.Equal(10_624, shape["rows with Quantity < 0"]);
        Assert.Equal(1_336, shape["rows with Quantity < 0 not on C invoices"]);
        Assert.Equal(135_080, shape["rows without CustomerID"]);
        Assert.Equal(1_454, shape["rows with an empty Description"]);
        Assert.Equal(650, shape["stock codes with more than one description"]);
        Assert.Equal(2_515, shape["rows with UnitPrice 0"]);
        Assert.Equal(2, shape["rows with UnitPrice < 0"]);
        Assert.Equal(5_268, shape["exact duplicate rows"]);
    }

    [Fact]
    public async Task Every_row_is_accounted_for_and_the_tables_hold_exactly_what_the_report_says()
    {
        var file = db.Report.Files.Single();
        Assert.Equal(file.RowsRead, file.RowsImported + file.RowsSkipped);
        Assert.Equal(5_268, file.Skipped.Single(s => s.Reason.StartsWith("exact duplicate", StringComparison.Ordinal)).Count);
        Assert.True(file.Skipped.Single(s => s.Reason.StartsWith("no CustomerID", StringComparison.Ordinal)).Count is > 130_000 and <= 135_080);
        Assert.DoesNotContain(file.Skipped, s => s.Reason.Contains("already imported", StringComparison.Ordinal));

        await using var connection = await db.DataSource.OpenConnectionAsync();
        var tables = db.Report.Tables;
        Assert.Equal(tables["customers"], await connection.ExecuteScalarAsync<long>("select count(*) from customers"));
        Assert.Equal(tables["products"], await connection.ExecuteScalarAsync<long>("select count(*) from products"));
        Assert.Equal(tables["orders"], await connection.ExecuteScalarAsync<long>("select count(*) from orders"));
        Assert.Equal(tables["order_items"], await connection.ExecuteScalarAsync<long>("select count(*) from order_items"));
        Assert.Equal(tables["interactions"], await connection.ExecuteScalarAsync<long>("select count(*) from interactions"));
        Assert.Equal(file.RowsImported, tables["order_items"]);

        // Cancellations are returns: their orders say so and none of them is a purchase.
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("select count(*) from orders where external_id like 'C%' and status <> 'returned'"));
        Assert.True(await connection.ExecuteScalarAsync<long>("select count(*) from orders where status = 'returned'") > 3_000);
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("""
            select count(*) from interactions i join orders o on o.id = i.order_id where o.status = 'returned'
            """));
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("""
            select count(*) from interactions i join order_items l on l.order_id = i.order_id and l.product_id = i.item_id where l.quantity <= 0
            """));
        // Postage, fees and adjustments are not in the catalogue; CustomerIDs lost their ".0"; Country is the region.
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("select count(*) from products where external_id in ('POST', 'DOT', 'M', 'BANK CHARGES', 'AMAZONFEE', 'B')"));
        Assert.Equal("United Kingdom", await connection.ExecuteScalarAsync<string>("select region from customers where external_id = '17850'"));
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("select count(*) from customers where external_id like '%.0'"));
        Assert.Equal("WHITE HANGING HEART T-LIGHT HOLDER", await connection.ExecuteScalarAsync<string>("select name from products where external_id = '85123A'"));

        // The foreign-key checks skipped during the insert hold, and the indexes rebuilt are all there.
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("""
            select (select count(*) from interactions i where not exists (select 1 from customers c where c.id = i.user_id)
                                                       or not exists (select 1 from products p where p.id = i.item_id))
                 + (select count(*) from order_items l where not exists (select 1 from orders o where o.id = l.order_id))
            """));
        // Every foreign key of the schema (eleven, then verdicts → products, experiments → campaigns (its arms' versions are
        // checked by a trigger, since an arm may be a remote ARN), health checks → versions and remote fetch pages → fetches) is validated.
        Assert.Equal(15, await connection.ExecuteScalarAsync<long>("""
            select count(*) from pg_constraint where contype = 'f' and convalidated
            """));
        Assert.Equal(["interactions_item_idx", "interactions_recommendation_idx", "interactions_time_idx", "interactions_user_time_idx", "order_items_product_idx"],
            await connection.QueryAsync<string>("""
                select indexname::text from pg_indexes where tablename in ('interactions', 'order_items') and indexname not like '%pkey' order by 1
                """));
    }

    [Fact]
    public async Task Importing_the_file_again_adds_nothing()
    {
        var before = await DatabaseSnapshot.TakeAsync(db.DataSource);

        var again = await OnlineRetailImporter.ImportAsync(db.DataSource, OnlineRetailAccuracyTests.DatasetPath);

        Assert.Equal(before, await DatabaseSnapshot.TakeAsync(db.DataSource));
        Assert.Equal(0, again.Tables["orders"]);
        Assert.Equal(0, again.Tables["interactions"]);
        Assert.Equal(db.Report.Files.Single().RowsImported, again.Files.Single().Skipped.Single(s => s.Reason == "invoice already imported").Count);
    }

    [Fact]
    public async Task A_bad_row_anywhere_rolls_the_whole_file_back()
    {
        using var files = new TempFolder();
        var path = files.Write("retail.csv", """
            InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
            990001,TEST1,New product,2,2011-12-10 10:00:00,1.5,99999.0,Iceland
            990001,TEST2,Another,two,2011-12-10 10:00:00,1.5,99999.0,Iceland

            """);
        var before = await DatabaseSnapshot.TakeAsync(db.DataSource);

        var error = await Assert.ThrowsAsync<InputFileException>(() => OnlineRetailImporter.ImportAsync(db.DataSource, path));

        Assert.Equal("line 3: Quantity 'two' is not a whole number", error.Message);
        Assert.Equal(before, await DatabaseSnapshot.TakeAsync(db.DataSource));
    }
}
