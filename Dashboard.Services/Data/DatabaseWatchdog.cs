using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Recs.Services.Data;

/// <summary>
/// Keeps the embedded PostgreSQL server up while the app runs: every Database:WatchdogSeconds it checks that the
/// server process is alive and restarts it if not, with a log line. Requests that reach the database meanwhile
/// fail with a clear 503 and succeed again once it is back, without restarting the app.
/// </summary>
public sealed class DatabaseWatchdog(RecsDatabase database, IOptions<DatabaseOptions> options, ILogger<DatabaseWatchdog> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!database.IsEmbedded || options.Value.WatchdogSeconds <= 0)
            return;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.WatchdogSeconds));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await database.RestartIfDeadAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogError("Restarting the embedded PostgreSQL failed; trying again in {Seconds} s: {Message}", options.Value.WatchdogSeconds, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
