using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Recs.Services.Models;

/// <summary>The cache tables' list format, written by batch inference and by the event tracker's refresh alike.</summary>
public static class RecommendationJson
{
    /// <summary>[{"product_id": 12, "score": 0.93}, ...] with database product ids.</summary>
    public static string Write(ReadOnlySpan<int> items, ReadOnlySpan<float> scores, long[] itemIds)
    {
        var json = new StringBuilder(items.Length * 40 + 2).Append('[');
        for (var k = 0; k < items.Length; k++)
        {
            if (k > 0) json.Append(',');
            json.Append(CultureInfo.InvariantCulture, $"{{\"product_id\":{itemIds[items[k]]},\"score\":{Math.Round(scores[k], 6).ToString("R", CultureInfo.InvariantCulture)}}}");
        }
        return json.Append(']').ToString();
    }

    /// <summary>The entries of a cached list in order: each product id and its score (null when the engine gave none).</summary>
    public static List<(long ProductId, double? Score)> Read(string json)
    {
        var list = new List<(long, double?)>();
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json));
        long? product = null;
        double? score = null;
        string? property = null;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject or JsonTokenType.StartArray when reader.CurrentDepth > 1:
                    reader.Skip(); // a nested value this reader does not need
                    break;
                case JsonTokenType.StartObject:
                    product = null;
                    score = null;
                    break;
                case JsonTokenType.PropertyName:
                    property = reader.GetString();
                    break;
                case JsonTokenType.Number when property == "product_id":
                    product = reader.GetInt64();
                    break;
                case JsonTokenType.Number when property == "score":
                    score = reader.GetDouble();
                    break;
                case JsonTokenType.EndObject when reader.CurrentDepth == 1:
                    if (product is { } id)
                        list.Add((id, score));
                    break;
            }
        }
        return list;
    }
}
