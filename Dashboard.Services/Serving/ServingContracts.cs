namespace Recs.Services.Serving;

/// <summary>A request the API cannot answer as asked: 400 (bad input) or 404 (an unknown item), with a message.</summary>
public sealed class ServingException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;

    public static ServingException BadRequest(string message) => new(400, message);

    public static ServingException NotFound(string message) => new(404, message);
}

/// <summary>One recommended or ranked item. Source says where it came from: the model's cache, fold-in, or popularity.</summary>
public sealed record RecommendedItem(string ItemId, double? Score, string? Name, string? Category, string Source);

/// <summary>Recommendations for a user; Fallback is true when they are popularity picks, not the model's.</summary>
public sealed record UserRecommendations(string UserId, string? ModelVersion, bool Fallback, string? FallbackReason, DateTime? UpdatedAt, IReadOnlyList<RecommendedItem> Items);

public sealed record SimilarItems(string ItemId, string? ModelVersion, DateTime? UpdatedAt, IReadOnlyList<RecommendedItem> Items);

public sealed record RankedItems(string UserId, string? ModelVersion, bool Fallback, string? FallbackReason, IReadOnlyList<RecommendedItem> Items);

/// <summary>One tracked event. SentAt defaults to now.</summary>
public sealed record TrackedEvent(string ItemId, string EventType, float? EventValue = null, DateTime? SentAt = null, string? Properties = null);

/// <summary>What tracking did: events stored, and whether the user's cached recommendations were refreshed by fold-in.</summary>
public sealed record TrackResult(string UserId, int Stored, int AlreadyStored, bool Refreshed, string? ModelVersion, string? NotRefreshedReason, double Milliseconds);
