using Dapper;
using Npgsql;

namespace Recs.Services.Models;

/// <summary>
/// A remote fetch as the pages show it: the Personalize campaign ARN asked, the sample, how it ended and when.
/// SamplePerRegion 0 means every active user was asked.
/// </summary>
public sealed record RemoteFetch(long Id, string Campaign, string CampaignArn, int SamplePerRegion, int SampleSeed, string Status, string? Error,
    int KeysTotal, int KeysFetched, DateTime StartedAt, DateTime? FinishedAt);

/// <summary>What serves a campaign's cache: the newest remote fetch that succeeded, and the newest one if it failed after it.</summary>
public sealed record CampaignEngine(string Campaign, RemoteFetch? Served, RemoteFetch? Failed)
{
    public bool IsRemote => Served is not null || Failed is not null;
}

/// <summary>
/// Which engine served what. A cache row's model_version is a Recs model version, or the ARN of the remote AWS
/// Personalize campaign it was fetched from (its updated_at is the fetch time); the remote fetches are kept in remote_fetches.
/// </summary>
public sealed class CampaignEngines(NpgsqlDataSource dataSource)
{
    private const string Columns = """
        id as Id, campaign as Campaign, campaign_arn as CampaignArn, sample_per_region as SamplePerRegion, sample_seed as SampleSeed, status as Status,
        error as Error, keys_total as KeysTotal, keys_fetched as KeysFetched, started_at as StartedAt, finished_at as FinishedAt
        """;

    /// <summary>True when a cache stamp names a remote campaign (an ARN) rather than a Recs model version.</summary>
    public static bool IsRemote(string? version) => version?.StartsWith("arn:", StringComparison.Ordinal) == true;

    /// <summary>"AWS Personalize &lt;arn&gt;, fetched &lt;time&gt;" for a remote stamp, "model &lt;version&gt;" for a local one.</summary>
    public static string Describe(string version, DateTime? fetchedAt = null) => IsRemote(version)
        ? $"AWS Personalize {version}{(fetchedAt is { } at ? $", fetched {at:yyyy-MM-dd HH:mm} UTC" : "")}"
        : $"model {version}";

    /// <summary>Each campaign that has ever been fetched from a remote campaign: its last success and a later failure.</summary>
    public async Task<IReadOnlyDictionary<string, CampaignEngine>> RemoteAsync(CancellationToken cancellationToken = default)
    {
        var sql = $"""
            select {Columns} from remote_fetches f
            where id = (select max(id) from remote_fetches where campaign = f.campaign and status = 'succeeded')
               or id = (select max(id) from remote_fetches where campaign = f.campaign)
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = (await connection.QueryAsync<RemoteFetch>(new CommandDefinition(sql, cancellationToken: cancellationToken))).ToList();
        return rows.GroupBy(r => r.Campaign).ToDictionary(g => g.Key, g =>
        {
            var served = g.Where(r => r.Status == "succeeded").MaxBy(r => r.Id);
            var latest = g.MaxBy(r => r.Id)!;
            return new CampaignEngine(g.Key, served, latest.Status == "failed" ? latest : null);
        });
    }

    /// <summary>The remote fetch whose lists are in the cache under this stamp (the newest success with that ARN), or null.</summary>
    public async Task<RemoteFetch?> ServedByAsync(string campaign, string version, CancellationToken cancellationToken = default)
    {
        if (!IsRemote(version))
            return null;
        var sql = $"select {Columns} from remote_fetches where campaign = @campaign and campaign_arn = @version and status = 'succeeded' order by id desc limit 1";
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<RemoteFetch>(new CommandDefinition(sql, new { campaign, version }, cancellationToken: cancellationToken));
    }
}
