using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Dapper;
using Npgsql;
using NpgsqlTypes;

namespace Recs.Services.Ingestion;

/// <summary>
/// Imports the UCI Online Retail export (InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice,
/// CustomerID, Country) as customers (Country is the region), products (StockCode; the most frequent description
/// is the name, the latest positive price the price), orders with their lines, and one purchase interaction per
/// sold line. One transaction: a structural problem anywhere rolls the whole file back.
/// <para>Each row's fate, in this order: an exact duplicate of an earlier row is dropped; a row without
/// CustomerID is counted and kept out of user data; a code that is not a product (postage, fees, manual
/// adjustments, samples, vouchers: <see cref="OnlineRetailFile.IsNonProduct"/>) is kept out of the catalogue; a
/// cancellation (invoice starting with C) or a negative quantity is imported as a return (the order's status is
/// "returned" for C invoices; no purchase interaction); a zero or negative price is not a sale and is skipped;
/// every other row is a purchase. An invoice already in the database is not imported again.</para>
/// </summary>
public static class OnlineRetailImporter
{
    private static readonly string[] Columns = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"];

    public static async Task<ImportReport> ImportAsync(NpgsqlDataSource dataSource, string path,
        IProgress<(double Fraction, string Phase)>? progress = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        var report = new ImportReport { Source = "online-retail" };
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await ImportSql.BeginAsync(connection, transaction, cancellationToken);
        await connection.ExecuteAsync("""
            create temp table stage_retail (line bigint, line_no integer, invoice text, stock_code text, description text, quantity integer,
                invoiced_at timestamptz, unit_price numeric(12, 2), customer text, country text, is_return boolean) on commit drop;
            create temp table new_orders (id bigint, external_id text, customer_id bigint) on commit drop;
            """, transaction: transaction);

        var skipped = new SkipTally();
        var file = await Task.Run(() => Stage(connection, path, skipped, new Engine.InlineProgress<double>(f => progress?.Report((f * 0.6, "reading the file"))), cancellationToken), cancellationToken);
        report.Files.Add(file);

        progress?.Report((0.6, "customers and products"));
        await ImportSql.ExecuteAsync(connection, transaction, "analyze stage_retail", cancellationToken);
        var (customersNew, customersOld) = await ImportSql.UpsertAsync(connection, transaction, """
            with up as (
                insert into customers (external_id, region)
                select customer, (array_agg(country order by line))[1] from stage_retail group by customer
                on conflict (external_id) do update set region = coalesce(customers.region, excluded.region)
                returning (xmax = 0) as inserted)
            select count(*) filter (where inserted), count(*) filter (where not inserted) from up
            """, cancellationToken);
        var (productsNew, productsOld) = await ImportSql.UpsertAsync(connection, transaction, """
            with up as (
                insert into products (external_id, name, price)
                select stock_code,
                       coalesce(mode() within group (order by description collate "C") filter (where description <> ''), stock_code),
                       (array_agg(unit_price order by invoiced_at desc, line desc) filter (where unit_price > 0))[1]
                from stage_retail group by stock_code
                on conflict (external_id) do update set name = excluded.name, price = coalesce(excluded.price, products.price)
                returning (xmax = 0) as inserted)
            select count(*) filter (where inserted), count(*) filter (where not inserted) from up
            """, cancellationToken);

        progress?.Report((0.7, "orders"));
        var orders = await ImportSql.ExecuteAsync(connection, transaction, """
            with o as (
                insert into orders (external_id, customer_id, ordered_at, status)
                select s.invoice, min(c.id), min(s.invoiced_at), case when s.invoice like 'C%' then 'returned' else 'completed' end
                from stage_retail s join customers c on c.external_id = s.customer
                group by s.invoice
                on conflict (external_id) do nothing
                returning id, external_id, customer_id)
            insert into new_orders select id, external_id, customer_id from o
            """, cancellationToken);
        progress?.Report((0.8, "order lines"));
        await ImportSql.ExecuteAsync(connection, transaction, "analyze new_orders", cancellationToken);
        var staged = await connection.ExecuteScalarAsync<long>(ImportSql.Command("select count(*) from stage_retail", transaction, cancellationToken));
        var rebuild = await ImportSql.DropIndexesIfLargeAsync(connection, transaction, "order_items", staged, cancellationToken);
        rebuild.AddRange(await ImportSql.DropIndexesIfLargeAsync(connection, transaction, "interactions", staged, cancellationToken));
        var lines = await ImportSql.ExecuteAsync(connection, transaction, """
            insert into order_items (order_id, line_no, product_id, quantity, unit_price)
            select o.id, s.line_no, p.id, s.quantity, s.unit_price
            from stage_retail s join new_orders o on o.external_id = s.invoice join products p on p.external_id = s.stock_code
            """, cancellationToken);
        progress?.Report((0.9, "purchase interactions"));
        var interactions = await ImportSql.ExecuteAsync(connection, transaction, """
            insert into interactions (user_id, item_id, event_type, event_value, occurred_at, order_id)
            select o.customer_id, p.id, 'purchase', s.quantity, s.invoiced_at, o.id
            from stage_retail s join new_orders o on o.external_id = s.invoice join products p on p.external_id = s.stock_code
            where not s.is_return
            """, cancellationToken);
        progress?.Report((0.95, rebuild.Count > 0 ? "rebuilding indexes" : "checking"));
        await ImportSql.RestoreAsync(connection, transaction, rebuild, cancellationToken);
        var again = (await connection.QueryAsync<long>(ImportSql.Command("""
            select line from stage_retail s where not exists (select 1 from new_orders o where o.external_id = s.invoice) order by line
            """, transaction, cancellationToken))).ToList();
        skipped.AddCounted("invoice already imported", again.Count, again);

        file.RowsImported = lines;
        skipped.CopyTo(file);
        report.Tables["customers"] = customersNew;
        report.Tables["customers updated"] = customersOld;
        report.Tables["products"] = productsNew;
        report.Tables["products updated"] = productsOld;
        report.Tables["orders"] = orders;
        report.Tables["order_items"] = lines;
        report.Tables["interactions"] = interactions;
        progress?.Report((0.97, "committing"));
        await Data.ChangeFeed.NotifyAsync(connection, transaction, Data.ChangeChannels.Serving, Data.ChangeChannels.All, cancellationToken); // names, categories, users may have changed
        await transaction.CommitAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("analyze customers, products, orders, order_items, interactions", commandTimeout: 0, cancellationToken: cancellationToken));
        report.Finish(clock);
        progress?.Report((1, "done"));
        return report;
    }

    /// <summary>Reads the file, counts its shape, applies the row rules, and COPYs the rows to import into stage_retail.</summary>
    private static FileImportReport Stage(NpgsqlConnection connection, string path, SkipTally skipped, IProgress<double> progress, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
            throw new InputFileException($"File not found: {path}");
        var stream = File.OpenRead(path);
        using var csv = new CsvRecords(stream);
        var header = csv.Next() ?? throw new InputFileException("the file is empty: expected a header with " + string.Join(", ", Columns));
        if (header.Count == 1 && (header[0].Contains(';', StringComparison.Ordinal) || header[0].Contains('\t', StringComparison.Ordinal)))
            throw new InputFileException("the header is not comma-separated (found ';' or a tab)", 1);
        var column = Columns.ToDictionary(name => name, name =>
        {
            var i = header.FindIndex(h => h.Trim().Equals(name, StringComparison.OrdinalIgnoreCase));
            return i >= 0 ? i : throw new InputFileException($"missing required column {name} (header has: {string.Join(", ", header)})", 1);
        });
        int invoiceAt = column["InvoiceNo"], codeAt = column["StockCode"], descriptionAt = column["Description"], quantityAt = column["Quantity"],
            dateAt = column["InvoiceDate"], priceAt = column["UnitPrice"], customerAt = column["CustomerID"], countryAt = column["Country"];

        var report = new FileImportReport { File = Path.GetFileName(path), Kind = "online-retail" };
        var shape = new ShapeCounter();
        var seen = new HashSet<UInt128>();
        var hasher = new System.IO.Hashing.XxHash128();
        long duplicates = 0;
        var linesOfInvoice = new Dictionary<string, int>();
        using var writer = connection.BeginBinaryImport(
            "copy stage_retail (line, line_no, invoice, stock_code, description, quantity, invoiced_at, unit_price, customer, country, is_return) from stdin (format binary)");
        while (csv.Next() is { } row)
        {
            var line = csv.RecordLine;
            if (row.Count != header.Count)
                throw new InputFileException($"expected {header.Count} fields, found {row.Count} (a wrong delimiter, a stray comma, or a row cut off)", line);
            report.RowsRead++;
            if ((report.RowsRead & 0x3FFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress.Report(Math.Min(1, (double)stream.Position / Math.Max(1, stream.Length)));
            }
            var invoice = row[invoiceAt].Trim();
            var code = row[codeAt].Trim();
            var description = row[descriptionAt].Trim();
            if (!int.TryParse(row[quantityAt].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var quantity))
                throw new InputFileException($"Quantity '{row[quantityAt]}' is not a whole number", line);
            if (!decimal.TryParse(row[priceAt].Trim(), NumberStyles.Number, CultureInfo.InvariantCulture, out var price) || Math.Abs(price) >= 10_000_000_000m)
                throw new InputFileException($"UnitPrice '{row[priceAt]}' is not a number", line);
            if (!DateTime.TryParse(row[dateAt].Trim(), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var at))
                throw new InputFileException($"InvoiceDate '{row[dateAt]}' is not a date", line);
            var customer = NormaliseCustomer(row[customerAt]);
            var country = row[countryAt].Trim();
            shape.Add(invoice, code, row[descriptionAt], quantity, price, customer, country);

            if (!seen.Add(RowHash(hasher, row)))
            {
                duplicates++;
                skipped.Add("exact duplicate of an earlier row", line);
                continue;
            }
            if (customer.Length == 0)
            {
                skipped.Add("no CustomerID (kept out of user data)", line);
                continue;
            }
            if (code.Length == 0 || OnlineRetailFile.IsNonProduct(code))
            {
                skipped.Add("not a product (postage, fees, adjustments, samples)", line);
                continue;
            }
            var isReturn = invoice.StartsWith('C') || quantity < 0;
            if (!isReturn && (quantity == 0 || price <= 0))
            {
                skipped.Add("zero quantity or a price of zero or less (not a sale)", line);
                continue;
            }
            ref var lineNo = ref CollectionsMarshal.GetValueRefOrAddDefault(linesOfInvoice, invoice, out _);
            lineNo++;
            writer.StartRow();
            writer.Write(line, NpgsqlDbType.Bigint);
            writer.Write(lineNo, NpgsqlDbType.Integer);
            writer.Write(invoice, NpgsqlDbType.Text);
            writer.Write(code, NpgsqlDbType.Text);
            writer.Write(description, NpgsqlDbType.Text);
            writer.Write(quantity, NpgsqlDbType.Integer);
            writer.Write(at, NpgsqlDbType.TimestampTz);
            writer.Write(Math.Round(Math.Max(0, price), 2), NpgsqlDbType.Numeric);
            writer.Write(customer, NpgsqlDbType.Text);
            writer.Write(country.Length == 0 ? "Unspecified" : country, NpgsqlDbType.Text);
            writer.Write(isReturn, NpgsqlDbType.Boolean);
        }
        if (report.RowsRead == 0)
            throw new InputFileException("the file has a header but no rows", csv.RecordLine);
        writer.Complete();
        progress.Report(1);
        shape.CopyTo(report.Shape);
        report.Shape["exact duplicate rows"] = duplicates;
        return report;
    }

    /// <summary>A 128-bit hash of the row's fields as written (exact duplicates hash alike; a collision among a few million
    /// rows has odds near 10⁻²⁶), so finding duplicates keeps 16 bytes per row instead of the row itself.</summary>
    private static UInt128 RowHash(System.IO.Hashing.XxHash128 hasher, List<string> row)
    {
        ReadOnlySpan<byte> separator = [0x1F, 0];
        foreach (var field in row)
        {
            hasher.Append(System.Runtime.InteropServices.MemoryMarshal.AsBytes(field.AsSpan()));
            hasher.Append(separator);
        }
        var hash = hasher.GetCurrentHashAsUInt128();
        hasher.Reset();
        return hash;
    }

    /// <summary>CustomerID is written as a float ("17850.0"); the id is the integer part.</summary>
    public static string NormaliseCustomer(string raw)
    {
        var customer = raw.Trim();
        return customer.EndsWith(".0", StringComparison.Ordinal) ? customer[..^2] : customer;
    }

    /// <summary>The file's own figures, before any rule, to set beside the dataset's README (descriptions as written, untrimmed).</summary>
    private sealed class ShapeCounter
    {
        private readonly HashSet<string> _invoices = [];
        private readonly HashSet<string> _cancelledInvoices = [];
        private readonly HashSet<string> _countries = [];
        private readonly Dictionary<string, HashSet<string>> _countriesOfCustomer = [];
        private readonly Dictionary<string, HashSet<string>> _descriptionsOfCode = [];
        private long _rows, _cancelledRows, _negativeQuantity, _negativeNotCancelled, _noCustomer, _emptyDescription, _zeroPrice, _negativePrice;

        public void Add(string invoice, string code, string description, int quantity, decimal price, string customer, string country)
        {
            _rows++;
            _invoices.Add(invoice);
            _countries.Add(country);
            var cancelled = invoice.StartsWith('C');
            if (cancelled)
            {
                _cancelledInvoices.Add(invoice);
                _cancelledRows++;
            }
            if (quantity < 0)
            {
                _negativeQuantity++;
                if (!cancelled) _negativeNotCancelled++;
            }
            if (customer.Length == 0)
                _noCustomer++;
            else
                Set(_countriesOfCustomer, customer).Add(country);
            if (description.Trim().Length == 0)
                _emptyDescription++;
            Set(_descriptionsOfCode, code).Add(description);
            if (price == 0) _zeroPrice++;
            if (price < 0) _negativePrice++;
        }

        private static HashSet<string> Set(Dictionary<string, HashSet<string>> map, string key)
        {
            if (!map.TryGetValue(key, out var set))
                map[key] = set = [];
            return set;
        }

        public void CopyTo(Dictionary<string, long> shape)
        {
            shape["rows"] = _rows;
            shape["invoices"] = _invoices.Count;
            shape["customers"] = _countriesOfCustomer.Count;
            shape["stock codes"] = _descriptionsOfCode.Count;
            shape["countries"] = _countries.Count;
            shape["customers under more than one country"] = _countriesOfCustomer.Values.Count(c => c.Count > 1);
            shape["cancelled invoices (C)"] = _cancelledInvoices.Count;
            shape["rows on cancelled invoices"] = _cancelledRows;
            shape["rows with Quantity < 0"] = _negativeQuantity;
            shape["rows with Quantity < 0 not on C invoices"] = _negativeNotCancelled;
            shape["rows without CustomerID"] = _noCustomer;
            shape["rows with an empty Description"] = _emptyDescription;
            shape["stock codes with more than one description"] = _descriptionsOfCode.Values.Count(d => d.Count(s => s.Length > 0) > 1);
            shape["rows with UnitPrice 0"] = _zeroPrice;
            shape["rows with UnitPrice < 0"] = _negativePrice;
        }
    }
}
