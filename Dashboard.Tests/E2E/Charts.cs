using Microsoft.Playwright;

namespace Recs.Tests.E2E;

/// <summary>Reads a Plotly chart in the page (found by its data-testid) the way a user meets it: where a point is drawn, what its hover says.</summary>
public static class Charts
{
    /// <summary>Runs <paramref name="script"/> (a function of Plotly's graph div) on the chart.</summary>
    public static Task<T> EvaluateAsync<T>(IPage page, string testId, string script) =>
        page.Locator($"[data-testid={testId}] .js-plotly-plot").First.EvaluateAsync<T>(script);

    /// <summary>Waits for the chart to be drawn and scrolls it into view.</summary>
    public static async Task WaitDrawnAsync(IPage page, string testId)
    {
        var plot = page.Locator($"[data-testid={testId}] .js-plotly-plot .main-svg").First;
        await plot.WaitForAsync();
        await plot.ScrollIntoViewIfNeededAsync();
    }

    /// <summary>The viewport position of a category heatmap's cell (row, column).</summary>
    public static async Task<(float X, float Y)> CategoryCellAsync(IPage page, string testId, int row, int column)
    {
        await WaitDrawnAsync(page, testId);
        var xy = await EvaluateAsync<float[]>(page, testId, $$"""
            gd => {
                const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
                return [box.left + xa._offset + xa.l2p({{column}}), box.top + ya._offset + ya.l2p({{row}})];
            }
            """);
        return (xy[0], xy[1]);
    }

    /// <summary>The viewport position of point <paramref name="point"/> of trace <paramref name="trace"/>.</summary>
    public static async Task<(float X, float Y)> PointAsync(IPage page, string testId, int trace, int point)
    {
        await WaitDrawnAsync(page, testId);
        var xy = await EvaluateAsync<float[]>(page, testId, $$"""
            gd => {
                const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
                const t = gd.data[{{trace}}];
                return [box.left + xa._offset + xa.l2p(xa.d2l(t.x[{{point}}])), box.top + ya._offset + ya.l2p(ya.d2l(t.y[{{point}}]))];
            }
            """);
        return (xy[0], xy[1]);
    }

    /// <summary>The text of the chart's hover label(s) once one shows.</summary>
    public static async Task<string> HoverTextAsync(IPage page, string testId)
    {
        var layer = page.Locator($"[data-testid={testId}] .hoverlayer");
        await Assertions.Expect(layer).Not.ToBeEmptyAsync();
        return await layer.TextContentAsync() ?? "";
    }

    /// <summary>The CSV the chart's "Download CSV" link holds.</summary>
    public static async Task<string> CsvAsync(IPage page, string testId)
    {
        var href = await page.Locator($"[data-testid={testId}] [data-testid=chart-csv]").GetAttributeAsync("href") ?? "";
        const string prefix = "data:text/csv;charset=utf-8,";
        Assert.StartsWith(prefix, href, StringComparison.Ordinal);
        return Uri.UnescapeDataString(href[prefix.Length..]);
    }
}
