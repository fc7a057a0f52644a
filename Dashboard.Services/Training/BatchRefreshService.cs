using Recs.Services.Models;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Recs.Services.Jobs;

namespace Recs.Services.Training;

/// <summary>
/// Refreshes the serving cache from the champion, and fetches the campaigns served by a remote Personalize campaign,
/// every Training:BatchRefreshHours (promotions refresh it at once).
/// On start it also marks model versions whose training process died as failed.
/// </summary>
public sealed class BatchRefreshService(BatchInference batch, ModelRegistry registry, RemoteBatch remote, IOptions<TrainingOptions> options,
    TimeProvider time, ILogger<BatchRefreshService> logger) : BackgroundService
{
    /// <summary>When the next scheduled refresh runs (null when the schedule is off).</summary>
    public DateTimeOffset? NextRun { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        try
        {
            var failed = await registry.FailAbandonedAsync(JobService.AbandonedAfter, stoppingToken);
            if (failed > 0)
                logger.LogWarning("Marked {Count} model version(s) left in training by a stopped process as failed", failed);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("Could not check for abandoned training runs: {Message}", e.Message);
        }

        var hours = options.Value.BatchRefreshHours;
        if (hours <= 0)
            return;
        var interval = TimeSpan.FromHours(hours);
        while (!stoppingToken.IsCancellationRequested)
        {
            NextRun = time.GetUtcNow() + interval;
            try
            {
                await Task.Delay(interval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                if (await registry.ChampionAsync(stoppingToken) is null && remote.RemoteCampaigns.Count == 0)
                    continue;
                var result = await batch.RunForChampionAsync("schedule", stoppingToken);
                if (result is null)
                    logger.LogInformation("Scheduled cache refresh skipped: a batch job is already running");
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError("Scheduled cache refresh failed: {Message}", e.Message);
            }
        }
    }
}
