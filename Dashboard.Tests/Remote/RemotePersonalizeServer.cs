using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Recs.Services.Security;

namespace Recs.Tests.Remote;

/// <summary>
/// A scripted Personalize Runtime on a loopback port (real HTTP, Kestrel): each request takes the next scripted answer,
/// its signature is checked by Recs' own SigV4 verifier, and every request is recorded.
/// </summary>
public sealed class RemotePersonalizeServer : IAsyncDisposable
{
    public const string AccessKeyId = "AKIDREMOTETEST";
    public const string Secret = "remote-test-secret";

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Func<HttpContext, Task>> _script = new();

    public ConcurrentQueue<(string Path, JsonElement Body, string? SignatureFailure)> Requests { get; } = new();

    public Uri BaseAddress { get; }

    /// <summary>The answer to unscripted requests (given the request body); null: a two-item list.</summary>
    public Func<HttpContext, JsonElement, Task>? Answer { get; set; }

    /// <summary>Requests after this many are refused as badly signed (a secret rotated mid-fetch); null: never.</summary>
    public int? FailFrom { get; set; }

    private RemotePersonalizeServer(WebApplication app)
    {
        _app = app;
        BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    public static async Task<RemotePersonalizeServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        RemotePersonalizeServer? server = null;
        app.Run(async context =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer);
            var bytes = buffer.ToArray();
            var headers = context.Request.Headers.SelectMany(h => h.Value.Select(v => new KeyValuePair<string, string>(h.Key, v ?? ""))).ToList();
            var (_, failure) = SigV4.Verify(new SignedRequest(context.Request.Method, context.Request.Path.Value ?? "/", context.Request.QueryString.Value?.TrimStart('?') ?? "",
                headers, SHA256.HashData(bytes)), new Dictionary<string, string> { [AccessKeyId] = Secret }, "personalize", DateTimeOffset.UtcNow);
            server!.Requests.Enqueue((context.Request.Path.Value ?? "", JsonDocument.Parse(bytes).RootElement.Clone(), failure?.Message));
            if (failure is not null)
            {
                await Error(context, failure.Status, failure.ErrorType, failure.Message);
                return;
            }
            if (server._script.TryDequeue(out var answer))
                await answer(context);
            else if (server.FailFrom is { } from && server.Requests.Count > from)
                await Error(context, 403, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided.");
            else
                await (server.Answer ?? ((c, _) => Ok(c, "P1", "P2")))(context, JsonDocument.Parse(bytes).RootElement);
        });
        await app.StartAsync();
        server = new RemotePersonalizeServer(app);
        return server;
    }

    /// <summary>The Engine:Remote:&lt;campaign&gt; settings that point a Recs campaign at this server as <paramref name="arn"/>, with its key pair.</summary>
    public Dictionary<string, string?> Settings(string campaign, string arn, IDictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            [$"Engine:Remote:{campaign}:Endpoint"] = BaseAddress.ToString(),
            [$"Engine:Remote:{campaign}:Region"] = "eu-west-1",
            [$"Engine:Remote:{campaign}:CampaignArn"] = arn,
            [$"Engine:Remote:{campaign}:AccessKeyId"] = AccessKeyId,
            [$"Engine:Remote:{campaign}:SecretAccessKey"] = Secret,
        };
        foreach (var (key, value) in more ?? new Dictionary<string, string?>())
            settings[$"Engine:Remote:{campaign}:{key}"] = value;
        return settings;
    }

    /// <summary>The next request gets this answer (unscripted requests get a two-item list).</summary>
    public void Then(Func<HttpContext, Task> answer) => _script.Enqueue(answer);

    public void ThenError(int status, string? type, string message = "scripted") => Then(c => Error(c, status, type, message));

    public static Task Ok(HttpContext context, params string[] items) => context.Response.WriteAsJsonAsync(new
    {
        itemList = items.Select((id, k) => new { itemId = id, score = 1.0 / (k + 1) }),
        personalizedRanking = items.Select((id, k) => new { itemId = id, score = 1.0 / (k + 1) }),
        recommendationId = "RID-test",
    });

    public static Task Error(HttpContext context, int status, string? type, string message)
    {
        context.Response.StatusCode = status;
        if (type is not null)
            context.Response.Headers["X-Amzn-ErrorType"] = type;
        return context.Response.WriteAsJsonAsync(new { message });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
