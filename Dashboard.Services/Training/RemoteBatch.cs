using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Threading.RateLimiting;
using Dapper;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Services.Jobs;
using Recs.Services.Models;
using Recs.Services.Remote;

namespace Recs.Services.Training;

/// <summary>A remote fetch's outcome: the ARN asked, how many lists it cached, how long the asking took.</summary>
public sealed record RemoteBatchResult(string Campaign, string CampaignArn, int Lists, int Resumed, int Retries, TimeSpan Elapsed, TimeSpan FetchTime)
{
    /// <summary>Lists fetched per second of fetching (resumed lists not counted).</summary>
    public double ListsPerSecond => FetchTime.TotalSeconds > 0 ? (Lists - Resumed) / FetchTime.TotalSeconds : 0;
}

/// <summary>
/// Batch inference for a campaign whose engine is a remote AWS Personalize campaign (Engine:Remote:&lt;campaign&gt;):
/// asks it for every active user's list (or a seeded sample per region) or every product's related items, with
/// bounded concurrency under a rate limit, keeps each answer as it comes (remote_fetch_pages) so a failed fetch
/// resumes where it stopped, and writes the cache table in one transaction at the end, stamped with the campaign
/// ARN (model_version) and the fetch time (updated_at). A failure leaves the cache as it was.
/// </summary>
public sealed class RemoteBatch(NpgsqlDataSource dataSource, JobRunner runner, IOptions<EngineOptions> engine, IOptions<TrainingOptions> training,
    IHttpClientFactory httpFactory, TimeProvider time, ILogger<RemoteBatch> logger, Data.ChangeFeed feed, ExperimentRegistry experiments)
{
    public const string HttpClientName = PersonalizeRuntimeClient.HttpClientName;

    private const int FlushEvery = 256;

    /// <summary>The campaigns configured as remote whose lists are fetched into a cache, in campaign order (personalized-ranking is asked live).</summary>
    public IReadOnlyList<string> RemoteCampaigns => Campaigns.All.Where(IsRemote).ToList();

    /// <summary>True when the campaign's cache is fetched from a remote campaign.</summary>
    public bool IsRemote(string campaign) => campaign != Campaigns.PersonalizedRanking && engine.Value.For(campaign) is not null;

    /// <summary>
    /// Fetches a remote campaign's lists into its cache table as a batch job; null when a batch job is already running.
    /// Throws the job's failure (the cache is untouched). <paramref name="promoting"/>: the remote campaign, an
    /// experiment's challenger, is being promoted, so its lists go to the cache although the experiment still runs.
    /// </summary>
    public async Task<RemoteBatchResult?> RunAsync(string campaign, string requestedBy, CancellationToken cancellationToken = default, bool promoting = false)
    {
        var (definition, options) = Define(campaign, requestedBy);
        try
        {
            return await runner.RunAsync(definition, job => FetchAsync(campaign, options, job, promoting), Outcome, cancellationToken);
        }
        catch (JobAlreadyRunningException)
        {
            return null;
        }
    }

    /// <summary>Starts the fetch in the background (a page follows it on the Training page); throws <see cref="JobAlreadyRunningException"/> when a batch job runs.</summary>
    public Task<JobRecord> StartAsync(string campaign, string requestedBy, CancellationToken cancellationToken = default)
    {
        var (definition, options) = Define(campaign, requestedBy);
        return runner.StartAsync(definition, job => FetchAsync(campaign, options, job), Outcome, cancellationToken);
    }

    private (JobDefinition Definition, RemoteCampaignOptions Options) Define(string campaign, string requestedBy)
    {
        Campaigns.Check(campaign);
        var options = engine.Value.For(campaign) ?? throw new InvalidOperationException($"The {campaign} campaign is not configured as remote (Engine:Remote:{campaign}).");
        if (campaign == Campaigns.PersonalizedRanking)
            throw new InvalidOperationException("The personalized-ranking campaign is answered live: it has no cache to fetch.");
        var definition = new JobDefinition(JobKinds.Batch, new { campaign, engine = "aws-personalize", arn = options.CampaignArn, sample = options.SampleUsersPerRegion }, requestedBy)
        {
            Audit = (Audit.AuditActions.Batch, $"{campaign} cache from AWS Personalize"),
            Cancelled = "Cancelled; the previous cache is untouched and the lists fetched so far are kept for the next run",
            Failed = "Fetching from AWS Personalize failed; the previous cache is untouched",
        };
        return (definition, options);
    }

    private static JobOutcome Outcome(RemoteBatchResult r) =>
        new($"Cached {r.Lists:N0} {Noun(r.Campaign)} from AWS Personalize {r.CampaignArn} in {r.Elapsed.TotalSeconds:F1} s ({r.ListsPerSecond:F1}/s)",
            new { version = r.CampaignArn, campaign = r.Campaign, lists = r.Lists, resumed = r.Resumed, retries = r.Retries, per_second = r.ListsPerSecond },
            $"{r.Lists:N0} {Noun(r.Campaign)} from {r.CampaignArn}");

    private static string Noun(string campaign) => campaign == Campaigns.SimilarItems ? "products' related items" : "users' lists";

    private async Task<RemoteBatchResult> FetchAsync(string campaign, RemoteCampaignOptions options, JobContext job, bool promoting = false)
    {
        var clock = Stopwatch.StartNew();
        var cancellationToken = job.Cancellation;
        var similar = campaign == Campaigns.SimilarItems;
        job.Report(0.01, $"reading the {(similar ? "products" : "users")} to ask for");
        var keys = similar ? await ProductsAsync(cancellationToken) : await UsersAsync(options, cancellationToken);
        var productIds = await ProductIdsAsync(cancellationToken);
        var (fetchId, done) = await BeginAsync(campaign, options, keys.Length, cancellationToken);
        if (done.Count > 0)
            await job.LogAsync($"resuming fetch {fetchId}: {done.Count:N0} of {keys.Length:N0} lists were fetched before");
        await job.LogAsync($"asking AWS Personalize {options.CampaignArn} at {options.EndpointUri} for {keys.Length:N0} {Noun(campaign)}" +
            (!similar && options.SampleUsersPerRegion > 0 ? $" (a sample of {options.SampleUsersPerRegion} users per region, seed {options.SampleSeed})" : "") +
            $", {options.Concurrency} at a time, at most {options.RequestsPerSecond:G} requests/s");

        var client = new PersonalizeRuntimeClient(httpFactory.CreateClient(HttpClientName), options, campaign, time);
        var todo = keys.Where(k => !done.Contains(k.Id)).ToArray();
        var buffer = new List<(long Id, string List)>();
        var fetched = done.Count;
        var unknownItems = 0;
        var fetchClock = Stopwatch.StartNew();
        using var limiter = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = Math.Max(1, (int)Math.Ceiling(options.RequestsPerSecond / 10)),
            TokensPerPeriod = Math.Max(1, (int)Math.Ceiling(options.RequestsPerSecond / 10)),
            ReplenishmentPeriod = TimeSpan.FromSeconds(Math.Max(1, (int)Math.Ceiling(options.RequestsPerSecond / 10)) / options.RequestsPerSecond),
            QueueLimit = int.MaxValue,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            AutoReplenishment = true,
        });
        using var flushLock = new SemaphoreSlim(1, 1);
        async Task FlushAsync(bool all)
        {
            await flushLock.WaitAsync(CancellationToken.None);
            try
            {
                (long Id, string List)[] page;
                lock (buffer)
                {
                    if (buffer.Count == 0 || (!all && buffer.Count < FlushEvery))
                        return;
                    page = [.. buffer];
                    buffer.Clear();
                }
                await SavePageAsync(fetchId, page, fetched, CancellationToken.None);
            }
            finally
            {
                flushLock.Release();
            }
        }

        try
        {
            await Parallel.ForEachAsync(todo, new ParallelOptions { MaxDegreeOfParallelism = options.Concurrency, CancellationToken = cancellationToken }, async (key, ct) =>
            {
                using var lease = await limiter.AcquireAsync(1, ct);
                var answer = similar
                    ? await client.GetRecommendationsAsync(null, key.ExternalId, training.Value.TopN, cancellationToken: ct)
                    : await client.GetRecommendationsAsync(key.ExternalId, null, training.Value.TopN, cancellationToken: ct);
                var list = ToCacheJson(answer, productIds, key.Id, similar, ref unknownItems);
                int count;
                lock (buffer)
                {
                    buffer.Add((key.Id, list));
                    count = ++fetched;
                }
                job.Report(0.02 + 0.9 * count / Math.Max(1, keys.Length), $"{(similar ? "related items for" : "lists for")} {count:N0} of {keys.Length:N0} {(similar ? "products" : "users")} from AWS Personalize");
                await FlushAsync(all: false);
            });
            await FlushAsync(all: true);
        }
        catch (Exception e)
        {
            // What was fetched is kept: the next run asks only for the rest.
            await FlushAsync(all: true);
            var message = e is OperationCanceledException ? "cancelled" : e.Message;
            await FinishFetchAsync(fetchId, "failed", message, fetched);
            logger.LogWarning("Remote fetch {Id} for {Campaign} from {Arn} failed: {Message}", fetchId, campaign, options.CampaignArn, message);
            if (e is not OperationCanceledException)
                await job.LogAsync($"failed after {fetched:N0} of {keys.Length:N0} lists: {message}");
            throw;
        }
        var fetchTime = fetchClock.Elapsed;
        if (unknownItems > 0)
            await job.LogAsync($"{unknownItems:N0} recommended items are not in the catalogue and were left out");
        await job.LogAsync($"fetched {todo.Length:N0} lists in {fetchTime.TotalSeconds:F1} s ({todo.Length / Math.Max(fetchTime.TotalSeconds, 1e-9):F1}/s), {client.Retries} retries");
        // While the remote campaign is an experiment's challenger the cache is the control's: only the arm's lists are refreshed.
        var running = await experiments.RunningAsync(campaign, cancellationToken);
        var arm = !promoting && running?.ChallengerVersion == options.CampaignArn;
        if (arm)
            await job.LogAsync($"experiment {running!.Id} runs with {options.CampaignArn} as its challenger: its arm's lists are refreshed, the cache keeps the control's ({running.ControlVersion})");
        job.Report(0.93, arm ? "keeping the lists for the experiment's remote arm" : "writing the cache");
        await WriteCacheAsync(campaign, options.CampaignArn, fetchId, fetched, writeCache: !arm, cancellationToken);
        return new RemoteBatchResult(campaign, options.CampaignArn, keys.Length, done.Count, client.Retries, clock.Elapsed, fetchTime);
    }

    /// <summary>The answer as the cache stores it ([{product_id, score}] in database ids), items the catalogue lacks (and the item itself) left out.</summary>
    private static string ToCacheJson(PersonalizeAnswer answer, IReadOnlyDictionary<string, long> productIds, long self, bool similar, ref int unknown)
    {
        var json = new StringBuilder("[");
        var first = true;
        foreach (var item in answer.Items)
        {
            if (!productIds.TryGetValue(item.ItemId, out var id))
            {
                Interlocked.Increment(ref unknown);
                continue;
            }
            if (similar && id == self)
                continue;
            if (!first)
                json.Append(',');
            first = false;
            json.Append(CultureInfo.InvariantCulture, $"{{\"product_id\":{id},\"score\":{(item.Score is { } s && double.IsFinite(s) ? Math.Round(s, 6).ToString("R", CultureInfo.InvariantCulture) : "null")}}}");
        }
        return json.Append(']').ToString();
    }

    private sealed record Key(long Id, string ExternalId);

    /// <summary>Active users (an interaction of a weighted event type), or a seeded sample of them per region.</summary>
    private async Task<Key[]> UsersAsync(RemoteCampaignOptions options, CancellationToken cancellationToken)
    {
        var types = training.Value.EventWeights.Where(w => w.Value > 0).Select(w => w.Key).ToArray();
        const string all = """
            select c.id as Id, c.external_id as ExternalId from customers c
            where exists (select 1 from interactions i where i.user_id = c.id and i.event_type = any(@types))
            order by c.id
            """;
        // The same hash the Regions page's sample uses (md5 of "id:seed"), so the default sample is the users fetched.
        const string sample = """
            select Id, ExternalId from (
                select c.id as Id, c.external_id as ExternalId,
                       row_number() over (partition by c.region order by md5(c.id::text || ':' || @seed)) as n
                from customers c
                where c.region is not null and exists (select 1 from interactions i where i.user_id = c.id and i.event_type = any(@types))) s
            where n <= @size
            order by Id
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<Key>(new CommandDefinition(options.SampleUsersPerRegion > 0 ? sample : all,
            new { types, seed = options.SampleSeed.ToString(CultureInfo.InvariantCulture), size = options.SampleUsersPerRegion },
            commandTimeout: 0, cancellationToken: cancellationToken))).ToArray();
    }

    private async Task<Key[]> ProductsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<Key>(new CommandDefinition("select id as Id, external_id as ExternalId from products order by id",
            commandTimeout: 0, cancellationToken: cancellationToken))).ToArray();
    }

    private async Task<Dictionary<string, long>> ProductIdsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<(long Id, string ExternalId)>(new CommandDefinition("select id, external_id from products",
            commandTimeout: 0, cancellationToken: cancellationToken))).ToDictionary(p => p.ExternalId, p => p.Id, StringComparer.Ordinal);
    }

    /// <summary>Resumes the newest unfinished fetch of the same campaign, ARN and sample (with the lists it has), else begins one.</summary>
    private async Task<(long Id, HashSet<long> Done)> BeginAsync(string campaign, RemoteCampaignOptions options, int total, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        var resumable = await connection.QuerySingleOrDefaultAsync<long?>("""
            select id from remote_fetches
            where campaign = @campaign and campaign_arn = @arn and sample_per_region = @sample and sample_seed = @seed and status <> 'succeeded'
              and id = (select max(id) from remote_fetches where campaign = @campaign)
            """, new { campaign, arn = options.CampaignArn, sample = options.SampleUsersPerRegion, seed = options.SampleSeed });
        if (resumable is { } id)
        {
            await connection.ExecuteAsync("update remote_fetches set status = 'running', error = null, keys_total = @total, finished_at = null where id = @id", new { id, total });
            var done = (await connection.QueryAsync<long>(new CommandDefinition("select key_id from remote_fetch_pages where fetch_id = @id", new { id },
                commandTimeout: 0, cancellationToken: cancellationToken))).ToHashSet();
            return (id, done);
        }
        // Older unfinished fetches (another ARN or sample) can no longer be resumed.
        await connection.ExecuteAsync("delete from remote_fetch_pages where fetch_id in (select id from remote_fetches where campaign = @campaign and status <> 'succeeded')", new { campaign });
        var created = await connection.QuerySingleAsync<long>("""
            insert into remote_fetches (campaign, campaign_arn, sample_per_region, sample_seed, status, keys_total, started_at)
            values (@campaign, @arn, @sample, @seed, 'running', @total, @now) returning id
            """, new { campaign, arn = options.CampaignArn, sample = options.SampleUsersPerRegion, seed = options.SampleSeed, total, now });
        return (created, []);
    }

    private async Task SavePageAsync(long fetchId, (long Id, string List)[] page, int fetched, CancellationToken cancellationToken)
    {
        const string sql = """
            insert into remote_fetch_pages (fetch_id, key_id, list)
            select @fetchId, k, l::jsonb from unnest(@keys, @lists) as t(k, l)
            on conflict (fetch_id, key_id) do update set list = excluded.list;
            update remote_fetches set keys_fetched = @fetched where id = @fetchId;
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(sql, new { fetchId, keys = page.Select(p => p.Id).ToArray(), lists = page.Select(p => p.List).ToArray(), fetched });
    }

    private async Task FinishFetchAsync(long fetchId, string status, string? error, int fetched)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("update remote_fetches set status = @status, error = @error, keys_fetched = @fetched, finished_at = @now where id = @fetchId",
            new { fetchId, status, error, fetched, now = time.GetUtcNow().UtcDateTime });
    }

    /// <summary>
    /// Replaces the campaign's cache table with the fetched lists in one transaction (readers see the old cache until the
    /// commit), unless <paramref name="writeCache"/> is false. The fetch's own lists stay in remote_fetch_pages (older fetches' go): an experiment's remote arm is
    /// served from them (<see cref="RemoteLists"/>) even after a local version has rewritten the cache.
    /// </summary>
    private async Task WriteCacheAsync(string campaign, string arn, long fetchId, int fetched, bool writeCache, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var write = campaign == Campaigns.SimilarItems
            ? """
              delete from offline_similar_items;
              insert into offline_similar_items (product_id, similar_products, model_version, updated_at)
              select p.key_id, p.list, @arn, @now from remote_fetch_pages p join products x on x.id = p.key_id where p.fetch_id = @fetchId;
              """
            : """
              delete from offline_user_recommendations;
              insert into offline_user_recommendations (user_id, recommendations, model_version, updated_at)
              select p.key_id, p.list, @arn, @now from remote_fetch_pages p join customers x on x.id = p.key_id where p.fetch_id = @fetchId;
              """;
        if (writeCache)
        {
            await connection.ExecuteAsync(new CommandDefinition(write, new { arn, now, fetchId }, transaction, commandTimeout: 0, cancellationToken: cancellationToken));
            if (campaign != Campaigns.SimilarItems)
                await BatchInference.AggregateRegionsAsync(connection, transaction, arn, cancellationToken);
        }
        await connection.ExecuteAsync("""
            update remote_fetches set status = 'succeeded', error = null, keys_fetched = @fetched, finished_at = @now where id = @fetchId;
            delete from remote_fetch_pages where fetch_id in (select id from remote_fetches where campaign = @campaign and id <> @fetchId);
            """, new { fetchId, fetched, now, campaign }, transaction);
        await Data.ChangeFeed.NotifyAsync(connection, transaction, Data.ChangeChannels.Serving, Data.ChangeChannels.All, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        feed.Raise(Data.ChangeChannels.Serving, Data.ChangeChannels.All);
    }
}
