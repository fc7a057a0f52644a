using System.ComponentModel.DataAnnotations;
using Dapper;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Services.Jobs;

namespace Recs.Services.Ingestion;

/// <summary>The <c>DemoData</c> configuration section.</summary>
public sealed class DemoDataOptions
{
    public const string Section = "DemoData";

    /// <summary>Fill an empty database with demo data at start-up.</summary>
    public bool Enabled { get; set; } = true;

    [Range(1, 10_000_000, ErrorMessage = "DemoData:Customers must be between 1 and 10,000,000.")]
    public int Customers { get; set; } = 5_000;

    [Range(15, 1_000_000, ErrorMessage = "DemoData:Products must be between 15 (one per category) and 1,000,000.")]
    public int Products { get; set; } = 1_000;

    [Range(0, 200_000_000, ErrorMessage = "DemoData:OrderLines must be between 0 and 200,000,000.")]
    public int OrderLines { get; set; } = 100_000;

    public ulong Seed { get; set; } = 42;

    /// <summary>Last month of the 12-month window (yyyy-MM); default: the month before the current one.</summary>
    [RegularExpression(@"^\d{4}-\d{2}$", ErrorMessage = "DemoData:LastMonth must look like 2026-10.")]
    public string? LastMonth { get; set; }

    public DemoDataSpec ToSpec(TimeProvider time)
    {
        DateTime end;
        if (LastMonth is { } last)
        {
            var parsed = DateTime.ParseExact(last, "yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);
            end = new DateTime(parsed.Year, parsed.Month, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(1);
        }
        else
        {
            var now = time.GetUtcNow();
            end = new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc);
        }
        return new DemoDataSpec { Customers = Customers, Products = Products, OrderLines = OrderLines, Seed = Seed, End = end };
    }
}

/// <summary>Fills an empty database with demo data in the background, as a job whose progress the overview shows.</summary>
public sealed class DemoDataService(
    NpgsqlDataSource dataSource, JobService jobs, JobRunner runner, IOptions<DemoDataOptions> options, TimeProvider time, ILogger<DemoDataService> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        try
        {
            await jobs.FailAbandonedAsync(stoppingToken);
            if (!options.Value.Enabled)
                return;
            await using (var connection = await dataSource.OpenConnectionAsync(stoppingToken))
            {
                if (await connection.ExecuteScalarAsync<bool>("select exists (select 1 from customers) or exists (select 1 from products)"))
                    return;
            }
            await GenerateAsync(options.Value.ToSpec(time), stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            logger.LogError(e, "Demo data could not be prepared");
        }
    }

    /// <summary>Generates and loads demo data as a job; returns null when another instance already runs one.</summary>
    public async Task<DemoLoadResult?> GenerateAsync(DemoDataSpec spec, CancellationToken cancellationToken)
    {
        var definition = new JobDefinition(JobKinds.DemoData, spec, "system")
        {
            Cancelled = "Stopped with the app; the database was left empty and the next start tries again",
            Failed = "Demo data failed; the database was left empty",
        };
        try
        {
            return await runner.RunAsync(definition, async job =>
            {
                logger.LogInformation("Preparing demo data: {Customers} customers, {Products} products, ~{Lines} order lines (seed {Seed})",
                    spec.Customers, spec.Products, spec.OrderLines, spec.Seed);
                var generation = new Progress<double>(f => job.Report(f * 0.3, "generating customers and orders"));
                var data = await Task.Run(() => DemoDataGenerator.Generate(spec, generation), job.Cancellation);
                var loading = new Progress<(double Fraction, string Phase)>(p => job.Report(0.3 + p.Fraction * 0.7, $"loading {p.Phase}"));
                var result = await DemoDataLoader.LoadAsync(dataSource, data, loading, job.Cancellation);
                logger.LogInformation("Demo data: {Message}", Message(result));
                return result;
            }, r => new JobOutcome(Message(r), r), cancellationToken);
        }
        catch (JobAlreadyRunningException)
        {
            logger.LogInformation("Demo data is already being prepared by another process");
            return null;
        }
    }

    /// <summary>
    /// The spec (seed included) of the demo data this database holds, from the demo-data job that loaded it; null when
    /// its data did not come from the generator (never seeded, or an import ran after it). Generating from it again
    /// gives the same business, with its ground truth.
    /// </summary>
    public async Task<DemoDataSpec?> RecordedSpecAsync(CancellationToken cancellationToken = default)
    {
        const string sql = """
            select kind as Kind, parameters::text as Parameters from jobs
            where status = 'succeeded' and (kind = @import or (kind = @demo and (result->>'Loaded')::boolean))
            order by id desc limit 1
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var latest = await connection.QuerySingleOrDefaultAsync<(string? Kind, string? Parameters)>(new CommandDefinition(sql,
            new { import = JobKinds.Import, demo = JobKinds.DemoData }, cancellationToken: cancellationToken));
        if (latest.Kind != JobKinds.DemoData || latest.Parameters is null)
            return null;
        var spec = System.Text.Json.JsonSerializer.Deserialize<DemoDataSpec>(latest.Parameters);
        var products = await connection.ExecuteScalarAsync<long>(new CommandDefinition("select count(*) from products", cancellationToken: cancellationToken));
        return spec is not null && products == spec.Products ? spec : null;
    }

    private static string Message(DemoLoadResult result) => result.Loaded
        ? $"Loaded {result.TotalRows:N0} rows in {result.Elapsed.TotalSeconds:F1} s ({result.RowsPerSecond:N0} rows/s)"
        : "The database already had data; nothing loaded";
}
