using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Recs.Services.Ingestion;

namespace Recs.Dashboard.Cli;

/// <summary>
/// <c>bench --parts http</c>: load on a running API over HTTP with keep-alive connections, as a shop's servers would
/// send it. At a fixed rate the load is open-loop: request k leaves at start + k/rate whether or not earlier ones
/// have answered, and its latency counts from that planned moment, so a stall is measured in full rather than hidden
/// by a client that waits (coordinated omission). With <c>--rate 0</c> it is closed-loop at <c>--concurrency</c>
/// requests in flight, for the peak. Users are drawn at random from the demo's customers (C0000001…) with a share
/// of unknown ones, or one fixed user with <c>--user</c>; events name a random demo product. Reports percentiles,
/// the rate achieved, statuses and errors, and the answer cache's hit rate over the phase (/diagnostics/cache).
/// </summary>
public static class HttpLoadBench
{
    public static async Task<object> RunAsync(Verb verb, TextWriter stderr)
    {
        var baseUrl = (verb.Get("url") ?? "http://127.0.0.1:5000").TrimEnd('/');
        var key = verb.Get("key") ?? Environment.GetEnvironmentVariable("RECS_API_KEY")
            ?? throw new CommandLineException("bench --parts http needs an API key: --key KEY or RECS_API_KEY (a write key for --target events).");
        var target = verb.Get("target") ?? "recommendations";
        if (target is not ("recommendations" or "events"))
            throw new CommandLineException($"--target must be recommendations or events, not '{target}'.");
        var rate = verb.GetInt("rate", 500);
        var concurrency = Math.Max(1, verb.GetInt("concurrency", 32));
        var seconds = Math.Max(1, verb.GetInt("seconds", 30));
        var warmup = verb.GetInt("warmup", 3);
        var customers = Math.Max(1, verb.GetInt("customers", 5_000));
        var products = Math.Max(1, verb.GetInt("products", 1_000));
        var unknownPercent = Math.Min(100, verb.GetInt("unknown-percent", 5));
        var fixedUser = verb.Get("user");
        var random = new Random(verb.GetInt("seed", 1));
        var label = verb.Get("label") ?? $"{target}, {(fixedUser is null ? $"random users ({unknownPercent} % unknown)" : $"user {fixedUser}")}, {(rate > 0 ? $"{rate}/s" : $"peak ({concurrency} in flight)")}";

        using var http = new HttpClient(new SocketsHttpHandler
        {
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            MaxConnectionsPerServer = Math.Max(concurrency, 64),
            UseCookies = false,
            AllowAutoRedirect = false,
        })
        { BaseAddress = new Uri(baseUrl + "/"), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Add("X-Api-Key", key);

        string NextUser() => fixedUser
            ?? (random.Next(100) < unknownPercent ? $"load-unknown-{random.Next(1_000_000_000)}" : DemoDataLoader.CustomerExternalId(random.Next(customers)));
        HttpRequestMessage NextRequest()
        {
            // Drawn on the sending thread only (Random is not thread-safe).
            var user = NextUser();
            if (target == "recommendations")
                return new HttpRequestMessage(HttpMethod.Get, $"api/v1/users/{Uri.EscapeDataString(user)}/recommendations?count=10");
            var body = JsonSerializer.Serialize(new
            {
                user_id = user, session_id = "load",
                events = new[] { new { item_id = DemoDataLoader.ProductExternalId(random.Next(products)), event_type = random.Next(4) == 0 ? "purchase" : "view" } },
            });
            return new HttpRequestMessage(HttpMethod.Post, "api/v1/events") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        }

        if (warmup > 0)
        {
            await stderr.WriteLineAsync($"bench: http warm-up {warmup} s...");
            await RunPhaseAsync(http, NextRequest, rate, concurrency, warmup);
        }
        var before = await CacheCountersAsync(http);
        var phase = await RunPhaseAsync(http, NextRequest, rate, concurrency, seconds);
        var after = await CacheCountersAsync(http);

        var planned = phase.Latencies.Select(l => l.Planned).Order().ToArray();
        var service = phase.Latencies.Select(l => l.Service).Order().ToArray();
        double? hitRate = null;
        if (before is { } b && after is { } a && a.Hits + a.Misses - b.Hits - b.Misses > 0)
            hitRate = (double)(a.Hits - b.Hits) / (a.Hits + a.Misses - b.Hits - b.Misses);
        var achieved = phase.Latencies.Count / phase.Elapsed.TotalSeconds;
        var errors = phase.Errors + phase.Statuses.Where(s => s.Key is < 200 or >= 300).Sum(s => s.Value);
        var statuses = string.Join(" ", phase.Statuses.OrderBy(s => s.Key).Select(s => $"[{s.Key}]{s.Value}"));
        await stderr.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"summary: {label,-58} {achieved,7:F1} req/s  p50 {Percentile(planned, 50),6:F2} ms  p90 {Percentile(planned, 90),6:F2} ms  p99 {Percentile(planned, 99),6:F2} ms  max {planned.LastOrDefault(),7:F1} ms  statuses {statuses}  errors {errors}{(hitRate is { } h ? $"  cache hits {h * 100:F1} %" : "")}"));
        foreach (var (message, count) in phase.ErrorMessages.OrderByDescending(e => e.Value).Take(5))
            await stderr.WriteLineAsync($"  error ×{count}: {message}");
        return new
        {
            label, target, url = baseUrl, loop = rate > 0 ? "open" : "closed", rate_asked = rate > 0 ? rate : (int?)null, concurrency = rate > 0 ? (int?)null : concurrency,
            seconds, requests = phase.Latencies.Count, rate_achieved = Math.Round(achieved, 1), errors, statuses = phase.Statuses.ToDictionary(s => s.Key.ToString(CultureInfo.InvariantCulture), s => s.Value),
            // From the planned departure (open loop) or the send (closed loop), in ms.
            p50_ms = Percentile(planned, 50), p90_ms = Percentile(planned, 90), p99_ms = Percentile(planned, 99), max_ms = Math.Round(planned.LastOrDefault(), 2),
            // From the moment the request was actually handed to the connection: the server's time plus loopback.
            service_p50_ms = Percentile(service, 50), service_p99_ms = Percentile(service, 99),
            late_sends = phase.Late,
            // The slowest requests, when each was planned (s into the phase): stalls show as clusters, scattered ones as noise.
            slowest = phase.Latencies.OrderByDescending(l => l.Planned).Take(20).Select(l => new { at_s = Math.Round(l.At, 3), ms = Math.Round(l.Planned, 2) }).OrderBy(l => l.at_s).ToArray(),
            cache_hit_rate = hitRate is { } r ? Math.Round(r, 4) : (double?)null,
            cache = after,
        };
    }

    private sealed record Phase(List<(double Planned, double Service, double At)> Latencies, Dictionary<int, int> Statuses, int Errors, Dictionary<string, int> ErrorMessages, int Late, TimeSpan Elapsed);

    /// <summary>One phase: open-loop at <paramref name="rate"/> per second, or closed-loop at <paramref name="concurrency"/> when the rate is 0.</summary>
    private static async Task<Phase> RunPhaseAsync(HttpClient http, Func<HttpRequestMessage> next, int rate, int concurrency, int seconds)
    {
        var latencies = new List<(double, double, double)>();
        var statuses = new Dictionary<int, int>();
        var messages = new Dictionary<string, int>();
        var errors = 0;
        var late = 0;
        var gate = new Lock();
        var clock = Stopwatch.StartNew();
        var end = TimeSpan.FromSeconds(seconds);

        async Task SendAsync(HttpRequestMessage request, TimeSpan plannedAt)
        {
            var sentAt = clock.Elapsed;
            int? status = null;
            string? error = null;
            try
            {
                using var response = await http.SendAsync(request);
                await response.Content.LoadIntoBufferAsync();
                status = (int)response.StatusCode;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                error = e.GetBaseException().Message;
            }
            finally
            {
                request.Dispose();
            }
            var done = clock.Elapsed;
            lock (gate)
            {
                latencies.Add(((done - plannedAt).TotalMilliseconds, (done - sentAt).TotalMilliseconds, plannedAt.TotalSeconds));
                if (status is { } s)
                    statuses[s] = statuses.GetValueOrDefault(s) + 1;
                else
                {
                    errors++;
                    messages[error!] = messages.GetValueOrDefault(error!) + 1;
                }
            }
        }

        if (rate > 0)
        {
            // The requests leave from a thread of their own that sleeps until each planned moment on the monotonic
            // clock (Stopwatch's), so they leave on time within tens of microseconds: awaiting Task.Delay between them
            // woke up to a millisecond or two late, and that lag of the generator was counted as the server's latency.
            var inFlight = new List<Task>();
            var interval = 1.0 / rate;
            var sender = new Thread(() =>
            {
                for (long k = 0; ; k++)
                {
                    var plannedAt = TimeSpan.FromSeconds(k * interval);
                    if (plannedAt >= end)
                        break;
                    Pacing.SleepUntil(clock, plannedAt);
                    if (clock.Elapsed - plannedAt > TimeSpan.FromMilliseconds(1))
                        late++;
                    var sent = SendAsync(next(), plannedAt);
                    lock (gate)
                        inFlight.Add(sent);
                }
            }) { IsBackground = true, Name = "load sender", Priority = ThreadPriority.AboveNormal };
            sender.Start();
            await Task.Run(sender.Join);
            Task[] all;
            lock (gate)
                all = [.. inFlight];
            await Task.WhenAll(all);
        }
        else
        {
            var draw = new Lock();
            await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
            {
                while (clock.Elapsed < end)
                {
                    HttpRequestMessage request;
                    lock (draw)
                        request = next();
                    await SendAsync(request, clock.Elapsed);
                }
            }));
        }
        return new Phase(latencies, statuses, errors, messages, late, clock.Elapsed);
    }

    private sealed record CacheCounters(bool Enabled, long Hits, long Misses, long Entries);

    /// <summary>The answer cache's counters from /diagnostics/cache; null when the server does not have that endpoint.</summary>
    private static async Task<CacheCounters?> CacheCountersAsync(HttpClient http)
    {
        using var response = await http.GetAsync("diagnostics/cache");
        if (response.StatusCode != HttpStatusCode.OK || response.Content.Headers.ContentType?.MediaType != "application/json")
            return null; // an older server, or one that answers this path with a page
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = json.RootElement;
        return new CacheCounters(root.GetProperty("enabled").GetBoolean(), root.GetProperty("hits").GetInt64(), root.GetProperty("misses").GetInt64(), root.GetProperty("entries").GetInt64());
    }

    private static double Percentile(double[] sorted, int percent) =>
        sorted.Length == 0 ? 0 : Math.Round(sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(sorted.Length * percent / 100.0) - 1)], 2);
}

/// <summary>Sleeping until a planned moment with sub-millisecond precision (a load generator's pacing).</summary>
internal static class Pacing
{
    private const int ClockMonotonic = 1;
    private const int TimerAbsolute = 1;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_nanosleep")]
    private static extern int ClockNanosleep(int clock, int flags, ref TimeSpec request, IntPtr remaining);

    /// <summary>
    /// Returns at <paramref name="at"/> on <paramref name="clock"/>'s time line (or at once when it has passed). On Linux
    /// the thread sleeps to that absolute moment of the monotonic clock, which Stopwatch reads too (tens of
    /// microseconds late at most); elsewhere it sleeps whole milliseconds and spins the rest.
    /// </summary>
    public static void SleepUntil(Stopwatch clock, TimeSpan at)
    {
        var remaining = at - clock.Elapsed;
        if (remaining <= TimeSpan.Zero)
            return;
        if (OperatingSystem.IsLinux() && Stopwatch.Frequency == 1_000_000_000)
        {
            var target = Stopwatch.GetTimestamp() + (long)(remaining.TotalSeconds * Stopwatch.Frequency);
            var spec = new TimeSpec { Seconds = target / 1_000_000_000, Nanoseconds = target % 1_000_000_000 };
            while (ClockNanosleep(ClockMonotonic, TimerAbsolute, ref spec, IntPtr.Zero) == 4) // EINTR: a signal woke it, sleep on
            {
            }
            return;
        }
        if (remaining > TimeSpan.FromMilliseconds(1.5))
            Thread.Sleep(remaining - TimeSpan.FromMilliseconds(1));
        while (clock.Elapsed < at)
            Thread.SpinWait(20);
    }
}
