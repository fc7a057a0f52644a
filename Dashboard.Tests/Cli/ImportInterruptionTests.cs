using System.Diagnostics;
using System.Text.Json.Nodes;
using Recs.Tests.Accuracy;
using Recs.Tests.E2E;

namespace Recs.Tests.Cli;

public sealed class ImportInterruptionTests
{
    /// <summary>The data-quality report without its timestamp: every count the tables hold.</summary>
    private static async Task<string> SnapshotAsync(string database)
    {
        var report = JsonNode.Parse(await DashboardCli.RunOkAsync("quality", database))!.AsObject();
        report.Remove("computed_at");
        return report.ToJsonString();
    }

    [Fact]
    public async Task An_import_killed_midway_leaves_the_database_as_it_was()
    {
        var database = $"--Database:DataDirectory={AppProcess.NewDataDirectory()}";
        await DashboardCli.RunOkAsync("seed", "--customers", "300", "--products", "60", "--order-lines", "3000", database);
        var before = await SnapshotAsync(database);

        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { RepoPaths.DashboardDll, "import", "--online-retail", OnlineRetailAccuracyTests.DatasetPath, database })
            info.ArgumentList.Add(arg);
        using var import = Process.Start(info)!;
        var merging = new TaskCompletionSource();
        import.ErrorDataReceived += (_, e) =>
        {
            // Kill it once rows are being written into the real tables, the worst moment.
            if (e.Data?.Contains("orders", StringComparison.Ordinal) == true || e.Data?.Contains("order lines", StringComparison.Ordinal) == true)
                merging.TrySetResult();
        };
        import.BeginErrorReadLine();
        await merging.Task.WaitAsync(TimeSpan.FromMinutes(2));
        import.Kill();
        await import.WaitForExitAsync();

        Assert.Equal(before, await SnapshotAsync(database));
    }
}
