using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Recs.Services.Engine;
using Recs.Services.Ingestion;

namespace Recs.Services.Simulation;

/// <summary>A simulation that cannot run or cannot go on: the message says why, for a person.</summary>
public sealed class SimulationException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>How long and how fast to simulate: until <see cref="Shoppers"/> have visited, or for <see cref="Duration"/> (the first reached).</summary>
public sealed record SimulationSettings
{
    public const double MaxRate = 1_000;
    public const int MaxShoppers = 10_000_000;
    public static readonly TimeSpan MaxDuration = TimeSpan.FromHours(24);

    /// <summary>New shoppers per second (a shop's arrivals); the run reports the rate it reached.</summary>
    public double ShoppersPerSecond { get; init; } = 5;

    public TimeSpan? Duration { get; init; }

    public int? Shoppers { get; init; }

    /// <summary>Shoppers in flight at once at most (each makes its requests one after the other).</summary>
    public int Concurrency { get; init; } = 8;

    /// <summary>Items asked for and shown per visit.</summary>
    public int ListSize { get; init; } = 10;

    /// <summary>Seeds who comes and what they click (shopper i uses its own stream, so concurrency does not change it).</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Throws <see cref="ArgumentException"/> with a message naming what is wrong.</summary>
    public void Validate()
    {
        if (!(ShoppersPerSecond > 0 && ShoppersPerSecond <= MaxRate))
            throw new ArgumentException($"The rate must be more than 0 and at most {MaxRate:N0} shoppers per second, not {ShoppersPerSecond.ToString(CultureInfo.InvariantCulture)}.");
        if (Duration is null && Shoppers is null)
            throw new ArgumentException("Say how long to simulate (minutes) or how many shoppers.");
        if (Duration is { } d && (d <= TimeSpan.Zero || d > MaxDuration))
            throw new ArgumentException($"The duration must be more than 0 and at most {MaxDuration.TotalMinutes:N0} minutes, not {d.TotalMinutes.ToString(CultureInfo.InvariantCulture)}.");
        if (Shoppers is { } n && n is < 1 or > MaxShoppers)
            throw new ArgumentException($"The number of shoppers must be between 1 and {MaxShoppers:N0}, not {n}.");
        if (Concurrency is < 1 or > 256)
            throw new ArgumentException($"Concurrency must be between 1 and 256, not {Concurrency}.");
        if (ListSize is < 1 or > 50)
            throw new ArgumentException($"The list size must be between 1 and 50, not {ListSize}.");
    }
}

/// <summary>Where a run stands: shoppers done so far and what they did; <see cref="Fraction"/> of the planned run.</summary>
public sealed record SimulationProgress(long Shoppers, long Clicks, long Purchases, long Errors, TimeSpan Elapsed, double Fraction);

/// <summary>Shoppers served by one model version, and what they did with its lists; Arm when an experiment ran.</summary>
public sealed record SimulatedVersion(string Version, string? Arm, long Shoppers, long Clicks, long Purchases, double Revenue);

/// <summary>
/// What a run did, and the seed that replays its shoppers. Users: distinct customers among the shoppers (frequent ones come back). Requests: every HTTP request to the API (a retried one counts again). Throttled: 429 answers
/// waited out and retried. Errors: shoppers whose visit failed, with a few messages. Experiment: the API's report of
/// the running (else latest) experiment on user-recommendations at the end, as it returns it.
/// </summary>
public sealed record SimulationSummary(
    string Url, ulong Seed, long Shoppers, long Users, long Requests, long Impressions, long Clicks, long Purchases, double Revenue, long Errors, long Throttled,
    double ElapsedSeconds, double ShoppersPerSecond, IReadOnlyList<SimulatedVersion> Versions, IReadOnlyList<string> ErrorSamples, JsonNode? Experiment);

/// <summary>
/// Replays shoppers of the demo business against a running Recs through its public REST API with an API key, as a
/// shop would: each asks for recommendations (<c>GET /api/v1/users/{id}/recommendations</c>), looks at the list and
/// clicks and buys by the ground truth (<see cref="ShopperModel"/>), and the shop reports that
/// (<c>POST /api/v1/events</c>) naming the recommendation id and the items shown; purchases carry the price.
/// Arrivals follow the rate (never faster), with at most <see cref="SimulationSettings.Concurrency"/> in flight.
/// </summary>
public sealed class ShopperSimulator(ShopperModel model, HttpClient http, TimeProvider time)
{
    private const string Campaign = "user-recommendations";
    private const int MaxEventsPerRequest = 10;
    private const int MaxRetries = 5;
    private const int MaxConsecutiveFailures = 25;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private long _shoppers, _requests, _impressions, _clicks, _purchases, _errors, _throttled, _consecutiveFailures;
    private double _revenue;
    private readonly ConcurrentDictionary<string, VersionTally> _versions = new();
    private readonly ConcurrentQueue<string> _errorSamples = new();
    private readonly ConcurrentDictionary<int, bool> _users = new();

    private sealed class VersionTally
    {
        public long Shoppers, Clicks, Purchases;
        public double Revenue;
    }

    /// <summary>
    /// Runs until the settings' shoppers or duration; throws <see cref="SimulationException"/> when the API cannot be
    /// reached or refuses the key, and <see cref="OperationCanceledException"/> when cancelled.
    /// </summary>
    public async Task<SimulationSummary> RunAsync(SimulationSettings settings, IProgress<SimulationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        settings.Validate();
        var url = http.BaseAddress?.ToString().TrimEnd('/') ?? throw new ArgumentException("The HTTP client needs a base address.");
        var started = time.GetTimestamp();
        var arms = await ArmsAsync(url, cancellationToken);

        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        SimulationException? fatal = null;
        using var slots = new SemaphoreSlim(settings.Concurrency);
        var visits = new List<Task>();
        var rng = new SeededRandom(settings.Seed);
        var planned = settings.Shoppers is { } n ? Math.Min(n, settings.Duration is { } d1 ? d1.TotalSeconds * settings.ShoppersPerSecond : double.MaxValue)
            : settings.Duration!.Value.TotalSeconds * settings.ShoppersPerSecond;
        var lastReport = TimeSpan.Zero;
        void Report(bool force)
        {
            var elapsed = time.GetElapsedTime(started);
            if (progress is null || (!force && elapsed - lastReport < TimeSpan.FromMilliseconds(500)))
                return;
            lastReport = elapsed;
            var done = Interlocked.Read(ref _shoppers) + Interlocked.Read(ref _errors);
            progress.Report(new SimulationProgress(Interlocked.Read(ref _shoppers), Interlocked.Read(ref _clicks), Interlocked.Read(ref _purchases),
                Interlocked.Read(ref _errors), elapsed, Math.Clamp(planned > 0 ? done / planned : 0, 0, 1)));
        }

        try
        {
            for (long i = 0; settings.Shoppers is not { } max || i < max; i++)
            {
                var due = TimeSpan.FromSeconds(i / settings.ShoppersPerSecond);
                if (settings.Duration is { } duration && due >= duration)
                    break;
                var wait = due - time.GetElapsedTime(started);
                if (wait > TimeSpan.Zero)
                    await Task.Delay(wait, time, failed.Token);
                await slots.WaitAsync(failed.Token);
                var customer = model.DrawShopper(rng);
                var visitRng = new SeededRandom(settings.Seed * 0x9E3779B97F4A7C15UL + (ulong)i + 1);
                visits.Add(Task.Run(async () =>
                {
                    try
                    {
                        await VisitAsync(customer, visitRng, settings.ListSize, arms, failed.Token);
                    }
                    catch (SimulationException e)
                    {
                        Interlocked.CompareExchange(ref fatal, e, null);
                        await failed.CancelAsync();
                    }
                    finally
                    {
                        slots.Release();
                        Report(false);
                    }
                }, CancellationToken.None));
                visits.RemoveAll(t => t.IsCompleted);
            }
            await Task.WhenAll(visits);
        }
        catch (OperationCanceledException) when (fatal is not null)
        {
        }
        if (fatal is not null)
        {
            await Task.WhenAll(visits.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
            throw fatal;
        }
        cancellationToken.ThrowIfCancellationRequested();
        Report(true);

        var experiment = await GetJsonAsync($"api/v1/experiments/{Campaign}", cancellationToken);
        var elapsedSeconds = time.GetElapsedTime(started).TotalSeconds;
        return new SimulationSummary(url, settings.Seed, _shoppers, _users.Count, _requests, _impressions, _clicks, _purchases, Math.Round(_revenue, 2), _errors, _throttled,
            Math.Round(elapsedSeconds, 2), elapsedSeconds > 0 ? Math.Round(_shoppers / elapsedSeconds, 2) : 0,
            _versions.OrderBy(v => v.Key, StringComparer.Ordinal).Select(v => new SimulatedVersion(v.Key, arms.GetValueOrDefault(v.Key), v.Value.Shoppers, v.Value.Clicks, v.Value.Purchases, Math.Round(v.Value.Revenue, 2))).ToList(),
            _errorSamples.ToList(), experiment);
    }

    /// <summary>The running experiment's versions by arm ("control", "challenger"), read through the API; also checks it is reachable and takes the key.</summary>
    private async Task<Dictionary<string, string>> ArmsAsync(string url, CancellationToken cancellationToken)
    {
        JsonNode? report;
        try
        {
            report = await GetJsonAsync($"api/v1/experiments/{Campaign}", cancellationToken);
        }
        catch (HttpRequestException e) when (e.StatusCode is not null)
        {
            throw new SimulationException($"Recs at {url} did not take the first request: {e.Message}", e);
        }
        catch (HttpRequestException e)
        {
            throw new SimulationException($"Cannot reach Recs at {url}: {e.Message} Is the dashboard running there? (--url names another address.)", e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new SimulationException($"Recs at {url} did not answer within {http.Timeout.TotalSeconds:N0} s.", e);
        }
        var arms = new Dictionary<string, string>(StringComparer.Ordinal);
        if (report?["status"]?.GetValue<string>() == "running" && report["arms"] is JsonArray list)
        {
            foreach (var arm in list)
            {
                if (arm?["version"]?.GetValue<string>() is { } version && arm["arm"]?.GetValue<string>() is { } name)
                    arms[version] = name;
            }
        }
        return arms;
    }

    private async Task<JsonNode?> GetJsonAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, path), cancellationToken);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
    }

    private async Task VisitAsync(int customer, SeededRandom rng, int listSize, Dictionary<string, string> arms, CancellationToken cancellationToken)
    {
        var user = DemoDataLoader.CustomerExternalId(customer);
        try
        {
            JsonNode answer;
            using (var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, $"api/v1/users/{user}/recommendations?count={listSize}"), cancellationToken))
                answer = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken)) ?? throw new InvalidDataException("an empty answer");
            var recommendationId = answer["recommendation_id"]?.GetValue<string>();
            var version = answer["model_version"]?.GetValue<string>() ?? "(none)";
            var itemIds = (answer["items"] as JsonArray ?? []).Select(i => i?["item_id"]?.GetValue<string>() ?? "").ToList();
            var shown = itemIds.Select(id => model.ProductOf(id) ?? -1).ToList();
            var choices = model.Visit(customer, shown, rng);

            var events = new List<object>();
            foreach (var c in choices.Where(c => c.Clicked))
            {
                events.Add(new { ItemId = itemIds[c.Position], EventType = "click", RecommendationId = recommendationId, Impression = itemIds });
                if (c.Bought)
                    events.Add(new { ItemId = itemIds[c.Position], EventType = "purchase", EventValue = (float)model.Data.Products[c.Product].Price, RecommendationId = recommendationId, Impression = itemIds });
            }
            foreach (var chunk in events.Chunk(MaxEventsPerRequest))
            {
                using var _ = await SendAsync(() => new HttpRequestMessage(HttpMethod.Post, "api/v1/events")
                {
                    Content = JsonContent.Create(new { UserId = user, Events = chunk }, options: Json),
                }, cancellationToken);
            }

            var clicks = choices.Count(c => c.Clicked);
            var bought = choices.Where(c => c.Bought).ToList();
            var revenue = bought.Sum(c => (double)model.Data.Products[c.Product].Price);
            Interlocked.Add(ref _impressions, shown.Count);
            Interlocked.Add(ref _clicks, clicks);
            Interlocked.Add(ref _purchases, bought.Count);
            var tally = _versions.GetOrAdd(version, _ => new VersionTally());
            lock (tally)
            {
                tally.Shoppers++;
                tally.Clicks += clicks;
                tally.Purchases += bought.Count;
                tally.Revenue += revenue;
            }
            lock (_versions)
                _revenue += revenue;
            _users.TryAdd(customer, true);
            Interlocked.Increment(ref _shoppers);
            Interlocked.Exchange(ref _consecutiveFailures, 0);
        }
        catch (Exception e) when (e is HttpRequestException or InvalidDataException or InvalidOperationException or JsonException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            Interlocked.Increment(ref _errors);
            if (_errorSamples.Count < 5)
                _errorSamples.Enqueue($"{user}: {e.Message}");
            if (Interlocked.Increment(ref _consecutiveFailures) >= MaxConsecutiveFailures)
                throw new SimulationException($"Stopped: the last {MaxConsecutiveFailures} shoppers all failed (last: {e.Message}).", e);
        }
    }

    /// <summary>
    /// Sends a request (built afresh for each try), waiting out 429s as the API asks (Retry-After). A 401 or 403 ends
    /// the run (the key is wrong or may not write events); any other failure status is an <see cref="HttpRequestException"/> with the API's message.
    /// </summary>
    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> request, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var message = request();
            Interlocked.Increment(ref _requests);
            var response = await http.SendAsync(message, cancellationToken);
            if (response.IsSuccessStatusCode)
                return response;
            using (response)
            {
                var body = await response.Content.ReadAsStringAsync(cancellationToken);
                var error = ErrorOf(body)?.TrimEnd('.');
                switch (response.StatusCode)
                {
                    case HttpStatusCode.Unauthorized:
                        throw new SimulationException($"The API refused the key (401): {error ?? "it is unknown or revoked"}.");
                    case HttpStatusCode.Forbidden:
                        throw new SimulationException($"The API refused {message.Method} {message.RequestUri} with this key (403): {error ?? "the key may only read; events need a write key"}.");
                    case HttpStatusCode.TooManyRequests when attempt < MaxRetries:
                        Interlocked.Increment(ref _throttled);
                        await Task.Delay(RetryAfter(response.Headers.RetryAfter), time, cancellationToken);
                        continue;
                    default:
                        throw new HttpRequestException($"{message.Method} {message.RequestUri}: {(int)response.StatusCode} {error ?? body}", null, response.StatusCode);
                }
            }
        }
    }

    private static TimeSpan RetryAfter(RetryConditionHeaderValue? header) =>
        header?.Delta is { } delta && delta > TimeSpan.Zero ? TimeSpan.FromSeconds(Math.Min(delta.TotalSeconds, 30)) : TimeSpan.FromSeconds(1);

    private static string? ErrorOf(string body)
    {
        try
        {
            return JsonNode.Parse(body)?["error"]?.GetValue<string>();
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
