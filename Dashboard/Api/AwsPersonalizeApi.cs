using System.Text.Json;
using Recs.Services.Serving;

namespace Recs.Dashboard.Api;

public sealed record AwsGetRecommendationsRequest(string? CampaignArn, string? RecommenderArn, string? UserId, string? ItemId, int? NumResults, string? FilterArn);

public sealed record AwsGetPersonalizedRankingRequest(string? CampaignArn, IReadOnlyList<string>? InputList, string? UserId, string? FilterArn);

public sealed record AwsEvent(string? EventId, string? EventType, float? EventValue, string? ItemId, string? Properties, double? SentAt, string? RecommendationId,
    IReadOnlyList<string>? Impression = null);

public sealed record AwsPutEventsRequest(string? TrackingId, string? UserId, string? SessionId, IReadOnlyList<AwsEvent>? EventList);

public sealed record AwsPredictedItem(string ItemId, double? Score);

public sealed record AwsError(string Message);

/// <summary>
/// The AWS Personalize wire protocol (restJson1) for GetRecommendations and GetPersonalizedRanking (Personalize
/// Runtime) and PutEvents (Personalize Events), so an application built on the AWS SDK can set its endpoint to Recs.
/// Campaign, recommender, filter and tracking ARNs are accepted and ignored: Recs serves its campaigns' versions. Every
/// answer's recommendationId names it in the answer log; PutEvents' recommendationId and impression attribute events to it. Errors
/// carry the AWS error type in the X-Amzn-ErrorType header and {"message"} in the body, as the SDKs expect.
/// </summary>
public static class AwsPersonalizeApi
{
    public const int DefaultNumResults = 25;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static WebApplication MapAwsPersonalizeApi(this WebApplication app)
    {
        var aws = app.MapGroup("").WithTags("AWS Personalize compatible").AddEndpointFilter(async (context, next) =>
        {
            try
            {
                return await next(context);
            }
            catch (Exception e) when (RecsApi.Map(e) is { } error)
            {
                if (error.Status >= 500)
                    RecsApi.LogUnavailable(context.HttpContext, e);
                var type = error.Status switch
                {
                    404 => "ResourceNotFoundException",
                    413 or 415 or 400 => "InvalidInputException",
                    _ => "ServiceUnavailableException",
                };
                context.HttpContext.Response.Headers["X-Amzn-ErrorType"] = type;
                return Results.Json(new AwsError(error.Message), Json, statusCode: error.Status);
            }
        });

        aws.RequireAuthorization(Security.RecsPolicies.AwsSigned);

        aws.MapPost("/recommendations", async (HttpRequest request, RecommendationService service, CancellationToken ct) =>
            {
                var body = await RecsApi.ReadBodyAsync<AwsGetRecommendationsRequest>(request, ct, Json);
                var count = body.NumResults ?? DefaultNumResults;
                IEnumerable<RecommendedItem> items;
                string? recommendationId;
                if (body.ItemId is { } itemId)
                {
                    var similar = await service.SimilarAsync(itemId, count, ct, body.UserId);
                    (items, recommendationId) = (similar.Items, similar.RecommendationId);
                }
                else if (body.UserId is { } userId)
                {
                    var recommended = await service.ForUserAsync(userId, count, null, ct);
                    (items, recommendationId) = (recommended.Items, recommended.RecommendationId);
                }
                else
                    throw ServingException.BadRequest("Give userId (user personalization) or itemId (related items).");
                return Results.Json(new { itemList = items.Select(i => new AwsPredictedItem(i.ItemId, i.Source == "popularity" ? null : i.Score)), recommendationId }, Json);
            })
            .WithName("AwsGetRecommendations").WithSummary("Personalize Runtime GetRecommendations (POST /recommendations).")
            .Accepts<AwsGetRecommendationsRequest>("application/json");

        aws.MapPost("/personalize-ranking", async (HttpRequest request, RecommendationService service, CancellationToken ct) =>
            {
                var body = await RecsApi.ReadBodyAsync<AwsGetPersonalizedRankingRequest>(request, ct, Json);
                var ranked = await service.RankAsync(
                    body.UserId ?? throw ServingException.BadRequest("userId is required."),
                    body.InputList ?? throw ServingException.BadRequest("inputList is required."), ct);
                return Results.Json(new { personalizedRanking = ranked.Items.Select(i => new AwsPredictedItem(i.ItemId, i.Source == "popularity" ? null : i.Score)), recommendationId = ranked.RecommendationId }, Json);
            })
            .WithName("AwsGetPersonalizedRanking").WithSummary("Personalize Runtime GetPersonalizedRanking (POST /personalize-ranking).")
            .Accepts<AwsGetPersonalizedRankingRequest>("application/json");

        aws.MapPost("/events", async (HttpRequest request, EventTracker service, CancellationToken ct) =>
            {
                var body = await RecsApi.ReadBodyAsync<AwsPutEventsRequest>(request, ct, Json);
                if (string.IsNullOrEmpty(body.SessionId))
                    throw ServingException.BadRequest("sessionId is required.");
                var events = (body.EventList ?? throw ServingException.BadRequest("eventList is required.")).Select(e => new TrackedEvent(
                    e.ItemId ?? throw ServingException.BadRequest("Each event needs itemId: Recs tracks item interactions."),
                    e.EventType ?? throw ServingException.BadRequest("Each event needs eventType."),
                    e.EventValue,
                    e.SentAt is { } s && double.IsFinite(s) && s is >= 0 and < 32_503_680_000 ? DateTime.UnixEpoch.AddSeconds(s) : throw ServingException.BadRequest("Each event needs sentAt (epoch seconds)."),
                    e.Properties, e.RecommendationId, e.Impression)).ToList();
                // Personalize allows anonymous sessions: the session stands in for the user until they sign in.
                await service.TrackAsync(body.UserId ?? $"session:{body.SessionId}", events, body.SessionId, ct);
                return Results.Json(new { }, Json);
            })
            .RequireRateLimiting(ApiRateLimits.EventsPolicy)
            .WithName("AwsPutEvents").WithSummary("Personalize Events PutEvents (POST /events): stores events and refreshes the user's recommendations.")
            .Accepts<AwsPutEventsRequest>("application/json");
        return app;
    }
}
