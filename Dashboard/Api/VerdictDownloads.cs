using Recs.Services.Verdicts;

namespace Recs.Dashboard.Api;

/// <summary>The Verdicts page's download: the verdicts its filters select, as CSV, with the dashboard's sign-in (the fallback policy).</summary>
public static class VerdictDownloads
{
    public static IEndpointRouteBuilder MapVerdictDownloads(this IEndpointRouteBuilder app)
    {
        app.MapGet("/verdicts.csv", async (VerdictService verdicts, string? verdict, string? who, string? version, string? kind, string? q, CancellationToken ct) =>
        {
            try
            {
                var filter = new VerdictFilter(Blank(verdict), Blank(who), Blank(version), Blank(kind), Blank(q));
                var csv = await verdicts.CsvAsync(filter, ct);
                return Results.File(System.Text.Encoding.UTF8.GetBytes(csv), "text/csv", FileName(filter));
            }
            catch (ArgumentException e)
            {
                return Results.BadRequest(new { error = e.Message });
            }
        });
        return app;
    }

    private static string FileName(VerdictFilter filter)
    {
        var name = $"verdicts{(filter.Verdict is { } v ? "-" + v : "")}{(filter.Version is { } n ? "-" + n : "")}";
        return new string(name.Where(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-').ToArray()) + ".csv";
    }

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
