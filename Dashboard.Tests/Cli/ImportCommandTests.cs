using System.Text.Json;
using Recs.Tests.E2E;
using Recs.Tests.Integration;

namespace Recs.Tests.Cli;

public sealed class ImportCommandTests : IDisposable
{
    private readonly TempFolder _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task Import_prints_the_report_as_JSON_and_bad_input_exits_2_with_the_file_line_and_reason()
    {
        var database = $"--Database:DataDirectory={AppProcess.NewDataDirectory()}";
        var items = _files.Write("items.csv", "ITEM_ID,PRODUCT_NAME\nA,Apple\nB,Banana\n");
        var interactions = _files.Write("interactions.csv", "USER_ID,ITEM_ID,TIMESTAMP\nu1,A,1700000000\nu2,B,1700000100\nu2,Z,1700000200\n");

        var (exit, stdout, stderr) = await DashboardCli.RunAsync("import", "--items", items, "--interactions", interactions, database, "--Database:ServerSettings:fsync=off");

        Assert.True(exit == 0, stderr);
        var report = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("personalize", report.GetProperty("source").GetString());
        Assert.Equal(2, report.GetProperty("tables").GetProperty("interactions").GetInt32());
        var file = report.GetProperty("files").EnumerateArray().Single(f => f.GetProperty("kind").GetString() == "interactions");
        Assert.Equal(1, file.GetProperty("rows_skipped").GetInt32());
        Assert.Equal(4, file.GetProperty("skipped")[0].GetProperty("first_lines")[0].GetInt32());

        var quality = await DashboardCli.RunOkAsync("quality", database);
        Assert.Equal(2, JsonDocument.Parse(quality).RootElement.GetProperty("interactions").GetInt32());

        var bad = _files.Write("bad.csv", "USER_ID,ITEM_ID,TIMESTAMP\nu3,A,1700000300\nu3,B,yesterday\n");
        (exit, stdout, stderr) = await DashboardCli.RunAsync("import", "--interactions", bad, database);

        Assert.Equal(2, exit);
        Assert.Contains("recs: bad.csv, line 3: TIMESTAMP 'yesterday' is not Unix seconds", stderr, StringComparison.Ordinal);
        Assert.Equal("", stdout.Trim());
        quality = await DashboardCli.RunOkAsync("quality", database);
        Assert.Equal(2, JsonDocument.Parse(quality).RootElement.GetProperty("interactions").GetInt32());
    }
}
