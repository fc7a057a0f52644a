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

/// <summary>Thrown when another import is running (one at a time across instances).</summary>
public sealed class ImportAlreadyRunningException() : Exception("Another import is running; wait for it to finish.");

/// <summary>Runs imports as jobs (progress on every page that shows jobs, the report kept as the job's result).</summary>
public sealed class ImportService(NpgsqlDataSource dataSource, JobService jobs, Audit.AuditLog audit, ILogger<ImportService> logger, Serving.ServingCache cache)
{
    public const string JobKind = "import";

    public static readonly JsonSerializerOptions ReportJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        PreferredObjectCreationHandling = System.Text.Json.Serialization.JsonObjectCreationHandling.Populate,
    };

    /// <summary>A report kept as a job's result, read back.</summary>
    public static ImportReport? ParseReport(string? json) => json is null ? null : JsonSerializer.Deserialize<ImportReport>(json, ReportJson);

    /// <summary>Imports and returns the report; throws <see cref="InputFileException"/> for bad input (nothing changed).</summary>
    public Task<ImportReport> ImportAsync(ImportRequest request, string requestedBy, IProgress<(double Fraction, string Phase)>? progress = null, CancellationToken cancellationToken = default) =>
        audit.AuditAsync(requestedBy, Audit.AuditActions.Import, request.OnlineRetail is null ? "personalize files" : "online retail export", request.Describe(),
            () => ImportAuditedAsync(request, requestedBy, progress, cancellationToken),
            r => $"{r.Files.Sum(f => f.RowsImported):N0} rows imported, {r.Files.Sum(f => f.RowsSkipped):N0} skipped in {r.Seconds:F1} s");

    private async Task<ImportReport> ImportAuditedAsync(ImportRequest request, string requestedBy, IProgress<(double Fraction, string Phase)>? progress, CancellationToken cancellationToken)
    {
        if (request.Personalize is null == request.OnlineRetail is null)
            throw new InputFileException("Import either Personalize-format files or one Online Retail file.");
        var job = await jobs.TryStartAsync(JobKind, request.Describe(), requestedBy, cancellationToken) ?? throw new ImportAlreadyRunningException();
        var report = new InlineProgress<(double Fraction, string Phase)>(p =>
        {
            progress?.Report(p);
            _ = jobs.ReportAsync(job, p.Fraction, p.Phase, CancellationToken.None);
        });
        try
        {
            var result = request.OnlineRetail is { } retail
                ? await OnlineRetailImporter.ImportAsync(dataSource, retail, report, cancellationToken)
                : await PersonalizeImporter.ImportAsync(dataSource, request.Personalize!, report, cancellationToken);
            cache.InvalidateAll(); // at once here; other instances hear the importer's notification
            var rows = result.Files.Sum(f => f.RowsImported);
            var skipped = result.Files.Sum(f => f.RowsSkipped);
            await jobs.FinishAsync(job, JobStatus.Succeeded, $"Imported {rows:N0} rows, skipped {skipped:N0}, in {result.Seconds:F1} s",
                JsonSerializer.SerializeToElement(result, ReportJson));
            logger.LogInformation("Import of {Files}: {Rows} rows imported, {Skipped} skipped in {Seconds:F1} s", request.Describe(), rows, skipped, result.Seconds);
            return result;
        }
        catch (OperationCanceledException)
        {
            await jobs.FinishAsync(job, JobStatus.Cancelled, "Cancelled; the database is as it was");
            throw;
        }
        catch (Exception e)
        {
            var reason = e is InputFileException or NpgsqlException ? e.Message : $"{e.GetType().Name}: {e.Message}";
            await jobs.FinishAsync(job, JobStatus.Failed, "Import failed; the database is as it was", error: reason);
            throw;
        }
    }

    /// <summary>The reports of the latest finished imports, newest first.</summary>
    public async Task<IReadOnlyList<(long JobId, DateTime FinishedAt, string Status, string? Error, string? Report)>> RecentAsync(int limit = 10, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(long, DateTime, string, string?, string?)>(new CommandDefinition("""
            select id, coalesce(finished_at, created_at), status, error, result::text
            from jobs where kind = @kind and status <> 'running' order by id desc limit @limit
            """, new { kind = JobKind, limit }, cancellationToken: cancellationToken));
        return rows.ToList();
    }
}
