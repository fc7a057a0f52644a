using System.Diagnostics;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Services.Engine;
using Recs.Services.Models;
using Recs.Services.Serving;

namespace Recs.Services.Monitoring;

/// <summary>
/// The champion's health since its training data ended: data drift (events from new users and on new products, the
/// category mix against the training data's) and performance drift (its NDCG@10 replayed on the last days against its
/// offline test figure). Checks are stored, so the pages read the latest without recomputing.
/// </summary>
public sealed class DriftService(NpgsqlDataSource dataSource, ModelRegistry registry, ModelStore models, IOptions<DriftOptions> options,
    IOptions<TrainingOptions> training, TimeProvider time)
{
    private const int K = 10;

    /// <summary>Checks the champion and stores the report; null when there is no champion.</summary>
    public async Task<HealthReport?> CheckAsync(CancellationToken cancellationToken = default)
    {
        var report = await ComputeAsync(cancellationToken);
        if (report is not null)
            await SaveAsync(report, cancellationToken);
        return report;
    }

    /// <summary>Computes the champion's report without storing it; null when there is no champion.</summary>
    public async Task<HealthReport?> ComputeAsync(CancellationToken cancellationToken = default)
    {
        var version = await registry.ServingAsync(Campaigns.UserRecommendations, cancellationToken);
        if (version is null)
            return null;
        var clock = Stopwatch.StartNew();
        var (from, trainedThrough) = TrainingWindow(version);
        var types = training.Value.EventWeights.Where(w => w.Value > 0).Select(w => w.Key).ToArray();
        var figures = await DataDriftAsync(from, trainedThrough, types, cancellationToken);
        if (figures.LatestEvent is { } latest)
        {
            var replayFrom = Max(trainedThrough, latest.AddDays(-options.Value.ReplayDays));
            var (users, ndcg) = await ReplayAsync(version.Version, replayFrom, types, cancellationToken);
            figures = figures with { ReplayFrom = replayFrom, ReplayUsers = users, ReplayedNdcg = ndcg };
        }
        figures = figures with { OfflineNdcg = version.Metric($"ndcg@{K}") };
        return HealthReport.Judge(version.Version, version.Recipe, time.GetUtcNow().UtcDateTime, clock.Elapsed.TotalSeconds, figures, options.Value);
    }

    /// <summary>The data the version was trained on: the window's start (if any) and its newest event (trained-at when the registry has none).</summary>
    internal static (DateTime? From, DateTime Through) TrainingWindow(ModelVersion version)
    {
        using var fingerprint = JsonDocument.Parse(version.DataFingerprint);
        DateTime? Read(string key) => fingerprint.RootElement.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetDateTime().ToUniversalTime() : null;
        // Training reads times as whole seconds rounded to the nearest, so its newest event lies within half a second of "last".
        var through = Read("last")?.AddSeconds(0.5) ?? version.TrainedAt ?? version.CreatedAt;
        return (Read("from"), DateTime.SpecifyKind(through, DateTimeKind.Utc));
    }

    private static DateTime Max(DateTime a, DateTime b) => a > b ? a : b;

    private async Task<DriftFigures> DataDriftAsync(DateTime? from, DateTime through, string[] types, CancellationToken cancellationToken)
    {
        // New = no event of a trained type in the training window; checked per distinct user and product of the new window (indexed).
        const string windowSql = """
            with recent as (
                select user_id, item_id, occurred_at from interactions where event_type = any(@types) and occurred_at > @through
            ),
            new_users as (
                select u.user_id from (select distinct user_id from recent) u
                where not exists (select 1 from interactions t where t.user_id = u.user_id and t.event_type = any(@types)
                                  and t.occurred_at <= @through and (@from::timestamptz is null or t.occurred_at >= @from))
            ),
            new_items as (
                select i.item_id from (select distinct item_id from recent) i
                where not exists (select 1 from interactions t where t.item_id = i.item_id and t.event_type = any(@types)
                                  and t.occurred_at <= @through and (@from::timestamptz is null or t.occurred_at >= @from))
            )
            select (select count(*) from recent) as Events,
                   (select count(distinct user_id) from recent) as Users,
                   (select count(*) from new_users) as NewUsers,
                   (select count(*) from recent where user_id in (select user_id from new_users)) as NewUserEvents,
                   (select count(distinct item_id) from recent) as Items,
                   (select count(*) from new_items) as NewItems,
                   (select count(*) from recent where item_id in (select item_id from new_items)) as NewItemEvents,
                   (select max(occurred_at) from recent) as LatestEvent
            """;
        const string categoriesSql = """
            select coalesce(p.category, '(none)') as Category,
                   count(*) filter (where i.occurred_at <= @through) as Trained,
                   count(*) filter (where i.occurred_at > @through) as Recent
            from interactions i join products p on p.id = i.item_id
            where i.event_type = any(@types) and (@from::timestamptz is null or i.occurred_at >= @from)
            group by 1
            """;
        var parameters = new { types, through, from };
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var w = await connection.QuerySingleAsync<WindowRow>(new CommandDefinition(windowSql, parameters, commandTimeout: 0, cancellationToken: cancellationToken));
        var rows = (await connection.QueryAsync<(string Category, long Trained, long Recent)>(
            new CommandDefinition(categoriesSql, parameters, commandTimeout: 0, cancellationToken: cancellationToken))).ToList();
        var trained = rows.ToDictionary(r => r.Category, r => r.Trained);
        var recent = rows.ToDictionary(r => r.Category, r => r.Recent);
        var trainedTotal = trained.Values.Sum();
        var recentTotal = recent.Values.Sum();
        var categories = rows
            .Select(r => new CategoryShare(r.Category, DriftStatistics.Share(r.Trained, trainedTotal), DriftStatistics.Share(r.Recent, recentTotal)))
            .OrderByDescending(c => Math.Abs(c.Recent - c.Trained)).ThenBy(c => c.Category, StringComparer.Ordinal)
            .ToList();
        return new DriftFigures(through, w.LatestEvent is { } l ? DateTime.SpecifyKind(l, DateTimeKind.Utc) : null, w.Events, w.Users, w.NewUsers, w.NewUserEvents,
            w.Items, w.NewItems, w.NewItemEvents, DriftStatistics.TotalVariation(trained, recent), categories,
            null, options.Value.ReplayDays, 0, null, null);
    }

    /// <summary>
    /// The version's mean NDCG@10 over the users active after <paramref name="replayFrom"/>: each user's list as serving
    /// computes it (<see cref="ServedLists.ForUser"/>: their trained row, else their history folded in) from their
    /// history up to then; relevant = the products they had events on since, minus those already in that history when
    /// the model leaves seen items out; users with no earlier history are left out, as the offline evaluator does.
    /// </summary>
    private async Task<(int Users, double? Ndcg)> ReplayAsync(string version, DateTime replayFrom, string[] types, CancellationToken cancellationToken)
    {
        // By version, not "the champion": a promotion between reading the registry and loading must not mix two models.
        var model = await models.GetAsync(version, cancellationToken);
        if (model is null)
            return (0, null);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var week = (await connection.QueryAsync<(long User, long Item)>(new CommandDefinition(
            "select distinct user_id, item_id from interactions where event_type = any(@types) and occurred_at > @replayFrom",
            new { types, replayFrom }, commandTimeout: 0, cancellationToken: cancellationToken))).ToList();
        var users = week.Select(r => r.User).Distinct().ToArray();
        var histories = new Dictionary<long, List<(long Item, string Type, int Count)>>();
        foreach (var r in await connection.QueryAsync<(long User, long Item, string Type, int Count)>(new CommandDefinition(
                     "select user_id, item_id, event_type, count(*)::int from interactions where user_id = any(@users) and occurred_at <= @replayFrom group by 1, 2, 3 order by 1, max(occurred_at), 2, 3",
                     new { users, replayFrom }, commandTimeout: 0, cancellationToken: cancellationToken)))
            (histories.TryGetValue(r.User, out var list) ? list : histories[r.User] = []).Add((r.Item, r.Type, r.Count));

        var items = new int[K];
        var scores = new float[K];
        double sum = 0;
        var evaluated = 0;
        foreach (var user in week.GroupBy(r => r.User).OrderBy(g => g.Key))
        {
            var (seen, weights) = UserHistory.Weighted(model, histories.GetValueOrDefault(user.Key) ?? [], training.Value.EventWeights);
            if (seen.Length == 0)
                continue;
            var relevant = new HashSet<int>();
            foreach (var (_, item) in user)
            {
                if (model.ItemIndex.TryGetValue(item, out var i) && (!model.Model.ExcludeSeen || Array.IndexOf(seen, i) < 0))
                    relevant.Add(i);
            }
            if (relevant.Count == 0)
                continue;
            var n = ServedLists.ForUser(model, user.Key, seen, weights, items, scores);
            sum += Metrics.Ndcg(items.AsSpan(0, n), relevant, K);
            evaluated++;
        }
        return (evaluated, evaluated == 0 ? null : sum / evaluated);
    }

    private async Task SaveAsync(HealthReport report, CancellationToken cancellationToken)
    {
        const string sql = """
            insert into model_health_checks (checked_at, model_version, status, report) values (@checkedAt, @version, @status, @report::jsonb);
            delete from model_health_checks where checked_at < @keepFrom;
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(sql, new
        {
            checkedAt = report.CheckedAt, version = report.Version, status = report.Status, report = JsonSerializer.Serialize(report),
            keepFrom = report.CheckedAt.AddDays(-options.Value.KeepDays),
        }, cancellationToken: cancellationToken));
    }

    /// <summary>The latest stored check (of any version), or null.</summary>
    public async Task<HealthReport?> LatestAsync(CancellationToken cancellationToken = default) => (await HistoryAsync(1, cancellationToken)).FirstOrDefault();

    /// <summary>The latest <paramref name="count"/> stored checks, newest first.</summary>
    public async Task<IReadOnlyList<HealthReport>> HistoryAsync(int count, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<string>(new CommandDefinition(
            "select report::text from model_health_checks order by checked_at desc, id desc limit @count", new { count }, cancellationToken: cancellationToken));
        return rows.Select(r => JsonSerializer.Deserialize<HealthReport>(r)!).ToList();
    }

#pragma warning disable CA1812 // built by Dapper
    private sealed record WindowRow(long Events, long Users, long NewUsers, long NewUserEvents, long Items, long NewItems, long NewItemEvents, DateTime? LatestEvent);
#pragma warning restore CA1812
}
