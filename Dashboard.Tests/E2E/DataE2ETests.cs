using Dapper;
using Microsoft.Playwright;
using Npgsql;
using Recs.Tests.Integration;

namespace Recs.Tests.E2E;

public sealed class DataPage(IPage page, string baseUrl) : PageObject(page)
{
    public async Task OpenAsync()
    {
        await Page.GotoAsync($"{baseUrl}/data");
        await Page.GetByRole(AriaRole.Heading, new() { Name = "Data", Level = 1 }).WaitForAsync();
        await Page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
    }

    public async Task ChooseAsync(string slot, string path) =>
        await Page.Locator($"input[data-testid=file-{slot}]").SetInputFilesAsync(path);

    public async Task ImportAsync()
    {
        // Enabled once the chosen file has reached the server and no import is running: seconds on a busy machine.
        await Assertions.Expect(Page.Locator("[data-testid=start-import]")).ToBeEnabledAsync(new() { Timeout = 30_000 });
        await Page.Locator("[data-testid=start-import]").ClickAsync();
    }

    public ILocator Report => Page.Locator("[data-testid=import-report]");

    public ILocator Error => Page.Locator("[data-testid=import-error]");

    public async Task WaitForQualityAsync() =>
        await Page.Locator("[data-testid=quality-items-without]").WaitForAsync(new() { Timeout = 30_000 });
}

[Collection(BrowserCollection.Name)]
public sealed class DataE2ETests(BrowserFixture browser)
{
    [Fact]
    public async Task Upload_Personalize_files_see_the_import_report_then_a_bad_file_is_refused_with_its_line()
    {
        await using var app = await AppProcess.StartAsync(new Dictionary<string, string> { ["DemoData:Enabled"] = "false" });
        using var files = new TempFolder();
        var items = files.Write("items.csv", "ITEM_ID,PRODUCT_NAME,CATEGORY,PRICE,COLOR\n" +
            string.Join('\n', Enumerable.Range(1, 40).Select(i => $"I{i},Product {i},{(i % 2 == 0 ? "Garden" : "Kitchen")},{i}.50,{(i % 3 == 0 ? "red" : "blue")}")) + "\nI41,Broken,Kitchen,-1,red\n");
        var interactions = files.WriteGzip("interactions.csv.gz", "USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n" +
            string.Join('\n', Enumerable.Range(0, 600).Select(k => $"U{k % 60},I{1 + (k * 7 + k / 60) % 45},{(k % 4 == 0 ? "view" : "purchase")},{1_700_000_000 + k * 3600}")) + "\n");
        var page = await browser.NewPageAsync();
        await app.SignInAsync(page);
        var data = new DataPage(page, app.BaseUrl);

        await data.OpenAsync();
        await Assertions.Expect(page.Locator("[data-testid=no-imports]")).ToBeVisibleAsync();
        await data.WaitForQualityAsync();
        await data.ScreenshotAsync("data-empty");

        await data.ChooseAsync("items", items);
        await data.ChooseAsync("interactions", interactions);
        await data.ImportAsync();
        await Assertions.Expect(data.Report).ToBeVisibleAsync(new() { Timeout = 60_000 });

        await using var connection = new NpgsqlConnection(app.ConnectionString);
        var imported = await connection.ExecuteScalarAsync<long>("select count(*) from interactions");
        Assert.True(imported > 400, $"{imported} interactions");
        await Assertions.Expect(page.Locator("[data-testid=report-interactions]")).ToContainTextAsync($"{imported:N0} imported");
        await Assertions.Expect(page.Locator("[data-testid=report-items]")).ToContainTextAsync("40 imported");
        await Assertions.Expect(page.Locator("[data-testid=report-items]")).ToContainTextAsync("kept in attributes: COLOR");
        await Assertions.Expect(data.Report).ToContainTextAsync("negative PRICE");
        await Assertions.Expect(data.Report).ToContainTextAsync("ITEM_ID not in the catalogue");
        await Assertions.Expect(page.Locator("[data-testid=quality-single]")).ToContainTextAsync("%", new() { Timeout = 30_000 });
        await data.ScreenshotAsync("data-import-report");

        // A file cut off mid-row: the page names the line, and the database keeps exactly what it had.
        var before = await connection.ExecuteScalarAsync<long>("select count(*) from interactions");
        var bad = files.Write("bad.csv", "USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\nU1,I1,purchase,1700000000\nU2,I2,purchase,1700000001\nU3,I3,purch");
        await data.ChooseAsync("interactions", bad);
        await data.ImportAsync();
        await Assertions.Expect(data.Error).ToContainTextAsync("line 4: expected 4 fields, found 3", new() { Timeout = 60_000 });
        Assert.Equal(before, await connection.ExecuteScalarAsync<long>("select count(*) from interactions"));
        await data.ScreenshotAsync("data-import-error");

        // Both imports are in the audit log, the refused one with its reason.
        await page.GotoAsync($"{app.BaseUrl}/audit?action=import");
        await page.Locator("[data-testid=interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
        await Assertions.Expect(page.Locator("[data-testid=audit-rows] tbody tr")).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator("[data-testid=audit-rows] tbody tr").First).ToContainTextAsync("line 4: expected 4 fields");
        await Assertions.Expect(page.Locator("[data-testid=audit-rows] tbody tr").Nth(1)).ToContainTextAsync("succeeded");
        await data.ScreenshotAsync("audit-log");
    }
}
