using System.IO.Compression;
using System.Text;
using Dapper;
using Npgsql;
using Recs.Services.Ingestion;

namespace Recs.Tests.Integration;

/// <summary>Files for one test, in a folder removed afterwards.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("recs-import-").FullName;

    public string Write(string name, string text) => WriteBytes(name, Encoding.UTF8.GetBytes(text));

    public string WriteBytes(string name, byte[] bytes)
    {
        var path = System.IO.Path.Combine(Path, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public string WriteGzip(string name, string text)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest))
            gzip.Write(Encoding.UTF8.GetBytes(text));
        return WriteBytes(name, buffer.ToArray());
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Everything an import could change, to show that a failed one changed nothing.</summary>
public static class DatabaseSnapshot
{
    public static async Task<string> TakeAsync(NpgsqlDataSource dataSource)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<string>("""
            select concat_ws(' | ',
                (select count(*) || ' customers ' || coalesce(md5(string_agg(c::text, ',' order by id)), '') from customers c),
                (select count(*) || ' products ' || coalesce(md5(string_agg(p::text, ',' order by id)), '') from products p),
                (select count(*) || ' orders' from orders), (select count(*) || ' lines' from order_items),
                (select count(*) || ' interactions ' || coalesce(md5(string_agg(i::text, ',' order by id)), '') from interactions i))
            """) ?? "";
    }
}

public sealed class PersonalizeImportTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>, IDisposable
{
    private readonly TempFolder _files = new();

    private const string Users = """
        user_id,Age,LOCATION,Gender,LOYALTY_TIER
        u1,34,North,F,gold
        u2,150,South,M,
        u3,,South,,silver
        u1,40,West,M,bronze

        """;

    // Mixed case, another column order, an extra COLOR column, a negative price and an item listed twice.
    private const string Items = """"
        PRICE,ITEM_ID,product_name,Category,COLOR
        9.99,i1,Kettle,Kitchen,red
        4.50,i2,"Mug, large",Kitchen,
        -3,i3,Broken,Kitchen,blue
        12,i4,Lamp,Living,"warm ""white"""
        1,i1,Kettle again,Kitchen,green

        """";

    private const string Interactions = """
        USER_ID,ITEM_ID,EVENT_TYPE,EVENT_VALUE,TIMESTAMP,SESSION_ID
        u1,i1,purchase,1,1700000000,s1
        u1,i2,view,,1700000100,s1
        u2,i1,purchase,2.5,1700000200,s2
        u4,i4,purchase,,1700000300,
        u1,i9,purchase,,1700000400,s1
        u1,i3,view,,1700000450,s1
        u1,i1,purchase,1,1700000000,s1
        u5,,view,,1700000500,

        """;

    public void Dispose() => _files.Dispose();

    private PersonalizeFiles WriteAll() => new(
        _files.WriteGzip("interactions.csv.gz", Interactions), _files.Write("items.csv", Items), _files.Write("users.csv", Users));

    private async Task ResetAsync()
    {
        await using var connection = await db.DataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("truncate interactions, order_items, orders, offline_user_recommendations, offline_similar_items, customers, products restart identity cascade");
    }

    [Fact]
    public async Task Imports_all_three_files_with_the_documented_rules_and_reports_each_skip_with_its_lines()
    {
        await ResetAsync();
        var report = await PersonalizeImporter.ImportAsync(db.DataSource, WriteAll());

        var users = report.Files.Single(f => f.Kind == "users");
        Assert.Equal(4, users.RowsRead);
        Assert.Equal(2, users.RowsImported);
        Assert.Equal([5L], users.Skipped.Single(s => s.Reason.Contains("repeated", StringComparison.Ordinal)).FirstLines);
        Assert.Equal([3L], users.Skipped.Single(s => s.Reason.Contains("AGE", StringComparison.Ordinal)).FirstLines);
        Assert.Equal(["LOYALTY_TIER"], users.ExtraColumns);

        var items = report.Files.Single(f => f.Kind == "items");
        Assert.Equal(3, items.RowsImported);
        Assert.Equal([4L], items.Skipped.Single(s => s.Reason == "negative PRICE").FirstLines);
        Assert.Equal([6L], items.Skipped.Single(s => s.Reason.Contains("repeated", StringComparison.Ordinal)).FirstLines);

        var interactions = report.Files.Single(f => f.Kind == "interactions");
        Assert.Equal(8, interactions.RowsRead);
        Assert.Equal(4, interactions.RowsImported);
        Assert.Equal([6L, 7L], interactions.Skipped.Single(s => s.Reason.StartsWith("ITEM_ID not in", StringComparison.Ordinal)).FirstLines);
        Assert.Equal([8L], interactions.Skipped.Single(s => s.Reason.StartsWith("the same event", StringComparison.Ordinal)).FirstLines);
        Assert.Equal([9L], interactions.Skipped.Single(s => s.Reason == "empty ITEM_ID").FirstLines);
        Assert.Equal(interactions.RowsRead, interactions.RowsImported + interactions.RowsSkipped);

        await using var connection = await db.DataSource.OpenConnectionAsync();
        // u2's users row (age 150) is skipped, but u2 and u4 appear in interactions and are created there.
        Assert.Equal(["u1", "u2", "u3", "u4"], await connection.QueryAsync<string>("select external_id from customers order by external_id"));
        var u1 = await connection.QuerySingleAsync<(short Age, string Region, string Attributes)>("select age, region, attributes::text from customers where external_id = 'u1'");
        Assert.Equal((34, "North"), (u1.Age, u1.Region));
        Assert.Contains("\"LOYALTY_TIER\": \"gold\"", u1.Attributes, StringComparison.Ordinal);
        var lamp = await connection.QuerySingleAsync<(string Name, decimal Price, string Attributes)>("select name, price, attributes::text from products where external_id = 'i4'");
        Assert.Equal(("Lamp", 12m), (lamp.Name, lamp.Price));
        Assert.Contains("warm \\\"white\\\"", lamp.Attributes, StringComparison.Ordinal);
        Assert.Equal("Mug, large", await connection.ExecuteScalarAsync<string>("select name from products where external_id = 'i2'"));
        var events = (await connection.QueryAsync<(string User, string Item, string Type, float? Value, DateTime At, string? Attributes)>("""
            select c.external_id, p.external_id, i.event_type, i.event_value, i.occurred_at, i.attributes::text
            from interactions i join customers c on c.id = i.user_id join products p on p.id = i.item_id order by i.id
            """)).ToList();
        Assert.Equal(4, events.Count);
        Assert.Equal(("u1", "i1", "purchase", 1f), (events[0].User, events[0].Item, events[0].Type, events[0].Value));
        Assert.Equal(DateTime.UnixEpoch.AddSeconds(1_700_000_000), events[0].At);
        Assert.Contains("\"SESSION_ID\": \"s1\"", events[0].Attributes, StringComparison.Ordinal);
        Assert.Equal(("u2", 2.5f), (events[2].User, events[2].Value));
        Assert.Null(await connection.ExecuteScalarAsync<string>("select region from customers where external_id = 'u2'"));
    }

    [Fact]
    public async Task Importing_the_same_files_again_adds_no_duplicates()
    {
        await ResetAsync();
        var files = WriteAll();
        await PersonalizeImporter.ImportAsync(db.DataSource, files);
        var before = await DatabaseSnapshot.TakeAsync(db.DataSource);

        var again = await PersonalizeImporter.ImportAsync(db.DataSource, files);

        Assert.Equal(before, await DatabaseSnapshot.TakeAsync(db.DataSource));
        var interactions = again.Files.Single(f => f.Kind == "interactions");
        Assert.Equal(0, interactions.RowsImported);
        Assert.Equal(4, interactions.Skipped.Single(s => s.Reason.StartsWith("already in the database", StringComparison.Ordinal)).Count);
        Assert.Equal(0, again.Tables["interactions"]);
        Assert.Equal(0, again.Tables["customers"]);
    }

    public static TheoryData<string, byte[], string> BadInteractionFiles() => new()
    {
        { "missing column", Bytes("USER_ID,TIMESTAMP\nu1,1700000000\n"), "line 1: missing required column ITEM_ID" },
        { "semicolons", Bytes("USER_ID;ITEM_ID;TIMESTAMP\nu1;i1;1700000000\n"), "line 1: the header is not comma-separated" },
        { "bad timestamp", Bytes("USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1700000000\nu1,i2,2023-11-14T22:13:20Z\n"), "line 3: TIMESTAMP '2023-11-14T22:13:20Z' is not Unix seconds" },
        { "bad number", Bytes("USER_ID,ITEM_ID,EVENT_VALUE,TIMESTAMP\nu1,i1,1,1700000000\nu1,i2,lots,1700000001\n"), "line 3: EVENT_VALUE 'lots' is not a number" },
        { "unterminated quote", Bytes("USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1700000000\n\"u1,i2,1700000001\nu2,i1,1700000002\n"), "line 3: a quoted field is not closed" },
        { "invalid UTF-8", [.. Bytes("USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1700000000\nu"), 0xC3, 0x28, .. Bytes(",i2,1700000001\n")], "line 3: the file is not valid UTF-8" },
        { "binary garbage", [.. Bytes("USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1700000000\n"), 0x00, 0x01, 0x02, 0xFF, 0x00], "line 3: the file contains NUL bytes" },
        { "empty", [], "the interactions file is empty" },
        { "header only", Bytes("USER_ID,ITEM_ID,TIMESTAMP\n"), "has a header but no rows" },
        { "cut off mid-row", Bytes("USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\nu1,i1,purchase,1700000000\nu1,i2,purch"), "line 3: expected 4 fields, found 3" },
        { "gzip cut off", Truncate(Gzip(string.Concat(Enumerable.Repeat("u1,i1,purchase,1700000000\n", 20_000)).Insert(0, "USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n"))), "gzip data is damaged or cut off" },
    };

    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    private static byte[] Gzip(string s)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest))
            gzip.Write(Bytes(s));
        return buffer.ToArray();
    }

    private static byte[] Truncate(byte[] bytes) => bytes[..(bytes.Length / 2)];

    [Theory]
    [MemberData(nameof(BadInteractionFiles))]
    public async Task Bad_input_names_the_line_and_reason_and_leaves_the_database_exactly_as_it_was(string name, byte[] content, string expected)
    {
        await ResetAsync();
        await PersonalizeImporter.ImportAsync(db.DataSource, WriteAll());
        var before = await DatabaseSnapshot.TakeAsync(db.DataSource);
        // New users and items that would land if the import did not roll back as a whole.
        var users = _files.Write("more-users.csv", "USER_ID,AGE\nnew-user,30\n");
        var items = _files.Write("more-items.csv", "ITEM_ID,PRODUCT_NAME\nnew-item,Thing\n");
        var bad = _files.WriteBytes($"{name.Replace(' ', '-')}.csv{(name.StartsWith("gzip", StringComparison.Ordinal) ? ".gz" : "")}", content);

        var error = await Assert.ThrowsAsync<InputFileException>(() => PersonalizeImporter.ImportAsync(db.DataSource, new PersonalizeFiles(bad, items, users)));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.StartsWith(Path.GetFileName(bad) + ", ", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, await DatabaseSnapshot.TakeAsync(db.DataSource));
    }

    [Fact]
    public async Task A_bad_items_price_stops_the_import_with_its_line()
    {
        await ResetAsync();
        var before = await DatabaseSnapshot.TakeAsync(db.DataSource);
        var items = _files.Write("items.csv", "ITEM_ID,PRICE\ni1,9.99\ni2,nine\n");

        var error = await Assert.ThrowsAsync<InputFileException>(() => PersonalizeImporter.ImportAsync(db.DataSource, new PersonalizeFiles(Items: items)));

        Assert.Equal("items.csv, line 3: PRICE 'nine' is not a number", error.Message);
        Assert.Equal(before, await DatabaseSnapshot.TakeAsync(db.DataSource));
    }
}
