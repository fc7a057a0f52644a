using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Npgsql;
using Recs.Services.Analytics;
using Recs.Services.Models;
using Recs.Services.Serving;

namespace Recs.Dashboard.Api;

/// <summary>An error as the REST API returns it.</summary>
public sealed record ApiError(string Error);

public sealed record RankRequest(IReadOnlyList<string>? ItemIds);

public sealed record EventInput(string? ItemId, string? EventType, float? EventValue, DateTimeOffset? SentAt, string? Properties,
    string? RecommendationId = null, IReadOnlyList<string>? Impression = null);

public sealed record EventsRequest(string? UserId, string? SessionId, IReadOnlyList<EventInput>? Events);

/// <summary>
/// The REST API under /api/v1, answering from the cache tables (see <see cref="RecommendationService"/>). Every
/// error is JSON {"error": "..."} with a 4xx status (503 while the database is unreachable), never a 500.
/// </summary>
public static class RecsApi
{
    /// <summary>Request bodies larger than this are refused with 413.</summary>
    public const int MaxBodyBytes = 256 * 1024;

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static WebApplication MapRecsApi(this WebApplication app)
    {
        var api = app.MapGroup("/api/v1").WithTags("Recommendations").AddEndpointFilter(async (context, next) =>
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                var result = await next(context);
                // Server-Timing: how long the answer took inside the app (browsers' dev tools and curl -v show it).
                context.HttpContext.Response.Headers["Server-Timing"] = $"app;dur={System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds.ToString("F2", CultureInfo.InvariantCulture)}";
                return result;
            }
            catch (Exception e) when (Map(e) is { } error)
            {
                if (error.Status >= 500)
                    LogUnavailable(context.HttpContext, e);
                return Results.Json(new ApiError(error.Message), Json, statusCode: error.Status);
            }
        });

        api.RequireAuthorization(Security.RecsPolicies.ApiRead);

        api.MapGet("/users/{userId}/recommendations", async (string userId, string? count, string? category, RecommendationService service, CancellationToken ct) =>
                Results.Json(await service.ForUserAsync(userId, ParseCount(count), string.IsNullOrWhiteSpace(category) ? null : category, ct), Json))
            .WithName("GetRecommendations")
            .WithSummary("Cached recommendations for a user; popularity (fallback: true) for a user the cache does not know.")
            .Produces<UserRecommendations>().Produces<ApiError>(400);

        api.MapGet("/items/{itemId}/similar", async (string itemId, string? count, RecommendationService service, CancellationToken ct) =>
                Results.Json(await service.SimilarAsync(itemId, ParseCount(count), ct), Json))
            .WithName("GetSimilarItems")
            .WithSummary("Items similar to a product, from the cache; 404 for an unknown product.")
            .Produces<SimilarItems>().Produces<ApiError>(400).Produces<ApiError>(404);

        api.MapPost("/users/{userId}/ranking", async (string userId, HttpRequest request, RecommendationService service, CancellationToken ct) =>
            {
                var body = await ReadBodyAsync<RankRequest>(request, ct);
                return Results.Json(await service.RankAsync(userId, body.ItemIds ?? throw ServingException.BadRequest("item_ids is required."), ct), Json);
            })
            .WithName("GetPersonalizedRanking")
            .WithSummary("The given items re-ordered for the user, best first; 404 if any item is unknown.")
            .Accepts<RankRequest>("application/json")
            .Produces<RankedItems>().Produces<ApiError>(400).Produces<ApiError>(404);

        api.MapPost("/events", async (HttpRequest request, EventTracker service, CancellationToken ct) =>
            {
                var body = await ReadBodyAsync<EventsRequest>(request, ct);
                var events = (body.Events ?? throw ServingException.BadRequest("events is required.")).Select(ToTracked).ToList();
                return Results.Json(await service.TrackAsync(body.UserId ?? throw ServingException.BadRequest("user_id is required."), events, body.SessionId, ct), Json);
            })
            .RequireRateLimiting(ApiRateLimits.EventsPolicy)
            .RequireAuthorization(Security.RecsPolicies.ApiWrite)
            .WithName("PutEvents")
            .WithSummary("Records up to 10 events for a user and refreshes their cached recommendations at once (ALS fold-in).")
            .Accepts<EventsRequest>("application/json")
            .Produces<TrackResult>().Produces<ApiError>(400).Produces<ApiError>(404).Produces<ApiError>(413).Produces<ApiError>(429);

        api.MapGet("/recommendations/{recommendationId}", async (string recommendationId, RecommendationLog log, CancellationToken ct) =>
                Results.Json(await log.AttributionAsync(recommendationId, ct)
                    ?? throw ServingException.NotFound($"Unknown recommendation id '{Truncate(recommendationId)}': not one this server gave, or older than the log keeps."), Json))
            .WithName("GetRecommendationAttribution")
            .WithSummary("What an answer showed (user, campaign, version, arm, items, time) and what the events naming it did: items clicked, purchases in the window.")
            .Produces<AnswerAttribution>().Produces<ApiError>(404);

        api.MapGet("/experiments", async (ExperimentRegistry experiments, CancellationToken ct) =>
                Results.Json((await experiments.ListAsync(ct)).Select(ExperimentJson.Summary), Json))
            .WithName("ListExperiments")
            .WithSummary("Every experiment, newest first.");

        api.MapGet("/experiments/{campaign}", async (string campaign, ExperimentReportService reports, RecommendationLog log, CancellationToken ct) =>
            {
                if (!Campaigns.All.Contains(campaign))
                    throw ServingException.NotFound($"There is no campaign '{Truncate(campaign)}'; the campaigns are {string.Join(", ", Campaigns.All)}.");
                await log.FlushAsync(ct);
                return Results.Json(ExperimentJson.Show(campaign, await reports.ForCampaignAsync(campaign, ct)), Json);
            })
            .WithName("GetExperimentReport")
            .WithSummary("The campaign's running (else latest) experiment: per arm users, impressions, CTR, conversions, revenue per user with 95 % intervals, and the p-value.")
            .Produces<ApiError>(404);

        return app;
    }

    /// <summary>
    /// API paths answer routing's own refusals (no such endpoint, wrong method, wrong content type) with the same
    /// JSON error as everything else, instead of the dashboard's HTML "not found" page.
    /// </summary>
    public static IApplicationBuilder UseApiStatusCodes(this IApplicationBuilder app) =>
        app.UseWhen(context => IsApiPath(context.Request.Path), api => api.UseStatusCodePages(async context =>
        {
            var http = context.HttpContext;
            var request = http.Request;
            var message = http.Response.StatusCode switch
            {
                404 => $"No API endpoint {request.Method} {request.Path}. See /openapi/v1.json.",
                405 => $"{request.Method} is not allowed on {request.Path}. See /openapi/v1.json.",
                415 => $"Send the body as application/json, not {request.ContentType ?? "nothing"}.",
                var status => $"The request failed with status {status}.",
            };
            await http.Response.WriteAsJsonAsync(new ApiError(message), Json);
        }));

    public static bool IsApiPath(PathString path) =>
        path.StartsWithSegments("/api") || path == "/recommendations" || path == "/personalize-ranking" || path == "/events";

    private static TrackedEvent ToTracked(EventInput e) =>
        new(e.ItemId ?? throw ServingException.BadRequest("each event needs item_id."),
            e.EventType ?? throw ServingException.BadRequest("each event needs event_type."),
            e.EventValue, e.SentAt?.UtcDateTime, e.Properties, e.RecommendationId, e.Impression);

    /// <summary>A 503 says little to the client on purpose; the log says why.</summary>
    public static void LogUnavailable(HttpContext context, Exception e) =>
        context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Recs.Api")
            .LogWarning("{Method} {Path} answered 503: {Type}: {Message}", context.Request.Method, context.Request.Path, e.GetType().Name, e.Message);

    /// <summary>An exception's status and message for an API client, or null for a real fault (which is logged as one).</summary>
    public static (int Status, string Message)? Map(Exception e) => e switch
    {
        ServingException s => (s.Status, s.Message),
        BadHttpRequestException b => (b.StatusCode, b.Message),
        NpgsqlException or TimeoutException => (503, "The database is not reachable right now; try again shortly."),
        OperationCanceledException => (499, "The request was cancelled."),
        _ => null,
    };

    public static int ParseCount(string? count)
    {
        if (count is null)
            return 10;
        return int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw ServingException.BadRequest($"count must be a whole number between 1 and {RecommendationService.MaxCount}, not '{Truncate(count)}'.");
    }

    private static string Truncate(string s) => s.Length > 40 ? s[..40] + "…" : s;

    /// <summary>Reads a JSON body of at most <see cref="MaxBodyBytes"/>, with a message naming what is wrong.</summary>
    public static async Task<T> ReadBodyAsync<T>(HttpRequest request, CancellationToken cancellationToken, JsonSerializerOptions? options = null)
    {
        if (request.ContentLength > MaxBodyBytes)
            throw new ServingException(413, $"The body is larger than {MaxBodyBytes / 1024} KB.");
        if (request.ContentType is { } type && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) && !type.StartsWith("application/x-amz-json", StringComparison.OrdinalIgnoreCase))
            throw new ServingException(415, $"Send the body as application/json, not {Truncate(type)}.");
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
                throw new ServingException(413, $"The body is larger than {MaxBodyBytes / 1024} KB.");
            buffer.Write(chunk, 0, read);
        }
        if (buffer.Length == 0)
            throw ServingException.BadRequest("The request needs a JSON body.");
        try
        {
            return JsonSerializer.Deserialize<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), options ?? Json)
                ?? throw ServingException.BadRequest("The body is JSON null; send an object.");
        }
        catch (JsonException e)
        {
            throw ServingException.BadRequest($"The body is not the JSON this endpoint takes: {e.Message}");
        }
    }
}
