namespace Recs.Dashboard.Components.Shared;

/// <summary>
/// MudBlazor's axis charts step the y axis in whole numbers, so series of small values (0.08 NDCG, 0.03 loss)
/// are scaled by a power of ten into the tens, with a tick step that gives about five lines; the chart says the factor.
/// </summary>
public static class ChartScaling
{
    public static (List<MudBlazor.ChartSeries<double>> Series, int Ticks, string? Note) Scale(IReadOnlyList<MudBlazor.ChartSeries<double>> series)
    {
        var max = series.SelectMany(s => s.Data.Values).Where(double.IsFinite).Select(Math.Abs).DefaultIfEmpty(0).Max();
        if (max <= 0)
            return (series.ToList(), 1, null);
        var factor = Math.Pow(10, 1 - Math.Floor(Math.Log10(max)));
        if (factor < 1)
            factor = 1; // large values need no scaling
        var scaled = series.Select(s => new MudBlazor.ChartSeries<double>
        {
            Name = s.Name,
            Data = s.Data.Values.Select(v => Math.Round(v * factor, 3)).ToArray(),
        }).ToList();
        var ticks = Math.Max(1, (int)Math.Ceiling(max * factor / 5));
        var note = factor == 1 ? null : $"values ×{factor.ToString("0", System.Globalization.CultureInfo.InvariantCulture)}";
        return (scaled, ticks, note);
    }
}
