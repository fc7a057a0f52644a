using Recs.Services.Remote;

namespace Recs.Tests.Remote;

/// <summary>
/// The Personalize Runtime client against a scripted server over real HTTP: signing (checked by Recs' own SigV4
/// verifier), the restJson1 bodies, retries with backoff on throttling and 5xx, and the typed errors for 4xx. Waits
/// between retries are recorded instead of slept.
/// </summary>
public sealed class RemotePersonalizeClientTests : IAsyncLifetime
{
    private RemotePersonalizeServer _server = null!;
    private readonly List<TimeSpan> _waits = [];
    private static readonly HttpClient Http = new();

    public async Task InitializeAsync() => _server = await RemotePersonalizeServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private PersonalizeRuntimeClient Client(Action<RemoteCampaignOptions>? configure = null, string secret = RemotePersonalizeServer.Secret)
    {
        var options = new RemoteCampaignOptions
        {
            Endpoint = _server.BaseAddress.ToString(), Region = "eu-west-1", CampaignArn = "arn:aws:personalize:eu-west-1:123456789012:campaign/shop",
            AccessKeyId = RemotePersonalizeServer.AccessKeyId, SecretAccessKey = secret, MaxRetries = 3,
        };
        configure?.Invoke(options);
        return new PersonalizeRuntimeClient(Http, options, "user-recommendations", delay: (d, _) => { lock (_waits) _waits.Add(d); return Task.CompletedTask; }, jitter: new Random(7));
    }

    [Fact]
    public async Task Remote_get_recommendations_is_signed_and_sends_the_restJson1_body()
    {
        var client = Client(o => o.FilterArn = "arn:aws:personalize:eu-west-1:123456789012:filter/in-stock");
        _server.Then(c => RemotePersonalizeServer.Ok(c, "P9", "P3"));

        var answer = await client.GetRecommendationsAsync("U1", null, 7, new Dictionary<string, string> { ["DEVICE"] = "mobile" });

        Assert.Equal(["P9", "P3"], answer.Items.Select(i => i.ItemId));
        Assert.Equal(1.0, answer.Items[0].Score);
        Assert.Equal("RID-test", answer.RecommendationId);
        var (path, body, failure) = Assert.Single(_server.Requests);
        Assert.Null(failure);
        Assert.Equal("/recommendations", path);
        Assert.Equal("arn:aws:personalize:eu-west-1:123456789012:campaign/shop", body.GetProperty("campaignArn").GetString());
        Assert.Equal("U1", body.GetProperty("userId").GetString());
        Assert.False(body.TryGetProperty("itemId", out _));
        Assert.Equal(7, body.GetProperty("numResults").GetInt32());
        Assert.Equal("mobile", body.GetProperty("context").GetProperty("DEVICE").GetString());
        Assert.Equal("arn:aws:personalize:eu-west-1:123456789012:filter/in-stock", body.GetProperty("filterArn").GetString());
        Assert.Empty(_waits);
    }

    [Fact]
    public async Task Remote_related_items_and_personalized_ranking_send_their_bodies()
    {
        var client = Client();
        await client.GetRecommendationsAsync(null, "P1", 5);
        _server.Then(c => RemotePersonalizeServer.Ok(c, "P3", "P1"));
        var ranked = await client.GetPersonalizedRankingAsync("U2", ["P1", "P3"]);

        Assert.Equal(["P3", "P1"], ranked.Items.Select(i => i.ItemId));
        var requests = _server.Requests.ToList();
        Assert.Equal("P1", requests[0].Body.GetProperty("itemId").GetString());
        Assert.False(requests[0].Body.TryGetProperty("userId", out _));
        Assert.Equal("/personalize-ranking", requests[1].Path);
        Assert.Equal(["P1", "P3"], requests[1].Body.GetProperty("inputList").EnumerateArray().Select(e => e.GetString()));
        Assert.All(requests, r => Assert.Null(r.SignatureFailure));
    }

    [Fact]
    public async Task Remote_throttling_and_5xx_are_retried_with_growing_jittered_backoff()
    {
        var client = Client();
        _server.ThenError(429, "TooManyRequestsException");
        _server.ThenError(400, "ThrottlingException", "Rate exceeded");
        _server.ThenError(503, "ServiceUnavailableException");
        _server.Then(c => RemotePersonalizeServer.Ok(c, "P5"));

        var answer = await client.GetRecommendationsAsync("U1", null, 3);

        Assert.Equal("P5", Assert.Single(answer.Items).ItemId);
        Assert.Equal(4, _server.Requests.Count);
        Assert.Equal(3, client.Retries);
        Assert.Equal(3, _waits.Count);
        // Full jitter: attempt k waits in [0, base·2^k).
        for (var k = 0; k < _waits.Count; k++)
            Assert.InRange(_waits[k].TotalMilliseconds, 0, PersonalizeRuntimeClient.BackoffBase.TotalMilliseconds * Math.Pow(2, k));
        Assert.NotEqual(_waits[0], _waits[1]);
    }

    [Fact]
    public void Remote_backoff_is_capped()
    {
        var client = Client();
        Assert.All(Enumerable.Range(0, 200).Select(_ => client.Backoff(30)), d => Assert.InRange(d, TimeSpan.Zero, PersonalizeRuntimeClient.BackoffCap));
        Assert.Contains(Enumerable.Range(0, 200).Select(_ => client.Backoff(30)), d => d > PersonalizeRuntimeClient.BackoffCap / 2);
    }

    [Fact]
    public async Task Remote_5xx_that_persists_fails_as_unavailable_after_the_retries()
    {
        var client = Client(o => o.MaxRetries = 2);
        for (var k = 0; k < 3; k++)
            _server.ThenError(500, "InternalFailure", "boom");

        var e = await Assert.ThrowsAsync<PersonalizeException>(() => client.GetRecommendationsAsync("U1", null, 3));

        Assert.Equal(PersonalizeErrorKind.Unavailable, e.Kind);
        Assert.Equal(3, _server.Requests.Count);
        Assert.Contains("after 3 attempts", e.Message, StringComparison.Ordinal);
        Assert.Contains("500", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Remote_bad_arn_is_resource_not_found_at_once_and_names_the_setting()
    {
        var client = Client();
        _server.ThenError(404, "ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.personalize/", "Campaign not found");

        var e = await Assert.ThrowsAsync<PersonalizeException>(() => client.GetRecommendationsAsync("U1", null, 3));

        Assert.Equal(PersonalizeErrorKind.ResourceNotFound, e.Kind);
        Assert.Equal("ResourceNotFoundException", e.ErrorType);
        Assert.Single(_server.Requests);
        Assert.Contains("Engine:Remote:user-recommendations:CampaignArn", e.Message, StringComparison.Ordinal);
        Assert.Contains("Campaign not found", e.Message, StringComparison.Ordinal);
        Assert.Empty(_waits);
    }

    [Fact]
    public async Task Remote_wrong_secret_is_a_credentials_error_at_once()
    {
        var client = Client(secret: "not-the-secret");

        var e = await Assert.ThrowsAsync<PersonalizeException>(() => client.GetRecommendationsAsync("U1", null, 3));

        Assert.Equal(PersonalizeErrorKind.Credentials, e.Kind);
        Assert.Equal(403, e.Status);
        Assert.Single(_server.Requests);
        Assert.Contains("SecretAccessKey", e.Message, StringComparison.Ordinal);
        Assert.Contains("InvalidSignatureException", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Remote_other_4xx_is_invalid_input_with_the_remote_message()
    {
        var client = Client();
        _server.ThenError(400, "InvalidInputException", "numResults must be at most 500");

        var e = await Assert.ThrowsAsync<PersonalizeException>(() => client.GetRecommendationsAsync("U1", null, 3));

        Assert.Equal(PersonalizeErrorKind.InvalidInput, e.Kind);
        Assert.Contains("numResults must be at most 500", e.Message, StringComparison.Ordinal);
        Assert.Single(_server.Requests);
    }

    [Fact]
    public async Task Remote_no_answer_within_the_timeout_is_retried_then_fails_as_unavailable()
    {
        var client = Client(o => { o.TimeoutSeconds = 1; o.MaxRetries = 1; });
        // Never answers: only the client's timeout ends these requests.
        for (var k = 0; k < 2; k++)
            _server.Then(c => Task.Delay(Timeout.Infinite, c.RequestAborted));

        var e = await Assert.ThrowsAsync<PersonalizeException>(() => client.GetRecommendationsAsync("U1", null, 3));

        Assert.Equal(PersonalizeErrorKind.Unavailable, e.Kind);
        Assert.Contains("no answer within 1 s", e.Message, StringComparison.Ordinal);
        Assert.Single(_waits);
    }

    [Fact]
    public async Task Remote_missing_credentials_say_which_settings_to_give()
    {
        var saved = (Environment.GetEnvironmentVariable("AWS_ACCESS_KEY_ID"), Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY"));
        if (saved.Item1 is not null && saved.Item2 is not null)
            return; // the machine has AWS credentials in its environment: the fallback would use them
        var client = Client(o => { o.AccessKeyId = null; o.SecretAccessKey = null; });

        var e = await Assert.ThrowsAsync<PersonalizeException>(() => client.GetRecommendationsAsync("U1", null, 3));

        Assert.Equal(PersonalizeErrorKind.Credentials, e.Kind);
        Assert.Contains("AWS_ACCESS_KEY_ID", e.Message, StringComparison.Ordinal);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public void Remote_endpoint_defaults_to_the_regional_personalize_runtime()
    {
        Assert.Equal(new Uri("https://personalize-runtime.us-east-2.amazonaws.com"), new RemoteCampaignOptions { Region = "us-east-2" }.EndpointUri);
    }
}
