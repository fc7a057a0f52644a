using System.Diagnostics;
using System.Text.Json;
using Dapper;
using Npgsql;
using NpgsqlTypes;

namespace Recs.Services.Ingestion;

/// <summary>Rows written and how fast, for the job result and the CLI.</summary>
public sealed record DemoLoadResult(bool Loaded, long Customers, long Products, long Orders, long OrderLines, long Interactions, TimeSpan Elapsed)
{
    public long TotalRows => Customers + Products + Orders + OrderLines + Interactions;

    public double RowsPerSecond => Elapsed.TotalSeconds > 0 ? TotalRows / Elapsed.TotalSeconds : 0;
}

/// <summary>
/// Writes a <see cref="DemoDataSet"/> into an empty database with binary COPY, in one transaction:
/// a failure leaves the database empty, and another instance loading at the same time waits and then
/// finds the data there.
/// </summary>
public static class DemoDataLoader
{
    private const long LoadLockKey = 7_265_110_002;

    /// <summary>Above this many rows, foreign keys and secondary indexes are dropped during COPY and rebuilt after
    /// (PostgreSQL's own advice for populating a database); that takes table locks, so small loads keep them.</summary>
    public const long BulkModeRows = 2_000_000;

    public static async Task<DemoLoadResult> LoadAsync(NpgsqlDataSource dataSource, DemoDataSet data, IProgress<(double Fraction, string Phase)>? progress = null, CancellationToken cancellationToken = default, long bulkModeRows = BulkModeRows)
    {
        var clock = Stopwatch.StartNew();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await connection.ExecuteAsync("select pg_advisory_xact_lock(@key)", new { key = LoadLockKey }, transaction);
        if (await connection.ExecuteScalarAsync<bool>("select exists (select 1 from customers) or exists (select 1 from products)", transaction: transaction))
            return new DemoLoadResult(false, 0, 0, 0, 0, 0, clock.Elapsed);

        var interactions = (long)data.Lines.Count + data.Views.Count;
        var total = (double)(data.Customers.Length + data.Products.Length + data.Orders.Count + data.Lines.Count + interactions);
        var bulk = total > bulkModeRows;
        var rebuild = bulk ? await ImportSql.DropForBulkLoadAsync(connection, transaction, ["orders", "order_items", "interactions"]) : [];

        long done = 0;
        void Advance(string phase)
        {
            done++;
            if ((done & 0x3FFF) != 0)
                return;
            cancellationToken.ThrowIfCancellationRequested();
            progress?.Report((done / total * 0.9, phase));
        }

        // Synchronous COPY on a pool thread: per-value async writes cost more than the I/O they would overlap.
        await Task.Run(() =>
        {
            CopyCustomers(connection, data, () => Advance("customers"));
            CopyProducts(connection, data, () => Advance("products"));
            CopyOrders(connection, data, () => Advance("orders"));
            CopyOrderLines(connection, data, () => Advance("order lines"));
            CopyInteractions(connection, data, () => Advance("interactions"));
        }, cancellationToken);

        progress?.Report((0.9, bulk ? "rebuilding indexes and checking foreign keys" : "finishing"));
        foreach (var statement in rebuild)
            await connection.ExecuteAsync(new CommandDefinition(statement, transaction: transaction, commandTimeout: 0, cancellationToken: cancellationToken));

        const string resetSequences = """
            select setval(pg_get_serial_sequence('customers', 'id'), (select max(id) from customers));
            select setval(pg_get_serial_sequence('products', 'id'), (select max(id) from products));
            select setval(pg_get_serial_sequence('orders', 'id'), greatest(1, (select coalesce(max(id), 0) from orders)));
            """;
        await connection.ExecuteAsync(resetSequences, transaction: transaction);
        await Data.ChangeFeed.NotifyAsync(connection, transaction, Data.ChangeChannels.Serving, Data.ChangeChannels.All, cancellationToken); // names, categories, users may have changed
        await transaction.CommitAsync(cancellationToken);

        progress?.Report((0.97, "updating planner statistics"));
        await connection.ExecuteAsync(new CommandDefinition("analyze customers, products, orders, order_items, interactions", commandTimeout: 0, cancellationToken: cancellationToken));
        progress?.Report((1.0, "done"));
        return new DemoLoadResult(true, data.Customers.Length, data.Products.Length, data.Orders.Count, data.Lines.Count, interactions, clock.Elapsed);
    }

    public static string CustomerExternalId(int index) => $"C{index + 1:D7}";

    public static string ProductExternalId(int index) => $"P{index + 1:D6}";

    private static void CopyCustomers(NpgsqlConnection connection, DemoDataSet data, Action advance)
    {
        using var writer = connection.BeginBinaryImport(
            "copy customers (id, external_id, region, city, age, gender, segment, attributes) from stdin (format binary)");
        for (var i = 0; i < data.Customers.Length; i++)
        {
            var c = data.Customers[i];
            var region = data.Regions[c.Region];
            writer.StartRow();
            writer.Write((long)i + 1, NpgsqlDbType.Bigint);
            writer.Write(CustomerExternalId(i), NpgsqlDbType.Text);
            writer.Write(region.Name, NpgsqlDbType.Text);
            writer.Write(region.Cities[c.City], NpgsqlDbType.Text);
            writer.Write((short)c.Age, NpgsqlDbType.Smallint);
            writer.Write(DemoDataSet.Genders[c.Gender], NpgsqlDbType.Text);
            writer.Write(DemoDataSet.Segments[c.Segment], NpgsqlDbType.Text);
            writer.Write(c.Loyalty ? """{"loyalty_member":true}""" : """{"loyalty_member":false}""", NpgsqlDbType.Jsonb);
            advance();
        }
        writer.Complete();
    }

    private static void CopyProducts(NpgsqlConnection connection, DemoDataSet data, Action advance)
    {
        using var writer = connection.BeginBinaryImport(
            "copy products (id, external_id, name, category, brand, price, attributes) from stdin (format binary)");
        for (var i = 0; i < data.Products.Length; i++)
        {
            var p = data.Products[i];
            var category = data.Categories[p.Category];
            writer.StartRow();
            writer.Write((long)i + 1, NpgsqlDbType.Bigint);
            writer.Write(ProductExternalId(i), NpgsqlDbType.Text);
            writer.Write(p.Name, NpgsqlDbType.Text);
            writer.Write(category.Name, NpgsqlDbType.Text);
            writer.Write(category.Brands[p.Brand], NpgsqlDbType.Text);
            writer.Write(p.Price, NpgsqlDbType.Numeric);
            writer.Write(JsonSerializer.Serialize(new { colour = p.Colour }), NpgsqlDbType.Jsonb);
            advance();
        }
        writer.Complete();
    }

    private static void CopyOrders(NpgsqlConnection connection, DemoDataSet data, Action advance)
    {
        using var writer = connection.BeginBinaryImport(
            "copy orders (id, external_id, customer_id, ordered_at, status) from stdin (format binary)");
        for (var i = 0; i < data.Orders.Count; i++)
        {
            var o = data.Orders[i];
            writer.StartRow();
            writer.Write((long)i + 1, NpgsqlDbType.Bigint);
            writer.Write($"O{i + 1:D8}", NpgsqlDbType.Text);
            writer.Write((long)o.Customer + 1, NpgsqlDbType.Bigint);
            writer.Write(DateTime.UnixEpoch.AddSeconds(o.Time), NpgsqlDbType.TimestampTz);
            writer.Write("completed", NpgsqlDbType.Text);
            advance();
        }
        writer.Complete();
    }

    private static void CopyOrderLines(NpgsqlConnection connection, DemoDataSet data, Action advance)
    {
        using var writer = connection.BeginBinaryImport(
            "copy order_items (order_id, line_no, product_id, quantity, unit_price) from stdin (format binary)");
        var previousOrder = -1;
        var lineNo = 0;
        foreach (var line in data.Lines)
        {
            lineNo = line.Order == previousOrder ? lineNo + 1 : 1;
            previousOrder = line.Order;
            writer.StartRow();
            writer.Write((long)line.Order + 1, NpgsqlDbType.Bigint);
            writer.Write(lineNo, NpgsqlDbType.Integer);
            writer.Write((long)line.Product + 1, NpgsqlDbType.Bigint);
            writer.Write((int)line.Quantity, NpgsqlDbType.Integer);
            writer.Write(line.UnitPrice, NpgsqlDbType.Numeric);
            advance();
        }
        writer.Complete();
    }

    private static void CopyInteractions(NpgsqlConnection connection, DemoDataSet data, Action advance)
    {
        using var writer = connection.BeginBinaryImport(
            "copy interactions (user_id, item_id, event_type, event_value, occurred_at, order_id) from stdin (format binary)");
        foreach (var line in data.Lines)
        {
            var order = data.Orders[line.Order];
            writer.StartRow();
            writer.Write((long)order.Customer + 1, NpgsqlDbType.Bigint);
            writer.Write((long)line.Product + 1, NpgsqlDbType.Bigint);
            writer.Write("purchase", NpgsqlDbType.Text);
            writer.Write((float)line.Quantity, NpgsqlDbType.Real);
            writer.Write(DateTime.UnixEpoch.AddSeconds(order.Time), NpgsqlDbType.TimestampTz);
            writer.Write((long)line.Order + 1, NpgsqlDbType.Bigint);
            advance();
        }
        foreach (var view in data.Views)
        {
            writer.StartRow();
            writer.Write((long)view.Customer + 1, NpgsqlDbType.Bigint);
            writer.Write((long)view.Product + 1, NpgsqlDbType.Bigint);
            writer.Write("view", NpgsqlDbType.Text);
            writer.Write(1f, NpgsqlDbType.Real);
            writer.Write(DateTime.UnixEpoch.AddSeconds(view.Time), NpgsqlDbType.TimestampTz);
            writer.WriteNull();
            advance();
        }
        writer.Complete();
    }
}
