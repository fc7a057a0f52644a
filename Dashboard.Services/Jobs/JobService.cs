using System.Collections.Concurrent;
using System.Text.Json;
using Dapper;
using Npgsql;

namespace Recs.Services.Jobs;

/// <summary>A row of the jobs table.</summary>
public sealed record JobRecord(
    long Id, string Kind, string Status, double Progress, string? Message, string? Error,
    DateTime CreatedAt, DateTime? StartedAt, DateTime? FinishedAt)
{
    public bool IsActive => Status is JobStatus.Queued or JobStatus.Running;
}

/// <summary>A finished or running job as the history table shows it.</summary>
public sealed record JobHistoryRow(
    long Id, string Kind, string Status, string? Message, string? Error, string? RequestedBy,
    DateTime CreatedAt, DateTime? StartedAt, DateTime? FinishedAt, string? Version)
{
    public TimeSpan? Duration => StartedAt is { } s ? (FinishedAt ?? DateTime.UtcNow) - s : null;
}

public static class JobStatus
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
}

/// <summary>
/// Records background work in the jobs table (one active job per kind across every instance, enforced by a
/// partial unique index) and publishes live progress to subscribers in this process.
/// </summary>
public sealed class JobService(NpgsqlDataSource dataSource, TimeProvider time)
{
    // Aliased to JobRecord's constructor so Dapper maps it (names and exact types).
    private const string Columns = "id as Id, kind as Kind, status as Status, progress::float8 as Progress, message as Message, error as Error, created_at as CreatedAt, started_at as StartedAt, finished_at as FinishedAt";

    private static readonly TimeSpan PersistEvery = TimeSpan.FromMilliseconds(500);
    private readonly ConcurrentDictionary<long, DateTimeOffset> _lastPersisted = new();
    private readonly ConcurrentDictionary<Guid, Action<JobRecord>> _subscribers = new();
    private readonly ConcurrentDictionary<long, bool> _finished = new();

    /// <summary>Heartbeats older than this mark a running job as abandoned (its process died).</summary>
    public static readonly TimeSpan AbandonedAfter = TimeSpan.FromMinutes(2);

    /// <summary>Subscribes to every progress change; dispose the result to stop.</summary>
    public IDisposable Subscribe(Action<JobRecord> onChange)
    {
        var key = Guid.NewGuid();
        _subscribers[key] = onChange;
        return new Unsubscriber(() => _subscribers.TryRemove(key, out _));
    }

    /// <summary>Starts a job of this kind, or returns null when one is already queued or running.</summary>
    public async Task<JobRecord?> TryStartAsync(string kind, object parameters, string? requestedBy = null, CancellationToken cancellationToken = default)
    {
        var sql = $"""
            insert into jobs (kind, status, parameters, requested_by, started_at, heartbeat_at, message)
            values (@kind, 'running', @parameters::jsonb, @requestedBy, @now, @now, 'starting')
            on conflict (kind) where status in ('queued', 'running') do nothing
            returning {Columns}
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var job = await connection.QuerySingleOrDefaultAsync<JobRecord>(sql,
            new { kind, parameters = JsonSerializer.Serialize(parameters), requestedBy, now = time.GetUtcNow().UtcDateTime });
        if (job is not null)
            Publish(job);
        return job;
    }

    /// <summary>Reports progress (0..1); written to the database at most twice a second, published at once.</summary>
    public async Task ReportAsync(JobRecord job, double progress, string message, CancellationToken cancellationToken = default)
    {
        if (_finished.ContainsKey(job.Id))
            return; // a late report from a progress callback must not resurrect a finished job
        var now = time.GetUtcNow();
        Publish(job with { Progress = Math.Clamp(progress, 0, 1), Message = message });
        if (_lastPersisted.TryGetValue(job.Id, out var last) && now - last < PersistEvery)
            return;
        _lastPersisted[job.Id] = now;
        const string sql = "update jobs set progress = @progress, message = @message, heartbeat_at = @now where id = @id and status = 'running'";
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(sql, new { id = job.Id, progress = (float)Math.Clamp(progress, 0, 1), message, now = now.UtcDateTime });
    }

    /// <summary>Appends a line to the job's log.</summary>
    public async Task LogAsync(JobRecord job, string line, CancellationToken cancellationToken = default)
    {
        const string sql = "update jobs set log = log || @line, heartbeat_at = @now where id = @id and status = 'running'";
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(sql, new { id = job.Id, line = $"{time.GetUtcNow():u} {line}", now = time.GetUtcNow().UtcDateTime });
    }

    public async Task<JobRecord> FinishAsync(JobRecord job, string status, string message, object? result = null, string? error = null)
    {
        var sql = $"""
            update jobs set status = @status, message = @message, result = @result::jsonb, error = @error,
                progress = case when @status = 'succeeded' then 1 else progress end, finished_at = @now, heartbeat_at = @now
            where id = @id
            returning {Columns}
            """;
        _finished[job.Id] = true;
        _lastPersisted.TryRemove(job.Id, out _);
        await using var connection = await dataSource.OpenConnectionAsync();
        var finished = await connection.QuerySingleAsync<JobRecord>(sql, new
        {
            id = job.Id, status, message, error, now = time.GetUtcNow().UtcDateTime,
            result = result is null ? null : JsonSerializer.Serialize(result),
        });
        Publish(finished);
        return finished;
    }

    /// <summary>The newest job of a kind, or null.</summary>
    public async Task<JobRecord?> LatestAsync(string kind, CancellationToken cancellationToken = default)
    {
        var sql = $"""
            select {Columns}
            from jobs where kind = @kind order by id desc limit 1
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<JobRecord>(sql, new { kind });
    }

    /// <summary>Recent jobs of the given kinds, newest first, with their result and who asked.</summary>
    public async Task<IReadOnlyList<JobHistoryRow>> HistoryAsync(string[] kinds, int limit = 20, CancellationToken cancellationToken = default)
    {
        const string sql = """
            select id as Id, kind as Kind, status as Status, message as Message, error as Error, requested_by as RequestedBy,
                   created_at as CreatedAt, started_at as StartedAt, finished_at as FinishedAt, result->>'version' as Version
            from jobs where kind = any(@kinds) order by id desc limit @limit
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<JobHistoryRow>(sql, new { kinds, limit })).ToList();
    }

    /// <summary>Marks running jobs whose process stopped sending heartbeats as failed; returns how many.</summary>
    public async Task<int> FailAbandonedAsync(CancellationToken cancellationToken = default)
    {
        var sql = $"""
            update jobs set status = 'failed', finished_at = @now,
                error = 'abandoned: the process running it stopped before it finished'
            where status in ('queued', 'running') and coalesce(heartbeat_at, created_at) < @cutoff
            """;
        var now = time.GetUtcNow().UtcDateTime;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteAsync(sql, new { now, cutoff = now - AbandonedAfter });
    }

    private void Publish(JobRecord job)
    {
        foreach (var subscriber in _subscribers.Values)
            subscriber(job);
    }

    private sealed class Unsubscriber(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }
}
