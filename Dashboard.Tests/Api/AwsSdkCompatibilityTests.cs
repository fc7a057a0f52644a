using System.Diagnostics;
using System.Text.Json;
using Recs.Tests.E2E;

namespace Recs.Tests.Api;

/// <summary>
/// The official AWS SDK for JavaScript clients (@aws-sdk/client-personalize-runtime and -events, pinned in
/// Dashboard.Tests/AwsSdk, installed by scripts/test.sh) pointed at Recs: an application built on AWS Personalize
/// keeps working when its endpoint is Recs.
/// </summary>
[Collection(ApiServerCollection.Name)]
public sealed class AwsSdkCompatibilityTests(ApiServerFixture server)
{
    private static string Script => Path.Combine(RepoPaths.Root, "Dashboard.Tests", "AwsSdk", "check.mjs");

    [Fact]
    public async Task Put_events_then_get_recommendations_that_reflect_them_through_the_AWS_SDK()
    {
        Assert.True(Directory.Exists(Path.Combine(RepoPaths.Root, "Dashboard.Tests", "AwsSdk", "node_modules", "@aws-sdk")),
            "The AWS SDK clients are not installed: run scripts/test.sh (it runs npm ci in Dashboard.Tests/AwsSdk).");
        const string user = "aws-sdk-user";
        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { Script, server.App.BaseUrl, user, "P000011,P000012,P000013", "P000001,P000002,P000003,P000004" })
            info.ArgumentList.Add(arg);
        info.Environment["RECS_AWS_ACCESS_KEY_ID"] = AppProcess.AwsAccessKeyId;
        info.Environment["RECS_AWS_SECRET_ACCESS_KEY"] = AppProcess.AwsSecretKey;
        using var node = Process.Start(info)!;
        var stdout = node.StandardOutput.ReadToEndAsync();
        var stderr = node.StandardError.ReadToEndAsync();
        await node.WaitForExitAsync();
        Assert.True(node.ExitCode == 0, $"node exited {node.ExitCode}: {await stderr}");
        var result = JsonDocument.Parse(await stdout).RootElement;

        // Before any event the user is unknown: popular items, without model scores.
        var before = result.GetProperty("before").EnumerateArray().ToList();
        Assert.Equal(10, before.Count);
        Assert.All(before, i => Assert.False(i.TryGetProperty("score", out var s) && s.ValueKind == JsonValueKind.Number));

        // After PutEvents the same call returns the model's picks for the folded-in user, leaving out what they bought,
        // and exactly what the REST API now serves for them.
        var after = result.GetProperty("after").EnumerateArray().Select(i => (Id: i.GetProperty("itemId").GetString()!, Score: i.GetProperty("score").GetDouble())).ToList();
        Assert.Equal(10, after.Count);
        Assert.DoesNotContain(after, i => i.Id is "P000011" or "P000012" or "P000013");
        Assert.Equal(after.Select(i => i.Score).OrderDescending(), after.Select(i => i.Score));
        var rest = await server.GetJsonAsync($"/api/v1/users/{user}/recommendations?count=10");
        Assert.False(rest.GetProperty("fallback").GetBoolean());
        Assert.Equal(rest.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("item_id").GetString()), after.Select(i => i.Id));
        Assert.StartsWith("RID-", result.GetProperty("recommendationId").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("RID-", result.GetProperty("rankingRecommendationId").GetString(), StringComparison.Ordinal);

        // PutEvents passed the first answer's recommendationId and impression through: the click is attributed to that
        // answer (its user, campaign, the items it showed), and to no other answer.
        var first = result.GetProperty("beforeRecommendationId").GetString()!;
        Assert.NotEqual(first, result.GetProperty("recommendationId").GetString());
        var clicked = result.GetProperty("clicked").GetString()!;
        var attribution = await server.GetJsonAsync($"/api/v1/recommendations/{first}");
        Assert.Equal(user, attribution.GetProperty("user_id").GetString());
        Assert.Equal("user-recommendations", attribution.GetProperty("campaign").GetString());
        Assert.Equal(before.Select(i => i.GetProperty("itemId").GetString()), attribution.GetProperty("items").EnumerateArray().Select(i => i.GetString()));
        Assert.Equal([clicked], attribution.GetProperty("clicked").EnumerateArray().Select(i => i.GetString()));
        var later = await server.GetJsonAsync($"/api/v1/recommendations/{result.GetProperty("recommendationId").GetString()}");
        Assert.Empty(later.GetProperty("clicked").EnumerateArray());
        Assert.Equal(3, await server.QueryAsync<long>("""
            select count(*) from interactions i join customers c on c.id = i.user_id where c.external_id = @user and i.attributes->>'session_id' = 'session-1'
            """, new { user }));
        Assert.Equal(first, await server.QueryAsync<string>("""
            select i.attributes->>'recommendation_id' from interactions i join customers c on c.id = i.user_id where c.external_id = @user and i.event_type = 'click'
            """, new { user }));

        // GetPersonalizedRanking returns the four given items, scored, best first.
        var ranking = result.GetProperty("ranking").EnumerateArray().ToList();
        Assert.Equal(["P000001", "P000002", "P000003", "P000004"], ranking.Select(i => i.GetProperty("itemId").GetString()).Order());
        var scores = ranking.Select(i => i.GetProperty("score").GetDouble()).ToArray();
        Assert.Equal(scores.OrderDescending(), scores);

        // Errors arrive as the SDK's own exception types.
        Assert.Equal("ResourceNotFoundException", result.GetProperty("unknownItem").GetProperty("name").GetString());
        Assert.Equal(404, result.GetProperty("unknownItem").GetProperty("status").GetInt32());
        Assert.Equal("InvalidInputException", result.GetProperty("badInput").GetProperty("name").GetString());
        Assert.Equal(400, result.GetProperty("badInput").GetProperty("status").GetInt32());

        // SigV4 is checked: a wrong secret and an unknown access key are refused with the AWS error types.
        Assert.Equal("InvalidSignatureException", result.GetProperty("wrongSecret").GetProperty("name").GetString());
        Assert.Equal(403, result.GetProperty("wrongSecret").GetProperty("status").GetInt32());
        Assert.Equal("UnrecognizedClientException", result.GetProperty("unknownKey").GetProperty("name").GetString());
        Assert.Equal(403, result.GetProperty("unknownKey").GetProperty("status").GetInt32());
    }
}
