using Plotly.Blazor.Traces.ScatterLib.MarkerLib;
using Recs.Dashboard.Components.Charts;
using Recs.Services.Models;

namespace Recs.Tests.Components;

/// <summary>Learning curves as series: TensorBoard's smoothing, one colour per version, train solid and validation dashed, the best epoch starred.</summary>
public sealed class LearningCurveChartTests
{
    private static ModelVersion Version(string version, string recipe, string history) =>
        new(1, version, recipe, "challenger", "{}", 42, "{}", null, null, history, null, null, DateTime.UnixEpoch, DateTime.UnixEpoch, null);

    private const string BprHistory = """
        [{"epoch":1,"train_loss":0.9,"validation_loss":0.8,"validation_ndcg_at_10":0.05},
         {"epoch":2,"train_loss":0.5,"validation_loss":0.6,"validation_ndcg_at_10":0.09,"best":true},
         {"epoch":3,"train_loss":0.3,"validation_loss":0.7,"validation_ndcg_at_10":0.08}]
        """;

    [Fact]
    public void Smoothing_is_a_debiased_exponential_moving_average_that_skips_gaps()
    {
        // w = 0.5: s1 = 0.5·1 = 0.5 → 0.5 / (1 − 0.5) = 1; s2 = 0.25 + 0.5·2 = 1.25 → 1.25 / (1 − 0.25) = 5/3.
        var smoothed = Smoothing.Ema([1.0, null, 2.0], 0.5);
        Assert.Equal(1.0, smoothed[0]!.Value, 12);
        Assert.Null(smoothed[1]);
        Assert.Equal(5.0 / 3, smoothed[2]!.Value, 12);
        Assert.Equal([1.0, 2.0, 3.0], Smoothing.Ema([1.0, 2.0, 3.0], 0));
    }

    [Fact]
    public void Train_and_validation_of_a_version_share_its_colour_validation_dashed_best_epoch_starred()
    {
        var series = LearningCurveSeries.Loss([Version("1.0.0", "bpr", BprHistory), Version("1.1.0", "bpr", BprHistory)], smoothing: 0);

        Assert.Equal(["1.0.0 train loss", "1.0.0 validation loss", "1.1.0 train loss", "1.1.0 validation loss"], series.Select(s => s.Name));
        Assert.Equal(series[0].Colour, series[1].Colour);
        Assert.NotEqual(series[0].Colour, series[2].Colour);
        Assert.False(series[0].Dashed);
        Assert.True(series[1].Dashed);
        Assert.Equal("1.0.0", series[1].Group);
        Assert.Equal([false, true, false], series[1].Points.Select(p => p.Highlight));
        Assert.Equal([0.8, 0.6, 0.7], series[1].Points.Select(p => p.Y));

        var figure = XyFigure.Build(series, new ChartAxis("Epoch"), new ChartAxis("Loss"), unifiedHover: true, height: 300);
        var validation = Assert.IsType<Plotly.Blazor.Traces.Scatter>(figure.Data[1]);
        Assert.Equal(SymbolEnum.Star, validation.Marker.SymbolArray[1]);
        Assert.Equal(Plotly.Blazor.LayoutLib.HoverModeEnum.XUnified, figure.Layout.HoverMode);
    }

    [Fact]
    public void With_smoothing_the_raw_curve_stays_pale_behind_and_the_hover_gives_the_raw_value()
    {
        var series = LearningCurveSeries.Ndcg([Version("1.0.0", "bpr", BprHistory)], smoothing: 0.5);

        Assert.Equal(2, series.Count);
        Assert.True(series[0].Faint);
        Assert.Equal([0.05, 0.09, 0.08], series[0].Points.Select(p => p.Y));
        Assert.False(series[1].Faint);
        Assert.Equal(0.05, series[1].Points[0].Y!.Value, 12);
        Assert.Equal((0.25 * 0.05 + 0.5 * 0.09) / 0.75, series[1].Points[1].Y!.Value, 12);
        Assert.Equal("raw 0.0900 · ★ best epoch", series[1].Points[1].Note);
        var pale = Assert.IsType<Plotly.Blazor.Traces.Scatter>(XyFigure.Build(series, new("Epoch"), new("NDCG"), true, 300).Data[0]);
        Assert.Equal(Plotly.Blazor.Traces.ScatterLib.HoverInfoFlag.Skip, pale.HoverInfo);
        Assert.False(pale.ShowLegend);
    }

    [Fact]
    public void Rating_mf_curves_are_named_for_their_mse()
    {
        var series = LearningCurveSeries.Loss([Version("2.0.0", "rating-mf", BprHistory)], smoothing: 0);

        Assert.Equal(["2.0.0 train MSE", "2.0.0 validation MSE"], series.Select(s => s.Name));
        Assert.Equal("MSE", LearningCurveSeries.LossName(Version("2.0.0", "rating-mf", BprHistory)));
        Assert.Equal("loss", LearningCurveSeries.LossName(Version("2.0.0", "bpr", BprHistory)));
    }
}
