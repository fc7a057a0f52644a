namespace Recs.Dashboard.Components.Charts;

/// <summary>How an axis maps values: plain numbers, powers of ten, calendar time or named categories.</summary>
public enum AxisScale
{
    Linear,
    Log,
    Date,
    Category,
}

/// <summary>One axis: its title (with the unit in it, e.g. "Training date (UTC)") and how to read and print its values.</summary>
/// <param name="Title">Shown beside the axis; say the unit here.</param>
/// <param name="Scale">Linear, log, date or category.</param>
public sealed record ChartAxis(string Title, AxisScale Scale = AxisScale.Linear)
{
    /// <summary>A d3 format for the tick labels (".2f", ".0%", "%b %Y"); Plotly chooses when null.</summary>
    public string? TickFormat { get; init; }

    /// <summary>A d3 format for the value in hover labels and CSV-like exactness (".4f"); falls back to <see cref="TickFormat"/>.</summary>
    public string? HoverFormat { get; init; }

    /// <summary>Text after each tick label, e.g. " %".</summary>
    public string? Suffix { get; init; }

    /// <summary>Start a linear axis at zero (counts, shares) rather than at the data's minimum.</summary>
    public bool FromZero { get; init; }

    /// <summary>On a date axis, print each label in the middle of its period (a month under its bar), not at its start.</summary>
    public bool PeriodLabels { get; init; }
}

/// <summary>How a series of points is drawn.</summary>
public enum XyMode
{
    LinesAndMarkers,
    Lines,
    Markers,
}

/// <summary>One point of a line or scatter series.</summary>
/// <param name="X">A number, a <see cref="DateTime"/> (UTC) or a category name.</param>
/// <param name="Y">The value; null leaves a gap.</param>
public sealed record XyPoint(object X, double? Y)
{
    /// <summary>An extra line in the hover label (why a point is hollow, what a trial tried, ...).</summary>
    public string? Note { get; init; }

    /// <summary>Drawn as an open circle: not comparable with the filled ones (say why in <see cref="Note"/>).</summary>
    public bool Hollow { get; init; }

    /// <summary>Drawn as a large star: the point that matters (the best epoch, the chosen trial).</summary>
    public bool Highlight { get; init; }

    /// <summary>Where a click on the point goes (a relative URL), if anywhere.</summary>
    public string? Link { get; init; }
}

/// <summary>A named series of points: one line of a line chart, one colour of a scatter chart.</summary>
public sealed record XySeries(string Name, IReadOnlyList<XyPoint> Points)
{
    /// <summary>A CSS colour; the palette's next one when null.</summary>
    public string? Colour { get; init; }

    /// <summary>A dashed line: a baseline or a validation curve beside its solid training curve.</summary>
    public bool Dashed { get; init; }

    public XyMode Mode { get; init; } = XyMode.LinesAndMarkers;

    /// <summary>Series with the same group share one legend entry's toggle (e.g. train and validation of one version).</summary>
    public string? Group { get; init; }

    public bool ShowInLegend { get; init; } = true;

    /// <summary>Drawn pale, without hover or legend: the raw values behind a smoothed line.</summary>
    public bool Faint { get; init; }
}

/// <summary>One bar: its category or number on the x axis and its height.</summary>
public sealed record BarPoint(object X, double Y)
{
    /// <summary>An extra line in the hover label.</summary>
    public string? Note { get; init; }
}

/// <summary>A named series of bars; several series are grouped or stacked.</summary>
public sealed record BarSeries(string Name, IReadOnlyList<BarPoint> Points)
{
    public string? Colour { get; init; }
}

/// <summary>One cell of a heatmap, addressed by its column and row labels.</summary>
/// <param name="Column">The x label (e.g. a region).</param>
/// <param name="Row">The y label (e.g. a product).</param>
/// <param name="Value">The coloured value, in the chart's value unit; null for no data.</param>
public sealed record HeatmapCell(string Column, string Row, double? Value)
{
    /// <summary>Too little data to trust: drawn grey instead of coloured, and said so on hover.</summary>
    public bool Thin { get; init; }

    /// <summary>Named figures shown on hover and written as extra CSV columns, in this order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Details { get; init; } = [];
}

/// <summary>What a click on a chart hit: the series (trace) and point, or for a heatmap the row and column.</summary>
public sealed record ChartClick(int Trace, int? Point, int? Row, int? Column);

/// <summary>One slice of a donut: a label and its count (shares are computed from the counts).</summary>
public sealed record ShareSlice(string Label, double Value);
