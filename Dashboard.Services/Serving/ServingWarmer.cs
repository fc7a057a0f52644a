using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Recs.Services.Serving;

/// <summary>
/// Warms the answer cache (<see cref="RecommendationService.WarmAsync"/>) when the app starts serving from memory and
/// each time the cache starts over (a batch, an import, the change feed reconnecting), so that a shop's first read of
/// each customer is answered from memory rather than queued behind a database round trip. A burst of "all" notices
/// warms once; a failed warm-up is logged and the cache fills read by read as before. It warms again before the lists
/// it kept expire (at 80 % of Api:CacheSeconds), replacing only entries kept before it began.
/// </summary>
public sealed class ServingWarmer(ServingCache cache, RecommendationService recommendations, ILogger<ServingWarmer> logger) : BackgroundService
{
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(250);
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    private void Wake() => _wake.Writer.TryWrite(true);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        cache.Cleared += Wake;
        try
        {
            Wake(); // the feed may already listen (then nothing else would start the first warm-up)
            while (true)
            {
                // Woken by a clear, or due again before the entries it kept expire (Api:CacheSeconds), so that warmed
                // lists do not all fall back to the database together a few minutes after each warm-up.
                using (var due = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
                {
                    due.CancelAfter(cache.Lifetime * 0.8 > TimeSpan.FromSeconds(10) ? cache.Lifetime * 0.8 : TimeSpan.FromSeconds(10));
                    try
                    {
                        await _wake.Reader.WaitToReadAsync(due.Token);
                    }
                    catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                    {
                    }
                }
                await Task.Delay(Settle, stoppingToken);
                while (_wake.Reader.TryRead(out _))
                {
                }
                if (!cache.Enabled)
                    continue; // it warms when the feed listens (that clears the cache, which wakes this)
                try
                {
                    var clock = Stopwatch.StartNew();
                    var users = await recommendations.WarmAsync(stoppingToken);
                    logger.LogInformation("Answer cache warmed: {Users} users' lists in {Milliseconds} ms", users, clock.ElapsedMilliseconds);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    logger.LogWarning(e, "Warming the answer cache failed; it fills read by read until the next warm-up");
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            cache.Cleared -= Wake;
        }
    }
}
