using System.Text.Json;
using Recs.Services.Engine;
using Recs.Services.Training;

namespace Recs.Services.Analytics;

/// <summary>One epoch of a stored learning curve.</summary>
public sealed record CurvePoint(int Epoch, double TrainLoss, double? ValidationLoss, double? ValidationNdcg, bool Best);

/// <summary>Reads what the registry stores as JSON into shapes the pages draw.</summary>
public static class ModelInsights
{
    /// <summary>The metrics the Models page offers, in display order.</summary>
    public static readonly string[] ChartMetrics = ["precision@10", "recall@10", "ndcg@10", "map@10", "coverage@10", "diversity@10", "novelty@10"];

    public static IReadOnlyList<CurvePoint> Curve(ModelVersion version)
    {
        if (string.IsNullOrEmpty(version.History))
            return [];
        using var doc = JsonDocument.Parse(version.History);
        return doc.RootElement.EnumerateArray().Select(e => new CurvePoint(
            e.GetProperty("epoch").GetInt32(),
            e.GetProperty("train_loss").GetDouble(),
            e.TryGetProperty("validation_loss", out var vl) && vl.ValueKind == JsonValueKind.Number ? vl.GetDouble() : null,
            e.TryGetProperty("validation_ndcg_at_10", out var vn) && vn.ValueKind == JsonValueKind.Number ? vn.GetDouble() : null,
            e.TryGetProperty("best", out var b) && b.ValueKind == JsonValueKind.True)).ToList();
    }

    /// <summary>Relative change of the model over the baseline on a metric, e.g. +0.29 for +29 %.</summary>
    public static double? Lift(ModelVersion version, string metric) =>
        version.Metric(metric) is { } m && version.BaselineMetric(metric) is { } b && b > 0 ? m / b - 1 : null;

    /// <summary>True when two versions' figures can be compared (same split of the same data).</summary>
    public static bool Comparable(ModelVersion a, ModelVersion b) => TrainingService.Comparable(a.DataFingerprint, b.DataFingerprint);

    /// <summary>Split and window in words, for tooltips.</summary>
    public static string DescribeData(ModelVersion version)
    {
        using var doc = JsonDocument.Parse(version.DataFingerprint);
        var r = doc.RootElement;
        string Get(string key) => r.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v.ToString() : "—";
        return $"{Get("split")} split, test ratio {Get("test_ratio")}, cut-off {Get("cutoff")}, {Get("interactions")} interactions";
    }

    public static bool IsIterative(string recipe) =>
        recipe is AlsRecommender.Name or AlsRecommender.RankingName or BprRecommender.Name or RatingMfRecommender.Name
            or HybridRecommender.Name;
}
