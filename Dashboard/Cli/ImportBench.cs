using System.Diagnostics;
using System.Globalization;
using System.Text;
using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Recs.Services.Data;
using Recs.Services.Engine;
using Recs.Services.Ingestion;

namespace Recs.Dashboard.Cli;

/// <summary>
/// Import speed, each run into a fresh scratch database on the configured server (created, migrated, dropped):
/// <c>import-online-retail</c> (the full UCI file; median over runs) and <c>import-personalize</c> (writes a
/// Personalize interactions file of --rows rows, 20,000,000 by default, with matching items and users files, and
/// imports them once, reporting the process's peak memory to show the files are streamed).
/// </summary>
public static class ImportBench
{
    public static async Task<object> OnlineRetailAsync(NpgsqlDataSource dataSource, string path, int runs)
    {
        var seconds = new List<double>();
        ImportReport? last = null;
        for (var r = 0; r < runs; r++)
        {
            await using var scratch = await ScratchDatabase.CreateAsync(dataSource);
            var clock = Stopwatch.StartNew();
            last = await OnlineRetailImporter.ImportAsync(scratch.DataSource, path);
            seconds.Add(Math.Round(clock.Elapsed.TotalSeconds, 2));
        }
        var file = last!.Files.Single();
        return new { rows = file.RowsRead, imported_lines = file.RowsImported, tables = last.Tables, seconds_median = BenchCommand.Median(seconds), seconds };
    }

    public static async Task<object> PersonalizeAsync(NpgsqlDataSource dataSource, long rows, TextWriter log)
    {
        var folder = Directory.CreateTempSubdirectory("recs-import-bench-").FullName;
        try
        {
            var clock = Stopwatch.StartNew();
            var files = WriteFiles(folder, rows, users: (int)Math.Min(1_000_000, Math.Max(100, rows / 20)), items: (int)Math.Min(50_000, Math.Max(50, rows / 400)));
            var written = clock.Elapsed.TotalSeconds;
            await log.WriteLineAsync($"bench: wrote {rows:N0} interactions ({new FileInfo(files.Interactions!).Length / 1048576} MB) in {written:F0} s; importing...");
            await using var scratch = await ScratchDatabase.CreateAsync(dataSource);
            var before = Process.GetCurrentProcess().PeakWorkingSet64;
            clock.Restart();
            var lastPhase = "";
            var report = await PersonalizeImporter.ImportAsync(scratch.DataSource, files, new InlineProgress<(double Fraction, string Phase)>(p =>
            {
                if (p.Phase != lastPhase)
                    log.WriteLine($"bench: {clock.Elapsed.TotalSeconds,6:F0} s {p.Phase}");
                lastPhase = p.Phase;
            }));
            var seconds = clock.Elapsed.TotalSeconds;
            var interactions = report.Files.Single(f => f.Kind == "interactions");
            return new
            {
                rows, file_mb = new FileInfo(files.Interactions!).Length / 1048576, write_seconds = Math.Round(written, 1),
                import_seconds = Math.Round(seconds, 1), rows_per_second = Math.Round(rows / seconds), imported = interactions.RowsImported,
                skipped = interactions.RowsSkipped, tables = report.Tables,
                peak_working_set_mb_before_import = before / 1048576, peak_working_set_mb_after_import = report.PeakWorkingSetBytes / 1048576,
            };
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Streams seeded Personalize files: power-law item popularity, a year of timestamps, purchases and views.</summary>
    private static PersonalizeFiles WriteFiles(string folder, long rows, int users, int items)
    {
        var rng = new SeededRandom(7);
        var itemsPath = Path.Combine(folder, "items.csv");
        using (var writer = new StreamWriter(itemsPath, false, new UTF8Encoding(false), 1 << 16))
        {
            writer.WriteLine("ITEM_ID,PRODUCT_NAME,CATEGORY,PRICE,COLOR");
            for (var i = 0; i < items; i++)
                writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"I{i},Product {i},Category {i % 15},{1 + i % 200}.99,c{i % 7}"));
        }
        var usersPath = Path.Combine(folder, "users.csv");
        using (var writer = new StreamWriter(usersPath, false, new UTF8Encoding(false), 1 << 16))
        {
            writer.WriteLine("USER_ID,AGE,LOCATION,SEGMENT");
            for (var u = 0; u < users; u++)
                writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"U{u},{18 + u % 60},Region {u % 20},{(u % 3 == 0 ? "loyal" : "casual")}"));
        }
        var interactionsPath = Path.Combine(folder, "interactions.csv");
        const long start = 1_700_000_000;
        using (var writer = new StreamWriter(interactionsPath, false, new UTF8Encoding(false), 1 << 20))
        {
            writer.WriteLine("USER_ID,ITEM_ID,EVENT_TYPE,EVENT_VALUE,TIMESTAMP");
            for (long k = 0; k < rows; k++)
            {
                var item = (int)(items * Math.Pow(rng.NextDouble(), 2.5)); // power law: low ids are popular
                var user = (int)(rng.NextDouble() * users);
                var purchase = rng.NextDouble() < 0.4;
                writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"U{user},I{item},{(purchase ? "purchase" : "view")},{(purchase ? "1" : "")},{start + (long)(rng.NextDouble() * 31_536_000)}"));
            }
        }
        return new PersonalizeFiles(interactionsPath, itemsPath, usersPath);
    }

    /// <summary>A migrated database beside the configured one, dropped when disposed.</summary>
    private sealed class ScratchDatabase(NpgsqlDataSource admin, string name, NpgsqlDataSource dataSource) : IAsyncDisposable
    {
        public NpgsqlDataSource DataSource { get; } = dataSource;

        public static async Task<ScratchDatabase> CreateAsync(NpgsqlDataSource configured)
        {
            var name = $"recs_bench_{Guid.NewGuid():N}"[..24];
            await using (var connection = await configured.OpenConnectionAsync())
                await connection.ExecuteAsync($"create database {name}");
            var builder = new NpgsqlConnectionStringBuilder(configured.ConnectionString) { Database = name };
            await Migrator.ApplyAsync(builder.ConnectionString, NullLogger.Instance);
            return new ScratchDatabase(configured, name, NpgsqlDataSource.Create(builder.ConnectionString));
        }

        public async ValueTask DisposeAsync()
        {
            await DataSource.DisposeAsync();
            await using var connection = await admin.OpenConnectionAsync();
            await connection.ExecuteAsync($"drop database if exists {name} with (force)");
        }
    }
}
