using System.Diagnostics;
using Dapper;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Recs.Services.Engine;
using Recs.Services.Jobs;
using Recs.Services.Models;

namespace Recs.Services.Training;

public sealed record BatchResult(string Version, int Users, int Products, TimeSpan Elapsed)
{
    /// <summary>The version whose neighbours went into the similar-items table (null when that table was left as it was).</summary>
    public string? SimilarVersion { get; init; }

    public string Describe() => SimilarVersion is { } s && s != Version ? (Users > 0 ? $"{Version} (similar items from {s})" : s) : Version;

    public double UsersPerSecond => Elapsed.TotalSeconds > 0 ? Users / Elapsed.TotalSeconds : 0;
}

/// <summary>
/// Fills the serving cache from the champion: top-N for every user with history and similar items for every
/// product, stamped with the model version. Each table is replaced in one transaction (delete, then COPY):
/// under PostgreSQL's MVCC a reader sees the whole old cache until the commit and the whole new one after,
/// never an empty, half-written or mixed one.
/// </summary>
public sealed class BatchInference(NpgsqlDataSource dataSource, ModelRegistry registry, JobRunner runner,
    IOptions<TrainingOptions> options, TimeProvider time, ILogger<BatchInference> logger, Data.ChangeFeed feed, RemoteBatch remote)
{
    private const int Chunk = 4096;

    /// <summary>Refreshes the whole cache (every campaign that has a cache table) as one job; null when a batch job is already running.</summary>
    public Task<BatchResult?> RunForChampionAsync(string requestedBy, CancellationToken cancellationToken = default) =>
        RunAsync(null, requestedBy, cancellationToken);

    /// <summary>
    /// Refreshes the cache table of one campaign (null: of all) from the version serving it, as a job; null when a batch
    /// job is already running. The user-recommendations campaign writes users' lists (and the similar items too while
    /// the similar-items campaign has no version of its own); similar-items writes the products' neighbours.
    /// </summary>
    public async Task<BatchResult?> RunAsync(string? campaign, string requestedBy, CancellationToken cancellationToken = default)
    {
        if (campaign is not null)
            Campaigns.Check(campaign);
        if (campaign == Campaigns.PersonalizedRanking)
            throw new InvalidOperationException("The personalized-ranking campaign is answered live from its model: it has no cache to refresh.");
        // A campaign served by a remote Personalize campaign is fetched, not computed; its cache is never overwritten by a local model.
        var remoteCampaigns = remote.RemoteCampaigns.Where(c => campaign is null || c == campaign).ToList();
        var campaigns = (await registry.CampaignsAsync(cancellationToken)).ToDictionary(c => c.Name);
        var usersVersion = campaign is null or Campaigns.UserRecommendations && !remote.IsRemote(Campaigns.UserRecommendations)
            ? campaigns[Campaigns.UserRecommendations].Version : null;
        var similarVersion = !remote.IsRemote(Campaigns.SimilarItems) && (campaign is null or Campaigns.SimilarItems || campaigns[Campaigns.SimilarItems].OwnVersion is null)
            ? campaigns[Campaigns.SimilarItems].Version
            : null;
        if (usersVersion is null && similarVersion is null && remoteCampaigns.Count > 0)
            return await RunRemoteAsync(remoteCampaigns, requestedBy, cancellationToken);
        if (usersVersion is null && similarVersion is null)
            throw new InvalidOperationException("There is no champion model yet: train one and promote it first.");
        var definition = new JobDefinition(JobKinds.Batch, new { campaign, users = usersVersion, similar = similarVersion }, requestedBy)
        {
            Audit = (Audit.AuditActions.Batch, campaign is null ? "serving cache" : $"{campaign} cache"),
            Cancelled = "Cancelled; the previous cache is untouched",
            Failed = "Batch inference failed; the previous cache is untouched",
        };
        try
        {
            return await runner.RunAsync(definition, async job =>
            {
                var progress = new InlineProgress<(double, string)>(p => job.Report(p.Item1, p.Item2));
                var result = new BatchResult(usersVersion ?? similarVersion!, 0, 0, TimeSpan.Zero);
                if (usersVersion is not null)
                {
                    var artifact = await registry.LoadArtifactAsync(usersVersion, job.Cancellation) ?? throw new InvalidOperationException($"Model {usersVersion} has no artifact.");
                    result = await WriteAsync(artifact, usersVersion, progress, job.Cancellation, similar: similarVersion == usersVersion);
                }
                if (similarVersion is not null && similarVersion != usersVersion)
                {
                    var artifact = await registry.LoadArtifactAsync(similarVersion, job.Cancellation) ?? throw new InvalidOperationException($"Model {similarVersion} has no artifact.");
                    var similar = await WriteAsync(artifact, similarVersion, progress, job.Cancellation, users: false);
                    result = result with { Products = similar.Products, Elapsed = result.Elapsed + similar.Elapsed, SimilarVersion = similarVersion };
                }
                return result;
            }, r => new JobOutcome($"Cached {r.Users:N0} users and {r.Products:N0} products from {r.Describe()} in {r.Elapsed.TotalSeconds:F1} s", r,
                $"{r.Users:N0} users and {r.Products:N0} products from {r.Describe()} in {r.Elapsed.TotalSeconds:F1} s"), cancellationToken);
        }
        catch (JobAlreadyRunningException)
        {
            return null;
        }
        finally
        {
            // The remote campaigns of a whole refresh are fetched after the local ones (one batch job at a time).
            if (campaign is null && remoteCampaigns.Count > 0 && !cancellationToken.IsCancellationRequested)
                await RunRemoteQuietlyAsync(remoteCampaigns, requestedBy, cancellationToken);
        }
    }

    private async Task<BatchResult?> RunRemoteAsync(IReadOnlyList<string> campaigns, string requestedBy, CancellationToken cancellationToken)
    {
        BatchResult? result = null;
        foreach (var c in campaigns)
        {
            var r = await remote.RunAsync(c, requestedBy, cancellationToken);
            if (r is null)
                return null;
            result = c == Campaigns.SimilarItems
                ? (result ?? new BatchResult(r.CampaignArn, 0, 0, TimeSpan.Zero)) with { Products = r.Lists, SimilarVersion = r.CampaignArn, Elapsed = (result?.Elapsed ?? TimeSpan.Zero) + r.Elapsed }
                : (result ?? new BatchResult(r.CampaignArn, 0, 0, TimeSpan.Zero)) with { Version = r.CampaignArn, Users = r.Lists, Elapsed = (result?.Elapsed ?? TimeSpan.Zero) + r.Elapsed };
        }
        return result;
    }

    private async Task RunRemoteQuietlyAsync(IReadOnlyList<string> campaigns, string requestedBy, CancellationToken cancellationToken)
    {
        try
        {
            await RunRemoteAsync(campaigns, requestedBy, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The job and the campaign say why; the local refresh that ran first stands.
            logger.LogWarning("Fetching the remote campaigns failed: {Message}", e.Message);
        }
    }

    /// <summary>Computes and writes the cache tables for a model: users' lists and products' neighbours (either can be left as it is).</summary>
    public async Task<BatchResult> WriteAsync(ModelArtifact artifact, string version, IProgress<(double, string)>? progress, CancellationToken cancellationToken,
        bool users = true, bool similar = true)
    {
        var clock = Stopwatch.StartNew();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var userCount = users ? await WriteUsersAsync(connection, artifact, version, progress, cancellationToken) : 0;
        var items = similar ? await WriteSimilarAsync(connection, artifact, version, progress, cancellationToken) : 0;
        var result = new BatchResult(version, userCount, items, clock.Elapsed) { SimilarVersion = similar ? version : null };
        logger.LogInformation("Batch inference of {Version}: {Users} users, {Items} products in {Seconds:F1} s", version, result.Users, items, clock.Elapsed.TotalSeconds);
        return result;
    }

    private async Task<int> WriteUsersAsync(NpgsqlConnection connection, ModelArtifact artifact, string version, IProgress<(double, string)>? progress, CancellationToken cancellationToken)
    {
        var model = artifact.Model;
        var topN = options.Value.TopN;
        progress?.Report((0.02, "reading purchase histories"));
        var seen = await SeenItemsAsync(artifact, cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        var users = Enumerable.Range(0, Math.Min(model.Users, artifact.UserIds.Length)).Where(u => seen.RowLength(u) > 0).ToArray();

        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            await connection.ExecuteAsync("delete from offline_user_recommendations", transaction: transaction);
            var lists = new TopNLists(model);
            using (var writer = await connection.BeginBinaryImportAsync(
                "copy offline_user_recommendations (user_id, recommendations, model_version, updated_at) from stdin (format binary)", cancellationToken))
            {
                for (var start = 0; start < users.Length; start += Chunk)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var block = users.AsSpan(start, Math.Min(Chunk, users.Length - start)).ToArray();
                    var json = new string[block.Length];
                    lists.Compute(block, seen, topN, (k, items, scores) => json[k] = RecommendationJson.Write(items, scores, artifact.ItemIds), cancellationToken);
                    for (var k = 0; k < block.Length; k++)
                    {
                        await writer.StartRowAsync(cancellationToken);
                        await writer.WriteAsync(artifact.UserIds[block[k]], NpgsqlDbType.Bigint, cancellationToken);
                        await writer.WriteAsync(json[k], NpgsqlDbType.Jsonb, cancellationToken);
                        await writer.WriteAsync(version, NpgsqlDbType.Text, cancellationToken);
                        await writer.WriteAsync(now, NpgsqlDbType.TimestampTz, cancellationToken);
                    }
                    progress?.Report((0.05 + 0.75 * (start + block.Length) / Math.Max(1, users.Length), $"recommendations for {start + block.Length:N0} of {users.Length:N0} users"));
                }
                await writer.CompleteAsync(cancellationToken);
            }
            progress?.Report((0.8, "aggregating match rates by region"));
            await AggregateRegionsAsync(connection, transaction, version, cancellationToken);
            await Data.ChangeFeed.NotifyAsync(connection, transaction, Data.ChangeChannels.Serving, Data.ChangeChannels.All, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            feed.Raise(Data.ChangeChannels.Serving, Data.ChangeChannels.All);
            logger.LogInformation("Cached recommendations for {Users} users from {Version}", users.Length, version);
        }
        return users.Length;
    }

    private async Task<int> WriteSimilarAsync(NpgsqlConnection connection, ModelArtifact artifact, string version, IProgress<(double, string)>? progress, CancellationToken cancellationToken)
    {
        var model = artifact.Model;
        var topN = options.Value.TopN;
        var now = time.GetUtcNow().UtcDateTime;
        var items = Math.Min(model.Items, artifact.ItemIds.Length);
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            await connection.ExecuteAsync("delete from offline_similar_items", transaction: transaction);
            using (var writer = await connection.BeginBinaryImportAsync(
                "copy offline_similar_items (product_id, similar_products, model_version, updated_at) from stdin (format binary)", cancellationToken))
            {
                for (var start = 0; start < items; start += Chunk)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var count = Math.Min(Chunk, items - start);
                    var json = new string[count];
                    Parallel.For(0, count, () => (Items: new int[topN], Scores: new float[topN]), (k, _, b) =>
                    {
                        var n = model.SimilarItems(start + k, b.Items, b.Scores);
                        json[k] = RecommendationJson.Write(b.Items.AsSpan(0, n), b.Scores.AsSpan(0, n), artifact.ItemIds);
                        return b;
                    }, _ => { });
                    for (var k = 0; k < count; k++)
                    {
                        await writer.StartRowAsync(cancellationToken);
                        await writer.WriteAsync(artifact.ItemIds[start + k], NpgsqlDbType.Bigint, cancellationToken);
                        await writer.WriteAsync(json[k], NpgsqlDbType.Jsonb, cancellationToken);
                        await writer.WriteAsync(version, NpgsqlDbType.Text, cancellationToken);
                        await writer.WriteAsync(now, NpgsqlDbType.TimestampTz, cancellationToken);
                    }
                    progress?.Report((0.8 + 0.2 * (start + count) / Math.Max(1, items), $"similar items for {start + count:N0} of {items:N0} products"));
                }
                await writer.CompleteAsync(cancellationToken);
            }
            await Data.ChangeFeed.NotifyAsync(connection, transaction, Data.ChangeChannels.Serving, Data.ChangeChannels.All, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            feed.Raise(Data.ChangeChannels.Serving, Data.ChangeChannels.All);
        }
        return items;
    }

    /// <summary>
    /// Per region: how many users have a cached row, and for each product how many of them have it in their
    /// top 5, 10 and 25, read from the cache rows this transaction has just written.
    /// </summary>
    internal static async Task AggregateRegionsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string version, CancellationToken cancellationToken)
    {
        const string sql = """
            delete from region_user_counts where model_version = @version;
            delete from region_match_counts where model_version = @version;
            insert into region_user_counts (model_version, region, users)
            select @version, c.region, count(*)
            from offline_user_recommendations r join customers c on c.id = r.user_id
            where c.region is not null
            group by c.region;
            insert into region_match_counts (model_version, top_n, region, product_id, matches)
            select @version, n.top_n, c.region, (x.e->>'product_id')::bigint, count(*)
            from offline_user_recommendations r
            join customers c on c.id = r.user_id
            cross join lateral jsonb_array_elements(r.recommendations) with ordinality as x(e, ord)
            join (values (5), (10), (25)) as n(top_n) on x.ord <= n.top_n
            where c.region is not null
            group by n.top_n, c.region, (x.e->>'product_id')::bigint;
            delete from region_sample_users where model_version = @version;
            insert into region_sample_users (model_version, region, user_id)
            select @version, region, user_id from (
                select c.region, r.user_id,
                       row_number() over (partition by c.region order by md5(r.user_id::text || ':' || @seed)) as n
                from offline_user_recommendations r join customers c on c.id = r.user_id
                where c.region is not null) s
            where n <= @size;
            """;
        await connection.ExecuteAsync(new CommandDefinition(sql,
            new { version, seed = RegionSample.DefaultSeed.ToString(System.Globalization.CultureInfo.InvariantCulture), size = RegionSample.DefaultSize },
            transaction, commandTimeout: 0, cancellationToken: cancellationToken));
    }

    /// <summary>Each model user's items from the current interactions (what "already bought" means at serving time).</summary>
    private Task<CsrMatrix> SeenItemsAsync(ModelArtifact artifact, CancellationToken cancellationToken) =>
        TopNLists.SeenAsync(dataSource, artifact, options.Value.EventWeights.Where(w => w.Value > 0).Select(w => w.Key).ToArray(), null, cancellationToken);
}
