using System.Globalization;
using System.Threading.RateLimiting;
using Recs.Services.Serving;

namespace Recs.Dashboard.Api;

/// <summary>
/// The event trackers are rate limited per client (its API key or AWS access key) with a token bucket;
/// a client over its limit gets 429 with Retry-After and a JSON message, and nothing is stored.
/// </summary>
public static class ApiRateLimits
{
    public const string EventsPolicy = "events";

    /// <summary>The client a request is counted against: its API key or AWS access key, else its address.</summary>
    public static string ClientOf(HttpContext context) =>
        context.User.FindFirst(Security.RecsClaims.ApiKeyPrefix)?.Value is { } prefix ? $"key:{prefix}"
        : context.User.FindFirst(Security.RecsClaims.AwsAccessKey)?.Value is { } access ? $"aws:{access}"
        : $"ip:{context.Connection.RemoteIpAddress}";

    private static bool IsSignInAttempt(HttpContext context) =>
        HttpMethods.IsPost(context.Request.Method) && context.Request.Path.StartsWithSegments(Security.RecsAuth.LoginPath);

    public static IServiceCollection AddApiRateLimits(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection(ApiOptions.Section).Get<ApiOptions>() ?? new ApiOptions();
        var auth = configuration.GetSection(Recs.Services.Security.AuthOptions.Section).Get<Recs.Services.Security.AuthOptions>() ?? new Recs.Services.Security.AuthOptions();
        services.AddRateLimiter(limiter =>
        {
            // Sign-in attempts per client address: the per-account lockout stops guessing one password, this stops
            // spraying one password over many accounts.
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                IsSignInAttempt(context)
                    ? RateLimitPartition.GetFixedWindowLimiter($"sign-in:{context.Connection.RemoteIpAddress}", _ => new FixedWindowRateLimiterOptions
                    {
                        PermitLimit = Math.Max(1, auth.SignInsPerMinute),
                        Window = TimeSpan.FromMinutes(1),
                        QueueLimit = 0,
                    })
                    : RateLimitPartition.GetNoLimiter("unlimited"));
            limiter.AddPolicy(EventsPolicy, context => RateLimitPartition.GetTokenBucketLimiter(
                ClientOf(context),
                _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = Math.Max(1, options.EventsBurst),
                    // Below one event a second, one token per 1/rate seconds; otherwise the rate's tokens every second.
                    TokensPerPeriod = options.EventsPerSecond >= 1 ? (int)Math.Round(options.EventsPerSecond) : 1,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(options.EventsPerSecond >= 1 ? 1 : 1 / options.EventsPerSecond),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                }));
            limiter.OnRejected = async (context, cancellationToken) =>
            {
                var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : 1;
                var response = context.HttpContext.Response;
                response.StatusCode = StatusCodes.Status429TooManyRequests;
                response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
                if (IsSignInAttempt(context.HttpContext))
                {
                    response.ContentType = "text/plain; charset=utf-8";
                    await response.WriteAsync($"Too many sign-in attempts from this address; try again in {retryAfter} s.", cancellationToken);
                    return;
                }
                var message = $"Too many events: this key may send {options.EventsPerSecond.ToString(CultureInfo.InvariantCulture)} per second (bursts of {options.EventsBurst}). Retry after {retryAfter} s; nothing was stored.";
                if (context.HttpContext.Request.Path.StartsWithSegments("/api"))
                {
                    await response.WriteAsJsonAsync(new ApiError(message), RecsApi.Json, cancellationToken);
                }
                else
                {
                    response.Headers["X-Amzn-ErrorType"] = "LimitExceededException";
                    await response.WriteAsJsonAsync(new AwsError(message), cancellationToken);
                }
            };
        });
        return services;
    }
}
