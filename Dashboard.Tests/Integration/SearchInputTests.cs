using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Recs.Services.Analytics;
using Recs.Services.Audit;

namespace Recs.Tests.Integration;

/// <summary>What the pages' search boxes and filters send to the database, with hostile and wildcard input.</summary>
public sealed class SearchInputTests(DemoDatabaseFixture db) : IClassFixture<DemoDatabaseFixture>
{
    public static TheoryData<string> Hostile() =>
    [
        "' or '1'='1", "'; drop table customers; --", "\" or 1=1 --", "1 union select external_id from customers",
        "%", "_", "%%", "\\", "P%", "C_00", new string('x', 5_000), "zz\u0000zz", "😀'",
    ];

    [Theory]
    [MemberData(nameof(Hostile))]
    public async Task Search_boxes_treat_input_as_text_and_wildcards_as_characters(string input)
    {
        await using var services = TestServices.Create(db.ConnectionString);
        var explorer = services.GetRequiredService<ExplorerService>();
        var audit = services.GetRequiredService<AuditLog>();
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var customers = await connection.ExecuteScalarAsync<long>("select count(*) from customers");

        // No product name, product id, customer id or city contains these characters: nothing matches.
        Assert.Empty(await explorer.SearchProductsAsync(input));
        Assert.Empty(await explorer.SearchCustomersAsync(input));
        Assert.Empty((await audit.ListAsync(actor: input)).Rows);

        Assert.Equal(customers, await connection.ExecuteScalarAsync<long>("select count(*) from customers"));
    }

    [Fact]
    public async Task Plain_prefixes_still_find_what_they_name()
    {
        await using var services = TestServices.Create(db.ConnectionString);
        var explorer = services.GetRequiredService<ExplorerService>();

        Assert.NotEmpty(await explorer.SearchProductsAsync("P0000"));
        Assert.Equal("C0000001", (await explorer.SearchCustomersAsync("C0000001")).Single().ExternalId);
    }
}
