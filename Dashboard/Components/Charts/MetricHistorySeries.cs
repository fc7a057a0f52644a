using Recs.Services.Analytics;
using Recs.Services.Models;

namespace Recs.Dashboard.Components.Charts;

/// <summary>
/// MLflow's metric history: for each metric a line over training dates and the popularity baseline (same split) dashed in the
/// same colour; versions evaluated on other data or another split than the reference are hollow and say why; a click opens the version.
/// </summary>
public static class MetricHistorySeries
{
    /// <param name="versions">Every version; those without metrics or a training date are left out.</param>
    /// <param name="metrics">The metrics to draw, e.g. "ndcg@10".</param>
    /// <param name="reference">The version the others are compared with (the champion); null compares nothing.</param>
    public static IReadOnlyList<XySeries> Build(IReadOnlyList<ModelVersion> versions, IReadOnlyCollection<string> metrics, ModelVersion? reference)
    {
        var trained = versions.Where(v => v.Metrics is not null && v.TrainedAt is not null).OrderBy(v => v.TrainedAt).ToList();
        var series = new List<XySeries>();
        var i = 0;
        foreach (var metric in metrics)
        {
            var colour = ChartTheme.Colour(i++);
            XyPoint Point(ModelVersion v, double? value, bool baseline)
            {
                var comparable = reference is null || v.Id == reference.Id || ModelInsights.Comparable(v, reference);
                var note = $"{v.Version} · {v.Recipe}{(baseline ? " (popularity on its split)" : "")}";
                if (!comparable)
                    note += $"<br>not comparable with {reference!.Version}: {ModelInsights.DescribeData(v)}";
                return new XyPoint(DateTime.SpecifyKind(v.TrainedAt!.Value, DateTimeKind.Utc), value) { Hollow = !comparable, Note = note, Link = $"models?version={Uri.EscapeDataString(v.Version)}" };
            }
            series.Add(new XySeries(metric, trained.Select(v => Point(v, v.Metric(metric), false)).ToList()) { Colour = colour, Group = metric });
            series.Add(new XySeries($"{metric} popularity", trained.Select(v => Point(v, v.BaselineMetric(metric), true)).ToList()) { Colour = colour, Dashed = true, Group = metric });
        }
        return series;
    }

    /// <summary>The y axis title: the metrics' range in words.</summary>
    public static string AxisTitle(IReadOnlyCollection<string> metrics) =>
        metrics.Count == 1 ? $"{metrics.First()} (0–1)" : "Metric value (0–1; novelty in bits)";
}
