using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using Recs.Services.Engine;
using Recs.Services.Jobs;

namespace Recs.Services.Ingestion;

/// <summary>What to import: Personalize-format files or the Online Retail export.</summary>
public sealed record ImportRequest(PersonalizeFiles? Personalize = null, string? OnlineRetail = null)
{
    public object Describe() => new
    {
        interactions = Personalize?.Interactions is { } i ? Path.GetFileName(i) : null,
        items = Personalize?.Items is { } t ? Path.GetFileName(t) : null,
        users = Personalize?.Users is { } u ? Path.GetFileName(u) : null,
        online_retail = OnlineRetail is { } o ? Path.GetFileName(o) : null,
    };
}

/// <summary>Runs imports as jobs (progress on every page that shows jobs, the report kept as the job's result).</summary>
public sealed class ImportService(NpgsqlDataSource dataSource, JobRunner runner, ILogger<ImportService> logger, Data.ChangeFeed feed)
{
    public static readonly JsonSerializerOptions ReportJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        PreferredObjectCreationHandling = System.Text.Json.Serialization.JsonObjectCreationHandling.Populate,
    };

    /// <summary>A report kept as a job's result, read back.</summary>
    public static ImportReport? ParseReport(string? json) => json is null ? null : JsonSerializer.Deserialize<ImportReport>(json, ReportJson);

    /// <summary>
    /// Imports and returns the report; throws <see cref="InputFileException"/> for bad input (nothing changed) and
    /// <see cref="JobAlreadyRunningException"/> when another import runs.
    /// </summary>
    public Task<ImportReport> ImportAsync(ImportRequest request, string requestedBy, IProgress<(double Fraction, string Phase)>? progress = null, CancellationToken cancellationToken = default)
    {
        if (request.Personalize is null == request.OnlineRetail is null)
            throw new InputFileException("Import either Personalize-format files or one Online Retail file.");
        var definition = new JobDefinition(JobKinds.Import, request.Describe(), requestedBy)
        {
            Audit = (Audit.AuditActions.Import, request.OnlineRetail is null ? "personalize files" : "online retail export"),
            Cancelled = "Cancelled; the database is as it was",
            Failed = "Import failed; the database is as it was",
        };
        return runner.RunAsync(definition, async job =>
        {
            var report = new InlineProgress<(double Fraction, string Phase)>(p =>
            {
                progress?.Report(p);
                job.Report(p.Fraction, p.Phase);
            });
            var result = request.OnlineRetail is { } retail
                ? await OnlineRetailImporter.ImportAsync(dataSource, retail, report, job.Cancellation)
                : await PersonalizeImporter.ImportAsync(dataSource, request.Personalize!, report, job.Cancellation);
            feed.Raise(Data.ChangeChannels.Serving, Data.ChangeChannels.All); // at once here; other instances hear the importer's notification
            logger.LogInformation("Import of {Files}: {Rows} rows imported, {Skipped} skipped in {Seconds:F1} s", request.Describe(),
                result.Files.Sum(f => f.RowsImported), result.Files.Sum(f => f.RowsSkipped), result.Seconds);
            return result;
        }, r => new JobOutcome($"Imported {r.Files.Sum(f => f.RowsImported):N0} rows, skipped {r.Files.Sum(f => f.RowsSkipped):N0}, in {r.Seconds:F1} s",
            JsonSerializer.SerializeToElement(r, ReportJson),
            $"{r.Files.Sum(f => f.RowsImported):N0} rows imported, {r.Files.Sum(f => f.RowsSkipped):N0} skipped in {r.Seconds:F1} s"), cancellationToken);
    }

    /// <summary>The reports of the latest finished imports, newest first.</summary>
    public async Task<IReadOnlyList<(long JobId, DateTime FinishedAt, string Status, string? Error, string? Report)>> RecentAsync(int limit = 10, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(long, DateTime, string, string?, string?)>(new CommandDefinition("""
            select id, coalesce(finished_at, created_at), status, error, result::text
            from jobs where kind = @kind and status <> 'running' order by id desc limit @limit
            """, new { kind = JobKinds.Import, limit }, cancellationToken: cancellationToken));
        return rows.ToList();
    }
}
