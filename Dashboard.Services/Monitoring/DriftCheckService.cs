using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Recs.Services.Data;
using Recs.Services.Models;

namespace Recs.Services.Monitoring;

/// <summary>
/// Checks the champion's health Drift:FirstCheckSeconds after start, then every Drift:CheckHours and whenever a new
/// champion is promoted (so the pages do not say "not checked yet" for a day); stores the report and logs a warning
/// naming each crossed threshold. Skips while there is no champion.
/// </summary>
public sealed class DriftCheckService(DriftService drift, ChangeFeed feed, IOptions<DriftOptions> options, TimeProvider time, ILogger<DriftCheckService> logger)
    : BackgroundService
{
    // One pending wake-up is enough: a promotion heard twice (here and through the database) checks once.
    private readonly Channel<bool> _promoted = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var hours = options.Value.CheckHours;
        if (hours <= 0)
            return;
        using var subscription = feed.Subscribe(ChangeChannels.Models, notice =>
        {
            if (notice.StartsWith(Campaigns.UserRecommendations + ":", StringComparison.Ordinal))
                _promoted.Writer.TryWrite(true);
        });
        var delay = TimeSpan.FromSeconds(options.Value.FirstCheckSeconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            using (var wait = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
            {
                var timer = Task.Delay(delay, time, wait.Token);
                var promoted = _promoted.Reader.WaitToReadAsync(wait.Token).AsTask();
                await Task.WhenAny(timer, promoted);
                await wait.CancelAsync();
                try
                {
                    await Task.WhenAll(timer, promoted);
                }
                catch (OperationCanceledException)
                {
                    // the one that did not finish
                }
            }
            if (stoppingToken.IsCancellationRequested)
                return;
            _promoted.Reader.TryRead(out _);
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
