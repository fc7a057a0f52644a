using Recs.Services.Analytics;
using Recs.Services.Models;

namespace Recs.Dashboard.Api;

/// <summary>An experiment report as JSON, one shape for <c>experiments show</c> and <c>GET /api/v1/experiments/{campaign}</c>.</summary>
public static class ExperimentJson
{
    private static double R(double x) => Math.Round(x, 6);

    private static double[]? Pair(Interval? i) => i is { } v ? [R(v.Low), R(v.High)] : null;

    public static object Show(string campaign, ExperimentReport? report)
    {
        if (report is null)
            return new { campaign, status = "none", arms = Array.Empty<object>(), p_value = (double?)null, summary = $"No experiment has run on {campaign}." };
        var e = report.Experiment;
        return new
        {
            campaign,
            experiment_id = e.Id,
            status = e.Status,
            started_at = e.StartedAt,
            started_by = e.StartedBy,
            stopped_at = e.StoppedAt,
            outcome = e.Outcome,
            arms = new[] { report.Control, report.Challenger }.Select(a => new
            {
                arm = a.Arm,
                version = a.Version,
                engine = CampaignEngines.IsRemote(a.Version) ? "aws-personalize" : "recs",
                share = a.Share,
                users = a.Users,
                impressions = a.Impressions,
                clicks = a.Clicks,
                ctr = R(a.Ctr),
                ctr_interval = Pair(a.CtrInterval),
                conversions = a.Conversions,
                conversion_rate = R(a.ConversionRate),
                conversion_rate_interval = Pair(a.ConversionRateInterval),
                revenue = R(a.Revenue),
                revenue_per_user = R(a.RevenuePerUser),
                revenue_per_user_interval = Pair(a.RevenuePerUserInterval),
            }),
            conversion_rate_difference = R(report.ConversionRateDifference),
            conversion_rate_difference_interval = Pair(report.ConversionRateDifferenceInterval),
            z = R(report.Z),
            p_value = R(report.PValue),
            ctr_p_value = R(report.CtrPValue),
            decision = report.Decision,
            winner = report.Winner,
            summary = report.Summary,
            daily = report.Daily.Select(d => new
            {
                day = d.Day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
                arm = d.Arm,
                users = d.Users,
                impressions = d.Impressions,
                clicks = d.Clicks,
                ctr = R(d.Ctr),
                conversions = d.Conversions,
                conversion_rate = R(d.ConversionRate),
                revenue = R(d.Revenue),
            }),
        };
    }

    public static object Summary(OnlineExperiment e) => new
    {
        experiment_id = e.Id,
        campaign = e.Campaign,
        status = e.Status,
        control = e.ControlVersion,
        challenger = e.ChallengerVersion,
        share = e.ChallengerShare,
        started_at = e.StartedAt,
        started_by = e.StartedBy,
        stopped_at = e.StoppedAt,
        outcome = e.Outcome,
    };
}
