using System.Text.Json.Serialization;

namespace Recs.Services.Serving;

/// <summary>A request the API cannot answer as asked: 400 (bad input) or 404 (an unknown item), with a message.</summary>
public sealed class ServingException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;

    public static ServingException BadRequest(string message) => new(400, message);

    public static ServingException NotFound(string message) => new(404, message);
}

/// <summary>
/// One recommended or ranked item. Source says where it came from: the model's cache, fold-in, or popularity.
/// ProductId is the database id, kept for the answer log and not shown to clients.
/// </summary>
public sealed record RecommendedItem(string ItemId, double? Score, string? Name, string? Category, string Source, [property: JsonIgnore] long ProductId = 0);

/// <summary>
/// Recommendations for a user; Fallback is true when they are popularity picks, not the model's. RecommendationId
/// names this answer in the log (events that carry it are attributed to it).
/// </summary>
public sealed record UserRecommendations(string UserId, string? ModelVersion, bool Fallback, string? FallbackReason, DateTime? UpdatedAt, IReadOnlyList<RecommendedItem> Items)
{
    public string? RecommendationId { get; init; }
}

public sealed record SimilarItems(string ItemId, string? ModelVersion, DateTime? UpdatedAt, IReadOnlyList<RecommendedItem> Items)
{
    public string? RecommendationId { get; init; }
}

public sealed record RankedItems(string UserId, string? ModelVersion, bool Fallback, string? FallbackReason, IReadOnlyList<RecommendedItem> Items)
{
    public string? RecommendationId { get; init; }
}

/// <summary>
/// One tracked event. SentAt defaults to now. RecommendationId names the answer it came from and Impression the
/// items the shop showed of it (both optional, for attribution).
/// </summary>
public sealed record TrackedEvent(string ItemId, string EventType, float? EventValue = null, DateTime? SentAt = null, string? Properties = null,
    string? RecommendationId = null, IReadOnlyList<string>? Impression = null);

/// <summary>What tracking did: events stored, and whether the user's cached recommendations were refreshed by fold-in.</summary>
public sealed record TrackResult(string UserId, int Stored, int AlreadyStored, bool Refreshed, string? ModelVersion, string? NotRefreshedReason, double Milliseconds);
