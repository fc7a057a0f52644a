using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using Npgsql;
using Microsoft.Extensions.Options;
using Recs.Services.Data;
using Recs.Services.Remote;

namespace Recs.Services.Models;

/// <summary>The two arms of an experiment, as stored (0, 1) and as named in reports.</summary>
public static class ExperimentArms
{
    public const short Control = 0;
    public const short Challenger = 1;

    /// <summary>The version label naming the campaign's remote AWS Personalize campaign (Engine:Remote:&lt;campaign&gt;) as an arm; stored as its ARN.</summary>
    public const string Remote = "remote";

    public static string Name(short arm) => arm == Challenger ? "challenger" : "control";

    /// <summary>
    /// The user's arm: the first 8 bytes of SHA-256("experiment id:user id") as a number in [0, 10,000) against the
    /// challenger's share in hundredths. The same user and experiment always land in the same arm, in every process
    /// (unlike string.GetHashCode), and a new experiment reshuffles users independently of the last one.
    /// </summary>
    public static short Assign(long experimentId, string userId, int challengerSharePercent)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes($"{experimentId}:{userId}"), hash);
        var bucket = BinaryPrimitives.ReadUInt64BigEndian(hash) % 10_000;
        return bucket < (ulong)challengerSharePercent * 100 ? Challenger : Control;
    }
}

/// <summary>An online experiment on a campaign: control (the version serving it at the start) against a challenger.</summary>
public sealed record OnlineExperiment(
    long Id, string Campaign, string ControlVersion, string ChallengerVersion, int ChallengerShare, string Status,
    DateTime StartedAt, string StartedBy, DateTime? StoppedAt, string? Outcome)
{
    public const string Running = "running";
    public const string Stopped = "stopped";

    public bool IsRunning => Status == Running;

    public short ArmOf(string userId) => ExperimentArms.Assign(Id, userId, ChallengerShare);

    public string VersionOf(short arm) => arm == ExperimentArms.Challenger ? ChallengerVersion : ControlVersion;

    public int ShareOf(short arm) => arm == ExperimentArms.Challenger ? ChallengerShare : 100 - ChallengerShare;
}

/// <summary>
/// Starts, stops and lists experiments, and tells serving which one runs on a campaign (kept in memory, dropped when
/// the change feed says an experiment started or stopped in any instance; asked each time while it is not listening).
/// Bad requests throw <see cref="ArgumentException"/> (unknown campaign, share out of range),
/// <see cref="KeyNotFoundException"/> (unknown version) or <see cref="InvalidOperationException"/> (a conflict).
/// </summary>
public sealed class ExperimentRegistry : IDisposable
{
    private const string Columns = """
        id as Id, campaign as Campaign, control_version as ControlVersion, challenger_version as ChallengerVersion,
        challenger_share as ChallengerShare, status as Status, started_at as StartedAt, started_by as StartedBy,
        stopped_at as StoppedAt, outcome as Outcome
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly ModelRegistry _registry;
    private readonly IOptions<EngineOptions> _engine;
    private readonly ChangeFeed _feed;
    private readonly TimeProvider _time;
    private readonly IDisposable _subscription;
    private readonly ConcurrentDictionary<string, Task<OnlineExperiment?>> _running = new();
    private long _generation;

    public ExperimentRegistry(NpgsqlDataSource dataSource, ModelRegistry registry, IOptions<EngineOptions> engine, ChangeFeed feed, TimeProvider time)
    {
        _dataSource = dataSource;
        _registry = registry;
        _engine = engine;
        _feed = feed;
        _time = time;
        _subscription = feed.Subscribe(ChangeChannels.Experiments, _ => Forget());
        feed.ListeningChanged += OnListeningChanged;
    }

    /// <summary>Campaigns an experiment can split: answers there are given to a user, so each user has an arm.</summary>
    public static readonly string[] SplittableCampaigns = [Campaigns.UserRecommendations, Campaigns.PersonalizedRanking];

    private void OnListeningChanged(bool listening) => Forget();

    private void Forget()
    {
        Interlocked.Increment(ref _generation);
        _running.Clear();
    }

    /// <summary>The experiment running on a campaign, or null; cheap on the serving path.</summary>
    public async Task<OnlineExperiment?> RunningAsync(string campaign, CancellationToken cancellationToken = default)
    {
        if (_feed.Listening && _running.TryGetValue(campaign, out var cached) && cached.IsCompletedSuccessfully)
            return cached.Result;
        var generation = Interlocked.Read(ref _generation);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var running = await connection.QuerySingleOrDefaultAsync<OnlineExperiment>(new CommandDefinition(
            $"select {Columns} from experiments where campaign = @campaign and status = 'running'", new { campaign }, cancellationToken: cancellationToken));
        if (Interlocked.Read(ref _generation) == generation)
            _running[campaign] = Task.FromResult(running);
        return running;
    }

    public async Task<OnlineExperiment?> GetAsync(long id, CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<OnlineExperiment>(new CommandDefinition(
            $"select {Columns} from experiments where id = @id", new { id }, cancellationToken: cancellationToken));
    }

    /// <summary>The running experiment on the campaign, else its latest one; null when it never had one.</summary>
    public async Task<OnlineExperiment?> LatestAsync(string campaign, CancellationToken cancellationToken = default)
    {
        Campaigns.Check(campaign);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<OnlineExperiment>(new CommandDefinition(
            $"select {Columns} from experiments where campaign = @campaign order by (status = 'running') desc, id desc limit 1", new { campaign }, cancellationToken: cancellationToken));
    }

    /// <summary>Every experiment, newest first.</summary>
    public async Task<IReadOnlyList<OnlineExperiment>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<OnlineExperiment>(new CommandDefinition($"select {Columns} from experiments order by id desc", cancellationToken: cancellationToken))).ToList();
    }

    /// <summary>
    /// Starts an experiment: what serves the campaign now is the control (its local version, or the ARN of its remote
    /// campaign when the cache holds that campaign's lists), <paramref name="challenger"/> gets <paramref name="sharePercent"/> % of
    /// users. The challenger is a trained version, or <see cref="ExperimentArms.Remote"/> (or the ARN) for the campaign's
    /// remote AWS Personalize campaign, served from the lists its last fetch kept.
    /// </summary>
    public async Task<OnlineExperiment> StartAsync(string campaign, string challenger, int sharePercent, string startedBy, CancellationToken cancellationToken = default)
    {
        Campaigns.Check(campaign);
        if (!SplittableCampaigns.Contains(campaign))
            throw new ArgumentException($"The {campaign} campaign answers per item, not per user, so its users cannot be split; experiments run on {string.Join(" and ", SplittableCampaigns)}.");
        if (sharePercent is < 1 or > 99)
            throw new ArgumentException($"The challenger's share must be between 1 and 99 percent, not {sharePercent}.");
        var remote = _engine.Value.For(campaign);
        var control = await ControlAsync(campaign, remote, cancellationToken);
        challenger = challenger == ExperimentArms.Remote || CampaignEngines.IsRemote(challenger)
            ? await RemoteChallengerAsync(campaign, challenger, remote, cancellationToken)
            : await LocalChallengerAsync(campaign, challenger, cancellationToken);
        if (control is null)
            throw new InvalidOperationException($"The {campaign} campaign serves no version yet: promote one before testing a challenger against it.");
        if (control == challenger)
            throw new InvalidOperationException($"{CampaignEngines.Describe(challenger)} already serves {campaign}: choose another version as the challenger.");

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        OnlineExperiment started;
        try
        {
            started = await connection.QuerySingleAsync<OnlineExperiment>(new CommandDefinition($"""
                insert into experiments (campaign, control_version, challenger_version, challenger_share, status, started_at, started_by)
                values (@campaign, @control, @challenger, @sharePercent, 'running', @now, @startedBy)
                returning {Columns}
                """, new { campaign, control, challenger, sharePercent, now = _time.GetUtcNow().UtcDateTime, startedBy }, transaction, cancellationToken: cancellationToken));
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new InvalidOperationException($"An experiment is already running on {campaign}: stop it before starting another.", e);
        }
        await ChangeFeed.NotifyAsync(connection, transaction, ChangeChannels.Experiments, campaign, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        _feed.Raise(ChangeChannels.Experiments, campaign);
        return started;
    }

    /// <summary>What serves the campaign now: its remote campaign's ARN when the cache holds that campaign's lists (or, for personalized-ranking, it is configured), else its local version.</summary>
    private async Task<string?> ControlAsync(string campaign, RemoteCampaignOptions? remote, CancellationToken cancellationToken)
    {
        if (remote is not null)
        {
            if (campaign == Campaigns.PersonalizedRanking)
                return remote.CampaignArn;
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
            var cached = await connection.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
                "select model_version from offline_user_recommendations limit 1", cancellationToken: cancellationToken));
            if (cached == remote.CampaignArn)
                return cached;
        }
        return (await _registry.ServingAsync(campaign, cancellationToken))?.Version;
    }

    private async Task<string> LocalChallengerAsync(string campaign, string challenger, CancellationToken cancellationToken)
    {
        var version = await _registry.GetAsync(challenger, cancellationToken) ?? throw new KeyNotFoundException($"There is no model version {challenger}.");
        if (version.Status is ModelStatus.Training or ModelStatus.Failed)
            throw new InvalidOperationException($"Version {challenger} is {version.Status}; only a trained version can be a challenger.");
        if (!RecipeCatalog.Exists(version.Recipe) || !RecipeCatalog.Get(version.Recipe).Serves.Contains(campaign))
            throw new InvalidOperationException($"Version {challenger} is a {version.Recipe} model, which cannot serve the {campaign} campaign" +
                (RecipeCatalog.Exists(version.Recipe) ? $" (it serves {string.Join(", ", RecipeCatalog.Get(version.Recipe).Serves)})." : "."));
        return challenger;
    }

    /// <summary>
    /// The campaign's remote campaign as the challenger (its ARN): it must be configured, and (but for personalized-ranking,
    /// asked live) its last successful fetch must have kept its lists, which the challenger's users are served from.
    /// </summary>
    private async Task<string> RemoteChallengerAsync(string campaign, string challenger, RemoteCampaignOptions? remote, CancellationToken cancellationToken)
    {
        if (remote is null)
            throw new ArgumentException($"The {campaign} campaign has no remote engine (Engine:Remote:{campaign}), so '{challenger}' cannot be an arm: configure its AWS Personalize campaign first.");
        if (challenger != ExperimentArms.Remote && challenger != remote.CampaignArn)
            throw new ArgumentException($"{challenger} is not the remote campaign of {campaign} ({remote.CampaignArn}): use '{ExperimentArms.Remote}' or that ARN.");
        if (campaign == Campaigns.PersonalizedRanking)
            return remote.CampaignArn;
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var kept = await connection.QuerySingleAsync<bool>(new CommandDefinition($"""
            select exists (select 1 from remote_fetch_pages where fetch_id = ({RemoteLists.LatestFetch}))
            """, new { campaign, arn = remote.CampaignArn }, cancellationToken: cancellationToken));
        if (!kept)
            throw new InvalidOperationException($"No lists have been fetched from {remote.CampaignArn} for {campaign} yet: run `batch --campaign {campaign}` (or Refresh the cache on the Models page) first.");
        return remote.CampaignArn;
    }

    /// <summary>Stops the campaign's running experiment, recording why; everyone is served the campaign's version again.</summary>
    public async Task<OnlineExperiment> StopAsync(string campaign, string outcome, CancellationToken cancellationToken = default)
    {
        Campaigns.Check(campaign);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var stopped = await connection.QuerySingleOrDefaultAsync<OnlineExperiment>(new CommandDefinition($"""
            update experiments set status = 'stopped', stopped_at = @now, outcome = @outcome
            where campaign = @campaign and status = 'running'
            returning {Columns}
            """, new { campaign, outcome, now = _time.GetUtcNow().UtcDateTime }, transaction, cancellationToken: cancellationToken))
            ?? throw new InvalidOperationException($"No experiment is running on {campaign}.");
        await ChangeFeed.NotifyAsync(connection, transaction, ChangeChannels.Experiments, campaign, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        _feed.Raise(ChangeChannels.Experiments, campaign);
        return stopped;
    }

    public void Dispose()
    {
        _subscription.Dispose();
        _feed.ListeningChanged -= OnListeningChanged;
    }
}
