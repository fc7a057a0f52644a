using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Recs.Tests.Api;

namespace Recs.Tests.E2E;

/// <summary>A browser-less client that signs in through the real sign-in form (antiforgery token and all) and keeps the cookie.</summary>
public sealed partial class SignedInClient : IDisposable
{
    private readonly HttpClientHandler _handler = new() { AllowAutoRedirect = false, CookieContainer = new CookieContainer() };

    public SignedInClient(string baseUrl) => Http = new HttpClient(_handler) { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(30) };

    public HttpClient Http { get; }

    /// <summary>Posts a server-rendered form of <paramref name="page"/> with its antiforgery token; returns the response (not followed).</summary>
    public async Task<HttpResponseMessage> PostFormAsync(string page, string formName, IDictionary<string, string> fields, bool withToken = true)
    {
        var html = await (await Http.GetAsync(page)).Content.ReadAsStringAsync();
        var values = new Dictionary<string, string>(fields) { ["_handler"] = formName };
        if (withToken)
            values["__RequestVerificationToken"] = TokenPattern().Match(html) is { Success: true } m ? WebUtility.HtmlDecode(m.Groups[1].Value) : throw new InvalidOperationException($"No antiforgery token on {page}:\n{html}");
        return await Http.PostAsync(page, new FormUrlEncodedContent(values));
    }

    public Task<HttpResponseMessage> SignInAsync(string userName, string password, bool withToken = true) =>
        PostFormAsync("/account/login", "sign-in", new Dictionary<string, string> { ["Input.UserName"] = userName, ["Input.Password"] = password }, withToken);

    public static async Task<SignedInClient> CreateAsync(AppProcess app, string userName, string password)
    {
        var client = new SignedInClient(app.BaseUrl);
        var response = await client.SignInAsync(userName, password);
        Assert.True(response.StatusCode == HttpStatusCode.Redirect, $"sign-in as {userName}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return client;
    }

    [GeneratedRegex("<input[^>]*name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex TokenPattern();

    public void Dispose()
    {
        Http.Dispose();
        _handler.Dispose();
    }
}

/// <summary>
/// Every role × every protected page, download and API operation against the real app: allowed, sent to sign in,
/// or refused. Plus the first admin's forced password change, lockout, antiforgery, and a role change ending a session.
/// </summary>
public sealed class RoleMatrixTests
{
    private const string Password = "a-password-42!";

    private static readonly string[] ViewerPages = ["/", "/regions", "/similar-items", "/users", "/models", "/experiments", "/learning-curves", "/training", "/data", "/data/quality.json", "/verdicts", "/verdicts.csv"];
    private static readonly string[] EngineerPages = ["/audit"];
    private static readonly string[] AdminPages = ["/admin/accounts", "/admin/api-keys"];

    private static async Task<(HttpStatusCode Status, string? Location, string Body)> GetAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path);
        return (response.StatusCode, response.Headers.Location?.ToString(), await response.Content.ReadAsStringAsync());
    }

    /// <summary>Where a redirect goes, as a path on the app (the Location may be absolute or relative).</summary>
    private static string PathOf(AppProcess app, HttpResponseMessage response) =>
        new Uri(new Uri(app.BaseUrl), response.Headers.Location ?? throw new InvalidOperationException($"{response.StatusCode}: no Location")).AbsolutePath;

    [Fact]
    public async Task Each_role_reaches_exactly_its_pages_and_each_key_exactly_its_operations()
    {
        await using var app = await AppProcess.StartAsync(new Dictionary<string, string> { ["DemoData:Enabled"] = "false", ["Auth:LockoutFailures"] = "3" });
        await app.CreateAccountAsync("vera", "viewer", Password);
        await app.CreateAccountAsync("ed", "engineer", Password);
        await app.CreateAccountAsync("ada", "admin", Password);

        // Anonymous: every page and download sends you to sign in; health, the sign-in page and the API description do not.
        using (var anonymous = new SignedInClient(app.BaseUrl))
        {
            foreach (var path in ViewerPages.Concat(EngineerPages).Concat(AdminPages).Append("/regions/tiers.csv"))
            {
                var (status, location, _) = await GetAsync(anonymous.Http, path);
                Assert.True(status == HttpStatusCode.Redirect && location!.Contains("/account/login?ReturnUrl=", StringComparison.Ordinal), $"anonymous {path}: {status} {location}");
            }
            foreach (var path in new[] { "/healthz", "/account/login", "/openapi/v1.json" })
                Assert.Equal(HttpStatusCode.OK, (await GetAsync(anonymous.Http, path)).Status);
            var hub = await anonymous.Http.PostAsync("/_blazor/negotiate?negotiateVersion=1", null);
            Assert.True(hub.StatusCode is HttpStatusCode.Redirect or HttpStatusCode.Unauthorized, $"anonymous Blazor hub: {hub.StatusCode}");
        }

        var expectations = new (string User, string[] Allowed, string[] Denied)[]
        {
            ("vera", ViewerPages, [.. EngineerPages, .. AdminPages]),
            ("ed", [.. ViewerPages, .. EngineerPages], AdminPages),
            ("ada", [.. ViewerPages, .. EngineerPages, .. AdminPages], []),
        };
        foreach (var (user, allowed, denied) in expectations)
        {
            using var client = await SignedInClient.CreateAsync(app, user, Password);
            foreach (var path in allowed)
            {
                var (status, location, _) = await GetAsync(client.Http, path);
                Assert.True(status == HttpStatusCode.OK, $"{user} {path}: {status} {location}");
            }
            foreach (var path in denied)
            {
                var (status, location, _) = await GetAsync(client.Http, path);
                Assert.True(status == HttpStatusCode.Redirect && location!.Contains("/account/denied", StringComparison.Ordinal), $"{user} {path}: {status} {location}");
            }

            // The actions themselves: an engineer sees the buttons that import, train and start; a viewer sees why not.
            var training = (await GetAsync(client.Http, "/training")).Body;
            var data = (await GetAsync(client.Http, "/data")).Body;
            var overview = (await GetAsync(client.Http, "/")).Body;
            var engineer = user != "vera";
            Assert.Equal(engineer, training.Contains("data-testid=\"start-training\"", StringComparison.Ordinal));
            Assert.Equal(!engineer, training.Contains("data-testid=\"needs-engineer\"", StringComparison.Ordinal));
            Assert.Equal(engineer, data.Contains("data-testid=\"start-import\"", StringComparison.Ordinal));
            Assert.Equal(engineer, overview.Contains("href=\"audit\"", StringComparison.Ordinal));
            Assert.Equal(user == "ada", overview.Contains("href=\"admin/accounts\"", StringComparison.Ordinal));
            Assert.Contains($">{user}</", overview, StringComparison.Ordinal);
        }

        // API keys: none → 401; read → reads, but 403 on the event tracker; write → both; revoked or made up → 401.
        var read = await app.CreateApiKeyAsync("read", "matrix-read");
        var write = await app.CreateApiKeyAsync("write", "matrix-write");
        var revoked = await app.CreateApiKeyAsync("read", "matrix-revoked");
        await DashboardCli.RunOkAsync("api-keys", "revoke", revoked.Split('_')[1], $"--Database:DataDirectory={app.DataDirectory}");
        const string events = """{"user_id": "u1", "events": [{"item_id": "no-such-item", "event_type": "view"}]}""";
        var operations = new (string Name, Func<HttpClient, Task<HttpResponseMessage>> Call, bool Writes)[]
        {
            ("recommendations", h => h.GetAsync("/api/v1/users/u1/recommendations"), false),
            ("similar", h => h.GetAsync("/api/v1/items/no-such-item/similar"), false),
            ("ranking", h => h.PostAsync("/api/v1/users/u1/ranking", new StringContent("""{"item_ids": ["x"]}""", System.Text.Encoding.UTF8, "application/json")), false),
            ("memory", h => h.GetAsync("/diagnostics/memory"), false),
            ("experiment report", h => h.GetAsync("/api/v1/experiments/user-recommendations"), false),
            ("recommendation attribution", h => h.GetAsync("/api/v1/recommendations/RID-0123456789abcdef0123456789abcdef"), false),
            ("events", h => h.PostAsync("/api/v1/events", new StringContent(events, System.Text.Encoding.UTF8, "application/json")), true),
        };
        foreach (var (keyName, key) in new[] { ("none", (string?)null), ("read", read), ("write", write), ("revoked", revoked), ("made up", "recs_000000000000_" + new string('A', 43)) })
        {
            using var http = new HttpClient { BaseAddress = new Uri(app.BaseUrl) };
            if (key is not null)
                http.DefaultRequestHeaders.Add("X-Api-Key", key);
            foreach (var (name, call, writes) in operations)
            {
                using var response = await call(http);
                var body = await response.Content.ReadAsStringAsync();
                var status = (int)response.StatusCode;
                var expected = keyName switch
                {
                    "read" when writes => 403,
                    "read" or "write" => -1, // allowed: whatever the operation answers, never 401/403
                    _ => 401,
                };
                if (expected == -1)
                    Assert.True(status is not (401 or 403) && status < 500, $"{keyName} key, {name}: {status} {body}");
                else
                    Assert.True(status == expected, $"{keyName} key, {name}: expected {expected}, got {status} {body}");
                if (status is 401 or 403)
                    Assert.False(string.IsNullOrEmpty(JsonDocument.Parse(body).RootElement.GetProperty("error").GetString()));
            }
        }

        // AWS endpoints: unsigned, wrongly signed, stale → 403 with the AWS error type; correctly signed → served.
        using (var http = new HttpClient { BaseAddress = new Uri(app.BaseUrl) })
        {
            const string body = """{"campaignArn": "arn:aws:personalize:eu-west-1:0:campaign/x", "userId": "u1", "numResults": 3}""";
            var unsigned = await http.PostAsync("/recommendations", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal((HttpStatusCode.Forbidden, "MissingAuthenticationTokenException"), (unsigned.StatusCode, unsigned.Headers.GetValues("X-Amzn-ErrorType").Single()));
            var wrong = await http.SendAsync(AwsRequestSigner.SignedPost(http.BaseAddress!, "/recommendations", body, AppProcess.AwsAccessKeyId, "not-the-secret"));
            Assert.Equal((HttpStatusCode.Forbidden, "InvalidSignatureException"), (wrong.StatusCode, wrong.Headers.GetValues("X-Amzn-ErrorType").Single()));
            var stale = await http.SendAsync(AwsRequestSigner.SignedPost(http.BaseAddress!, "/recommendations", body, AppProcess.AwsAccessKeyId, AppProcess.AwsSecretKey, DateTime.UtcNow.AddMinutes(-20)));
            Assert.Contains("Signature expired", await stale.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            var signed = await http.SendAsync(AwsRequestSigner.SignedPost(http.BaseAddress!, "/recommendations", body, AppProcess.AwsAccessKeyId, AppProcess.AwsSecretKey));
            Assert.True(signed.StatusCode == HttpStatusCode.OK, await signed.Content.ReadAsStringAsync());
        }

        // Hostile sign-in input: injection strings, NUL, oversize and missing fields are wrong credentials or a 4xx, never a 500.
        using (var hostile = new SignedInClient(app.BaseUrl))
        {
            foreach (var (name, password) in new[]
            {
                ("' or '1'='1", "' or '1'='1"), ("admin'--", "x"), ("vera\0", Password), ("vera", Password + "\0"),
                (new string('a', 100_000), Password), ("vera", new string('p', 100_000)), ("", ""),
            })
            {
                var response = await hostile.SignInAsync(name, password);
                Assert.True((int)response.StatusCode is >= 400 and < 500, $"sign-in as {name[..Math.Min(20, name.Length)]}: {(int)response.StatusCode}");
            }
            var json = await hostile.Http.PostAsync("/account/login", new StringContent("""{"user": "vera"}""", System.Text.Encoding.UTF8, "application/json"));
            Assert.True((int)json.StatusCode is >= 400 and < 500, $"JSON sign-in: {(int)json.StatusCode}");
        }

        // Forms need their antiforgery token: sign-in and sign-out posts without it are refused.
        using (var noToken = new SignedInClient(app.BaseUrl))
        {
            Assert.Equal(HttpStatusCode.BadRequest, (await noToken.SignInAsync("vera", Password, withToken: false)).StatusCode);
            using var vera = await SignedInClient.CreateAsync(app, "vera", Password);
            Assert.Equal(HttpStatusCode.BadRequest, (await vera.Http.PostAsync("/account/logout", new FormUrlEncodedContent(new Dictionary<string, string>()))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await GetAsync(vera.Http, "/")).Status);

            // A role change renews the account's security stamp: the open session ends at its next request.
            await DashboardCli.RunOkAsync("accounts", "set-role", "vera", "--role", "engineer", $"--Database:DataDirectory={app.DataDirectory}");
            var after = await GetAsync(vera.Http, "/");
            Assert.True(after.Status == HttpStatusCode.Redirect && after.Location!.Contains("/account/login", StringComparison.Ordinal), $"{after.Status} {after.Location}");
        }
    }

    [Fact]
    public async Task The_first_admin_must_change_the_initial_password_and_repeated_failures_lock_an_account()
    {
        await using var app = await AppProcess.StartAsync(new Dictionary<string, string>
        {
            ["DemoData:Enabled"] = "false", ["Auth:LockoutFailures"] = "3", ["Auth:SignInsPerMinute"] = "12",
        });
        using var admin = await SignedInClient.CreateAsync(app, "admin", AppProcess.InitialAdminPassword);

        // Signed in, but every page leads to the password change until it is done.
        var overview = await GetAsync(admin.Http, "/models");
        Assert.True(overview.Status == HttpStatusCode.Redirect && overview.Location!.StartsWith("/account/change-password", StringComparison.Ordinal), $"{overview.Status} {overview.Location}");
        var refused = await admin.PostFormAsync("/account/change-password", "change-password",
            new Dictionary<string, string> { ["Input.Current"] = AppProcess.InitialAdminPassword, ["Input.Next"] = "short", ["Input.Confirm"] = "short" });
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("at least 10 characters", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var changed = await admin.PostFormAsync("/account/change-password?ReturnUrl=%2Fmodels", "change-password",
            new Dictionary<string, string> { ["Input.Current"] = AppProcess.InitialAdminPassword, ["Input.Next"] = AppProcess.AdminPassword, ["Input.Confirm"] = AppProcess.AdminPassword });
        Assert.Equal(HttpStatusCode.Redirect, changed.StatusCode);
        Assert.Equal("/models", PathOf(app, changed));
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(admin.Http, "/models")).Status);

        // The old password no longer works; the new one does without a forced change.
        using (var again = new SignedInClient(app.BaseUrl))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await again.SignInAsync("admin", AppProcess.InitialAdminPassword)).StatusCode);
            var ok = await again.SignInAsync("admin", AppProcess.AdminPassword);
            Assert.Equal("/", PathOf(app, ok));
        }

        // An open redirect is not possible through ReturnUrl.
        using (var redirect = new SignedInClient(app.BaseUrl))
        {
            var response = await redirect.PostFormAsync("/account/login?ReturnUrl=https%3A%2F%2Fevil.example%2F", "sign-in",
                new Dictionary<string, string> { ["Input.UserName"] = "admin", ["Input.Password"] = AppProcess.AdminPassword });
            Assert.Equal("/", PathOf(app, response));
            Assert.Equal(new Uri(app.BaseUrl).Authority, new Uri(new Uri(app.BaseUrl), response.Headers.Location!).Authority);
        }

        // Three failures lock the account: the right password is refused too, with the reason, until an unlock.
        await app.CreateAccountAsync("lee", "viewer", Password);
        using var attacker = new SignedInClient(app.BaseUrl);
        for (var k = 0; k < 3; k++)
            Assert.Equal(HttpStatusCode.Unauthorized, (await attacker.SignInAsync("lee", $"guess-number-{k}")).StatusCode);
        var locked = await attacker.SignInAsync("lee", Password);
        Assert.Equal(HttpStatusCode.Unauthorized, locked.StatusCode);
        Assert.Contains("locked after repeated failed sign-ins", await locked.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await DashboardCli.RunOkAsync("accounts", "unlock", "lee", $"--Database:DataDirectory={app.DataDirectory}");
        Assert.Equal(HttpStatusCode.Redirect, (await attacker.SignInAsync("lee", Password)).StatusCode);

        // Both the lockout and the password change are in the audit log.
        await using var connection = new Npgsql.NpgsqlConnection(app.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("select string_agg(action || ':' || actor, ',' order by id) from audit_log", connection);
        var actions = (string)(await command.ExecuteScalarAsync())!;
        Assert.Contains("password-change:admin", actions, StringComparison.Ordinal);
        Assert.Contains("account-locked:lee", actions, StringComparison.Ordinal);
        Assert.Contains("account-unlock:cli", actions, StringComparison.Ordinal);

        // Spraying guesses from one address runs into the per-address limit (12 a minute here): 429 with Retry-After.
        HttpResponseMessage? limited = null;
        for (var k = 0; k < 30 && limited is null; k++)
        {
            var response = await attacker.SignInAsync($"user{k}", "Password123!");
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
                limited = response;
            else
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
        Assert.NotNull(limited);
        Assert.True(limited.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), $"Retry-After: {limited.Headers.RetryAfter}");
        Assert.Contains("Too many sign-in attempts", await limited.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
