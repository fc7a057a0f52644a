using System.Text.Json;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Recs.Services.Models;
using Recs.Services.Serving;
using Recs.Tests.Api;
using Recs.Tests.E2E;
using Recs.Tests.Integration;

namespace Recs.Tests.Remote;

/// <summary>
/// The personalized-ranking campaign configured against a remote Personalize campaign (a scripted one over real HTTP):
/// each ranking is forwarded live with the caller's list, the answer is the remote's order stamped with its ARN, and a
/// remote failure is a 502 or 503 with its reason — through the service on a real PostgreSQL, and through Recs' own
/// AWS-compatible endpoint in a real app process.
/// </summary>
public sealed class RemoteRankingTests(DemoDatabaseFixture db) : IClassFixture<DemoDatabaseFixture>, IAsyncLifetime
{
    private const string Arn = "arn:aws:personalize:eu-west-1:123456789012:campaign/retail-ranking";
    private RemotePersonalizeServer _server = null!;

    public async Task InitializeAsync() => _server = await RemotePersonalizeServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Dictionary<string, string?> Settings(string timeoutSeconds = "10") => _server.Settings(Campaigns.PersonalizedRanking, Arn,
        new Dictionary<string, string?> { ["TimeoutSeconds"] = timeoutSeconds, ["MaxRetries"] = "5" });

    /// <summary>The remote answer: the asked list reversed, with an item nobody asked for first.</summary>
    private static Task Reversed(Microsoft.AspNetCore.Http.HttpContext context, JsonElement body) =>
        RemotePersonalizeServer.Ok(context, ["NOT-ASKED", .. body.GetProperty("inputList").EnumerateArray().Select(e => e.GetString()!).Reverse()]);

    [Fact]
    public async Task Ranking_is_forwarded_live_in_the_remote_order_and_remote_failures_are_502_or_503_never_500()
    {
        await using var services = TestServices.Create(db.ConnectionString, Settings(timeoutSeconds: "1"));
        var recommendations = services.GetRequiredService<RecommendationService>();
        await using var connection = await db.DataSource.OpenConnectionAsync();
        var user = await connection.QuerySingleAsync<string>("select c.external_id from customers c where exists (select 1 from interactions i where i.user_id = c.id) order by c.id limit 1");
        var items = (await connection.QueryAsync<string>("select external_id from products order by id limit 4")).ToList();

        _server.Answer = Reversed;
        var ranked = await recommendations.RankAsync(user, items);
        Assert.Equal(Enumerable.Reverse(items), ranked.Items.Select(i => i.ItemId));
        Assert.Equal((Arn, false), (ranked.ModelVersion, ranked.Fallback));
        var asked = _server.Requests.Last();
        Assert.Equal("/personalize-ranking", asked.Path);
        Assert.Equal((Arn, user), (asked.Body.GetProperty("campaignArn").GetString(), asked.Body.GetProperty("userId").GetString()));
        Assert.Equal(items, asked.Body.GetProperty("inputList").EnumerateArray().Select(e => e.GetString()));
        await services.GetRequiredService<RecommendationLog>().FlushAsync();
        Assert.Equal(Arn, await connection.QuerySingleAsync<string>("select model_version from recommendation_log where id = @id", new { id = RecommendationLog.Parse(ranked.RecommendationId)!.Value }));

        // Items the remote leaves out keep their given order after the ones it ranked.
        _server.Then(c => RemotePersonalizeServer.Ok(c, items[2]));
        Assert.Equal([items[2], items[0], items[1], items[3]], (await recommendations.RankAsync(user, items)).Items.Select(i => i.ItemId));

        // Bad input is refused before the remote is asked.
        var before = _server.Requests.Count;
        Assert.Equal(404, (await Assert.ThrowsAsync<ServingException>(() => recommendations.RankAsync(user, [items[0], "NO-SUCH-ITEM"]))).Status);
        Assert.Equal(400, (await Assert.ThrowsAsync<ServingException>(() => recommendations.RankAsync(user, []))).Status);
        Assert.Equal(before, _server.Requests.Count);

        // Refused by the remote (a wrong key): 502 naming the ARN and the reason, not retried.
        _server.ThenError(403, "UnrecognizedClientException", "The security token included in the request is invalid.");
        var refused = await Assert.ThrowsAsync<ServingException>(() => recommendations.RankAsync(user, items));
        Assert.Equal(502, refused.Status);
        Assert.Contains(Arn, refused.Message, StringComparison.Ordinal);

        // Unavailable: a live request is retried once at most (not MaxRetries = 5), then 503.
        before = _server.Requests.Count;
        _server.ThenError(500, "InternalServerError");
        _server.ThenError(500, "InternalServerError");
        var unavailable = await Assert.ThrowsAsync<ServingException>(() => recommendations.RankAsync(user, items));
        Assert.Equal(503, unavailable.Status);
        Assert.Equal(2, _server.Requests.Count - before);

        // No answer within TimeoutSeconds (1 s): 503 saying so.
        _server.Then(async c => await Task.Delay(TimeSpan.FromSeconds(3), c.RequestAborted));
        _server.Then(async c => await Task.Delay(TimeSpan.FromSeconds(3), c.RequestAborted));
        var slow = await Assert.ThrowsAsync<ServingException>(() => recommendations.RankAsync(user, items));
        Assert.Equal(503, slow.Status);
        Assert.Contains("no answer within 1 s", slow.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_aws_compatible_endpoint_forwards_a_remote_campaigns_ranking_and_answers_its_failure_with_503()
    {
        var data = AppProcess.NewDataDirectory();
        await DashboardCli.RunOkAsync("seed", "--customers", "200", "--products", "60", "--order-lines", "2000", $"--Database:DataDirectory={data}", "--Database:ServerSettings:fsync=off");
        var settings = Settings().ToDictionary(s => s.Key, s => s.Value!);
        settings["DemoData:Enabled"] = "false";
        settings["Training:BatchRefreshHours"] = "0";
        await using var app = await AppProcess.StartAsync(settings, data);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        List<string> items;
        await using (var connection = new Npgsql.NpgsqlConnection(app.ConnectionString))
            items = (await connection.QueryAsync<string>("select external_id from products order by id limit 3")).ToList();
        var json = JsonSerializer.Serialize(new { campaignArn = "ignored", userId = "any-user", inputList = items });

        _server.Answer = Reversed;
        using (var response = await http.SendAsync(AwsRequestSigner.SignedPost(new Uri(app.BaseUrl), "/personalize-ranking", json, AppProcess.AwsAccessKeyId, AppProcess.AwsSecretKey)))
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, body);
            Assert.Equal([items[2], items[1], items[0]], JsonDocument.Parse(body).RootElement.GetProperty("personalizedRanking").EnumerateArray().Select(e => e.GetProperty("itemId").GetString()));
        }

        _server.Answer = (c, _) => RemotePersonalizeServer.Error(c, 503, "ServiceUnavailableException", "scripted outage");
        using (var response = await http.SendAsync(AwsRequestSigner.SignedPost(new Uri(app.BaseUrl), "/personalize-ranking", json, AppProcess.AwsAccessKeyId, AppProcess.AwsSecretKey)))
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.Equal(503, (int)response.StatusCode);
            Assert.Equal("ServiceUnavailableException", response.Headers.GetValues("X-Amzn-ErrorType").Single());
            Assert.Contains($"AWS Personalize {Arn}", JsonDocument.Parse(body).RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
        }
    }
}
