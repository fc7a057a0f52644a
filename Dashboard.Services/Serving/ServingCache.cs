using System.Collections.Concurrent;
using Dapper;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Recs.Services.Serving;

/// <summary>Settings of the API (the Api configuration section): its answer cache and the event trackers' rate limit.</summary>
public sealed class ApiOptions
{
    public const string Section = "Api";

    /// <summary>How long an answer may be served from memory at most (0 = no cache). Changes invalidate it at once.</summary>
    [System.ComponentModel.DataAnnotations.Range(0, 86_400, ErrorMessage = "Api:CacheSeconds must be between 0 and 86400.")]
    public int CacheSeconds { get; set; } = 300;

    /// <summary>Answers kept at most (an estimated 3 KB each with 10 items); beyond it the cache starts over.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 10_000_000, ErrorMessage = "Api:CacheEntries must be between 1 and 10,000,000.")]
    public int CacheEntries { get; set; } = 20_000;

    /// <summary>Events each client may send per second to the event trackers (REST and AWS), sustained.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 1_000_000, ErrorMessage = "Api:EventsPerSecond must be between 1 and 1,000,000.")]
    public int EventsPerSecond { get; set; } = 500;

    /// <summary>How many requests a client may send at once above the sustained rate.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 1_000_000, ErrorMessage = "Api:EventsBurst must be between 1 and 1,000,000.")]
    public int EventsBurst { get; set; } = 1_000;
}

/// <summary>
/// The API's answers (a user's recommendations, an item's neighbours) kept in memory, so a repeated read costs no
/// database round trip. Every write that changes an answer notifies on the <see cref="Channel"/> channel in its own
/// transaction (delivered at commit): the event tracker names the user, batch inference, imports and demo data say
/// "all". A connection here listens and drops what changed, so every instance and the command line keep each other's
/// caches right. The cache serves only while it is listening: when that connection is lost, it empties and stands
/// aside until it listens again. An answer computed while an invalidation happened is not stored (version check).
/// </summary>
public sealed class ServingCache(NpgsqlDataSource dataSource, IOptions<ApiOptions> options, TimeProvider time, ILogger<ServingCache> logger)
    : BackgroundService
{
    public const string Channel = "recs_serving_cache";

    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, (object Value, DateTimeOffset Until)>> _entries = new(StringComparer.Ordinal);
    private long _version;
    private int _count;
    private volatile bool _listening;

    /// <summary>True while answers are served from memory (listening, and not switched off).</summary>
    public bool Enabled => _listening && options.Value.CacheSeconds > 0;

    /// <summary>Changes with every invalidation: an answer computed across a change is not kept.</summary>
    private long Version => Interlocked.Read(ref _version);

    /// <summary>The answer from memory, or computed by <paramref name="compute"/> and kept unless something changed meanwhile.</summary>
    public async Task<T> GetOrComputeAsync<T>(string owner, string variant, Func<Task<T>> compute) where T : class
    {
        if (Enabled && _entries.TryGetValue(owner, out var variants) && variants.TryGetValue(variant, out var entry) && entry.Until >= time.GetUtcNow())
            return (T)entry.Value;
        var versionBefore = Version;
        var answer = await compute();
        if (Enabled && Version == versionBefore)
        {
            if (Interlocked.Increment(ref _count) > options.Value.CacheEntries)
                InvalidateAll();
            _entries.GetOrAdd(owner, _ => new ConcurrentDictionary<string, (object, DateTimeOffset)>(StringComparer.Ordinal))[variant] =
                (answer, time.GetUtcNow().AddSeconds(options.Value.CacheSeconds));
        }
        return answer;
    }

    public void Invalidate(string owner)
    {
        Interlocked.Increment(ref _version);
        _entries.TryRemove(owner, out _);
    }

    public void InvalidateAll()
    {
        Interlocked.Increment(ref _version);
        _entries.Clear();
        Interlocked.Exchange(ref _count, 0);
    }

    public static string UserKey(string userId) => "user:" + userId;

    public static string ItemKey(string itemId) => "item:" + itemId;

    /// <summary>Tells every instance, at this transaction's commit, that every cached answer may be stale.</summary>
    public static Task NotifyAllAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken = default) =>
        connection.ExecuteAsync(new CommandDefinition("select pg_notify(@channel, 'all')", new { channel = Channel }, transaction, cancellationToken: cancellationToken));

    /// <summary>The payload that says one user's answers are stale (for a pg_notify inside the writer's own statements).</summary>
    public static string UserNotice(string userId) => UserKey(userId) is { Length: <= 4000 } key ? key : "all"; // payloads are limited to 8000 bytes

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.CacheSeconds == 0)
            return;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, e) =>
                {
                    if (e.Payload == "all")
                        InvalidateAll();
                    else
                        Invalidate(e.Payload);
                };
                await connection.ExecuteAsync($"listen {Channel}");
                InvalidateAll(); // whatever changed while nobody listened
                _listening = true;
                logger.LogDebug("Serving cache listening on {Channel}", Channel);
                // A quiet connection is pinged every 10 s: one silently lost (a network partition) fails the ping within
                // its command timeout, and the cache stands aside instead of missing other instances' notifications.
                while (!stoppingToken.IsCancellationRequested)
                {
                    if (!await connection.WaitAsync(TimeSpan.FromSeconds(10), stoppingToken))
                        await connection.ExecuteAsync(new CommandDefinition("select 1", commandTimeout: 10, cancellationToken: stoppingToken));
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException or System.IO.IOException)
            {
                if (_listening)
                    logger.LogWarning("Serving cache stopped listening ({Message}); answers come from the database until it listens again", e.Message);
            }
            finally
            {
                _listening = false;
                InvalidateAll();
            }
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }
}
