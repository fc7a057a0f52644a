using System.Text.Json;
using Dapper;
using Npgsql;
using Recs.Services.Data;
using Recs.Services.Engine;

namespace Recs.Services.Models;

public static class ModelStatus
{
    public const string Training = "training";
    public const string Challenger = "challenger";
    public const string Champion = "champion";
    public const string Failed = "failed";
    public const string Archived = "archived";
}

/// <summary>The campaigns, as Personalize has them: one served model per use.</summary>
public static class Campaigns
{
    public const string UserRecommendations = ModelUses.UserRecommendations;
    public const string SimilarItems = ModelUses.SimilarItems;
    public const string PersonalizedRanking = ModelUses.PersonalizedRanking;

    public static readonly string[] All = ModelUses.All;

    /// <summary>Throws <see cref="ArgumentException"/> naming the campaigns when <paramref name="name"/> is not one.</summary>
    public static void Check(string name)
    {
        if (!All.Contains(name))
            throw new ArgumentException($"There is no campaign '{name}'; the campaigns are {string.Join(", ", All)}.");
    }
}

/// <summary>A campaign and the version that serves it; OwnVersion is null while it serves the user-recommendations version.</summary>
public sealed record Campaign(string Name, string? OwnVersion, string? Version, DateTime UpdatedAt);

/// <summary>A model version as the registry lists it (the artifact is read separately: it can be large).</summary>
public sealed record ModelVersion(
    long Id, string Version, string Recipe, string Status, string Hyperparameters, long Seed, string DataFingerprint,
    string? Metrics, string? BaselineMetrics, string? History, long? DurationMs, string? Error,
    DateTime CreatedAt, DateTime? TrainedAt, DateTime? PromotedAt, string? Search = null)
{
    /// <summary>True when two versions' figures can be compared: evaluated on the same split of the same data.</summary>
    public bool ComparableWith(ModelVersion other) => Comparable(DataFingerprint, other.DataFingerprint);

    /// <summary>Two fingerprints' figures compare when they describe the same split of the same data.</summary>
    public static bool Comparable(string fingerprintA, string fingerprintB)
    {
        using var a = JsonDocument.Parse(fingerprintA);
        using var b = JsonDocument.Parse(fingerprintB);
        foreach (var key in new[] { "split", "test_ratio", "cutoff", "from", "to", "interactions" })
        {
            var va = a.RootElement.TryGetProperty(key, out var x) ? x.ToString() : null;
            var vb = b.RootElement.TryGetProperty(key, out var y) ? y.ToString() : null;
            if (va != vb)
                return false;
        }
        return true;
    }

    /// <summary>A figure from the metrics (e.g. "ndcg@10"), or null.</summary>
    public double? Metric(string name) => Read(Metrics, name);

    public double? BaselineMetric(string name) => Read(BaselineMetrics, name);

    private static double? Read(string? json, string name)
    {
        if (json is null)
            return null;
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
    }
}

/// <summary>
/// Every training run becomes a version: semantic version MAJOR.MINOR.PATCH where MAJOR is the artifact format,
/// MINOR moves when the data the model saw changes (its fingerprint), PATCH counts runs on the same data.
/// One champion at a time (a partial unique index); promoting archives the previous one.
/// </summary>
public sealed class ModelRegistry(NpgsqlDataSource dataSource, TimeProvider time, ChangeFeed? feed = null)
{
    private const string Columns = """
        id as Id, version as Version, recipe as Recipe, status as Status, hyperparameters::text as Hyperparameters, seed as Seed,
        data_fingerprint::text as DataFingerprint, metrics::text as Metrics, baseline_metrics::text as BaselineMetrics,
        history::text as History, duration_ms as DurationMs, error as Error, created_at as CreatedAt, trained_at as TrainedAt,
        promoted_at as PromotedAt, search::text as Search
        """;

    /// <summary>Creates a version in status training and returns it.</summary>
    public async Task<ModelVersion> BeginAsync(string recipe, object hyperparameters, ulong seed, object fingerprint, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // Serialise version numbering across instances.
        await connection.ExecuteAsync("select pg_advisory_xact_lock(7265110003)", transaction: transaction);
        var fingerprintJson = JsonSerializer.Serialize(fingerprint);
        var last = await connection.QuerySingleOrDefaultAsync<(string Version, string Fingerprint)?>(
            "select version, data_fingerprint::text from model_versions order by id desc limit 1", transaction: transaction);
        var version = NextVersion(last?.Version, last is { } l && SameData(l.Fingerprint, fingerprintJson));
        var sql = $"""
            insert into model_versions (version, recipe, status, hyperparameters, seed, data_fingerprint, created_at)
            values (@version, @recipe, 'training', @hyperparameters::jsonb, @seed, @fingerprint::jsonb, @now)
            returning {Columns}
            """;
        var created = await connection.QuerySingleAsync<ModelVersion>(sql, new
        {
            version, recipe, hyperparameters = JsonSerializer.Serialize(hyperparameters), seed = (long)seed,
            fingerprint = fingerprintJson, now = time.GetUtcNow().UtcDateTime,
        }, transaction);
        await transaction.CommitAsync(cancellationToken);
        return created;
    }

    internal static string NextVersion(string? last, bool sameData)
    {
        if (last is null)
            return "1.0.0";
        var parts = last.Split('.').Select(int.Parse).ToArray();
        return sameData ? $"{parts[0]}.{parts[1]}.{parts[2] + 1}" : $"{parts[0]}.{parts[1] + 1}.0";
    }

    // Same data = same window and counts; the split may differ (it is about evaluation, not the data).
    private static bool SameData(string a, string b)
    {
        using var da = JsonDocument.Parse(a);
        using var db = JsonDocument.Parse(b);
        foreach (var key in new[] { "from", "to", "users", "items", "interactions", "first", "last" })
        {
            var va = da.RootElement.TryGetProperty(key, out var x) ? x.ToString() : null;
            var vb = db.RootElement.TryGetProperty(key, out var y) ? y.ToString() : null;
            if (va != vb)
                return false;
        }
        return true;
    }

    /// <summary>
    /// Records a finished training run: the recipe and hyperparameters it ended with (auto's choice), metrics beside the
    /// baseline's, the curve, auto's search (or null), and the artifact; status challenger.
    /// </summary>
    public async Task<ModelVersion> CompleteAsync(long id, string recipe, object hyperparameters, object metrics, object baseline, object history,
        object fingerprint, object? search, TimeSpan duration, byte[] artifact)
    {
        var sql = $"""
            update model_versions set status = 'challenger', recipe = @recipe, hyperparameters = @hyperparameters::jsonb, metrics = @metrics::jsonb,
                baseline_metrics = @baseline::jsonb, history = @history::jsonb, data_fingerprint = @fingerprint::jsonb, search = @search::jsonb,
                duration_ms = @duration, artifact = @artifact, trained_at = @now
            where id = @id
            returning {Columns}
            """;
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleAsync<ModelVersion>(sql, new
        {
            id, recipe, hyperparameters = JsonSerializer.Serialize(hyperparameters), metrics = JsonSerializer.Serialize(metrics),
            baseline = JsonSerializer.Serialize(baseline), history = JsonSerializer.Serialize(history),
            fingerprint = JsonSerializer.Serialize(fingerprint), search = search is null ? null : JsonSerializer.Serialize(search),
            duration = (long)duration.TotalMilliseconds, artifact, now = time.GetUtcNow().UtcDateTime,
        });
    }

    public async Task FailAsync(long id, string error)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("update model_versions set status = 'failed', error = @error where id = @id and status = 'training'", new { id, error });
    }

    /// <summary>Marks versions stuck in training (their process died) as failed; returns how many.</summary>
    public async Task<int> FailAbandonedAsync(TimeSpan olderThan, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteAsync(
            "update model_versions set status = 'failed', error = 'abandoned: the process training it stopped' where status = 'training' and created_at < @cutoff",
            new { cutoff = time.GetUtcNow().UtcDateTime - olderThan });
    }

    /// <summary>
    /// Makes a version serve a campaign, in one transaction. For user-recommendations it becomes the champion and the
    /// previous champion is archived; a version serves only campaigns its recipe can serve (the catalogue says which).
    /// </summary>
    public async Task<ModelVersion> PromoteAsync(string version, string campaign = Campaigns.UserRecommendations, CancellationToken cancellationToken = default)
    {
        Campaigns.Check(campaign);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var target = await connection.QuerySingleOrDefaultAsync<ModelVersion>(
            $"select {Columns} from model_versions where version = @version for update", new { version }, transaction)
            ?? throw new KeyNotFoundException($"There is no model version {version}.");
        if (target.Status is ModelStatus.Training or ModelStatus.Failed)
            throw new InvalidOperationException($"Version {version} is {target.Status} and cannot be promoted.");
        if (RecipeCatalog.Exists(target.Recipe) && !RecipeCatalog.Get(target.Recipe).Serves.Contains(campaign))
            throw new InvalidOperationException($"Version {version} is a {target.Recipe} model, which cannot serve the {campaign} campaign " +
                $"(it serves {string.Join(", ", RecipeCatalog.Get(target.Recipe).Serves)}).");
        var promoted = target;
        if (campaign == Campaigns.UserRecommendations && target.Status != ModelStatus.Champion)
        {
            await connection.ExecuteAsync("update model_versions set status = 'archived' where status = 'champion'", transaction: transaction);
            promoted = await connection.QuerySingleAsync<ModelVersion>(
                $"update model_versions set status = 'champion', promoted_at = @now where id = @id returning {Columns}",
                new { id = target.Id, now = time.GetUtcNow().UtcDateTime }, transaction);
        }
        await connection.ExecuteAsync("""
            insert into campaigns (name, model_version, updated_at) values (@campaign, @version, @now)
            on conflict (name) do update set model_version = excluded.model_version, updated_at = excluded.updated_at
            """, new { campaign, version, now = time.GetUtcNow().UtcDateTime }, transaction);
        // Every instance's model store hears of it at commit.
        var notice = $"{campaign}:{version}";
        await ChangeFeed.NotifyAsync(connection, transaction, ChangeChannels.Models, notice, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        feed?.Raise(ChangeChannels.Models, notice);
        return promoted;
    }

    /// <summary>Every campaign with the version it serves: its own, or (none promoted to it yet) the user-recommendations one.</summary>
    public async Task<IReadOnlyList<Campaign>> CampaignsAsync(CancellationToken cancellationToken = default)
    {
        const string sql = """
            select c.name as Name, c.model_version as OwnVersion, coalesce(c.model_version, u.model_version) as Version, c.updated_at as UpdatedAt
            from campaigns c left join campaigns u on u.name = 'user-recommendations'
            order by array_position(array['user-recommendations', 'similar-items', 'personalized-ranking'], c.name), c.name
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<Campaign>(new CommandDefinition(sql, cancellationToken: cancellationToken))).ToList();
    }

    /// <summary>The version serving a campaign (its own, else the user-recommendations one), or null when there is none.</summary>
    public async Task<ModelVersion?> ServingAsync(string campaign, CancellationToken cancellationToken = default)
    {
        Campaigns.Check(campaign);
        var sql = $"""
            select {Columns} from model_versions
            where version = (select coalesce(c.model_version, u.model_version) from campaigns c left join campaigns u on u.name = 'user-recommendations' where c.name = @campaign)
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<ModelVersion>(new CommandDefinition(sql, new { campaign }, cancellationToken: cancellationToken));
    }

    public async Task<ModelVersion?> ChampionAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<ModelVersion>($"select {Columns} from model_versions where status = 'champion'");
    }

    public async Task<ModelVersion?> GetAsync(string version, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<ModelVersion>($"select {Columns} from model_versions where version = @version", new { version });
    }

    public async Task<IReadOnlyList<ModelVersion>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<ModelVersion>($"select {Columns} from model_versions order by id desc")).ToList();
    }

    public async Task<ModelArtifact?> LoadArtifactAsync(string version, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var bytes = await connection.QuerySingleOrDefaultAsync<byte[]?>(
            new CommandDefinition("select artifact from model_versions where version = @version", new { version }, commandTimeout: 0, cancellationToken: cancellationToken));
        return bytes is null ? null : ModelArtifact.FromBytes(bytes);
    }
}
