using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Recs.Services.Data;

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
    [System.ComponentModel.DataAnnotations.Range(0.001, 1_000_000, ErrorMessage = "Api:EventsPerSecond must be between 0.001 and 1,000,000.")]
    public double EventsPerSecond { get; set; } = 500;

    /// <summary>How many requests a client may send at once above the sustained rate.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 1_000_000, ErrorMessage = "Api:EventsBurst must be between 1 and 1,000,000.")]
    public int EventsBurst { get; set; } = 1_000;

    /// <summary>
    /// Whether an event's answer waits for its write to reach the disk (PostgreSQL's synchronous_commit for that
    /// write only). True (default): an acknowledged event survives a crash of the database server or the machine.
    /// False: the answer comes before the flush (a few milliseconds on a slow disk), and a crash of the server or
    /// machine may lose the last fraction of a second of acknowledged events (never half of one: the events, the
    /// refreshed row and the notice stay one transaction).
    /// </summary>
    public bool EventsWaitForDisk { get; set; } = true;
}

/// <summary>
/// The API's answers (a user's recommendations, an item's neighbours) kept in memory, so a repeated read costs no
/// database round trip. Every write that changes an answer announces it on the change feed's serving channel in its
/// own transaction (delivered at commit): the event tracker names the user, batch inference, imports and demo data say
/// "all"; every instance and the command line keep each other's caches right that way. The cache serves only while the
/// feed is listening: when that connection is lost it empties and stands aside until it listens again. An answer
/// computed while an invalidation happened is not stored (version check).
/// </summary>
public sealed class ServingCache : IDisposable
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, (object Value, DateTimeOffset Until)>> _entries = new(StringComparer.Ordinal);
    private readonly IOptions<ApiOptions> _options;
    private readonly TimeProvider _time;
    private readonly ChangeFeed _feed;
    private readonly IDisposable _subscription;
    private long _version;
    private int _count;
    private long _hits;
    private long _misses;

    public ServingCache(ChangeFeed feed, IOptions<ApiOptions> options, TimeProvider time)
    {
        _feed = feed;
        _options = options;
        _time = time;
        _subscription = feed.Subscribe(ChangeChannels.Serving, notice =>
        {
            if (notice == ChangeChannels.All)
                InvalidateAll();
            else
                Invalidate(notice);
        });
        // Whatever changed while nobody listened is unknown: start over on both edges.
        feed.ListeningChanged += OnListeningChanged;
    }

    private void OnListeningChanged(bool listening) => InvalidateAll();

    /// <summary>True while answers are served from memory (the feed listens, and the cache is not switched off).</summary>
    public bool Enabled => _feed.Listening && _options.Value.CacheSeconds > 0;

    /// <summary>Changes with every invalidation: an answer computed across a change is not kept.</summary>
    private long Version => Interlocked.Read(ref _version);

    /// <summary>
    /// The answer from memory, or computed by <paramref name="compute"/> and kept unless something changed meanwhile.
    /// <paramref name="absent"/>, when given, is the answer for an owner the cache knows is not in the database (see
    /// <see cref="Warming.Complete"/>), served without computing.
    /// </summary>
    public async Task<T> GetOrComputeAsync<T>(string owner, string variant, Func<Task<T>> compute, T? absent = null) where T : class
    {
        if (Enabled && _entries.TryGetValue(owner, out var variants) && variants.TryGetValue(variant, out var entry) && entry.Until >= _time.GetUtcNow())
        {
            Interlocked.Increment(ref _hits);
            return (T)entry.Value;
        }
        if (absent is not null && IsAbsent(owner))
        {
            Interlocked.Increment(ref _hits);
            return absent;
        }
        Interlocked.Increment(ref _misses);
        var versionBefore = Version;
        var answer = await compute();
        if (Enabled && Version == versionBefore)
        {
            if (Interlocked.Increment(ref _count) > _options.Value.CacheEntries)
                InvalidateAll();
            var kept = (answer, _time.GetUtcNow().AddSeconds(_options.Value.CacheSeconds));
            var owned = _entries.GetOrAdd(owner, _ => new ConcurrentDictionary<string, (object, DateTimeOffset)>(StringComparer.Ordinal));
            owned[variant] = kept;
            // An invalidation between the check above and the store: take the answer back out (if still ours).
            if (Version != versionBefore)
                owned.TryRemove(new KeyValuePair<string, (object, DateTimeOffset)>(variant, kept));
        }
        return answer;
    }

    /// <summary>How many answers the cache keeps at most (Api:CacheEntries).</summary>
    public int Capacity => _options.Value.CacheEntries;

    /// <summary>How long an answer is served from memory at most (Api:CacheSeconds).</summary>
    public TimeSpan Lifetime => TimeSpan.FromSeconds(_options.Value.CacheSeconds);

    /// <summary>Raised after the cache started over (an "all" notice, the feed reconnecting, or a full cache), so it can be warmed again.</summary>
    public event Action? Cleared;

    private long _clears;

    /// <summary>
    /// Every owner a complete warm-up kept (it read every customer), for its generation, and the owners invalidated
    /// since: an owner neither kept nor invalidated since is known not to exist (an unknown user id), without a round
    /// trip. Whoever creates a customer announces it (the event tracker names the user, imports say "all").
    /// </summary>
    private sealed record Roster(long Generation, ConcurrentDictionary<string, byte> Invalidated);

    private volatile Roster? _roster;

    /// <summary>True when <paramref name="owner"/> is known not to be in the database (see <see cref="Roster"/>).</summary>
    private bool IsAbsent(string owner)
    {
        var roster = _roster;
        return roster is not null && Enabled && roster.Generation == Generation && !_entries.ContainsKey(owner) && !roster.Invalidated.ContainsKey(owner);
    }

    /// <summary>Changes each time the cache starts over: what was derived from the database before is to be read again.</summary>
    public long Generation => Interlocked.Read(ref _clears);

    private long _warmGeneration = -1;

    /// <summary>The generation the last complete warm-up filled (equal to <see cref="Generation"/> while the cache is warm).</summary>
    public long WarmGeneration => Interlocked.Read(ref _warmGeneration);
    private volatile ConcurrentDictionary<string, byte>? _invalidatedWhileWarming;

    /// <summary>
    /// Starts filling the cache with values read in bulk (see <see cref="Warming"/>); null while the cache serves
    /// nothing. One warm-up at a time.
    /// </summary>
    public Warming? BeginWarming()
    {
        if (!Enabled)
            return null;
        var warming = new Warming(this, Interlocked.Read(ref _clears));
        _invalidatedWhileWarming = warming.Invalidated;
        return warming;
    }

    /// <summary>
    /// A warm-up in progress: values read from the database in bulk, each kept only if nothing said its owner changed
    /// since the warm-up began (neither an "all" nor a notice naming it) and no fresher value is there already.
    /// Unlike <see cref="GetOrComputeAsync{T}"/>'s check, one user's event does not spoil every other user's value.
    /// </summary>
    public sealed class Warming : IDisposable
    {
        private readonly ServingCache _cache;
        private readonly long _clears;

        private readonly DateTimeOffset _keptBefore;

        internal Warming(ServingCache cache, long clears)
        {
            (_cache, _clears) = (cache, clears);
            _keptBefore = cache._time.GetUtcNow().AddSeconds(cache._options.Value.CacheSeconds); // an entry expiring by then was kept before this warm-up began
        }

        internal ConcurrentDictionary<string, byte> Invalidated { get; } = new(StringComparer.Ordinal);

        /// <summary>False once the cache started over or stopped serving: the rest of this warm-up would be thrown away.</summary>
        public bool Current => _cache.Enabled && Interlocked.Read(ref _cache._clears) == _clears;

        /// <summary>Keeps <paramref name="value"/> unless it is stale or the cache is full (false then).</summary>
        public bool Put(string owner, string variant, object value)
        {
            if (!Current || Invalidated.ContainsKey(owner))
                return false;
            if (Interlocked.Increment(ref _cache._count) > _cache._options.Value.CacheEntries)
            {
                Interlocked.Decrement(ref _cache._count);
                return false;
            }
            var kept = (value, _cache._time.GetUtcNow().AddSeconds(_cache._options.Value.CacheSeconds));
            var owned = _cache._entries.GetOrAdd(owner, _ => new ConcurrentDictionary<string, (object, DateTimeOffset)>(StringComparer.Ordinal));
            if (!owned.TryAdd(variant, kept))
            {
                // Already there: replaced only if it was kept before this warm-up began (so it is no fresher, and it
                // would expire sooner); a value computed since stays.
                Interlocked.Decrement(ref _cache._count);
                if (!owned.TryGetValue(variant, out var existing) || existing.Until > _keptBefore || !owned.TryUpdate(variant, kept, existing))
                    return false;
            }
            // Invalidated between the check and the store (Invalidate records the owner before it removes): take it back out.
            if (!Current || Invalidated.ContainsKey(owner))
            {
                owned.TryRemove(new KeyValuePair<string, (object, DateTimeOffset)>(variant, kept));
                return false;
            }
            return true;
        }

        /// <summary>Keeps products (for the answers' names and categories) unless the cache started over meanwhile.</summary>
        public void PutProducts(IEnumerable<ServedProduct> products)
        {
            foreach (var product in products)
            {
                if (!Current || _cache._products.Count >= _cache._options.Value.CacheEntries)
                    break;
                _cache._products.TryAdd(product.Id, product);
            }
            if (!Current)
                _cache._products.Clear(); // an "all" may have come between a check and a store
        }

        /// <summary>
        /// Says the warm-up read everything it meant to: the cache is warm for this generation (see <see cref="WarmGeneration"/>).
        /// <paramref name="everyone"/>: it read every owner there is, so one not kept is known not to exist (until an
        /// invalidation names it or the cache starts over).
        /// </summary>
        public void Complete(bool everyone)
        {
            if (!Current)
                return;
            _cache._roster = everyone ? new Roster(_clears, Invalidated) : null;
            Interlocked.Exchange(ref _cache._warmGeneration, _clears);
        }

        public void Dispose() => Interlocked.CompareExchange(ref _cache._invalidatedWhileWarming, null, Invalidated);
    }

    private readonly ConcurrentDictionary<long, ServedProduct> _products = new();

    /// <summary>
    /// What the answers show of each product (its id, name, category), from memory where known, the rest read by
    /// <paramref name="load"/> in one call and kept. Products change only with imports and demo data, which say "all",
    /// so the cache keeps them until then; off (every call reads) while the cache serves nothing.
    /// </summary>
    public async Task<IReadOnlyDictionary<long, ServedProduct>> ProductsAsync(IReadOnlyCollection<long> ids, Func<long[], Task<IEnumerable<ServedProduct>>> load)
    {
        var found = new Dictionary<long, ServedProduct>(ids.Count);
        List<long>? missing = null;
        var enabled = Enabled;
        foreach (var id in ids)
        {
            if (enabled && _products.TryGetValue(id, out var product))
                found[id] = product;
            else
                (missing ??= []).Add(id);
        }
        if (missing is null)
            return found;
        var versionBefore = Version;
        var loaded = await load([.. missing.Distinct()]);
        var keep = Enabled && Version == versionBefore && _products.Count < _options.Value.CacheEntries;
        foreach (var product in loaded)
        {
            found[product.Id] = product;
            if (keep)
                _products[product.Id] = product;
        }
        return found;
    }

    /// <summary>Answers served from memory and computed since the start, and answers stored since the cache last started over (for /diagnostics/cache and load tests).</summary>
    public ServingCacheStatistics Statistics => new(Enabled, Interlocked.Read(ref _hits), Interlocked.Read(ref _misses), Volatile.Read(ref _count), Generation == WarmGeneration);

    public void Invalidate(string owner)
    {
        _invalidatedWhileWarming?.TryAdd(owner, 0);
        if (_roster is { } roster && roster.Invalidated.TryAdd(owner, 0) && roster.Invalidated.Count > _options.Value.CacheEntries)
            _roster = null; // too many new owners to remember: unknown ones are looked up again
        Interlocked.Increment(ref _version);
        _entries.TryRemove(owner, out _);
    }

    public void InvalidateAll()
    {
        Interlocked.Increment(ref _clears);
        Interlocked.Increment(ref _version);
        _roster = null;
        _entries.Clear();
        _products.Clear();
        Interlocked.Exchange(ref _count, 0);
        Cleared?.Invoke();
    }

    public static string UserKey(string userId) => "user:" + userId;

    public static string ItemKey(string itemId) => "item:" + itemId;

    /// <summary>The notice that says one user's answers are stale (for a pg_notify inside the writer's own statements).</summary>
    public static string UserNotice(string userId) => ChangeFeed.Limit(UserKey(userId));

    public void Dispose()
    {
        _subscription.Dispose();
        _feed.ListeningChanged -= OnListeningChanged;
    }
}

/// <summary>A product as the API's answers show it.</summary>
public sealed record ServedProduct(long Id, string ExternalId, string Name, string? Category);

/// <summary>The answer cache's counters: a hit is an answer served from memory, a miss one computed (the cache off counts every answer as a miss); Warm: every customer's list (up to half the capacity) was read in since the cache last started over.</summary>
public sealed record ServingCacheStatistics(bool Enabled, long Hits, long Misses, long Entries, bool Warm = false)
{
    public double? HitRate => Hits + Misses == 0 ? null : (double)Hits / (Hits + Misses);
}
