using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Npgsql;
using Recs.Dashboard.Api;
using Recs.Services.Security;

namespace Recs.Dashboard.Security;

/// <summary>
/// The REST API's keys: "X-Api-Key: recs_…" or "Authorization: Bearer recs_…". No key → 401, a read key on the
/// event tracker → 403, each with a JSON message saying what to send.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiKeyService keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string HeaderName = "X-Api-Key";

    private string? _failure;

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? presented = Request.Headers[HeaderName];
        if (string.IsNullOrEmpty(presented) && Request.Headers.Authorization.ToString() is { } authorization
            && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            presented = authorization[7..].Trim();
        if (string.IsNullOrEmpty(presented))
        {
            _failure = $"This endpoint needs an API key: send it in the {HeaderName} header. Admins create keys on the dashboard's API keys page.";
            return AuthenticateResult.NoResult();
        }
        ApiKey? key;
        try
        {
            key = await keys.ValidateAsync(presented, Context.RequestAborted);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            RecsApi.LogUnavailable(Context, e);
            _failure = "unavailable";
            return AuthenticateResult.Fail("The database is not reachable.");
        }
        if (key is null)
        {
            _failure = "The API key is unknown or has been revoked.";
            return AuthenticateResult.Fail(_failure);
        }
        var identity = new ClaimsIdentity(
        [
            new Claim(ClaimTypes.Name, $"api-key:{key.Name}"),
            new Claim(RecsClaims.ApiKeyPrefix, key.Prefix),
            new Claim(RecsClaims.Scope, key.Scope),
        ], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties) =>
        _failure == "unavailable"
            ? WriteAsync(503, "The database is not reachable right now; try again shortly.")
            : WriteAsync(401, _failure ?? "This endpoint needs an API key.");

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        WriteAsync(403, "This API key has read scope; the event tracker needs a key with write scope.");

    private Task WriteAsync(int status, string message)
    {
        Response.StatusCode = status;
        if (status == 401)
            Response.Headers.WWWAuthenticate = $"ApiKey header=\"{HeaderName}\"";
        return Response.WriteAsJsonAsync(new ApiError(message), RecsApi.Json);
    }
}

/// <summary>
/// The AWS-compatible endpoints: AWS Signature Version 4 checked against Aws:AccessKeys. The body is read (at most
/// <see cref="RecsApi.MaxBodyBytes"/>) to check its hash, then rewound for the endpoint. Refusals carry the AWS
/// error type in X-Amzn-ErrorType, as the SDKs expect.
/// </summary>
public sealed class SigV4AuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    IOptionsMonitor<AwsOptions> aws, TimeProvider time)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "AwsSigV4";

    private SigV4Failure? _failure;

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var secrets = aws.CurrentValue.AccessKeys;
        if (secrets.Count == 0)
        {
            _failure = new SigV4Failure(403, "UnrecognizedClientException", "No AWS access keys are configured in Recs: set Aws:AccessKeys:<access key id> to its secret to use the AWS-compatible endpoints.");
            return AuthenticateResult.Fail(_failure.Message);
        }
        if (Request.ContentLength > RecsApi.MaxBodyBytes)
        {
            _failure = new SigV4Failure(413, "InvalidInputException", $"The body is larger than {RecsApi.MaxBodyBytes / 1024} KB.");
            return AuthenticateResult.Fail(_failure.Message);
        }
        Request.EnableBuffering(RecsApi.MaxBodyBytes + 1);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[16 * 1024];
        long total = 0;
        int read;
        while ((read = await Request.Body.ReadAsync(buffer, Context.RequestAborted)) > 0)
        {
            total += read;
            if (total > RecsApi.MaxBodyBytes)
            {
                _failure = new SigV4Failure(413, "InvalidInputException", $"The body is larger than {RecsApi.MaxBodyBytes / 1024} KB.");
                return AuthenticateResult.Fail(_failure.Message);
            }
            sha.AppendData(buffer, 0, read);
        }
        Request.Body.Position = 0;
        var rawTarget = Context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget ?? Request.Path.Value ?? "/";
        var queryStart = rawTarget.IndexOf('?', StringComparison.Ordinal);
        var signed = new SignedRequest(
            Request.Method,
            queryStart < 0 ? rawTarget : rawTarget[..queryStart],
            queryStart < 0 ? "" : rawTarget[(queryStart + 1)..],
            Request.Headers.SelectMany(h => h.Value.Select(v => new KeyValuePair<string, string>(h.Key, v ?? ""))).ToList(),
            sha.GetHashAndReset());
        var (accessKeyId, failure) = SigV4.Verify(signed, secrets, aws.CurrentValue.Service, time.GetUtcNow());
        if (failure is not null)
        {
            _failure = failure;
            return AuthenticateResult.Fail(failure.Message);
        }
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, $"aws:{accessKeyId}"), new Claim(RecsClaims.AwsAccessKey, accessKeyId!)], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties) =>
        WriteAsync(_failure ?? new SigV4Failure(403, "MissingAuthenticationTokenException", "The request is not signed."));

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        WriteAsync(new SigV4Failure(403, "AccessDeniedException", "This access key may not call this operation."));

    private Task WriteAsync(SigV4Failure failure)
    {
        Response.StatusCode = failure.Status;
        Response.Headers["X-Amzn-ErrorType"] = failure.ErrorType;
        return Response.WriteAsJsonAsync(new AwsError(failure.Message));
    }
}
