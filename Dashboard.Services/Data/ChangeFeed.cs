using System.Collections.Concurrent;
using Dapper;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Recs.Services.Data;

/// <summary>The change feed's channels and the notices they carry; the one place these names are spelled.</summary>
public static class ChangeChannels
{
    /// <summary>Served answers changed: <c>all</c>, or <c>user:ID</c> / <c>item:ID</c> for one user's or item's.</summary>
    public const string Serving = "recs_serving_cache";

    /// <summary>Which versions serve changed (a promotion): the notice names the campaign and version.</summary>
    public const string Models = "recs_models";

    /// <summary>An experiment started or stopped: the notice names the campaign.</summary>
    public const string Experiments = "recs_experiments";

    public const string All = "all";

    public static readonly string[] Every = [Serving, Models, Experiments];
}

/// <summary>
/// PostgreSQL's NOTIFY/LISTEN as one feed for the process: writers announce a change inside their own transaction
/// (<see cref="NotifyAsync"/>, delivered to every instance at commit, never for a rolled-back one), and one listening
/// connection here hands each notice to the subscribers of its channel. Writers in this process also raise the notice
/// locally at once (<see cref="Raise"/>), so their own reads after the commit never wait for the round trip.
/// While the listening connection is down, <see cref="Listening"/> is false: subscribers that keep state (caches) must
/// stand aside then, since they could miss a change; when it comes back they hear <see cref="ListeningChanged"/>.
/// A quiet connection is pinged every 10 s, so a silently lost one is noticed within about 20 s.
/// </summary>
public sealed class ChangeFeed(NpgsqlDataSource dataSource, ILogger<ChangeFeed> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<Guid, (string Channel, Action<string> OnNotice)> _subscribers = new();
    private volatile bool _listening;

    public bool Listening => _listening;

    /// <summary>Raised with the new state when listening starts or stops (subscribers drop state on both).</summary>
    public event Action<bool>? ListeningChanged;

    /// <summary>Calls <paramref name="onNotice"/> with each notice on <paramref name="channel"/>; dispose to stop.</summary>
    public IDisposable Subscribe(string channel, Action<string> onNotice)
    {
        var key = Guid.NewGuid();
        _subscribers[key] = (channel, onNotice);
        return new Subscription(() => _subscribers.TryRemove(key, out _));
    }

    /// <summary>Announces a change to every instance at the commit of <paramref name="transaction"/>.</summary>
    public static Task NotifyAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string channel, string notice, CancellationToken cancellationToken = default) =>
        connection.ExecuteAsync(new CommandDefinition("select pg_notify(@channel, @notice)", new { channel, notice = Limit(notice) }, transaction, cancellationToken: cancellationToken));

    /// <summary>A notice is at most 8000 bytes: a longer one becomes "all".</summary>
    public static string Limit(string notice) => notice.Length <= 4000 ? notice : ChangeChannels.All;

    /// <summary>Hands a notice to this process's subscribers now (after the writer's own commit).</summary>
    public void Raise(string channel, string notice)
    {
        foreach (var (subscribedTo, onNotice) in _subscribers.Values)
        {
            if (subscribedTo != channel)
                continue;
            try
            {
                onNotice(notice);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                logger.LogWarning("A change-feed subscriber of {Channel} failed: {Message}", channel, e.Message);
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, e) => Raise(e.Channel, e.Payload);
                foreach (var channel in ChangeChannels.Every)
                    await connection.ExecuteAsync($"listen {channel}");
                SetListening(true);
                logger.LogDebug("Change feed listening on {Channels}", string.Join(", ", ChangeChannels.Every));
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
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException or IOException)
            {
                if (_listening)
                    logger.LogWarning("Change feed stopped listening ({Message}); caches stand aside until it listens again", e.Message);
            }
            finally
            {
                SetListening(false);
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

    private void SetListening(bool listening)
    {
        if (_listening == listening)
            return;
        _listening = listening;
        ListeningChanged?.Invoke(listening);
    }

    private sealed class Subscription(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }
}
