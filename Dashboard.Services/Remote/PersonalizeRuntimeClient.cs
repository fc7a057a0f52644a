using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Amazon.Runtime.Internal.Auth;

namespace Recs.Services.Remote;

/// <summary>An item a remote campaign recommended; Score is null when Personalize gives none (e.g. popularity fallback).</summary>
public sealed record PredictedItem(string ItemId, double? Score);

/// <summary>A remote campaign's answer: the items and the recommendationId it gave.</summary>
public sealed record PersonalizeAnswer(IReadOnlyList<PredictedItem> Items, string? RecommendationId);

/// <summary>What went wrong with a call to Personalize, by what the caller should do about it.</summary>
public enum PersonalizeErrorKind
{
    /// <summary>The campaign or filter ARN names nothing (ResourceNotFoundException).</summary>
    ResourceNotFound,
    /// <summary>The access key or its secret was refused (signature, unknown key, access denied, expired token).</summary>
    Credentials,
    /// <summary>The request itself was refused (InvalidInputException and other 4xx).</summary>
    InvalidInput,
    /// <summary>Still throttled or failing (429, 5xx, timeouts, lost connections) after every retry.</summary>
    Unavailable,
}

/// <summary>A call to a remote Personalize campaign that failed for good, with a message that says what to check.</summary>
public sealed class PersonalizeException(PersonalizeErrorKind kind, int status, string? errorType, string message) : Exception(message)
{
    public PersonalizeErrorKind Kind { get; } = kind;

    /// <summary>The HTTP status (0 when no answer came).</summary>
    public int Status { get; } = status;

    /// <summary>The AWS error type (e.g. ResourceNotFoundException), when the answer named one.</summary>
    public string? ErrorType { get; } = errorType;
}

/// <summary>
/// A small Personalize Runtime client (AWSSDK.PersonalizeRuntime is not available here): restJson1 over HttpClient,
/// SigV4 signed with AWSSDK.Core's signer, GetRecommendations and GetPersonalizedRanking. Each attempt has a timeout;
/// throttling (429, ThrottlingException), 5xx, timeouts and lost connections are retried with exponential backoff and
/// full jitter (delay = random(0, min(cap, base·2^attempt)), as the AWS SDKs do); other 4xx fail at once with a
/// <see cref="PersonalizeException"/> that says what to check.
/// </summary>
public sealed class PersonalizeRuntimeClient(HttpClient http, RemoteCampaignOptions options, string campaign, TimeProvider? time = null,
    Func<TimeSpan, CancellationToken, Task>? delay = null, Random? jitter = null)
{
    /// <summary>The signing name of Personalize Runtime.</summary>
    public const string Service = "personalize";

    /// <summary>The named HttpClient the batch fetches and the live ranking use.</summary>
    public const string HttpClientName = "personalize-runtime";

    public static readonly TimeSpan BackoffBase = TimeSpan.FromMilliseconds(100);
    public static readonly TimeSpan BackoffCap = TimeSpan.FromSeconds(20);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Func<TimeSpan, CancellationToken, Task> _delay = delay ?? ((d, ct) => Task.Delay(d, time ?? TimeProvider.System, ct));
    private readonly Random _jitter = jitter ?? Random.Shared;
    private readonly Lock _jitterLock = new();

    public RemoteCampaignOptions Options => options;

    /// <summary>How many attempts were retried (throttling, 5xx, timeouts), for the job log.</summary>
    public int Retries => _retries;

    private int _retries;

    /// <summary>GetRecommendations: a user's list (userId) or an item's related items (itemId).</summary>
    public async Task<PersonalizeAnswer> GetRecommendationsAsync(string? userId, string? itemId, int numResults,
        IReadOnlyDictionary<string, string>? context = null, CancellationToken cancellationToken = default)
    {
        if (userId is null && itemId is null)
            throw new ArgumentException("GetRecommendations needs a userId or an itemId.");
        var body = new GetRecommendationsBody(options.CampaignArn, userId, itemId, numResults, context, NullIfEmpty(options.FilterArn));
        using var answer = await SendAsync("/recommendations", JsonSerializer.Serialize(body, Json), cancellationToken);
        return Read(answer.RootElement, "itemList");
    }

    /// <summary>GetPersonalizedRanking: <paramref name="inputList"/> reordered for the user.</summary>
    public async Task<PersonalizeAnswer> GetPersonalizedRankingAsync(string userId, IReadOnlyList<string> inputList,
        IReadOnlyDictionary<string, string>? context = null, CancellationToken cancellationToken = default)
    {
        var body = new GetPersonalizedRankingBody(options.CampaignArn, userId, inputList, context, NullIfEmpty(options.FilterArn));
        using var answer = await SendAsync("/personalize-ranking", JsonSerializer.Serialize(body, Json), cancellationToken);
        return Read(answer.RootElement, "personalizedRanking");
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;

    private static PersonalizeAnswer Read(JsonElement root, string listName)
    {
        var items = new List<PredictedItem>();
        if (root.TryGetProperty(listName, out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var e in list.EnumerateArray())
            {
                if (e.TryGetProperty("itemId", out var id) && id.GetString() is { } itemId)
                    items.Add(new PredictedItem(itemId, e.TryGetProperty("score", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetDouble() : null));
            }
        }
        return new PersonalizeAnswer(items, root.TryGetProperty("recommendationId", out var rid) ? rid.GetString() : null);
    }

    private async Task<JsonDocument> SendAsync(string path, string json, CancellationToken cancellationToken)
    {
        var credentials = options.Credentials() ?? throw new PersonalizeException(PersonalizeErrorKind.Credentials, 0, null,
            $"No AWS credentials for the {campaign} campaign: set Engine:Remote:{campaign}:AccessKeyId and SecretAccessKey, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.");
        for (var attempt = 0; ; attempt++)
        {
            string? why;
            int status = 0;
            string? type = null;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(options.TimeoutSeconds));
            try
            {
                using var request = Sign(path, json, credentials);
                using var response = await http.SendAsync(request, timeout.Token);
                var text = await response.Content.ReadAsStringAsync(timeout.Token);
                status = (int)response.StatusCode;
                if (response.IsSuccessStatusCode)
                    return JsonDocument.Parse(text);
                (type, var message) = ErrorOf(response, text);
                if (!Retryable(status, type))
                    throw Refused(status, type, message);
                why = $"{status} {type ?? response.ReasonPhrase}: {message}";
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                why = $"no answer within {options.TimeoutSeconds} s";
            }
            catch (HttpRequestException e)
            {
                why = $"connection failed: {e.Message}";
            }
            catch (JsonException e)
            {
                throw new PersonalizeException(PersonalizeErrorKind.Unavailable, status, null, $"{options.EndpointUri} answered something that is not Personalize JSON: {e.Message}");
            }
            if (attempt >= options.MaxRetries)
                throw new PersonalizeException(PersonalizeErrorKind.Unavailable, status, type,
                    $"AWS Personalize at {options.EndpointUri} is unavailable for the {campaign} campaign after {attempt + 1} attempts: {why}.");
            Interlocked.Increment(ref _retries);
            await _delay(Backoff(attempt), cancellationToken);
        }
    }

    /// <summary>Full jitter: a random wait in [0, min(cap, base·2^attempt)).</summary>
    public TimeSpan Backoff(int attempt)
    {
        var ceiling = Math.Min(BackoffCap.TotalMilliseconds, BackoffBase.TotalMilliseconds * Math.Pow(2, attempt));
        double draw;
        lock (_jitterLock)
            draw = _jitter.NextDouble();
        return TimeSpan.FromMilliseconds(ceiling * draw);
    }

    private static bool Retryable(int status, string? type) =>
        status is 429 or >= 500 || type is "ThrottlingException" or "TooManyRequestsException" or "ProvisionedThroughputExceededException" or "RequestLimitExceeded";

    private PersonalizeException Refused(int status, string? type, string message)
    {
        var settings = $"Engine:Remote:{campaign}";
        return type switch
        {
            "ResourceNotFoundException" => new(PersonalizeErrorKind.ResourceNotFound, status, type,
                $"AWS Personalize has no such resource for the {campaign} campaign ({message}); check {settings}:CampaignArn ({options.CampaignArn})" +
                (string.IsNullOrWhiteSpace(options.FilterArn) ? "." : $" and FilterArn ({options.FilterArn}).")),
            "UnrecognizedClientException" or "InvalidSignatureException" or "SignatureDoesNotMatch" or "IncompleteSignatureException" or "MissingAuthenticationTokenException"
                or "AccessDeniedException" or "ExpiredTokenException" or "InvalidClientTokenId" or "UnauthorizedException" => new(PersonalizeErrorKind.Credentials, status, type,
                $"AWS Personalize refused the credentials of the {campaign} campaign ({type}: {message}); check {settings}:AccessKeyId and SecretAccessKey (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) and {settings}:Region ({options.Region})."),
            _ when status is 401 or 403 => new(PersonalizeErrorKind.Credentials, status, type,
                $"AWS Personalize refused the credentials of the {campaign} campaign ({status}{(type is null ? "" : " " + type)}: {message}); check {settings}:AccessKeyId and SecretAccessKey."),
            _ when status == 404 => new(PersonalizeErrorKind.ResourceNotFound, status, type,
                $"{options.EndpointUri} has no Personalize Runtime API for the {campaign} campaign (404{(type is null ? "" : " " + type)}: {message}); check {settings}:Endpoint."),
            _ => new(PersonalizeErrorKind.InvalidInput, status, type, $"AWS Personalize refused the request of the {campaign} campaign ({status}{(type is null ? "" : " " + type)}: {message})."),
        };
    }

    /// <summary>The AWS error type (X-Amzn-ErrorType, else the body's __type or code) and message of an error answer.</summary>
    internal static (string? Type, string Message) ErrorOf(HttpResponseMessage response, string body)
    {
        string? type = response.Headers.TryGetValues("X-Amzn-ErrorType", out var values) ? values.FirstOrDefault() : null;
        string? message = null;
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in doc.RootElement.EnumerateObject())
                {
                    if (p.Value.ValueKind != JsonValueKind.String)
                        continue;
                    if (p.NameEquals("message") || p.NameEquals("Message"))
                        message = p.Value.GetString();
                    else if (type is null && (p.NameEquals("__type") || p.NameEquals("code")))
                        type = p.Value.GetString();
                }
            }
        }
        catch (JsonException)
        {
            message = body.Length > 200 ? body[..200] : body;
        }
        // "aws.protocoltests#ResourceNotFoundException:http://..." → ResourceNotFoundException
        if (type is not null)
        {
            type = type.Split(':')[0];
            type = type[(type.LastIndexOf('#') + 1)..];
        }
        return (string.IsNullOrWhiteSpace(type) ? null : type, string.IsNullOrWhiteSpace(message) ? response.ReasonPhrase ?? "no message" : message);
    }

    private HttpRequestMessage Sign(string path, string json, (string AccessKeyId, string Secret, string? SessionToken) credentials)
    {
        var endpoint = options.EndpointUri;
        var uri = new Uri(endpoint, endpoint.AbsolutePath.TrimEnd('/') + path);
        var signedAt = _time.GetUtcNow().UtcDateTime;
        var amzDate = signedAt.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var host = uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port}";
        var bodyHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)));
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["host"] = host, ["x-amz-date"] = amzDate };
        if (credentials.SessionToken is { } token)
            headers["x-amz-security-token"] = token;
        var signedHeaders = string.Join(';', headers.Keys);
        var canonical = $"POST\n{uri.AbsolutePath}\n\n{string.Concat(headers.Select(h => $"{h.Key}:{h.Value}\n"))}\n{signedHeaders}\n{bodyHash}";
        var signature = AWS4Signer.ComputeSignature(credentials.AccessKeyId, credentials.Secret, options.Region, signedAt, Service, signedHeaders, canonical).Signature;
        var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new StringContent(json, Encoding.UTF8, "application/json"), Version = HttpVersion.Version11 };
        request.Headers.Host = host;
        request.Headers.Add("X-Amz-Date", amzDate);
        if (credentials.SessionToken is { } t)
            request.Headers.Add("X-Amz-Security-Token", t);
        request.Headers.TryAddWithoutValidation("Authorization",
            $"{AWS4Signer.AWS4AlgorithmTag} Credential={credentials.AccessKeyId}/{amzDate[..8]}/{options.Region}/{Service}/aws4_request, SignedHeaders={signedHeaders}, Signature={signature}");
        return request;
    }

    private sealed record GetRecommendationsBody(string CampaignArn, string? UserId, string? ItemId, int NumResults,
        IReadOnlyDictionary<string, string>? Context, string? FilterArn);

    private sealed record GetPersonalizedRankingBody(string CampaignArn, string UserId, IReadOnlyList<string> InputList,
        IReadOnlyDictionary<string, string>? Context, string? FilterArn);
}
