using Plotly.Blazor;
using Plotly.Blazor.LayoutLib;

namespace Recs.Dashboard.Components.Charts;

/// <summary>
/// The app's look for every Plotly chart, written once: the MudBlazor theme's font and colours, legible type
/// (12 px ticks, 13 px titles), full width, Plotly's PNG button kept and its logo gone.
/// </summary>
public static class ChartTheme
{
    public const string FontFamily = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif";
    public const string TextColour = "#1b1b1b";
    public const string GridColour = "#e3e6ea";
    public const string ThinColour = "#c9ccd1";
    public const decimal TickSize = 12;
    public const decimal TitleSize = 13;

    /// <summary>Eight distinguishable colours, the app's primary blue first; up to eight overlaid versions get one each.</summary>
    public static readonly IReadOnlyList<string> Palette = ["#1f5f8b", "#e65100", "#2e7d32", "#8e24aa", "#c62828", "#00838f", "#6d4c41", "#c2185b"];

    /// <summary>The sequential scale of shares (pale to the primary blue), as Plotly's [position, colour] pairs.</summary>
    public static readonly object[] ShareScale =
    [
        new object[] { 0, "#f2f5f9" },
        new object[] { 0.5, "#7fa6c6" },
        new object[] { 1, "#123d5c" },
    ];

    public static string Colour(int index) => Palette[index % Palette.Count];

    /// <summary>A layout with the app's fonts, margins that grow to fit the labels, and a legend above the plot.</summary>
    public static Plotly.Blazor.Layout BaseLayout(int height, ChartAxis x, ChartAxis y, bool showLegend)
    {
        return new Plotly.Blazor.Layout
        {
            AutoSize = true,
            Height = height,
            Font = new Font { Family = FontFamily, Size = TickSize, Color = TextColour },
            PaperBgColor = "rgba(0,0,0,0)",
            PlotBgColor = "#ffffff",
            Margin = new Margin { L = 8, R = 8, T = showLegend ? 8 : 16, B = 8, Pad = 2, AutoExpand = true },
            ShowLegend = showLegend,
            Legend =
            [
                new Legend
                {
                    Orientation = Plotly.Blazor.LayoutLib.LegendLib.OrientationEnum.H,
                    X = 0,
                    XAnchor = Plotly.Blazor.LayoutLib.LegendLib.XAnchorEnum.Left,
                    Y = 1.02m,
                    YAnchor = Plotly.Blazor.LayoutLib.LegendLib.YAnchorEnum.Bottom,
                    Font = new Plotly.Blazor.LayoutLib.LegendLib.Font { Size = TickSize },
                },
            ],
            HoverLabel = new HoverLabel { Font = new Plotly.Blazor.LayoutLib.HoverLabelLib.Font { Family = FontFamily, Size = TitleSize } },
            XAxis = [XAxis(x)],
            YAxis = [YAxis(y)],
        };
    }

    public static XAxis XAxis(ChartAxis axis) => new()
    {
        Title = new Plotly.Blazor.LayoutLib.XAxisLib.Title { Text = axis.Title, Font = new Plotly.Blazor.LayoutLib.XAxisLib.TitleLib.Font { Size = TitleSize } },
        Type = axis.Scale switch
        {
            AxisScale.Log => Plotly.Blazor.LayoutLib.XAxisLib.TypeEnum.Log,
            AxisScale.Date => Plotly.Blazor.LayoutLib.XAxisLib.TypeEnum.Date,
            AxisScale.Category => Plotly.Blazor.LayoutLib.XAxisLib.TypeEnum.Category,
            _ => Plotly.Blazor.LayoutLib.XAxisLib.TypeEnum.Linear,
        },
        TickFormat = axis.TickFormat,
        HoverFormat = axis.HoverFormat ?? axis.TickFormat,
        TickSuffix = axis.Suffix,
        RangeMode = axis.FromZero ? Plotly.Blazor.LayoutLib.XAxisLib.RangeModeEnum.ToZero : null,
        TickLabelMode = axis.PeriodLabels ? Plotly.Blazor.LayoutLib.XAxisLib.TickLabelModeEnum.Period : null,
        TickFont = new Plotly.Blazor.LayoutLib.XAxisLib.TickFont { Size = TickSize },
        AutoMargin = Plotly.Blazor.LayoutLib.XAxisLib.AutoMarginFlag.True,
        GridColor = GridColour,
        LineColor = "#9aa1a9",
        ShowLine = true,
        ZeroLine = false,
    };

    public static YAxis YAxis(ChartAxis axis) => new()
    {
        // Plotly's own log labels are single digits between the decades ("5 4 3 2"): label 1-2-5 steps in full instead.
        DTick = axis.Scale == AxisScale.Log && axis.TickFormat is null ? "D2" : null,
        Title = new Plotly.Blazor.LayoutLib.YAxisLib.Title { Text = axis.Title, Font = new Plotly.Blazor.LayoutLib.YAxisLib.TitleLib.Font { Size = TitleSize } },
        Type = axis.Scale switch
        {
            AxisScale.Log => Plotly.Blazor.LayoutLib.YAxisLib.TypeEnum.Log,
            AxisScale.Date => Plotly.Blazor.LayoutLib.YAxisLib.TypeEnum.Date,
            AxisScale.Category => Plotly.Blazor.LayoutLib.YAxisLib.TypeEnum.Category,
            _ => Plotly.Blazor.LayoutLib.YAxisLib.TypeEnum.Linear,
        },
        TickFormat = axis.TickFormat ?? (axis.Scale == AxisScale.Log ? "~g" : null),
        HoverFormat = axis.HoverFormat ?? axis.TickFormat,
        TickSuffix = axis.Suffix,
        RangeMode = axis.FromZero ? Plotly.Blazor.LayoutLib.YAxisLib.RangeModeEnum.ToZero : null,
        TickFont = new Plotly.Blazor.LayoutLib.YAxisLib.TickFont { Size = TickSize },
        AutoMargin = Plotly.Blazor.LayoutLib.YAxisLib.AutoMarginFlag.True,
        GridColor = GridColour,
        LineColor = "#9aa1a9",
        ShowLine = true,
        ZeroLine = false,
    };

    /// <summary>Plotly's toolbar without its logo and the selection tools nobody here needs; the PNG button saves <paramref name="fileName"/>.png at twice the size.</summary>
    public static Config Config(string fileName) => new()
    {
        DisplayLogo = false,
        Responsive = true,
        ModeBarButtonsToRemove = new[] { "select2d", "lasso2d", "autoScale2d", "toggleSpikelines" },
        ToImageButtonOptions = new Dictionary<string, object> { ["format"] = "png", ["filename"] = fileName, ["scale"] = 2 },
    };

    /// <summary>Plotly reads dates as ISO text; other x values pass as they are.</summary>
    public static object PlotlyValue(object value) => value switch
    {
        DateTime d => d.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture),
        DateTimeOffset d => d.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture),
        DateOnly d => d.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
        _ => value,
    };
}
