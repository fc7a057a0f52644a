using System.Globalization;
using System.Text;

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
}
