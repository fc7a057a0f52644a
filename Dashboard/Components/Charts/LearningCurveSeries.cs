using System.Globalization;
using Recs.Services.Analytics;
using Recs.Services.Models;

namespace Recs.Dashboard.Components.Charts;

/// <summary>
/// Learning curves as chart series, TensorBoard's way: one colour per version, training solid and validation dashed,
/// the best epoch a star, and with smoothing the raw curve pale behind the smoothed one (its exact value in the hover).
/// </summary>
public static class LearningCurveSeries
{
    /// <summary>Training and validation loss of each version (validation only where recorded).</summary>
    public static IReadOnlyList<XySeries> Loss(IReadOnlyList<ModelVersion> versions, double smoothing)
    {
        var series = new List<XySeries>();
        for (var i = 0; i < versions.Count; i++)
        {
            var v = versions[i];
            var curve = ModelInsights.Curve(v);
            var unit = " " + LossName(v);
            series.AddRange(Lines(v.Version, $"{v.Version} train{unit}", curve, p => p.TrainLoss, ChartTheme.Colour(i), dashed: false, smoothing, markBest: !curve.Any(p => p.ValidationLoss is not null)));
            if (curve.Any(p => p.ValidationLoss is not null))
                series.AddRange(Lines(v.Version, $"{v.Version} validation{unit}", curve, p => p.ValidationLoss, ChartTheme.Colour(i), dashed: true, smoothing, markBest: true));
        }
        return series;
    }

    /// <summary>Validation NDCG@10 of each version that recorded it.</summary>
    public static IReadOnlyList<XySeries> Ndcg(IReadOnlyList<ModelVersion> versions, double smoothing)
    {
        var series = new List<XySeries>();
        for (var i = 0; i < versions.Count; i++)
        {
            var curve = ModelInsights.Curve(versions[i]);
            if (curve.Any(p => p.ValidationNdcg is not null))
                series.AddRange(Lines(versions[i].Version, $"{versions[i].Version} validation NDCG@10", curve, p => p.ValidationNdcg, ChartTheme.Colour(i), dashed: true, smoothing, markBest: true));
        }
        return series;
    }

    /// <summary>What the version's recipe calls its per-epoch loss ("MSE" for rating-mf, "loss" otherwise).</summary>
    public static string LossName(ModelVersion version) => RecipeCatalog.Exists(version.Recipe) ? RecipeCatalog.Get(version.Recipe).LossName : "loss";

    private static IEnumerable<XySeries> Lines(string version, string name, IReadOnlyList<CurvePoint> curve, Func<CurvePoint, double?> value,
        string colour, bool dashed, double smoothing, bool markBest)
    {
        var raw = curve.Select(value).ToList();
        var shown = smoothing > 0 ? Smoothing.Ema(raw, smoothing) : raw;
        var points = curve.Select((p, k) => new XyPoint(p.Epoch, shown[k])
        {
            Highlight = markBest && p.Best,
            Note = string.Join(" · ", new[]
            {
                smoothing > 0 && raw[k] is { } r ? "raw " + r.ToString("F4", CultureInfo.InvariantCulture) : null,
                markBest && p.Best ? "★ best epoch" : null,
            }.OfType<string>()) is { Length: > 0 } note ? note : null,
        }).ToList();
        if (smoothing > 0)
            yield return new XySeries(name + " (raw)", curve.Select((p, k) => new XyPoint(p.Epoch, raw[k])).ToList())
            { Colour = colour, Dashed = dashed, Group = version, Faint = true, Mode = XyMode.Lines };
        yield return new XySeries(name, points) { Colour = colour, Dashed = dashed, Group = version };
    }
}
