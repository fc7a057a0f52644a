using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Services.Models;

namespace Recs.Services.Analytics;

/// <summary>
/// One arm's figures. Users: distinct users shown at least one list. Impressions: lists shown. Clicks: lists with at
/// least one click-type event on an item they showed (naming the list's recommendation id; within the event's
/// impression when it has one), so CTR = clicks / impressions is a proportion. Conversions: users with a purchase
/// within the window after a list shown to them; conversion rate = conversions / users. Revenue per user: the value
/// of those purchases over all exposed users (zeros included). Intervals are 95 %.
/// </summary>
public sealed record ArmReport(
    string Arm, string Version, int Share, long Users, long Impressions, long Clicks, double Ctr, Interval CtrInterval,
    long Conversions, double ConversionRate, Interval ConversionRateInterval, double Revenue, double RevenuePerUser, Interval? RevenuePerUserInterval);

/// <summary>One day of one arm (UTC): users shown a list that day, lists, clicked lists, users converting that day and their revenue.</summary>
public sealed record ExperimentDay(DateOnly Day, string Arm, long Users, long Impressions, long Clicks, long Conversions, double Revenue)
{
    public double Ctr => Impressions == 0 ? 0 : (double)Clicks / Impressions;

    public double ConversionRate => Users == 0 ? 0 : (double)Conversions / Users;
}

/// <summary>The verdict: the sample is too small, no significant difference yet, or a winner.</summary>
public static class ExperimentDecisions
{
    public const string TooSmall = "too-small";
    public const string NoDifference = "no-difference";
    public const string ChallengerWins = "challenger-wins";
    public const string ControlWins = "control-wins";
}

/// <summary>
/// An experiment's report: both arms, the challenger's conversion rate minus the control's with its interval, the
/// two-proportion z-test of conversion rates (<see cref="PValue"/>) and of CTRs, the decision in plain words, and a
/// series per day.
/// </summary>
public sealed record ExperimentReport(
    OnlineExperiment Experiment, ArmReport Control, ArmReport Challenger, double ConversionRateDifference, Interval ConversionRateDifferenceInterval,
    double Z, double PValue, double CtrPValue, string Decision, string? Winner, string Summary, IReadOnlyList<ExperimentDay> Daily)
{
    public bool SampleTooSmall => Decision == ExperimentDecisions.TooSmall;

    /// <summary>A p-value as people read it: four decimals, and "&lt; 0.0001" rather than a rounded 0.</summary>
    public static string FormatP(double p) => p < 0.0001 ? "< 0.0001" : "= " + p.ToString("0.####", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// Computes experiment reports from the answer log and the events (attribution happens here, when a report is read,
/// so it needs nothing on the event path and counts events whichever arrived first). Reads only the public tables the
/// API writes: a simulator driving the API sees its effect here and through <c>GET /api/v1/experiments/{campaign}</c>.
/// </summary>
public sealed class ExperimentReportService(NpgsqlDataSource dataSource, ExperimentRegistry experiments, IOptions<ExperimentOptions> options)
{
    /// <summary>The report of the campaign's running experiment, else of its latest; null when it never had one.</summary>
    public async Task<ExperimentReport?> ForCampaignAsync(string campaign, CancellationToken cancellationToken = default) =>
        await experiments.LatestAsync(campaign, cancellationToken) is { } experiment ? await ReportAsync(experiment, cancellationToken) : null;

    public async Task<ExperimentReport> ReportAsync(OnlineExperiment experiment, CancellationToken cancellationToken = default)
    {
        var o = options.Value;
        // One statement: the log's rows for the experiment, the clicked lists, the purchases in the window after a list
        // shown to the same user, then every aggregate as (kind, day, arm, n, users, value, value²) rows.
        const string sql = """
            with shown as materialized (
                select id, user_id, arm, created_at, items from recommendation_log where experiment_id = @id
            ),
            clicked as (
                select distinct s.id, s.arm, s.created_at
                from interactions i
                join shown s on s.id = (case when i.attributes->>'recommendation_id' ~ '^RID-[0-9a-f]{32}$' then substr(i.attributes->>'recommendation_id', 5)::uuid end)
                join products p on p.id = i.item_id
                where i.attributes ? 'recommendation_id' and i.event_type = any(@clickTypes) and i.item_id = any(s.items)
                  and (not (i.attributes ? 'impression') or (i.attributes->'impression') ? p.external_id)
            ),
            exposed as (
                select user_id, min(arm) as arm, min(created_at) as first_shown from shown where user_id is not null group by user_id
            ),
            purchases as (
                select e.user_id, e.arm, i.id, coalesce(i.event_value, 0)::float8 as value, i.occurred_at
                from exposed e
                join customers c on c.external_id = e.user_id
                join interactions i on i.user_id = c.id and i.event_type = @conversionType and i.occurred_at >= e.first_shown
                where exists (select 1 from shown s where s.user_id = e.user_id and s.created_at <= i.occurred_at and i.occurred_at <= s.created_at + @window)
            ),
            per_user as (select user_id, arm, sum(value) as revenue from purchases group by 1, 2)
            select 'exposed' as Kind, null::date as Day, arm as Arm, count(*) as N, 0::bigint as Users, 0::float8 as Value, 0::float8 as Value2 from exposed group by arm
            union all
            select 'shown', (created_at at time zone 'UTC')::date, arm, count(*), count(distinct user_id), 0, 0 from shown group by 2, 3
            union all
            select 'clicked', (created_at at time zone 'UTC')::date, arm, count(*), 0, 0, 0 from clicked group by 2, 3
            union all
            select 'converted', null, arm, count(*), 0, coalesce(sum(revenue), 0), coalesce(sum(revenue * revenue), 0) from per_user group by arm
            union all
            select 'converted-day', (occurred_at at time zone 'UTC')::date, arm, count(distinct user_id), 0, coalesce(sum(value), 0), 0 from purchases group by 2, 3
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = (await connection.QueryAsync<(string Kind, DateTime? Day, short Arm, long N, long Users, double Value, double Value2)>(new CommandDefinition(sql, new
        {
            id = experiment.Id, clickTypes = o.ClickEventTypes, conversionType = o.ConversionEventType, window = TimeSpan.FromHours(o.ConversionWindowHours),
        }, commandTimeout: 0, cancellationToken: cancellationToken))).ToList();
        return Build(experiment, rows, o);
    }

    private static ExperimentReport Build(OnlineExperiment experiment, List<(string Kind, DateTime? Day, short Arm, long N, long Users, double Value, double Value2)> rows, ExperimentOptions o)
    {
        ArmReport Arm(short arm)
        {
            var mine = rows.Where(r => r.Arm == arm).ToList();
            var users = mine.Where(r => r.Kind == "exposed").Sum(r => r.N);
            var impressions = mine.Where(r => r.Kind == "shown").Sum(r => r.N);
            var clicks = mine.Where(r => r.Kind == "clicked").Sum(r => r.N);
            var converted = mine.Where(r => r.Kind == "converted").ToList();
            var conversions = converted.Sum(r => r.N);
            var revenue = converted.Sum(r => r.Value);
            var (perUser, perUserInterval) = ExperimentStatistics.MeanInterval(users, revenue, converted.Sum(r => r.Value2));
            return new ArmReport(ExperimentArms.Name(arm), experiment.VersionOf(arm), experiment.ShareOf(arm), users, impressions, clicks,
                impressions == 0 ? 0 : (double)clicks / impressions, ExperimentStatistics.Wilson(clicks, impressions),
                conversions, users == 0 ? 0 : (double)conversions / users, ExperimentStatistics.Wilson(conversions, users),
                revenue, perUser, perUserInterval);
        }

        var control = Arm(ExperimentArms.Control);
        var challenger = Arm(ExperimentArms.Challenger);
        var (z, p) = ExperimentStatistics.TwoProportionTest(control.Conversions, control.Users, challenger.Conversions, challenger.Users);
        var (_, ctrP) = ExperimentStatistics.TwoProportionTest(control.Clicks, control.Impressions, challenger.Clicks, challenger.Impressions);
        var difference = challenger.ConversionRate - control.ConversionRate;

        string decision;
        string? winner = null;
        string summary;
        var tooSmall = new[] { control, challenger }.Where(a => a.Users < o.MinUsersPerArm || a.Conversions < o.MinConversionsPerArm).ToList();
        if (tooSmall.Count > 0)
        {
            decision = ExperimentDecisions.TooSmall;
            summary = $"Too few data to decide yet: each arm needs at least {o.MinUsersPerArm:N0} exposed users and {o.MinConversionsPerArm:N0} conversions " +
                $"({string.Join("; ", new[] { control, challenger }.Select(a => $"{a.Arm} has {a.Users:N0} users and {a.Conversions:N0} conversions"))}).";
        }
        else if (p < o.Alpha)
        {
            var best = difference > 0 ? challenger : control;
            decision = difference > 0 ? ExperimentDecisions.ChallengerWins : ExperimentDecisions.ControlWins;
            winner = best.Version;
            summary = $"The {best.Arm} ({best.Version}) converts better: {challenger.ConversionRate:P1} against {control.ConversionRate:P1}, " +
                $"a difference of {difference * 100:+0.0;-0.0} points, significant at p {ExperimentReport.FormatP(p)} (below {o.Alpha}).";
        }
        else
        {
            decision = ExperimentDecisions.NoDifference;
            summary = $"No significant difference in conversion rate yet: {challenger.ConversionRate:P1} against {control.ConversionRate:P1} (p {ExperimentReport.FormatP(p)}, needs below {o.Alpha}).";
        }

        var daily = rows.Where(r => r.Day is not null).GroupBy(r => (Day: DateOnly.FromDateTime(r.Day!.Value), r.Arm)).OrderBy(g => g.Key.Day).ThenBy(g => g.Key.Arm)
            .Select(g => new ExperimentDay(g.Key.Day, ExperimentArms.Name(g.Key.Arm),
                g.Where(r => r.Kind == "shown").Sum(r => r.Users), g.Where(r => r.Kind == "shown").Sum(r => r.N), g.Where(r => r.Kind == "clicked").Sum(r => r.N),
                g.Where(r => r.Kind == "converted-day").Sum(r => r.N), g.Where(r => r.Kind == "converted-day").Sum(r => r.Value)))
            .ToList();
        return new ExperimentReport(experiment, control, challenger, difference,
            ExperimentStatistics.DifferenceInterval(control.Conversions, control.Users, challenger.Conversions, challenger.Users),
            z, p, ctrP, decision, winner, summary, daily);
    }
}
