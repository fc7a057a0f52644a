using System.Globalization;
using Dapper;
using Npgsql;

namespace Recs.Services.Ingestion;

/// <summary>Missing values of one column: how many rows have none, and the share.</summary>
public sealed record MissingValues(string Table, string Column, long Missing, long Rows)
{
    public double Share => Rows == 0 ? 0 : (double)Missing / Rows;
}

public sealed record EventTypeShare(string EventType, long Count, double Share);

public sealed record MonthCount(DateTime Month, long Interactions);

/// <summary>What the pipeline checks before training: coverage, sparsity, duplicates, outliers, gaps.</summary>
public sealed record DataQualityReport(
    long Customers, long Products, long Interactions,
    long ItemsWithoutInteractions, double ItemsWithoutInteractionsShare,
    long UsersWithInteractions, long UsersWithSingleInteraction, double UsersWithSingleInteractionShare,
    long DuplicateEvents, double DuplicateEventsShare,
    long OrderLines, long OutlierQuantityLines, double OutlierQuantityThreshold, long MaxQuantity,
    IReadOnlyList<MissingValues> Missing, IReadOnlyList<EventTypeShare> EventTypes, IReadOnlyList<MonthCount> PerMonth,
    IReadOnlyList<string> Warnings, DateTime ComputedAt);

/// <summary>
/// Computes the data-quality report with a handful of aggregate queries. Rules: a duplicate event is a second
/// interaction with the same user, item, type and time; an outlier quantity is an order line whose quantity is above
/// Q3 + 3 × IQR of positive quantities (Tukey's far-out fence); warnings flag what tends to hurt training.
/// </summary>
public sealed class DataQualityService(NpgsqlDataSource dataSource, TimeProvider time, Microsoft.Extensions.Options.IOptions<Models.TrainingOptions>? training = null)
{
    private static readonly (string Table, string Column)[] OptionalColumns =
    [
        ("customers", "region"), ("customers", "city"), ("customers", "age"), ("customers", "gender"), ("customers", "segment"),
        ("products", "category"), ("products", "brand"), ("products", "price"),
        ("interactions", "event_value"),
    ];

    public async Task<DataQualityReport> ComputeAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        CommandDefinition Command(string sql) => new(sql, commandTimeout: 0, cancellationToken: cancellationToken);

        var counts = await connection.QuerySingleAsync<(long Customers, long Products, long Interactions, long OrderLines)>(Command(
            "select (select count(*) from customers), (select count(*) from products), (select count(*) from interactions), (select count(*) from order_items)"));
        var itemsWithout = await connection.ExecuteScalarAsync<long>(Command(
            "select count(*) from products p where not exists (select 1 from interactions i where i.item_id = p.id)"));
        var users = await connection.QuerySingleAsync<(long Users, long Single)>(Command(
            "select count(*), count(*) filter (where n = 1) from (select user_id, count(*) as n from interactions group by user_id) u"));
        var duplicates = await connection.ExecuteScalarAsync<long>(Command("""
            select coalesce(sum(n - 1), 0)::bigint from (
                select count(*) as n from interactions group by user_id, item_id, event_type, occurred_at having count(*) > 1) d
            """));
        var quantities = await connection.QuerySingleAsync<(double? Q1, double? Q3, long? Max)>(Command(
            "select percentile_cont(0.25) within group (order by quantity), percentile_cont(0.75) within group (order by quantity), max(quantity)::bigint from order_items where quantity > 0"));
        var threshold = quantities.Q3 is { } q3 && quantities.Q1 is { } q1 ? q3 + 3 * (q3 - q1) : 0;
        var outliers = quantities.Q3 is null ? 0 : await connection.ExecuteScalarAsync<long>(Command($"select count(*) from order_items where quantity > {threshold.ToString(System.Globalization.CultureInfo.InvariantCulture)}"));

        var missing = new List<MissingValues>();
        foreach (var (table, column) in OptionalColumns)
        {
            var row = await connection.QuerySingleAsync<(long Missing, long Rows)>(Command($"select count(*) filter (where {column} is null), count(*) from {table}"));
            missing.Add(new MissingValues(table, column, row.Missing, row.Rows));
        }
        var types = (await connection.QueryAsync<(string Type, long Count)>(Command(
            "select event_type, count(*) from interactions group by event_type order by count(*) desc"))).ToList();
        var total = Math.Max(1, types.Sum(t => t.Count));
        var perMonth = (await connection.QueryAsync<(DateTime Month, long Count)>(Command(
            "select date_trunc('month', occurred_at at time zone 'UTC'), count(*) from interactions group by 1 order by 1"))).ToList();

        var report = new DataQualityReport(
            counts.Customers, counts.Products, counts.Interactions,
            itemsWithout, Share(itemsWithout, counts.Products),
            users.Users, users.Single, Share(users.Single, users.Users),
            duplicates, Share(duplicates, counts.Interactions),
            counts.OrderLines, outliers, Math.Round(threshold, 2), quantities.Max ?? 0,
            missing, types.Select(t => new EventTypeShare(t.Type, t.Count, (double)t.Count / total)).ToList(),
            perMonth.Select(m => new MonthCount(DateTime.SpecifyKind(m.Month, DateTimeKind.Utc), m.Count)).ToList(),
            [], time.GetUtcNow().UtcDateTime);
        var weights = training?.Value.EventWeights ?? new Models.TrainingOptions().EventWeights;
        return report with { Warnings = Warnings(report, weights) };
    }

    private static double Share(long part, long whole) => whole == 0 ? 0 : (double)part / whole;

    /// <summary>Plain-language flags for what tends to hurt training.</summary>
    public static IReadOnlyList<string> Warnings(DataQualityReport r, IReadOnlyDictionary<string, float> eventWeights)
    {
        var warnings = new List<string>();
        var unused = r.EventTypes.Where(t => eventWeights.GetValueOrDefault(t.EventType) <= 0).ToList();
        if (unused.Count > 0)
            warnings.Add(string.Create(CultureInfo.InvariantCulture, $"Event types training ignores (no weight in Training:EventWeights): {string.Join(", ", unused.Select(t => $"{t.EventType} ({t.Count:N0})"))}. Set Training:EventWeights:<type> to use them."));
        if (r.Interactions == 0)
            warnings.Add("There are no interactions: nothing to train on. Import data or load the demo data.");
        if (r.ItemsWithoutInteractionsShare > 0.2)
            warnings.Add(string.Create(CultureInfo.InvariantCulture, $"{r.ItemsWithoutInteractionsShare:P0} of products have no interactions: models cannot recommend them except by similarity of attributes."));
        if (r.UsersWithSingleInteractionShare > 0.3)
            warnings.Add(string.Create(CultureInfo.InvariantCulture, $"{r.UsersWithSingleInteractionShare:P0} of users with history have a single interaction: personalisation for them will be close to popularity."));
        if (r.DuplicateEventsShare > 0.01)
            warnings.Add(string.Create(CultureInfo.InvariantCulture, $"{r.DuplicateEventsShare:P1} of interactions duplicate another (same user, item, type and time)."));
        if (r.OrderLines > 0 && (double)r.OutlierQuantityLines / r.OrderLines > 0.01)
            warnings.Add(string.Create(CultureInfo.InvariantCulture, $"{r.OutlierQuantityLines:N0} order lines have quantities above {r.OutlierQuantityThreshold:N0} (far outliers)."));
        if (r.PerMonth.Count >= 3)
        {
            var median = r.PerMonth.Select(m => m.Interactions).Order().ElementAt(r.PerMonth.Count / 2);
            var gaps = r.PerMonth.Where(m => m.Interactions < median / 10).Select(m => m.Month.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture)).ToList();
            if (gaps.Count > 0)
                warnings.Add(string.Create(CultureInfo.InvariantCulture, $"Months with under a tenth of the median activity: {string.Join(", ", gaps)} (a gap or a partial month)."));
        }
        return warnings;
    }
}
