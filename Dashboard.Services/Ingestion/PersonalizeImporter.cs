using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Dapper;
using Npgsql;
using NpgsqlTypes;
using Recs.Services.Engine;

namespace Recs.Services.Ingestion;

/// <summary>The files of one Personalize-format import; any of them may be absent.</summary>
public sealed record PersonalizeFiles(string? Interactions = null, string? Items = null, string? Users = null)
{
    public bool Any => Interactions is not null || Items is not null || Users is not null;
}

/// <summary>
/// Imports AWS Personalize dataset files (interactions.csv, items.csv, users.csv; plain or gzip) in one
/// transaction: each file is streamed row by row into a temporary staging table with binary COPY (constant
/// memory whatever the file's size), then merged into customers, products and interactions with set-based SQL.
/// <para>Rules. Headers are matched case-insensitively in any order; columns the schema does not have are kept in
/// each row's <c>attributes</c>. A structural problem stops the import and rolls everything back, naming the line:
/// a missing required column, a header that is not comma-separated, a row with the wrong number of fields (a
/// delimiter problem or a row cut off), an unterminated quote, an unparseable TIMESTAMP, EVENT_VALUE, PRICE or AGE,
/// invalid UTF-8 or binary data, an empty file. Rows that are merely dirty are skipped and reported: an empty id,
/// a negative PRICE, an AGE outside 0–130, an id repeated in items or users (the first row wins), an interaction
/// whose ITEM_ID is in neither the catalogue nor the items file, an interaction repeated in the file, and an
/// interaction already in the database (so re-importing the same files adds nothing). Users that appear only in
/// interactions are created. A missing EVENT_TYPE column means every event is a purchase.</para>
/// </summary>
public static class PersonalizeImporter
{
    public const string DefaultEventType = "purchase";

    public static async Task<ImportReport> ImportAsync(NpgsqlDataSource dataSource, PersonalizeFiles files,
        IProgress<(double Fraction, string Phase)>? progress = null, CancellationToken cancellationToken = default)
    {
        if (!files.Any)
            throw new InputFileException("Name at least one file: interactions, items or users.");
        var clock = Stopwatch.StartNew();
        var report = new ImportReport { Source = "personalize" };
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await ImportSql.BeginAsync(connection, transaction, cancellationToken);
        await connection.ExecuteAsync("""
            create temp table stage_users (line bigint, external_id text, age smallint, gender text, region text, city text, segment text, attributes jsonb, skip text) on commit drop;
            create temp table stage_items (line bigint, external_id text, name text, category text, brand text, price numeric(12, 2), attributes jsonb, skip text) on commit drop;
            create temp table stage_interactions (line bigint, user_ext text, item_ext text, event_type text, event_value real, occurred_at timestamptz, attributes jsonb) on commit drop;
            """, transaction: transaction);

        var fileCount = new[] { files.Users, files.Items, files.Interactions }.Count(f => f is not null);
        var done = 0;
        IProgress<double> Part(string phase)
        {
            var start = done++ * 0.8 / fileCount;
            return new InlineProgress<double>(f => progress?.Report((start + f * 0.8 / fileCount, phase)));
        }
        // Staging runs synchronously on a pool thread: per-value async COPY writes cost more than they overlap.
        await Task.Run(() =>
        {
            if (files.Users is { } users)
                report.Files.Add(Named(users, () => StageUsers(connection, users, Part("reading users"), cancellationToken)));
            if (files.Items is { } items)
                report.Files.Add(Named(items, () => StageItems(connection, items, Part("reading items"), cancellationToken)));
            if (files.Interactions is { } interactions)
                report.Files.Add(Named(interactions, () => StageInteractions(connection, interactions, Part("reading interactions"), cancellationToken)));
        }, cancellationToken);

        progress?.Report((0.8, "merging into the database"));
        await ImportSql.ExecuteAsync(connection, transaction, "analyze stage_users, stage_items, stage_interactions", cancellationToken);
        foreach (var file in report.Files)
        {
            var merge = file.Kind switch
            {
                "users" => MergeUsersAsync(connection, transaction, file, report, cancellationToken),
                "items" => MergeItemsAsync(connection, transaction, file, report, cancellationToken),
                _ => MergeInteractionsAsync(connection, transaction, file, report, cancellationToken),
            };
            await merge;
        }
        progress?.Report((0.97, "committing"));
        await Data.ChangeFeed.NotifyAsync(connection, transaction, Data.ChangeChannels.Serving, Data.ChangeChannels.All, cancellationToken); // names, categories, users may have changed
        await transaction.CommitAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("analyze customers, products, interactions", commandTimeout: 0, cancellationToken: cancellationToken));
        report.Finish(clock);
        progress?.Report((1, "done"));
        return report;
    }

    private static FileImportReport Named(string path, Func<FileImportReport> stage)
    {
        try
        {
            return stage();
        }
        catch (InputFileException e)
        {
            throw e.InFile(Path.GetFileName(path));
        }
    }

    /// <summary>A file's header mapped to upper-case names, with the checks every Personalize file shares.</summary>
    private sealed class Header
    {
        private readonly Dictionary<string, int> _columns;

        public Header(List<string> header, string[] required, string kind)
        {
            Count = header.Count;
            if (header.Count == 1 && (header[0].Contains(';', StringComparison.Ordinal) || header[0].Contains('\t', StringComparison.Ordinal) || header[0].Contains('|', StringComparison.Ordinal)))
                throw new InputFileException($"the header is not comma-separated (found ';', '|' or a tab in \"{Truncate(header[0])}\"): Personalize files use commas", 1);
            _columns = [];
            for (var i = 0; i < header.Count; i++)
            {
                var name = header[i].Trim().ToUpperInvariant();
                if (name.Length == 0)
                    throw new InputFileException($"column {i + 1} of the header has no name", 1);
                if (!_columns.TryAdd(name, i))
                    throw new InputFileException($"column {name} appears twice in the header", 1);
            }
            foreach (var name in required)
            {
                if (!_columns.ContainsKey(name))
                    throw new InputFileException($"missing required column {name} in the {kind} file (header has: {string.Join(", ", header.Select(h => h.Trim()))})", 1);
            }
            Names = header.Select(h => h.Trim()).ToArray();
        }

        public int Count { get; }

        public string[] Names { get; }

        public int this[string name] => _columns.GetValueOrDefault(name, -1);

        public int[] Extras(IEnumerable<string> known)
        {
            var set = known.ToHashSet();
            return _columns.Where(c => !set.Contains(c.Key)).Select(c => c.Value).Order().ToArray();
        }
    }

    private static string Truncate(string s) => s.Length > 60 ? s[..60] + "…" : s;

    /// <summary>Opens a file for reading and reports the share of its bytes consumed.</summary>
    private static (CsvRecords Csv, Action Report) Open(string path, IProgress<double> progress)
    {
        if (!File.Exists(path))
            throw new InputFileException($"File not found: {path}");
        var stream = File.OpenRead(path);
        var length = Math.Max(1, stream.Length);
        return (new CsvRecords(stream), () => progress.Report(Math.Min(1, (double)stream.Position / length)));
    }

    private static List<string> ReadHeader(CsvRecords csv, string kind, string required) =>
        csv.Next() ?? throw new InputFileException($"the {kind} file is empty: expected a header with {required}");

    private static void CheckFields(List<string> row, Header header, CsvRecords csv)
    {
        if (row.Count != header.Count)
            throw new InputFileException($"expected {header.Count} fields, found {row.Count} (a wrong delimiter, a stray comma, or a row cut off)", csv.RecordLine);
    }

    private static string? Field(List<string> row, int index) =>
        index >= 0 && row[index].Trim() is { Length: > 0 } value ? value : null;

    /// <summary>The row's values in columns the schema does not have, as a JSON object (empty values left out).</summary>
    private static string? Attributes(List<string> row, int[] extras, Header header)
    {
        if (extras.Length == 0)
            return null;
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var index in extras)
            {
                if (row[index].Length > 0)
                    json.WriteString(header.Names[index], row[index]);
            }
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static void Write<T>(NpgsqlBinaryImporter writer, T? value, NpgsqlDbType type)
    {
        if (value is null)
            writer.WriteNull();
        else
            writer.Write(value, type);
    }

    private static FileImportReport StageUsers(NpgsqlConnection connection, string path, IProgress<double> progress, CancellationToken cancellationToken)
    {
        var (csv, reportProgress) = Open(path, progress);
        using var _ = csv;
        var header = new Header(ReadHeader(csv, "users", "USER_ID"), ["USER_ID"], "users");
        var report = new FileImportReport { File = Path.GetFileName(path), Kind = "users" };
        string[] known = ["USER_ID", "AGE", "GENDER", "LOCATION", "REGION", "CITY", "SEGMENT"];
        var extras = header.Extras(known);
        report.ExtraColumns.AddRange(extras.Select(i => header.Names[i]));
        int id = header["USER_ID"], age = header["AGE"], gender = header["GENDER"], city = header["CITY"], segment = header["SEGMENT"];
        var region = header["LOCATION"] >= 0 ? header["LOCATION"] : header["REGION"];
        using var writer = connection.BeginBinaryImport("copy stage_users (line, external_id, age, gender, region, city, segment, attributes, skip) from stdin (format binary)");
        while (csv.Next() is { } row)
        {
            CheckFields(row, header, csv);
            report.RowsRead++;
            if ((report.RowsRead & 0x3FFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                reportProgress();
            }
            var externalId = Field(row, id);
            short? ageValue = null;
            string? skip = externalId is null ? "empty USER_ID" : null;
            if (Field(row, age) is { } ageText)
            {
                if (!double.TryParse(ageText, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed))
                    throw new InputFileException($"AGE '{Truncate(ageText)}' is not a number", csv.RecordLine);
                if (parsed is < 0 or > 130)
                    skip ??= "AGE outside 0–130";
                else
                    ageValue = (short)Math.Round(parsed);
            }
            writer.StartRow();
            writer.Write(csv.RecordLine, NpgsqlDbType.Bigint);
            Write(writer, externalId, NpgsqlDbType.Text);
            Write(writer, ageValue, NpgsqlDbType.Smallint);
            Write(writer, Field(row, gender), NpgsqlDbType.Text);
            Write(writer, Field(row, region), NpgsqlDbType.Text);
            Write(writer, Field(row, city), NpgsqlDbType.Text);
            Write(writer, Field(row, segment), NpgsqlDbType.Text);
            Write(writer, Attributes(row, extras, header), NpgsqlDbType.Jsonb);
            Write(writer, skip, NpgsqlDbType.Text);
        }
        EnsureRows(report, csv);
        writer.Complete();
        reportProgress();
        return report;
    }

    private static FileImportReport StageItems(NpgsqlConnection connection, string path, IProgress<double> progress, CancellationToken cancellationToken)
    {
        var (csv, reportProgress) = Open(path, progress);
        using var _ = csv;
        var header = new Header(ReadHeader(csv, "items", "ITEM_ID"), ["ITEM_ID"], "items");
        var report = new FileImportReport { File = Path.GetFileName(path), Kind = "items" };
        string[] known = ["ITEM_ID", "PRODUCT_NAME", "NAME", "CATEGORY", "CATEGORY_L1", "BRAND", "PRICE"];
        var extras = header.Extras(known);
        report.ExtraColumns.AddRange(extras.Select(i => header.Names[i]));
        int id = header["ITEM_ID"], brand = header["BRAND"], price = header["PRICE"];
        var name = header["PRODUCT_NAME"] >= 0 ? header["PRODUCT_NAME"] : header["NAME"];
        var category = header["CATEGORY"] >= 0 ? header["CATEGORY"] : header["CATEGORY_L1"];
        using var writer = connection.BeginBinaryImport("copy stage_items (line, external_id, name, category, brand, price, attributes, skip) from stdin (format binary)");
        while (csv.Next() is { } row)
        {
            CheckFields(row, header, csv);
            report.RowsRead++;
            if ((report.RowsRead & 0x3FFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                reportProgress();
            }
            var externalId = Field(row, id);
            decimal? priceValue = null;
            string? skip = externalId is null ? "empty ITEM_ID" : null;
            if (Field(row, price) is { } priceText)
            {
                if (!decimal.TryParse(priceText, NumberStyles.Number, CultureInfo.InvariantCulture, out var parsed) || Math.Abs(parsed) >= 10_000_000_000m)
                    throw new InputFileException($"PRICE '{Truncate(priceText)}' is not a number", csv.RecordLine);
                if (parsed < 0)
                    skip ??= "negative PRICE";
                priceValue = Math.Round(parsed, 2);
            }
            writer.StartRow();
            writer.Write(csv.RecordLine, NpgsqlDbType.Bigint);
            Write(writer, externalId, NpgsqlDbType.Text);
            Write(writer, Field(row, name) ?? externalId, NpgsqlDbType.Text);
            Write(writer, Field(row, category), NpgsqlDbType.Text);
            Write(writer, Field(row, brand), NpgsqlDbType.Text);
            Write(writer, priceValue, NpgsqlDbType.Numeric);
            Write(writer, Attributes(row, extras, header), NpgsqlDbType.Jsonb);
            Write(writer, skip, NpgsqlDbType.Text);
        }
        EnsureRows(report, csv);
        writer.Complete();
        reportProgress();
        return report;
    }

    private static FileImportReport StageInteractions(NpgsqlConnection connection, string path, IProgress<double> progress, CancellationToken cancellationToken)
    {
        var (csv, reportProgress) = Open(path, progress);
        using var _ = csv;
        var header = new Header(ReadHeader(csv, "interactions", "USER_ID, ITEM_ID and TIMESTAMP"), ["USER_ID", "ITEM_ID", "TIMESTAMP"], "interactions");
        var report = new FileImportReport { File = Path.GetFileName(path), Kind = "interactions" };
        var extras = header.Extras(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"]);
        report.ExtraColumns.AddRange(extras.Select(i => header.Names[i]));
        int user = header["USER_ID"], item = header["ITEM_ID"], timestamp = header["TIMESTAMP"], type = header["EVENT_TYPE"], value = header["EVENT_VALUE"];
        var skipped = new SkipTally();
        using var writer = connection.BeginBinaryImport("copy stage_interactions (line, user_ext, item_ext, event_type, event_value, occurred_at, attributes) from stdin (format binary)");
        while (csv.Next() is { } row)
        {
            CheckFields(row, header, csv);
            report.RowsRead++;
            if ((report.RowsRead & 0x3FFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                reportProgress();
            }
            var at = ParseTimestamp(row[timestamp], csv.RecordLine);
            float? eventValue = null;
            if (Field(row, value) is { } valueText)
            {
                if (!float.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) || !float.IsFinite(parsed))
                    throw new InputFileException($"EVENT_VALUE '{Truncate(valueText)}' is not a number", csv.RecordLine);
                eventValue = parsed;
            }
            var userId = Field(row, user);
            var itemId = Field(row, item);
            if (userId is null || itemId is null)
            {
                skipped.Add(userId is null ? "empty USER_ID" : "empty ITEM_ID", csv.RecordLine);
                continue;
            }
            writer.StartRow();
            writer.Write(csv.RecordLine, NpgsqlDbType.Bigint);
            writer.Write(userId, NpgsqlDbType.Text);
            writer.Write(itemId, NpgsqlDbType.Text);
            writer.Write(Field(row, type) ?? DefaultEventType, NpgsqlDbType.Text);
            Write(writer, eventValue, NpgsqlDbType.Real);
            writer.Write(at, NpgsqlDbType.TimestampTz);
            Write(writer, Attributes(row, extras, header), NpgsqlDbType.Jsonb);
        }
        EnsureRows(report, csv);
        writer.Complete();
        skipped.CopyTo(report);
        reportProgress();
        return report;
    }

    /// <summary>Unix seconds (a fraction is allowed and dropped), between 1970 and 3000.</summary>
    public static DateTime ParseTimestamp(string text, long line)
    {
        var trimmed = text.Trim();
        if (!double.TryParse(trimmed, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || !double.IsFinite(seconds) || seconds < 0 || seconds > 32_503_680_000)
            throw new InputFileException($"TIMESTAMP '{Truncate(trimmed)}' is not Unix seconds", line);
        return DateTime.UnixEpoch.AddSeconds(Math.Floor(seconds));
    }

    private static void EnsureRows(FileImportReport report, CsvRecords csv)
    {
        if (report.RowsRead == 0)
            throw new InputFileException($"the {report.Kind} file has a header but no rows", csv.RecordLine);
    }

    private static async Task AddSkipsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string table, FileImportReport report, CancellationToken cancellationToken)
    {
        var sql = $"""
            select skip as Reason, count(*) as Count, array_agg(line order by line) filter (where n <= {SkipTally.KeptLines}) as Lines
            from (select skip, line, row_number() over (partition by skip order by line) as n from {table} where skip is not null) x
            group by skip order by count(*) desc
            """;
        var rows = await connection.QueryAsync<(string Reason, long Count, long[] Lines)>(ImportSql.Command(sql, transaction, cancellationToken));
        report.Skipped.AddRange(rows.Select(r => new SkippedRows(r.Reason, r.Count, r.Lines)));
    }

    private static async Task MergeUsersAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, FileImportReport file, ImportReport report, CancellationToken cancellationToken)
    {
        const string sql = """
            update stage_users s set skip = 'USER_ID repeated in the file (the first row is kept)'
            from (select line, row_number() over (partition by external_id order by line) as n from stage_users where skip is null) d
            where d.line = s.line and d.n > 1;
            with upserted as (
                insert into customers (external_id, age, gender, region, city, segment, attributes)
                select external_id, age, gender, region, city, segment, coalesce(attributes, '{}') from stage_users where skip is null
                on conflict (external_id) do update set
                    age = coalesce(excluded.age, customers.age), gender = coalesce(excluded.gender, customers.gender),
                    region = coalesce(excluded.region, customers.region), city = coalesce(excluded.city, customers.city),
                    segment = coalesce(excluded.segment, customers.segment), attributes = customers.attributes || excluded.attributes
                returning (xmax = 0) as inserted)
            select count(*) filter (where inserted) as Inserted, count(*) filter (where not inserted) as Updated from upserted;
            """;
        var (inserted, updated) = await ImportSql.UpsertAsync(connection, transaction, sql, cancellationToken);
        report.Tables["customers"] = report.Tables.GetValueOrDefault("customers") + inserted;
        report.Tables["customers updated"] = updated;
        file.RowsImported = inserted + updated;
        await AddSkipsAsync(connection, transaction, "stage_users", file, cancellationToken);
    }

    private static async Task MergeItemsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, FileImportReport file, ImportReport report, CancellationToken cancellationToken)
    {
        const string sql = """
            update stage_items s set skip = 'ITEM_ID repeated in the file (the first row is kept)'
            from (select line, row_number() over (partition by external_id order by line) as n from stage_items where skip is null) d
            where d.line = s.line and d.n > 1;
            with upserted as (
                insert into products (external_id, name, category, brand, price, attributes)
                select external_id, name, category, brand, price, coalesce(attributes, '{}') from stage_items where skip is null
                on conflict (external_id) do update set
                    name = excluded.name, category = coalesce(excluded.category, products.category),
                    brand = coalesce(excluded.brand, products.brand), price = coalesce(excluded.price, products.price),
                    attributes = products.attributes || excluded.attributes
                returning (xmax = 0) as inserted)
            select count(*) filter (where inserted) as Inserted, count(*) filter (where not inserted) as Updated from upserted;
            """;
        var (inserted, updated) = await ImportSql.UpsertAsync(connection, transaction, sql, cancellationToken);
        report.Tables["products"] = inserted;
        report.Tables["products updated"] = updated;
        file.RowsImported = inserted + updated;
        await AddSkipsAsync(connection, transaction, "stage_items", file, cancellationToken);
    }

    private static async Task MergeInteractionsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, FileImportReport file, ImportReport report, CancellationToken cancellationToken)
    {
        // Classify every staged row once: unknown item, repeated in the file, already in the database, or new.
        const string classify = """
            create temp table classified on commit drop as
            select s.line, s.user_ext, p.id as item_id, s.event_type, s.event_value, s.occurred_at, s.attributes,
                   case when p.id is null then 'ITEM_ID not in the catalogue nor in the items file'
                        when row_number() over (partition by s.user_ext, s.item_ext, s.event_type, s.occurred_at order by s.line) > 1
                            then 'the same event (user, item, type, time) earlier in the file'
                        when exists (select 1 from customers c join interactions i on i.user_id = c.id
                                     where c.external_id = s.user_ext and i.occurred_at = s.occurred_at and i.item_id = p.id and i.event_type = s.event_type)
                            then 'already in the database (imported before)'
                   end as skip
            from stage_interactions s left join products p on p.external_id = s.item_ext;
            """;
        await connection.ExecuteAsync(ImportSql.Command(classify, transaction, cancellationToken));
        await ImportSql.ExecuteAsync(connection, transaction, "analyze classified", cancellationToken);
        const string insert = """
            with created as (
                insert into customers (external_id)
                select distinct user_ext from classified where skip is null
                on conflict (external_id) do nothing
                returning 1)
            select count(*) from created;
            """;
        var createdUsers = await connection.ExecuteScalarAsync<long>(ImportSql.Command(insert, transaction, cancellationToken));
        var incoming = await connection.ExecuteScalarAsync<long>(ImportSql.Command("select count(*) from classified where skip is null", transaction, cancellationToken));
        var rebuild = await ImportSql.DropIndexesIfLargeAsync(connection, transaction, "interactions", incoming, cancellationToken);
        const string copy = """
            insert into interactions (user_id, item_id, event_type, event_value, occurred_at, attributes)
            select c.id, k.item_id, k.event_type, k.event_value, k.occurred_at, k.attributes
            from classified k join customers c on c.external_id = k.user_ext
            where k.skip is null
            order by k.line;
            """;
        var inserted = await ImportSql.ExecuteAsync(connection, transaction, copy, cancellationToken);
        await ImportSql.RestoreAsync(connection, transaction, rebuild, cancellationToken);
        report.Tables["customers"] = report.Tables.GetValueOrDefault("customers") + createdUsers;
        report.Tables["interactions"] = inserted;
        file.RowsImported = inserted;
        await AddSkipsAsync(connection, transaction, "classified", file, cancellationToken);
        file.Skipped.Sort((a, b) => b.Count.CompareTo(a.Count));
    }
}
