using System.Globalization;
using Recs.Services.Engine;

namespace Recs.Services.Ingestion;

/// <summary>Counts of what reading the Online Retail file kept and dropped, by reason.</summary>
public sealed record OnlineRetailCounts(
    long Rows, long Purchases, long Returns, long NoCustomer, long Duplicates, long NonProduct, long ZeroOrNegativePrice);

/// <summary>Purchases from the UCI Online Retail export, with each customer's country and each product's description.</summary>
public sealed record OnlineRetailPurchases(LoadedInteractions Interactions, string[] CountryOfUser, string[] DescriptionOfItem, OnlineRetailCounts Counts);

/// <summary>
/// Reads the UCI Online Retail CSV (InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice,
/// CustomerID, Country) into purchase interactions. Rules: exact duplicate rows are dropped; cancellations
/// (invoices starting with C) and negative quantities are returns, not purchases; rows without CustomerID are
/// left out of user data; codes that are not products (postage, fees, manual adjustments, samples, vouchers)
/// are left out of the catalogue; zero or negative prices are not purchases. Each purchase weighs 1.
/// </summary>
public static class OnlineRetailFile
{
    private static readonly HashSet<string> NonProductCodes =
        new(["POST", "DOT", "M", "C2", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS", "B"], StringComparer.OrdinalIgnoreCase);

    /// <summary>True for stock codes that are charges or adjustments rather than products.</summary>
    public static bool IsNonProduct(string stockCode) =>
        NonProductCodes.Contains(stockCode) || stockCode.StartsWith("gift_", StringComparison.OrdinalIgnoreCase);

    public static OnlineRetailPurchases ReadPurchases(string path)
    {
        using var csv = CsvRecords.Open(path);
        var header = csv.Next() ?? throw new InputFileException("the file is empty");
        string[] expected = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"];
        var column = expected.ToDictionary(name => name, name =>
        {
            var i = header.FindIndex(h => h.Trim().Equals(name, StringComparison.OrdinalIgnoreCase));
            return i >= 0 ? i : throw new InputFileException($"missing required column {name}", 1);
        });

        var seen = new HashSet<string>();
        var userIndex = new Dictionary<string, int>();
        var itemIndex = new Dictionary<string, int>();
        var countries = new List<string>();
        var descriptions = new List<string>();
        var users = new List<int>();
        var items = new List<int>();
        var times = new List<long>();
        long rows = 0, purchases = 0, returns = 0, noCustomer = 0, duplicates = 0, nonProduct = 0, badPrice = 0;
        while (csv.Next() is { } row)
        {
            rows++;
            if (row.Count != header.Count)
                throw new InputFileException($"expected {header.Count} fields, found {row.Count}", csv.RecordLine);
            if (!seen.Add(string.Join('\u001F', row)))
            {
                duplicates++;
                continue;
            }
            var invoice = row[column["InvoiceNo"]];
            if (!int.TryParse(row[column["Quantity"]], NumberStyles.Integer, CultureInfo.InvariantCulture, out var quantity))
                throw new InputFileException($"Quantity '{row[column["Quantity"]]}' is not a whole number", csv.RecordLine);
            if (invoice.StartsWith('C') || quantity <= 0)
            {
                returns++;
                continue;
            }
            var customer = row[column["CustomerID"]].Trim();
            if (customer.Length == 0)
            {
                noCustomer++;
                continue;
            }
            var code = row[column["StockCode"]].Trim();
            if (IsNonProduct(code))
            {
                nonProduct++;
                continue;
            }
            if (!decimal.TryParse(row[column["UnitPrice"]], NumberStyles.Number, CultureInfo.InvariantCulture, out var price))
                throw new InputFileException($"UnitPrice '{row[column["UnitPrice"]]}' is not a number", csv.RecordLine);
            if (price <= 0)
            {
                badPrice++;
                continue;
            }
            if (!DateTime.TryParse(row[column["InvoiceDate"]], CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var at))
                throw new InputFileException($"InvoiceDate '{row[column["InvoiceDate"]]}' is not a date", csv.RecordLine);

            // CustomerID is written as a float ("17850.0").
            customer = customer.EndsWith(".0", StringComparison.Ordinal) ? customer[..^2] : customer;
            if (!userIndex.TryGetValue(customer, out var u))
            {
                userIndex[customer] = u = userIndex.Count;
                countries.Add(row[column["Country"]].Trim());
            }
            if (!itemIndex.TryGetValue(code, out var i))
            {
                itemIndex[code] = i = itemIndex.Count;
                descriptions.Add(row[column["Description"]].Trim());
            }
            else if (descriptions[i].Length == 0)
            {
                descriptions[i] = row[column["Description"]].Trim();
            }
            users.Add(u);
            items.Add(i);
            times.Add(new DateTimeOffset(at, TimeSpan.Zero).ToUnixTimeSeconds());
            purchases++;
        }

        var set = new InteractionSet(userIndex.Count, itemIndex.Count, users.ToArray(), items.ToArray(),
            Enumerable.Repeat(1f, users.Count).ToArray(), times.ToArray());
        var userIds = new string[userIndex.Count];
        foreach (var (id, k) in userIndex) userIds[k] = id;
        var itemIds = new string[itemIndex.Count];
        foreach (var (id, k) in itemIndex) itemIds[k] = id;
        var loaded = new LoadedInteractions(set, userIds, itemIds, new Dictionary<string, long> { ["purchase"] = purchases });
        return new OnlineRetailPurchases(loaded, countries.ToArray(), descriptions.ToArray(),
            new OnlineRetailCounts(rows, purchases, returns, noCustomer, duplicates, nonProduct, badPrice));
    }
}
