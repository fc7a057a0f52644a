using System.Collections.Concurrent;
using System.Globalization;
using Dapper;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Recs.Services.Models;

namespace Recs.Services.Serving;

/// <summary>One answer as the log keeps it: its id, who asked, which campaign, version and arm, the products shown and when.</summary>
public sealed record LoggedAnswer(Guid Id, DateTime CreatedAt, string? UserId, string Campaign, string? ModelVersion, long? ExperimentId, short? Arm, long[] Items);

/// <summary>A logged answer with what the events that named it did: items clicked, and purchases in the window after it.</summary>
public sealed record AnswerAttribution(
    string RecommendationId, DateTime CreatedAt, string? UserId, string Campaign, string? ModelVersion, long? ExperimentId, string? Arm,
    IReadOnlyList<string> Items, IReadOnlyList<string> Clicked, int Conversions, double Revenue);

/// <summary>
/// The answer log behind every recommendation id. Answers are queued in memory and written in batches (one binary
/// COPY every <see cref="ExperimentOptions.FlushMilliseconds"/>), so an answer costs no extra round trip; attribution
/// joins events to the log when a report is read, so an event arriving before its answer's row is written still counts.
/// Rows older than <see cref="ExperimentOptions.RetentionDays"/> are pruned hourly, except a running experiment's.
/// </summary>
public sealed class RecommendationLog(NpgsqlDataSource dataSource, IOptions<ExperimentOptions> options, TimeProvider time, ILogger<RecommendationLog> logger)
    : BackgroundService
{
    /// <summary>Beyond this many unwritten answers (the database is away) new ones are dropped, counted, and logged.</summary>
    public const int MaxPending = 200_000;

    public const string IdPrefix = "RID-";

    private readonly ConcurrentQueue<LoggedAnswer> _pending = new();
    private readonly SemaphoreSlim _writing = new(1, 1);
    private int _count;
    private long _dropped;

    /// <summary>Answers dropped because too many were waiting to be written.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>The id an API client sees for a logged answer.</summary>
    public static string Format(Guid id) => IdPrefix + id.ToString("N", CultureInfo.InvariantCulture);

    /// <summary>The log's key for a recommendation id, or null when it is not one of ours.</summary>
    public static Guid? Parse(string? recommendationId) =>
        recommendationId is { Length: 36 } && recommendationId.StartsWith(IdPrefix, StringComparison.Ordinal)
        && Guid.TryParseExact(recommendationId.AsSpan(IdPrefix.Length), "N", out var id) ? id : null;

    /// <summary>Queues an answer and returns its recommendation id.</summary>
    public string Record(string? userId, string campaign, string? modelVersion, OnlineExperiment? experiment, short? arm, long[] items)
    {
        var id = Guid.CreateVersion7(time.GetUtcNow());
        if (Interlocked.Increment(ref _count) > MaxPending)
        {
            Interlocked.Decrement(ref _count);
            if (Interlocked.Increment(ref _dropped) % 10_000 == 1)
                logger.LogWarning("The recommendation log is {Max} answers behind; dropping answers until the database catches up", MaxPending);
            return Format(id);
        }
        _pending.Enqueue(new LoggedAnswer(id, time.GetUtcNow().UtcDateTime, userId, campaign, modelVersion, experiment?.Id, arm, items));
        return Format(id);
    }

    /// <summary>Writes every queued answer now (reports call it first, so they include this process's latest answers).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_pending.IsEmpty)
            return;
        await _writing.WaitAsync(cancellationToken);
        try
        {
            var batch = new List<LoggedAnswer>();
            while (_pending.TryDequeue(out var answer))
                batch.Add(answer);
            if (batch.Count == 0)
                return;
            try
            {
                await WriteAsync(batch, cancellationToken);
                Interlocked.Add(ref _count, -batch.Count);
            }
            catch
            {
                // Back in the queue (at its end: order does not matter to the log) for the next flush.
                foreach (var answer in batch)
                    _pending.Enqueue(answer);
                throw;
            }
        }
        finally
        {
            _writing.Release();
        }
    }

    private async Task WriteAsync(List<LoggedAnswer> batch, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var writer = await connection.BeginBinaryImportAsync(
            "copy recommendation_log (id, created_at, user_id, campaign, model_version, experiment_id, arm, items) from stdin (format binary)", cancellationToken);
        foreach (var a in batch)
        {
            await writer.StartRowAsync(cancellationToken);
            await writer.WriteAsync(a.Id, NpgsqlDbType.Uuid, cancellationToken);
            await writer.WriteAsync(a.CreatedAt, NpgsqlDbType.TimestampTz, cancellationToken);
            await WriteNullableAsync(writer, a.UserId, NpgsqlDbType.Text, cancellationToken);
            await writer.WriteAsync(a.Campaign, NpgsqlDbType.Text, cancellationToken);
            await WriteNullableAsync(writer, a.ModelVersion, NpgsqlDbType.Text, cancellationToken);
            await WriteNullableAsync(writer, a.ExperimentId, NpgsqlDbType.Bigint, cancellationToken);
            await WriteNullableAsync(writer, a.Arm, NpgsqlDbType.Smallint, cancellationToken);
            await writer.WriteAsync(a.Items, NpgsqlDbType.Array | NpgsqlDbType.Bigint, cancellationToken);
        }
        await writer.CompleteAsync(cancellationToken);
    }

    private static async Task WriteNullableAsync<T>(NpgsqlBinaryImporter writer, T? value, NpgsqlDbType type, CancellationToken cancellationToken)
    {
        if (value is null)
            await writer.WriteNullAsync(cancellationToken);
        else
            await writer.WriteAsync(value, type, cancellationToken);
    }

    /// <summary>Deletes answers older than the retention, except those of a running experiment; returns how many.</summary>
    public async Task<int> PruneAsync(CancellationToken cancellationToken = default)
    {
        const string sql = """
            delete from recommendation_log
            where created_at < @before
              and (experiment_id is null or experiment_id not in (select id from experiments where status = 'running'))
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var before = time.GetUtcNow().UtcDateTime.AddDays(-options.Value.RetentionDays);
        return await connection.ExecuteAsync(new CommandDefinition(sql, new { before }, commandTimeout: 0, cancellationToken: cancellationToken));
    }

    /// <summary>A logged answer and what the events naming it did; null when the id is unknown (or pruned).</summary>
    public async Task<AnswerAttribution?> AttributionAsync(string recommendationId, CancellationToken cancellationToken = default)
    {
        if (Parse(recommendationId) is not { } id)
            return null;
        await FlushAsync(cancellationToken);
        var o = options.Value;
        const string sql = """
            select l.created_at as CreatedAt, l.user_id as UserId, l.campaign as Campaign, l.model_version as ModelVersion, l.experiment_id as ExperimentId, l.arm as Arm,
                   array(select p.external_id from unnest(l.items) with ordinality as s(item, ord) join products p on p.id = s.item order by s.ord) as Items,
                   array(select distinct p.external_id from interactions i join products p on p.id = i.item_id
                         where i.attributes ? 'recommendation_id' and i.attributes->>'recommendation_id' = @recommendationId
                           and i.event_type = any(@clickTypes) and i.item_id = any(l.items)
                           and (not (i.attributes ? 'impression') or (i.attributes->'impression') ? p.external_id)) as Clicked,
                   coalesce(b.n, 0)::int as Conversions, coalesce(b.revenue, 0)::float8 as Revenue
            from recommendation_log l
            left join lateral (
                select count(*) as n, sum(coalesce(i.event_value, 0)) as revenue
                from customers c join interactions i on i.user_id = c.id
                where c.external_id = l.user_id and i.event_type = @conversionType
                  and i.occurred_at >= l.created_at and i.occurred_at <= l.created_at + @window) b on true
            where l.id = @id
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<(DateTime CreatedAt, string? UserId, string Campaign, string? ModelVersion, long? ExperimentId, short? Arm,
            string[] Items, string[] Clicked, int Conversions, double Revenue)?>(new CommandDefinition(sql, new
            {
                id, recommendationId, clickTypes = o.ClickEventTypes, conversionType = o.ConversionEventType,
                window = TimeSpan.FromHours(o.ConversionWindowHours),
            }, cancellationToken: cancellationToken));
        if (row is not { } r)
            return null;
        return new AnswerAttribution(recommendationId, DateTime.SpecifyKind(r.CreatedAt, DateTimeKind.Utc), r.UserId, r.Campaign, r.ModelVersion, r.ExperimentId,
            r.Arm is { } arm ? ExperimentArms.Name(arm) : null, r.Items, r.Clicked, r.Conversions, r.Revenue);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = TimeSpan.FromMilliseconds(options.Value.FlushMilliseconds);
        var nextPrune = time.GetUtcNow();
        var failing = false;
        using var timer = new PeriodicTimer(period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await FlushAsync(stoppingToken);
                    if (failing)
                        logger.LogInformation("The recommendation log is written again");
                    failing = false;
                    if (time.GetUtcNow() >= nextPrune)
                    {
                        nextPrune = time.GetUtcNow().AddHours(1);
                        var pruned = await PruneAsync(stoppingToken);
                        if (pruned > 0)
                            logger.LogInformation("Pruned {Count} answers older than {Days} days from the recommendation log", pruned, options.Value.RetentionDays);
                    }
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException)
                {
                    // Once per outage, not every tick: the answers wait in memory (up to MaxPending) until it ends.
                    if (!failing)
                        logger.LogWarning("Could not write the recommendation log ({Pending} answers waiting); retrying: {Message}", _pending.Count, e.Message);
                    failing = true;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await FlushAsync(cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or OperationCanceledException)
        {
            logger.LogWarning("{Pending} answers were not written to the recommendation log at shutdown: {Message}", _pending.Count, e.Message);
        }
    }

    public override void Dispose()
    {
        _writing.Dispose();
        base.Dispose();
    }
}
