using System.ComponentModel.DataAnnotations;

namespace Recs.Services.Remote;

/// <summary>
/// The <c>Engine</c> configuration section: <c>Engine:Remote:&lt;campaign&gt;</c> makes an AWS Personalize campaign the
/// engine behind a Recs campaign (read-only: Recs asks it for lists and caches them; it never trains it).
/// </summary>
public sealed class EngineOptions
{
    public const string Section = "Engine";

    /// <summary>Recs campaign name → the remote campaign serving it (user-recommendations and similar-items are fetched into the cache, personalized-ranking is asked live).</summary>
    public Dictionary<string, RemoteCampaignOptions> Remote { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The remote campaign behind a Recs campaign, or null when Recs' own engine serves it.</summary>
    public RemoteCampaignOptions? For(string campaign) => Remote.GetValueOrDefault(campaign);
}

/// <summary>One remote Personalize campaign: where it is, which ARN, which credentials, and how hard to ask it.</summary>
public sealed class RemoteCampaignOptions
{
    /// <summary>The Personalize Runtime endpoint; empty: https://personalize-runtime.&lt;Region&gt;.amazonaws.com.</summary>
    public string? Endpoint { get; set; }

    /// <summary>The AWS region the requests are signed for (e.g. eu-west-1).</summary>
    [Required(ErrorMessage = "Engine:Remote:<campaign>:Region is required (e.g. eu-west-1).")]
    public string Region { get; set; } = "";

    [Required(ErrorMessage = "Engine:Remote:<campaign>:CampaignArn is required.")]
    public string CampaignArn { get; set; } = "";

    /// <summary>A Personalize filter applied to every request (optional).</summary>
    public string? FilterArn { get; set; }

    /// <summary>The access key pair; empty: the standard AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) variables.</summary>
    public string? AccessKeyId { get; set; }

    public string? SecretAccessKey { get; set; }

    /// <summary>Users asked per region (a seeded sample, as the old pipeline did); 0: every active user.</summary>
    [Range(0, 1_000_000, ErrorMessage = "Engine:Remote:<campaign>:SampleUsersPerRegion must be 0 (all users) or more.")]
    public int SampleUsersPerRegion { get; set; }

    /// <summary>The seed of the sample (the Regions page's default sample uses seed 1).</summary>
    public int SampleSeed { get; set; } = 1;

    /// <summary>Requests in flight at once.</summary>
    [Range(1, 256, ErrorMessage = "Engine:Remote:<campaign>:Concurrency must be between 1 and 256.")]
    public int Concurrency { get; set; } = 8;

    /// <summary>Requests per second at most (Personalize allows about 500 TPS per campaign by default; stay well below).</summary>
    [Range(0.1, 500.0, ErrorMessage = "Engine:Remote:<campaign>:RequestsPerSecond must be between 0.1 and 500.")]
    public double RequestsPerSecond { get; set; } = 50;

    /// <summary>Seconds one attempt may take before it is abandoned (and retried).</summary>
    [Range(1, 300, ErrorMessage = "Engine:Remote:<campaign>:TimeoutSeconds must be between 1 and 300.")]
    public int TimeoutSeconds { get; set; } = 10;

    /// <summary>Retries after throttling, a 5xx, a timeout or a lost connection (exponential backoff with full jitter).</summary>
    [Range(0, 20, ErrorMessage = "Engine:Remote:<campaign>:MaxRetries must be between 0 and 20.")]
    public int MaxRetries { get; set; } = 5;

    /// <summary>These options with at most <paramref name="retries"/> retries, for a request a caller is waiting for.</summary>
    public RemoteCampaignOptions ForLiveRequests(int retries)
    {
        var live = (RemoteCampaignOptions)MemberwiseClone();
        live.MaxRetries = Math.Min(MaxRetries, retries);
        return live;
    }

    /// <summary>True when Endpoint is empty (the regional default) or an absolute http(s) address.</summary>
    public bool HasValidEndpoint => string.IsNullOrWhiteSpace(Endpoint)
        || Uri.TryCreate(Endpoint, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https";

    /// <summary>The endpoint the requests go to.</summary>
    public Uri EndpointUri => new(string.IsNullOrWhiteSpace(Endpoint) ? $"https://personalize-runtime.{Region}.amazonaws.com" : Endpoint);

    /// <summary>The credentials: the configured pair, else the standard AWS environment variables; null when neither is set.</summary>
    public (string AccessKeyId, string Secret, string? SessionToken)? Credentials()
    {
        if (!string.IsNullOrEmpty(AccessKeyId) && !string.IsNullOrEmpty(SecretAccessKey))
            return (AccessKeyId, SecretAccessKey, null);
        var id = Environment.GetEnvironmentVariable("AWS_ACCESS_KEY_ID");
        var secret = Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY");
        return string.IsNullOrEmpty(id) || string.IsNullOrEmpty(secret) ? null
            : (id, secret, Environment.GetEnvironmentVariable("AWS_SESSION_TOKEN") is { Length: > 0 } token ? token : null);
    }
}
