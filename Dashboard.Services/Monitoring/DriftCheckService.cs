using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Recs.Services.Monitoring;

/// <summary>
/// Checks the champion's health Drift:FirstCheckSeconds after start and then every Drift:CheckHours, stores the report
/// and logs a warning naming each crossed threshold. Skips while there is no champion.
/// </summary>
public sealed class DriftCheckService(DriftService drift, IOptions<DriftOptions> options, TimeProvider time, ILogger<DriftCheckService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var hours = options.Value.CheckHours;
        if (hours <= 0)
            return;
        var delay = TimeSpan.FromSeconds(options.Value.FirstCheckSeconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(delay, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            delay = TimeSpan.FromHours(hours);
            try
            {
                var report = await drift.CheckAsync(stoppingToken);
                if (report is null)
                    logger.LogInformation("Model health check skipped: there is no champion");
                else if (report.Crossed.Count > 0)
                    foreach (var signal in report.Crossed)
                        logger.LogWarning("Champion {Version} is drifting: {Message}", report.Version, signal.Message);
                else
                    logger.LogInformation("Champion {Version} health: {Status} ({Events} events since training, checked in {Seconds:F1} s)",
                        report.Version, report.Status, report.Figures.Events, report.Seconds);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError("Model health check failed: {Message}", e.Message);
            }
        }
    }
}
