using System.Text.Json;
using Recs.Services.Models;

namespace Recs.Services.Analytics;

/// <summary>One epoch of a stored learning curve.</summary>
public sealed record CurvePoint(int Epoch, double TrainLoss, double? ValidationLoss, double? ValidationNdcg, bool Best);

/// <summary>One trial of auto's search as stored with a version.</summary>
public sealed record SearchTrial(int Trial, string Recipe, IReadOnlyDictionary<string, string> Hyperparameters, double? ValidationNdcg, int? BestEpoch, double Seconds, string? Error);

/// <summary>auto's search behind a version: the chosen recipe, the trials in order, what was left out and why.</summary>
public sealed record SearchSummary(string Chosen, IReadOnlyList<SearchTrial> Trials, IReadOnlyDictionary<string, string> LeftOut, bool BudgetReached);

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

    /// <summary>auto's search behind a version, or null when it was trained by hand.</summary>
    public static SearchSummary? Search(ModelVersion version)
    {
        if (string.IsNullOrEmpty(version.Search))
            return null;
        using var doc = JsonDocument.Parse(version.Search);
        var r = doc.RootElement;
        static Dictionary<string, string> Strings(JsonElement e) =>
            e.ValueKind == JsonValueKind.Object ? e.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ToString()) : [];
        var trials = r.GetProperty("trials").EnumerateArray().Select(t => new SearchTrial(
            t.GetProperty("trial").GetInt32(),
            t.GetProperty("recipe").GetString()!,
            Strings(t.GetProperty("hyperparameters")),
            t.GetProperty("validation_ndcg_at_10") is { ValueKind: JsonValueKind.Number } n ? n.GetDouble() : null,
            t.GetProperty("best_epoch") is { ValueKind: JsonValueKind.Number } b ? b.GetInt32() : null,
            t.GetProperty("seconds").GetDouble(),
            t.GetProperty("error") is { ValueKind: JsonValueKind.String } e ? e.GetString() : null)).ToList();
        return new SearchSummary(r.GetProperty("chosen").GetString()!, trials, Strings(r.GetProperty("left_out")),
            r.GetProperty("budget_reached").GetBoolean());
    }

    /// <summary>Relative change of the model over the baseline on a metric, e.g. +0.29 for +29 %.</summary>
    public static double? Lift(ModelVersion version, string metric) =>
        version.Metric(metric) is { } m && version.BaselineMetric(metric) is { } b && b > 0 ? m / b - 1 : null;

    /// <summary>True when two versions' figures can be compared (same split of the same data).</summary>
    public static bool Comparable(ModelVersion a, ModelVersion b) => a.ComparableWith(b);

    /// <summary>Split and window in words, for tooltips.</summary>
    public static string DescribeData(ModelVersion version)
    {
        using var doc = JsonDocument.Parse(version.DataFingerprint);
        var r = doc.RootElement;
        string Get(string key) => r.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v.ToString() : "—";
        return $"{Get("split")} split, test ratio {Get("test_ratio")}, cut-off {Get("cutoff")}, {Get("interactions")} interactions";
    }

    public static bool IsIterative(string recipe) => RecipeCatalog.Exists(recipe) && RecipeCatalog.Get(recipe).Iterative;
}
